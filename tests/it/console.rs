//! The support console (`/console`, issue 16): logins, sessions and CSRF; what agents and admins may
//! see and do; escaping of buyer-supplied text; the audit log; two instances on one database; and
//! real Chromium journeys with screenshots at 1280 px and 390 px.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::approval::{TwoInstances, payment, sandbox_calls};
use crate::browser::{Browser, emulate_phone, phone_layout_problems};
use crate::checkout::{demo_key, new_checkout, order, other_storefront_key};
use crate::support::{Backend, TEST_SECRET_KEY, TestApp};
use crate::webhooks::{Answer, FAST, WebhookReceiver, pay, pay_at, set_endpoint};

const PASSWORD: &str = "correct horse battery";

/// `paydesk console user add` through the real binary.
fn add_user(app: &TestApp, name: &str, role: &str, storefronts: &[&str]) {
    let mut args = vec!["console", "user", "add", name, "--role", role];
    for s in storefronts {
        args.extend(["--storefront", s]);
    }
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_paydesk"));
    command
        .args(&args)
        .env_clear()
        .env("PAYDESK_DATABASE_URL", &app.db_url)
        .env("PAYDESK_CONSOLE_PASSWORD", PASSWORD);
    // On SQLite the key file next to the database is used, as by the server.
    if app.db_url.starts_with("postgres") {
        command.env("PAYDESK_SECRET_KEY", TEST_SECRET_KEY);
    }
    let output = command.output().expect("run paydesk");
    assert!(output.status.success(), "{output:?}");
}

/// The value `name=` sets in the response's `Set-Cookie` headers.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn cookie_value(header: &str) -> String {
    header
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

/// The first hidden `csrf` value in a page.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

/// A console session over plain HTTP (cookies handled by hand, so the test sees them).
struct Console<'a> {
    app: &'a TestApp,
    session: String,
}

/// The login page's CSRF cookie and token.
async fn login_token(app: &TestApp) -> String {
    let page = app.get("/console/login").await;
    assert_eq!(page.status(), StatusCode::OK);
    cookie_value(&set_cookie(&page, "paydesk_console_login").expect("login cookie"))
}

/// Posts the login form; returns the answer.
async fn post_login(
    app: &TestApp,
    user: &str,
    password: &str,
    token: Option<&str>,
    extra_cookie: Option<&str>,
) -> reqwest::Response {
    let mut cookies = vec![];
    if let Some(t) = token {
        cookies.push(format!("paydesk_console_login={t}"));
    }
    if let Some(c) = extra_cookie {
        cookies.push(format!("paydesk_console={c}"));
    }
    let mut form = vec![("username", user), ("password", password)];
    if let Some(t) = token {
        form.push(("csrf", t));
    }
    app.client
        .post(app.url("/console/login"))
        .header("cookie", cookies.join("; "))
        .form(&form)
        .send()
        .await
        .unwrap()
}

