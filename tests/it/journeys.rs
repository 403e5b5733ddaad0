//! Shopper journeys through paydesk's own pages in headless Chromium (harness in `browser.rs`):
//! the hosted checkout page, Innopay's popup window (the sandbox), and the result page.

use serde_json::{Value, json};

use crate::approval::{approvals, payment, settled};
use crate::browser::{
    Browser, DESKTOP, emulate_phone, open_payment_window, open_payment_window_with,
    phone_layout_problems,
};
use crate::checkout::{demo_key, new_checkout, order};
use crate::innopay::add_fault;
use crate::support::{Backend, TestApp};
use crate::webhooks::{Answer, FAST, WebhookReceiver, set_endpoint, verifies};

/// A phone-sized viewport (a common Android width).
const PHONE: (u32, u32) = (390, 844);

/// Opens a new checkout's hosted page; returns the checkout and the page's window handle.
async fn open_checkout(browser: &Browser, app: &TestApp, amount: i64) -> (Value, String) {
    let checkout = new_checkout(app, &demo_key(app), &order(amount)).await;
    browser
        .goto(checkout["checkoutUrl"].as_str().unwrap())
        .await;
    browser.find("#btn_pay").await;
    (checkout, browser.window().await)
}

/// Steps through the sandbox window: terms, card company, then the authentication page, where
/// `scenario` picks the outcome (`approve` or `decline`, whose first preset is the 3Factor error).
async fn pay_in_window(browser: &Browser, card: &str, scenario: &str) {
    browser.click("#agree").await;
    browser.click(&format!("#card-{card}")).await;
    browser.click("#next").await;
    browser.type_into("#cardPassword", "1234").await;
    browser.click(&format!("#scenario-{scenario}")).await;
    browser.click("#pay").await;
}

#[tokio::test]
async fn journey_a_card_payment_from_checkout_page_to_receipt() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn_with(Backend::Sqlite, &FAST).await;
    let receiver = WebhookReceiver::start(Answer::Status(200)).await;
    let endpoint = set_endpoint(&app, &demo_key(&app), &receiver.url).await;
    let (checkout, page) = open_checkout(&browser, &app, 20000).await;
    browser.screenshot("journey-success-checkout").await;
    open_payment_window(&browser, &page).await;
    pay_in_window(&browser, "07", "approve").await;
    browser.switch_to(&page).await;
    let id = checkout["id"].as_str().unwrap();
    browser
        .wait_for_url(&app.url(&format!("/checkout/{id}/result")))
        .await;
    let text = browser.text("main").await;
    browser.screenshot("journey-success-receipt").await;
    assert!(text.contains("결제가 완료되었습니다"), "{text}");
    assert!(text.contains("20,000 원"), "{text}");
    assert!(text.contains("현대카드"), "{text}");
    let paid = settled(&app, &demo_key(&app), id, std::time::Duration::from_secs(5)).await;
    assert_eq!(paid["status"], "paid");
    let hooks = receiver
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(hooks[0].json["type"], "payment.paid");
    assert_eq!(hooks[0].json["data"]["id"], id);
    assert!(verifies(
        endpoint["signingSecret"].as_str().unwrap(),
        &hooks[0]
    ));
}

#[tokio::test]
async fn journey_a_blocked_popup_is_explained_with_help() {
    let Some(browser) = Browser::start_with(DESKTOP, true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (checkout, _) = open_checkout(&browser, &app, 20000).await;
    // A click made by a script carries no user gesture, so Chromium's popup blocker stops the
    // window, exactly as it does for shoppers whose browser blocks popups.
    let _ = browser
        .execute(
            "setTimeout(function () { document.getElementById('btn_pay').click(); }, 0); return 1;",
            serde_json::json!([]),
        )
        .await;
    // The sandbox's SDK, like a real one, may alert first; the page then explains.
    let _ = browser.take_alert().await;
    let notice = browser.text("#notice").await;
    browser.screenshot("journey-popup-blocked").await;
    assert!(
        notice.contains("팝업") && notice.contains("차단"),
        "{notice}"
    );
    let link = browser
        .execute(
            "return document.querySelector('#notice a').getAttribute('href');",
            serde_json::json!([]),
        )
        .await;
    assert_eq!(link, "/help/popup-blocked");
    assert_eq!(browser.windows().await.len(), 1, "no window opened");
    let id = checkout["id"].as_str().unwrap();
    assert_eq!(
        payment(&app, &demo_key(&app), id).await["status"],
        "ready",
        "still payable"
    );
}

#[tokio::test]
async fn journey_a_3factor_decline_explained_with_the_paybook_article_first() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (checkout, page) = open_checkout(&browser, &app, 20000).await;
    open_payment_window(&browser, &page).await;
    // BC (ISP); the decline's first preset is "3Factor 인증 필요 ISP 공인인증 오류". The window's
    // unsigned word leaves the checkout payable, explained by our own articles.
    pay_in_window(&browser, "01", "decline").await;
    browser.switch_to(&page).await;
    let id = checkout["id"].as_str().unwrap();
    // The reloaded checkout page is the one with suggestions.
    browser.text(".help-suggestions").await;
    assert!(browser.url().await.ends_with(&format!("/checkout/{id}")));
    let text = browser.text("main").await;
    browser.screenshot("journey-3factor-failure").await;
    assert!(text.contains("결제가 완료되지 않았습니다"), "{text}");
    let first_help = browser
        .execute(
            "return document.querySelector('.help-suggestions a').getAttribute('href');",
            serde_json::json!([]),
        )
        .await;
    assert!(
        first_help
            .as_str()
            .unwrap()
            .starts_with("/help/paybook-3factor-error"),
        "{first_help}"
    );
    assert_eq!(payment(&app, &demo_key(&app), id).await["status"], "ready");
}

#[tokio::test]
async fn journey_the_help_centre_on_a_phone() {
    let Some(browser) = Browser::start_sized(PHONE).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    browser.goto(&app.url("/help")).await;
    browser
        .type_into("input[data-typeahead]", "팝업 차단")
        .await;
    let first = browser.text("#live-results .hit a").await;
    browser.screenshot("journey-help-typeahead-phone").await;
    assert!(first.contains("팝업"), "{first}");
    browser.click("#live-results .hit a").await;
    browser.wait_for_url(&app.url("/help/popup-blocked")).await;
    browser.text("h1").await;
    // Capture what the copy button writes to the clipboard.
    browser
        .execute(
            "window.copied = null; navigator.clipboard.writeText = function (t) { window.copied = t; return Promise.resolve(); }; return 1;",
            serde_json::json!([]),
        )
        .await;
    browser.click("button[data-copy]").await;
    browser.screenshot("journey-help-article-phone").await;
    let copied = browser
        .wait("the copied link", || async {
            let value = browser
                .execute("return window.copied;", serde_json::json!([]))
                .await;
            value.as_str().map(str::to_string)
        })
        .await;
    let first_anchor = browser
        .execute(
            "return document.querySelector('section.help-section h2').id;",
            serde_json::json!([]),
        )
        .await;
    assert_eq!(
        copied,
        app.url(&format!(
            "/help/popup-blocked#{}",
            first_anchor.as_str().unwrap()
        ))
    );
    // The permalink opens the same section.
    let section = app
        .get(&copied.replace(&app.base, ""))
        .await
        .text()
        .await
        .unwrap();
    assert!(section.contains(&format!("id=\"{}\"", first_anchor.as_str().unwrap())));
}