impl<'a> Console<'a> {
    async fn login(app: &'a TestApp, user: &str) -> Console<'a> {
        let token = login_token(app).await;
        let response = post_login(app, user, PASSWORD, Some(&token), None).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let session = cookie_value(&set_cookie(&response, "paydesk_console").unwrap());
        Console { app, session }
    }

    /// The same session on another instance.
    fn on(&self, app: &'a TestApp) -> Console<'a> {
        Console {
            app,
            session: self.session.clone(),
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.app
            .client
            .get(self.app.url(path))
            .header("cookie", format!("paydesk_console={}", self.session))
            .send()
            .await
            .unwrap()
    }

    async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.text().await.unwrap()
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url(path))
            .header("cookie", format!("paydesk_console={}", self.session))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The CSRF token of this session (from any page).
    async fn csrf(&self) -> String {
        csrf_of(&self.page("/console/payments").await)
    }
}

/// A hidden field's value in a form of the page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no {name}")) + marker.len();
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

/// A payment declined by Innopay (code 3011) for good, bought by the test buyer `010-1234-5678`.
async fn failed_payment(app: &TestApp, key: &str, body: &Value) -> String {
    let checkout = new_checkout(app, key, body).await;
    crate::approval::declined_for_good(app, key, &checkout, "3011", "카드번호 오류").await;
    checkout["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn csrf_cookie_flags_fixation_logout_everywhere_and_lockout() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_user(&app, "agent1", "agent", &[]);

    // The login form itself carries a token: missing or wrong is 403 and no session.
    let token = login_token(&app).await;
    let missing = post_login(&app, "agent1", PASSWORD, None, None).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&missing, "paydesk_console").is_none());
    let wrong = app
        .client
        .post(app.url("/console/login"))
        .header("cookie", format!("paydesk_console_login={token}"))
        .form(&[
            ("username", "agent1"),
            ("password", PASSWORD),
            ("csrf", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);

    // Cookie flags (Secure is added behind an https public URL: unit test in console::auth).
    let ok = post_login(&app, "agent1", PASSWORD, Some(&token), None).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let header = set_cookie(&ok, "paydesk_console").unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/console"] {
        assert!(header.contains(flag), "{header}");
    }
    assert!(!header.contains("Secure"), "plain http: {header}");
    let first = Console {
        app: &app,
        session: cookie_value(&header),
    };
    assert!(first.page("/console/payments").await.contains("결제 찾기"));

    // Session fixation: logging in while holding a session gives a new id and ends the old one.
    let token = login_token(&app).await;
    let again = post_login(&app, "agent1", PASSWORD, Some(&token), Some(&first.session)).await;
    let second = cookie_value(&set_cookie(&again, "paydesk_console").unwrap());
    assert_ne!(second, first.session);
    let old = first.get("/console/payments").await;
    assert_eq!(old.status(), StatusCode::SEE_OTHER, "the old id is dead");
    assert_eq!(old.headers()["location"], "/console/login");
    let second = Console {
        app: &app,
        session: second,
    };

    // A form without this session's token: 403, and nothing recorded.
    let pid = pay(&app, &demo_key(&app), 20000).await;
    let note = format!("/console/payments/{pid}/note");
    let csrf = second.csrf().await;
    assert_eq!(
        second.post(&note, &[("note", "위조")]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        second
            .post(&note, &[("note", "위조"), ("csrf", "AAAA")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let other = Console::login(&app, "agent1").await;
    let others_csrf = other.csrf().await;
    assert_eq!(
        second
            .post(&note, &[("note", "위조"), ("csrf", &others_csrf)])
            .await
            .status(),
        StatusCode::FORBIDDEN,
        "another session's token does not do"
    );
    assert!(
        !second
            .page(&format!("/console/payments/{pid}"))
            .await
            .contains("위조")
    );
    let done = second
        .post(&note, &[("note", "고객 통화함"), ("csrf", &csrf)])
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(
        second
            .page(&format!("/console/payments/{pid}"))
            .await
            .contains("고객 통화함")
    );

    // Logout everywhere ends the other session too.
    let out = other
        .post("/console/logout-everywhere", &[("csrf", &others_csrf)])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        second.get("/console/payments").await.status(),
        StatusCode::SEE_OTHER
    );

    // Lockout: five wrong passwords lock the account, with a clear message, even for the right one.
    for attempt in 1..=5 {
        let token = login_token(&app).await;
        let response = post_login(&app, "agent1", "wrong password", Some(&token), None).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        if attempt < 5 {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert!(
                text.contains("아이디 또는 비밀번호가 올바르지 않습니다"),
                "{text}"
            );
        } else {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
            assert!(text.contains("잠시 잠겼습니다"), "{text}");
        }
    }
    let token = login_token(&app).await;
    let locked = post_login(&app, "agent1", PASSWORD, Some(&token), None).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(set_cookie(&locked, "paydesk_console").is_none());
    let text = locked.text().await.unwrap();
    assert!(text.contains("15분 뒤에 다시 시도해 주세요"), "{text}");
}

#[tokio::test]
async fn agents_see_only_their_storefront_and_cannot_refund() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let other_key = other_storefront_key(&app).await;
    add_user(&app, "demo-agent", "agent", &["sf_demo"]);
    let mine = pay(&app, &key, 20000).await;
    // A checkout is enough: the other storefront's Innopay key is not the sandbox's.
    let theirs = new_checkout(&app, &other_key, &order(30000)).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let agent = Console::login(&app, "demo-agent").await;
    assert_eq!(
        agent
            .get(&format!("/console/payments/{theirs}"))
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "another storefront's payment is not found by id"
    );
    let list = agent.page("/console/payments").await;
    assert!(list.contains(&mine) && !list.contains(&theirs), "{list}");

    // No cancel form for an agent, and a forged cancel with a valid token is 403.
    let page = agent.page(&format!("/console/payments/{mine}")).await;
    assert!(
        !page.contains("id=\"cancel\""),
        "no refund button for agents"
    );
    let csrf = csrf_of(&page);
    let forged = agent
        .post(
            &format!("/console/payments/{mine}/cancel"),
            &[
                ("csrf", &csrf),
                ("amount", "1000"),
                ("reason", "위조"),
                ("remaining", "20000"),
                ("version", "3"),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(payment(&app, &key, &mine).await["status"], "paid");
    assert_eq!(
        agent.get("/console/audit").await.status(),
        StatusCode::FORBIDDEN,
        "agents do not read the audit log"
    );
}

/// A US-dollar payment (OPCARD, cents) reads in dollars on the list and its page, and its cancel
/// form offers what remains in cents: an admin's partial refund takes cents.
#[tokio::test]
async fn a_dollar_payment_reads_in_dollars_and_is_refunded_in_cents() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    add_user(&app, "admin1", "admin", &[]);
    let mut body = order(1234);
    body["payMethod"] = json!("OPCARD");
    body["currency"] = json!("USD");
    let checkout = new_checkout(&app, &key, &body).await;
    let id = checkout["id"].as_str().unwrap();
    let return_url =
        crate::approval::authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    app.client.get(&return_url).send().await.unwrap();

    let admin = Console::login(&app, "admin1").await;
    let list = admin.page("/console/payments").await;
    assert!(
        list.contains("$12.34") && !list.contains("1,234 원"),
        "{list}"
    );
    let page = admin.page(&format!("/console/payments/{id}")).await;
    assert!(page.contains("남은 금액 $12.34"), "{page}");
    assert_eq!(hidden(&page, "remaining"), "1234");
    let refunded = admin
        .post(
            &format!("/console/payments/{id}/cancel"),
            &[
                ("csrf", &csrf_of(&page)),
                ("version", &hidden(&page, "version")),
                ("remaining", "1234"),
                ("amount", "234"),
                ("reason", "부분 환불"),
            ],
        )
        .await;
    assert_eq!(refunded.status(), StatusCode::SEE_OTHER);
    let after = payment(&app, &key, id).await;
    assert_eq!(after["status"], "partially_cancelled", "{after}");
    assert_eq!(after["remainingAmount"], 1000);
    let page = admin.page(&format!("/console/payments/{id}")).await;
    assert!(page.contains("남은 금액 $10.00"), "{page}");
}

#[tokio::test]
async fn buyer_markup_is_text_and_views_and_actions_are_audited() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    add_user(&app, "admin1", "admin", &[]);
    let mut body = order(20000);
    body["goodsName"] = json!("<img src=x onerror=alert(1)>립밤");
    body["buyer"]["name"] = json!("<b>홍</b>길동");
    let checkout = new_checkout(&app, &key, &body).await;
    let id = checkout["id"].as_str().unwrap();

    let admin = Console::login(&app, "admin1").await;
    let list = admin.page("/console/payments?q=010-1234-5678").await;
    let page = admin.page(&format!("/console/payments/{id}")).await;
    for html in [&list, &page] {
        assert!(!html.contains("<img src=x"), "markup must not survive");
        assert!(!html.contains("<b>홍"), "markup must not survive");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;립밤"));
    }
    assert!(
        page.contains("&lt;b&gt;홍&lt;/b&gt;길동"),
        "full name on the payment page"
    );
    let results = &list[list.find("id=\"results\"").expect("results")..];
    assert!(results.contains("010-****-5678") && !results.contains("010-1234-5678"));
    let csrf = csrf_of(&page);
    admin
        .post(
            &format!("/console/payments/{id}/note"),
            &[("csrf", &csrf), ("note", "=cmd|' /C calc'!A0")],
        )
        .await;

    let audit = admin.page("/console/audit").await;
    for action in ["login", "view_buyer", "note"] {
        assert!(
            audit.contains(&format!("data-action=\"{action}\"")),
            "{action} in the audit log"
        );
    }
    let csv = admin.get("/console/audit.csv").await;
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.contains("\"view_buyer\"") && csv.contains(id));
    assert!(
        csv.contains("\"{\"\"note\"\":\"\"=cmd"),
        "notes are inside a JSON field, never a bare formula: {csv}"
    );
    assert!(
        admin
            .page("/console/audit")
            .await
            .contains("data-action=\"audit_exported\"")
    );
}

#[tokio::test]
async fn two_instances_share_sessions_and_a_double_refund_charges_back_once() {
    let two = TwoInstances::start(&[]).await;
    add_user(&two.first, "admin1", "admin", &[]);
    let id = pay_at(&two.first, &two.sandbox, &two.key, 50000).await;

    let on_first = Console::login(&two.first, "admin1").await;
    let on_second = on_first.on(&two.second);
    assert!(
        on_second
            .page("/console/payments")
            .await
            .contains("결제 찾기"),
        "a session made on one instance works on the other"
    );
    // Two consoles (two sessions, one per instance) showing the same payment refund it at once.
    let other = Console::login(&two.second, "admin1").await;
    let page_a = on_first.page(&format!("/console/payments/{id}")).await;
    let page_b = other.page(&format!("/console/payments/{id}")).await;
    let path = format!("/console/payments/{id}/cancel");
    let form = |page: &str| {
        vec![
            ("csrf".to_string(), csrf_of(page)),
            ("version".to_string(), hidden(page, "version")),
            ("remaining".to_string(), hidden(page, "remaining")),
            ("amount".to_string(), "5000".to_string()),
            ("reason".to_string(), "고객 변심".to_string()),
        ]
    };
    let (form_a, form_b) = (form(&page_a), form(&page_b));
    let post = |console: &Console, form: &Vec<(String, String)>| {
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let request = console
            .app
            .client
            .post(console.app.url(&path))
            .header("cookie", format!("paydesk_console={}", console.session))
            .form(&pairs);
        async move { request.send().await.unwrap() }
    };
    let (a, b) = tokio::join!(post(&on_first, &form_a), post(&other, &form_b));
    assert_eq!(a.status(), StatusCode::SEE_OTHER);
    assert_eq!(b.status(), StatusCode::SEE_OTHER);
    let paid = payment(&two.first, &two.key, &id).await;
    assert_eq!(paid["cancelledAmount"], 5000, "{paid}");
    let cancels = sandbox_calls(&two.sandbox)
        .await
        .iter()
        .filter(|c| {
            c["path"]
                .as_str()
                .unwrap_or_default()
                .ends_with("/api/cancelApi")
        })
        .count();
    assert_eq!(cancels, 1, "Innopay was asked to cancel once");
    let locations: Vec<String> = [a, b]
        .iter()
        .map(|r| r.headers()["location"].to_str().unwrap().to_string())
        .collect();
    assert!(
        locations.iter().any(|l| l.ends_with("msg=cancelled")),
        "{locations:?}"
    );
}

/// Clicks a copy button and returns what reached the clipboard: a text box is focused and Ctrl+V
/// typed into it, so the browser pastes its real clipboard (no permission prompt is involved in a
/// paste the user types). A button that copied nothing leaves the decoy.
async fn copied_by(browser: &Browser, button: &str) -> String {
    browser
        .execute(
            "let t = document.getElementById('paste-probe'); if (!t) { t = document.createElement('textarea'); \
             t.id = 'paste-probe'; document.body.appendChild(t); } t.value = ''; return 1;",
            json!([]),
        )
        .await;
    browser.click(button).await;
    browser
        .wait("the button says 복사됨", || async {
            let text = browser
                .execute(
                    "return document.querySelector(arguments[0]).textContent;",
                    json!([button]),
                )
                .await;
            (text == "복사됨").then_some(())
        })
        .await;
    browser.type_into("#paste-probe", "\u{E009}v\u{E000}").await;
    let pasted = browser
        .execute(
            "return document.getElementById('paste-probe').value;",
            json!([]),
        )
        .await;
    browser
        .execute(
            "document.getElementById('paste-probe').remove(); return 1;",
            json!([]),
        )
        .await;
    pasted.as_str().unwrap_or_default().to_string()
}

async fn browser_login(browser: &Browser, app: &TestApp, user: &str) {
    browser.goto(&app.url("/console/login")).await;
    browser.type_into("#username", user).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#login").await;
    browser.wait_for_url(&app.url("/console/payments")).await;
}

#[tokio::test]
async fn journey_an_agent_finds_a_failed_payment_by_phone_and_copies_the_help() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    add_user(&app, "agent1", "agent", &[]);
    let mut body = order(20000);
    body["buyer"]["tel"] = json!("010-2345-6789");
    let id = failed_payment(&app, &key, &body).await;
    pay(&app, &key, 10000).await;

    browser.goto(&app.url("/console/login")).await;
    browser.screenshot("console-login").await;
    browser_login(&browser, &app, "agent1").await;
    browser.type_into("#q", "010-2345-6789").await;
    browser.click("#search").await;
    browser.find("#results").await;
    let results = browser.text("#results").await;
    assert_eq!(
        results.matches("010-****-6789").count(),
        1,
        "exactly the one payment, masked: {results}"
    );
    browser.screenshot("console-search").await;
    browser.click(".payment-row a").await;
    browser
        .wait_for_url(&app.url(&format!("/console/payments/{id}")))
        .await;
    assert_eq!(browser.text("#status").await, "결제 실패");
    assert_eq!(browser.text("#failure-code").await, "3011");
    assert!(browser.text("#buyer").await.contains("010-2345-6789"));

    let link = copied_by(&browser, ".help-hit .copy-link.secondary").await;
    let expected = browser
        .execute(
            "return document.querySelector('.help-hit a').href;",
            json!([]),
        )
        .await;
    assert_eq!(
        json!(link),
        expected,
        "the link copied is the article's section link"
    );
    assert!(
        link.starts_with(&app.url("/help/")) && link.contains('#'),
        "{link}"
    );
    let template = copied_by(&browser, ".help-hit .copy-template").await;
    assert_eq!(
        template,
        format!("고객님, 아래 안내를 확인해 주세요: {link}")
    );
    browser.screenshot("console-payment-failed").await;

    for (path, name) in [
        ("/console/flags", "console-flags"),
        ("/console/analytics", "console-analytics"),
    ] {
        browser.goto(&app.url(path)).await;
        browser.find("h1").await;
        browser.screenshot(name).await;
    }

    // The same pages on a phone: nothing scrolls sideways.
    emulate_phone(&browser).await;
    for path in [
        "/console/payments?q=010-2345-6789".to_string(),
        format!("/console/payments/{id}"),
        "/console/flags".to_string(),
        "/console/analytics".to_string(),
    ] {
        browser.goto(&app.url(&path)).await;
        browser.find("h1").await;
        let problems = phone_layout_problems(&browser).await;
        assert!(problems.is_empty(), "{path}: {problems:#?}");
        let name = match path.as_str() {
            "/console/flags" => "console-flags-phone".to_string(),
            "/console/analytics" => "console-analytics-phone".to_string(),
            p if p.contains('?') => "console-search-phone".to_string(),
            _ => "console-payment-failed-phone".to_string(),
        };
        browser.screenshot(&name).await;
    }
}

#[tokio::test]
async fn journey_an_admin_refunds_part_and_the_storefront_hears_it() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn_with(Backend::Sqlite, &FAST).await;
    let key = demo_key(&app);
    let receiver = WebhookReceiver::start(Answer::Status(200)).await;
    set_endpoint(&app, &key, &receiver.url).await;
    add_user(&app, "admin1", "admin", &[]);
    add_user(&app, "agent1", "agent", &[]);
    let id = pay(&app, &key, 30000).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;

    // The agent sees no refund button.
    browser_login(&browser, &app, "agent1").await;
    browser
        .goto(&app.url(&format!("/console/payments/{id}")))
        .await;
    browser.find("#status").await;
    let has_cancel = browser
        .execute("return !!document.getElementById('cancel');", json!([]))
        .await;
    assert_eq!(has_cancel, json!(false));
    browser.click(".console-nav form button").await;
    browser.wait_for_url(&app.url("/console/login")).await;

    browser_login(&browser, &app, "admin1").await;
    browser
        .goto(&app.url(&format!("/console/payments/{id}")))
        .await;
    browser.type_into("#cancel-amount", "12000").await;
    browser.type_into("#cancel-reason", "일부 반품").await;
    browser.screenshot("console-payment-refund").await;
    browser.click("#cancel-submit").await;
    let notice = browser.text("#notice").await;
    assert!(notice.contains("취소했습니다"), "{notice}");
    assert_eq!(browser.text("#status").await, "부분 취소");
    let hooks = receiver.wait_for(2, Duration::from_secs(10)).await;
    let refund = &hooks[1].json;
    assert_eq!(refund["type"], "payment.partially_cancelled", "{refund}");
    assert_eq!(payment(&app, &key, &id).await["cancelledAmount"], 12000);

    browser.goto(&app.url("/console/audit")).await;
    let audit = browser.text("main").await;
    assert!(
        audit.contains("취소") && audit.contains("일부 반품"),
        "{audit}"
    );
    browser.screenshot("console-audit").await;
    emulate_phone(&browser).await;
    browser.goto(&app.url("/console/audit")).await;
    browser.find("h1").await;
    let problems = phone_layout_problems(&browser).await;
    assert!(problems.is_empty(), "{problems:#?}");
    browser.screenshot("console-audit-phone").await;
}

#[tokio::test]
async fn journey_an_admin_resolves_a_flagged_noti_with_a_note() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_user(&app, "admin1", "admin", &[]);
    let response = app
        .client
        .post(app.url("/innopay/noti"))
        .form(&[
            ("shopCode", "testpay01m"),
            ("tid", "testpay01m01082611270000009999"),
            ("moid", "<script>no-such-order</script>"),
            ("goodsAmt", "20000"),
            ("status", "25"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "unmatched: flagged"
    );

    browser_login(&browser, &app, "admin1").await;
    browser.goto(&app.url("/console/flags")).await;
    let item = browser.text(".flagged-noti").await;
    assert!(
        item.contains("<script>no-such-order</script>"),
        "shown as text: {item}"
    );
    assert!(
        item.contains("unmatched") && item.contains("할 일"),
        "{item}"
    );
    browser.screenshot("console-flags-noti").await;
    let id = browser
        .execute(
            "return document.querySelector('.flagged-noti').id.slice(5);",
            json!([]),
        )
        .await;
    let id = id.as_str().unwrap().to_string();
    browser
        .type_into(
            &format!("#noti-note-{id}"),
            "이노페이 관리자에서 확인: 테스트 거래",
        )
        .await;
    browser.click(&format!("#resolve-noti-{id}")).await;
    let notice = browser.text("#notice").await;
    assert!(notice.contains("확인 완료"), "{notice}");
    let gone = browser
        .execute(
            "return document.querySelectorAll('.flagged-noti').length;",
            json!([]),
        )
        .await;
    assert_eq!(gone, json!(0), "resolved Noti leave the queue");
    browser.goto(&app.url("/console/audit")).await;
    let audit = browser.text("main").await;
    assert!(
        audit.contains("Noti 확인 완료") && audit.contains("테스트 거래"),
        "{audit}"
    );
}