/// The help articles a shopper page suggests, checked through the API: each is for shoppers, and
/// none is a developer article. Returns their slugs, best first.
async fn suggested_shopper_articles(browser: &Browser, app: &TestApp) -> Vec<String> {
    let hrefs = browser
        .execute(
            "return Array.from(document.querySelectorAll('.help-suggestions a')).map(a => a.getAttribute('href'));",
            json!([]),
        )
        .await;
    let mut slugs = Vec::new();
    for href in hrefs.as_array().unwrap() {
        let href = href.as_str().unwrap();
        let Some(rest) = href.strip_prefix("/help/") else {
            continue;
        };
        let slug = rest.split(['?', '#']).next().unwrap().to_string();
        let article: Value = app
            .get(&format!("/v1/help/articles/{slug}"))
            .await
            .json()
            .await
            .unwrap();
        let audience = article["audience"].as_array().unwrap();
        assert!(audience.contains(&json!("shopper")), "{slug}: {audience:?}");
        assert!(
            !audience.contains(&json!("developer")),
            "{slug}: {audience:?}"
        );
        slugs.push(slug);
    }
    assert!(!slugs.is_empty(), "no help suggested: {hrefs}");
    slugs
}

/// 잔액 부족 at approval on a phone: the page says what happened in Korean, suggests the decline
/// article (shopper articles only), offers another card, fits 390 px; the other card pays, once,
/// and the receipt leads back to the shop.
#[tokio::test]
async fn journey_an_issuer_decline_on_a_phone_offers_another_card_that_pays_once() {
    let Some(browser) = Browser::start_sized(PHONE).await else {
        return;
    };
    emulate_phone(&browser).await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_fault(
        &app,
        json!({"kind": "decline", "api": "pay", "calls": 1, "code": "C002", "message": "잔액이 부족합니다."}),
    )
    .await;
    let (checkout, page) = open_checkout(&browser, &app, 20000).await;
    let id = checkout["id"].as_str().unwrap();
    assert!(browser.text("#expires").await.contains("까지"));
    open_payment_window(&browser, &page).await;
    pay_in_window(&browser, "04", "approve").await;
    browser.switch_to(&page).await;
    browser.find("#declined").await;
    let text = browser.text("main").await;
    assert!(text.contains("결제에 실패했습니다"), "{text}");
    assert!(text.contains("잔액이 부족합니다."), "{text}");
    assert!(text.contains("요금은 청구되지 않았습니다"), "{text}");
    assert!(text.contains("쇼핑몰로 돌아가기"), "{text}");
    let slugs = suggested_shopper_articles(&browser, &app).await;
    assert_eq!(slugs[0], "card-declined", "{slugs:?}");
    assert_eq!(browser.text("#btn_pay_other").await, "다른 카드로 결제");
    assert_eq!(browser.text("#btn_pay").await, "다시 결제하기");
    let problems = phone_layout_problems(&browser).await;
    browser.screenshot("decline-phone").await;
    assert!(problems.is_empty(), "{problems:#?}");

    open_payment_window_with(&browser, &page, "#btn_pay_other").await;
    pay_in_window(&browser, "06", "approve").await;
    browser.switch_to(&page).await;
    browser
        .wait_for_url(&app.url(&format!("/checkout/{id}/result")))
        .await;
    let text = browser.text("main").await;
    assert!(text.contains("결제가 완료되었습니다"), "{text}");
    assert!(text.contains("신한카드"), "{text}");
    // The demo shop is where the storefront's address points.
    let back = browser
        .execute(
            "return document.getElementById('back-to-shop').getAttribute('href');",
            json!([]),
        )
        .await;
    assert_eq!(back, json!(app.url("/")));
    assert_eq!(
        approvals(&app.url("/sandbox")).await,
        1,
        "one charge for two attempts"
    );
    let paid = payment(&app, &demo_key(&app), id).await;
    assert_eq!(paid["status"], "paid", "{paid}");
}

/// Closing the window, or cancelling in it, says so on the checkout page; past the expiry the page is Korean only
/// (no `expired` code, no developer article) and leads back to the shop; both fit 390 px.
#[tokio::test]
async fn journey_a_cancelled_window_then_an_expired_checkout_on_a_phone() {
    let Some(browser) = Browser::start_sized(PHONE).await else {
        return;
    };
    emulate_phone(&browser).await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (checkout, page) = open_checkout(&browser, &app, 20000).await;
    let id = checkout["id"].as_str().unwrap();
    // Closing the window without paying is said on the page.
    open_payment_window(&browser, &page).await;
    browser.close_window().await;
    browser.switch_to(&page).await;
    let closed = browser.text("#notice").await;
    assert!(
        closed.contains("결제창을 닫아 결제가 완료되지 않았습니다"),
        "{closed}"
    );
    // Cancelling in it, too.
    open_payment_window(&browser, &page).await;
    browser.click("#cancel").await;
    browser.switch_to(&page).await;
    let notice = browser.text("#window-cancelled").await;
    assert!(
        notice.contains("결제창에서 결제를 취소하셨습니다"),
        "{notice}"
    );
    assert!(notice.contains("요금은 청구되지 않았습니다"), "{notice}");
    let problems = phone_layout_problems(&browser).await;
    browser.screenshot("window-cancelled-phone").await;
    assert!(problems.is_empty(), "{problems:#?}");

    app.clock.advance(time::Duration::hours(2));
    browser.goto(&app.url(&format!("/checkout/{id}"))).await;
    browser
        .wait_for_url(&app.url(&format!("/checkout/{id}/result")))
        .await;
    let text = browser.text("main").await;
    assert!(text.contains("결제 가능 시간이 지났습니다"), "{text}");
    assert!(text.contains("쇼핑몰로 돌아가기"), "{text}");
    for english in ["expired", "오류 코드", "Error", "error"] {
        assert!(
            !text.contains(english),
            "{english} on the expired page: {text}"
        );
    }
    suggested_shopper_articles(&browser, &app).await;
    let problems = phone_layout_problems(&browser).await;
    browser.screenshot("expired-phone").await;
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(
        payment(&app, &demo_key(&app), id).await["status"],
        "expired"
    );
}

/// While Innopay's answer is being confirmed, the result page shows its progress and moves to the
/// receipt by itself once the reconciler has settled the payment: no reload by the shopper.
#[tokio::test]
async fn journey_a_payment_being_confirmed_shows_progress_then_the_receipt() {
    let Some(browser) = Browser::start_sized(PHONE).await else {
        return;
    };
    emulate_phone(&browser).await;
    // The reconciler runs only when the test says, after the page was seen waiting.
    let app = TestApp::spawn_with(Backend::Sqlite, &[("reconcile_interval_ms", "3600000")]).await;
    // Innopay approves but its answer is lost, and so is its Noti: `unknown` until an inquiry.
    add_fault(
        &app,
        json!({"kind": "server_error", "api": "pay", "calls": 1, "status": 503, "applied": true}),
    )
    .await;
    add_fault(&app, json!({"kind": "noti_lost", "calls": 1})).await;
    let checkout = new_checkout(&app, &demo_key(&app), &order(20000)).await;
    let id = checkout["id"].as_str().unwrap();
    let return_url =
        crate::approval::authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    app.client.get(&return_url).send().await.unwrap();
    assert_eq!(
        payment(&app, &demo_key(&app), id).await["status"],
        "unknown"
    );
    browser
        .goto(&app.url(&format!("/checkout/{id}/result")))
        .await;
    browser.find(".spinner").await;
    let status = browser.text("[role=status]").await;
    assert!(status.contains("승인 결과를 확인하고 있습니다"), "{status}");
    let problems = phone_layout_problems(&browser).await;
    browser.screenshot("confirming-phone").await;
    assert!(problems.is_empty(), "{problems:#?}");
    app.clock.advance(time::Duration::seconds(2));
    app.state.checkout.reconcile_due(50).await.unwrap();
    let settled = settled(&app, &demo_key(&app), id, std::time::Duration::from_secs(5)).await;
    assert_eq!(settled["status"], "paid", "{settled}");
    browser
        .wait("the receipt without a reload", || async {
            // Read in one script: the page replaces itself meanwhile, which would leave an element
            // found before it stale.
            let text = browser
                .execute(
                    "const m = document.querySelector('main'); return m ? m.innerText : '';",
                    json!([]),
                )
                .await;
            text.as_str()
                .is_some_and(|t| t.contains("결제가 완료되었습니다"))
                .then_some(())
        })
        .await;
}

/// A checkout offering card, bank transfer and easy pay, on a phone: the hosted page lists them as
/// a Korean radio list that fits 390 px; the shopper's choice (easy pay) is the window that opens
/// and the method paid with, and the bank transfer window and the receipts fit the phone too.
#[tokio::test]
async fn journey_a_shopper_chooses_among_the_offered_methods_on_a_phone() {
    let Some(browser) = Browser::start_sized(PHONE).await else {
        return;
    };
    emulate_phone(&browser).await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let mut body = order(20000);
    body["payMethods"] = json!(["CARD", "BANK", "EPAY"]);
    let checkout = new_checkout(&app, &key, &body).await;
    let id = checkout["id"].as_str().unwrap();
    browser
        .goto(checkout["checkoutUrl"].as_str().unwrap())
        .await;
    let methods = browser.text("#methods").await;
    for label in ["결제수단 선택", "신용·체크카드", "계좌이체", "간편결제"] {
        assert!(methods.contains(label), "{label}: {methods}");
    }
    let problems = phone_layout_problems(&browser).await;
    browser.screenshot("methods-choice-phone").await;
    assert!(problems.is_empty(), "{problems:#?}");

    // Bank transfer first: its window asks for the bank; the shopper closes it.
    let page = browser.window().await;
    browser.click("#method-BANK").await;
    open_bank_or_wallet_window(&browser, &page).await;
    browser.find("#bankCode").await;
    let problems = phone_layout_problems(&browser).await;
    browser.screenshot("sandbox-bank-window-phone").await;
    assert!(problems.is_empty(), "{problems:#?}");
    browser.close_window().await;
    browser.switch_to(&page).await;
    browser.text("#notice").await;

    // Then easy pay, with 페이코.
    browser.click("#method-EPAY").await;
    open_bank_or_wallet_window(&browser, &page).await;
    browser.find("#wallet-PAYCO").await;
    let problems = phone_layout_problems(&browser).await;
    browser.screenshot("sandbox-wallet-window-phone").await;
    assert!(problems.is_empty(), "{problems:#?}");
    browser.click("#agree").await;
    browser.click("#wallet-PAYCO").await;
    browser.click("#scenario-approve").await;
    browser.click("#pay").await;
    browser.switch_to(&page).await;
    browser
        .wait_for_url(&app.url(&format!("/checkout/{id}/result")))
        .await;
    let text = browser.text("main").await;
    assert!(text.contains("결제가 완료되었습니다"), "{text}");
    assert!(text.contains("페이코"), "{text}");
    let problems = phone_layout_problems(&browser).await;
    browser.screenshot("epay-receipt-phone").await;
    assert!(problems.is_empty(), "{problems:#?}");
    let paid = payment(&app, &key, id).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["payMethod"], "EPAY", "{paid}");
}

/// The methods' own pages on a phone: the bank-transfer, account-easy-pay and overseas-card windows
/// and their receipts fit 390 px, and each says the amount in the checkout's currency (dollars for
/// an overseas card in USD).
#[tokio::test]
async fn journey_each_methods_window_and_receipt_fit_a_phone() {
    let Some(browser) = Browser::start_sized(PHONE).await else {
        return;
    };
    emulate_phone(&browser).await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    for (method, currency, amount, shown) in [
        ("BANK", "KRW", 20000, "20,000"),
        ("EBANK", "KRW", 20000, "20,000"),
        ("OPCARD", "USD", 1234, "$12.34"),
    ] {
        let mut body = order(amount);
        body["payMethod"] = json!(method);
        body["currency"] = json!(currency);
        let checkout = new_checkout(&app, &key, &body).await;
        let id = checkout["id"].as_str().unwrap();
        browser
            .goto(checkout["checkoutUrl"].as_str().unwrap())
            .await;
        let page = browser.window().await;
        open_bank_or_wallet_window(&browser, &page).await;
        let window = browser.text("body").await;
        assert!(window.contains(shown), "{method}: {window}");
        if method == "OPCARD" {
            browser.type_into("#secureCode", "123456").await;
        } else {
            browser
                .execute(
                    "const s = document.getElementById('bankCode'); \
                     s.value = Array.from(s.options).find(o => o.value).value;",
                    json!([]),
                )
                .await;
        }
        browser.click("#agree").await;
        browser.click("#scenario-approve").await;
        let problems = phone_layout_problems(&browser).await;
        browser
            .screenshot(&format!("{}-window-phone", method.to_lowercase()))
            .await;
        assert!(problems.is_empty(), "{method}: {problems:#?}");
        browser.click("#pay").await;
        browser.switch_to(&page).await;
        browser
            .wait_for_url(&app.url(&format!("/checkout/{id}/result")))
            .await;
        let text = browser.text("main").await;
        assert!(text.contains("결제가 완료되었습니다"), "{method}: {text}");
        assert!(text.contains(shown), "{method}: {text}");
        let problems = phone_layout_problems(&browser).await;
        browser
            .screenshot(&format!("{}-receipt-phone", method.to_lowercase()))
            .await;
        assert!(problems.is_empty(), "{method}: {problems:#?}");
        let paid = payment(&app, &key, id).await;
        assert_eq!(paid["status"], "paid", "{method}: {paid}");
        assert_eq!(paid["currency"], currency, "{method}: {paid}");
    }
}

/// Clicks 결제하기 and switches to the bank or wallet window (its first step is the whole page).
async fn open_bank_or_wallet_window(browser: &Browser, page: &str) {
    browser.click("#btn_pay").await;
    let popup = browser.wait_for_new_window(&[page.to_string()]).await;
    browser.switch_to(&popup).await;
    browser.find("#pay").await;
}

/// A shopper paying inside the storefront's own app: the checkout's appScheme reaches goPay, and
/// once paid the return page hands the shopper back to the app through it, with the outcome signed
/// as a redirect is.
#[tokio::test]
async fn journey_the_return_page_hands_off_to_the_storefronts_app() {
    let Some(browser) = Browser::start_sized(PHONE).await else {
        return;
    };
    emulate_phone(&browser).await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let mut body = order(20000);
    body["appScheme"] = json!("myshop://paydesk/result");
    let checkout = new_checkout(&app, &key, &body).await;
    assert_eq!(checkout["goPay"]["appScheme"], "myshop://paydesk/result");
    let id = checkout["id"].as_str().unwrap();
    // The app's web view opens its own scheme; here a listener stands in for it, recording the
    // link the page follows instead of asking the system for a `myshop:` handler.
    browser
        .post(
            "/goog/cdp/execute",
            json!({"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source":
                "document.addEventListener('click', function (e) {\
                   const a = e.target.closest && e.target.closest('a');\
                   if (a && a.href.startsWith('myshop:')) { e.preventDefault(); window.handedOff = a.href; }\
                 }, true);"}}),
        )
        .await;
    // The window's return, in the app's web view (a full page: no popup in an app).
    let return_url =
        crate::approval::authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    browser.goto(&return_url).await;
    // The page's hand-off target and its link, read at once (the hand-off may leave the page).
    let (target, link) = browser
        .wait("the hand-off to the app", || async {
            let seen = browser
                .execute(
                    "return [window.handedOff || null, document.getElementById('next').getAttribute('href')];",
                    json!([]),
                )
                .await;
            Some((seen[0].as_str()?.to_string(), seen[1].as_str()?.to_string()))
        })
        .await;
    let handoff = url::Url::parse(&target).unwrap();
    assert_eq!(handoff.scheme(), "myshop", "{target}");
    let q: std::collections::HashMap<String, String> = handoff.query_pairs().into_owned().collect();
    assert_eq!(q["checkoutId"], id);
    assert_eq!(q["status"], "paid");
    assert!(q["signature"].starts_with("v1,"), "{target}");
    assert_eq!(link, target, "the page links to the app too");
    assert_eq!(payment(&app, &key, id).await["status"], "paid");
}
