//! The help centre over HTTP on every backend: search, articles, suggestions, analytics (and its
//! token), the pages and the widget, escaping, a custom `PAYDESK_HELP_DIR` and its reload (in process
//! and by SIGHUP to the real binary), and `paydesk help check|reindex`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use paydesk::api::{ApiError, HelpLink};
use paydesk::help::{HelpSource, SuggestRequest, render_suggestions};
use poem::IntoResponse;
use serde_json::Value;

use crate::support::{
    Backend, TestApp, backends, error_body, spawn_binary, tempdir, wait_with_timeout,
};

const IPHONE: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
const THREE_FACTOR: &str = "3Factor 인증 필요 ISP 공인인증 오류";

async fn json(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// The body of a 200 answer whose content type starts with `content_type`.
async fn text(app: &TestApp, path: &str, content_type: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    let actual = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(actual.starts_with(content_type), "{path}: {actual}");
    response.text().await.unwrap()
}

fn slugs(body: &Value) -> Vec<String> {
    body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["slug"].as_str().unwrap().to_string())
        .collect()
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn search_api_finds_korean_phrasings_and_never_answers_empty() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let response = app
            .get(&format!("/v1/help/search?q={}", encode("팝업차단")))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["query"], "팝업차단");
        assert_eq!(body["fallback"], false);
        assert!(body["tookMicros"].is_u64(), "{body}");
        let first = &body["hits"][0];
        assert_eq!(first["slug"], "popup-blocked", "{backend:?} {body}");
        let anchor = first["anchor"].as_str().unwrap();
        assert_eq!(first["url"], format!("/help/popup-blocked#{anchor}"));
        assert!(
            first["section"].is_string() && first["title"].is_string() && first["score"].is_f64()
        );
        assert!(
            first["snippet"].as_str().unwrap().contains("<mark>"),
            "{first}"
        );
        let mut unique = slugs(&body);
        unique.dedup();
        assert_eq!(unique.len(), slugs(&body).len(), "one hit per article");

        let body = json(&app, &format!("/v1/help/search?q={}", encode("qqqq zzzz"))).await;
        assert_eq!(body["fallback"], true);
        assert!(!slugs(&body).is_empty());

        let body = json(&app, "/v1/help/search?q=approve&audience=developer&limit=3").await;
        assert!(slugs(&body).len() <= 3);
        assert!(
            slugs(&body).iter().all(|s| s.starts_with("developer-")),
            "{body}"
        );

        for (path, code, param) in [
            ("/v1/help/search", "missing_query", "q"),
            ("/v1/help/search?q=%20", "missing_query", "q"),
            ("/v1/help/search?q=x&limit=0", "invalid_limit", "limit"),
            ("/v1/help/search?q=x&limit=21", "invalid_limit", "limit"),
            (
                "/v1/help/search?q=x&limit=many",
                "invalid_parameter",
                "limit",
            ),
            (
                "/v1/help/search?q=x&audience=robots",
                "invalid_parameter",
                "audience",
            ),
        ] {
            let response = app.get(path).await;
            assert_eq!(response.status(), 400, "{path}");
            assert_eq!(
                response.headers()["access-control-allow-origin"],
                "*",
                "{path}"
            );
            let error = error_body(response).await;
            assert_eq!(
                (error["code"].as_str(), error["param"].as_str()),
                (Some(code), Some(param)),
                "{path}"
            );
        }
        let long = "가".repeat(201);
        let error = error_body(app.get(&format!("/v1/help/search?q={long}")).await).await;
        assert_eq!(error["code"], "query_too_long");
        app.stop().await;
    }
}

#[tokio::test]
async fn article_api_gives_sections_with_permalinks_and_related_articles() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let body = json(&app, "/v1/help/articles/isp-password").await;
    assert_eq!(body["category"], "isp");
    assert_eq!(body["audience"], serde_json::json!(["shopper", "agent"]));
    let sections = body["sections"].as_array().unwrap();
    let reset = sections
        .iter()
        .find(|s| s["anchor"] == "reset-steps")
        .unwrap();
    assert_eq!(reset["url"], "/help/isp-password#reset-steps");
    assert!(
        body["html"]
            .as_str()
            .unwrap()
            .contains("<h2 id=\"reset-steps\">")
    );
    assert!(body["html"].as_str().unwrap().contains("1577-3033"));
    let related: Vec<&str> = body["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["slug"].as_str().unwrap())
        .collect();
    assert!(
        related.contains(&"isp-password-not-accepted"),
        "{related:?}"
    );

    let response = app.get("/v1/help/articles/no-such-article").await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_body(response).await["code"], "article_not_found");

    let list = json(&app, "/v1/help/articles").await;
    assert!(list.as_array().unwrap().len() >= 26);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|a| a["slug"] != "README")
    );
}

#[tokio::test]
async fn suggest_api_orders_patterns_then_search_then_payment_rules() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let body = json(
        &app,
        &format!("/v1/help/suggest?message={}", encode(THREE_FACTOR)),
    )
    .await;
    assert_eq!(slugs(&body)[0], "paybook-3factor-error", "{body}");
    assert_eq!(body["hits"].as_array().unwrap().len(), 3);

    // A BC card at 300,000 won on a phone: the certificate rule and the mobile checklist both show,
    // even though the message already fills the list.
    let response = app
        .client
        .get(app.url(&format!(
            "/v1/help/suggest?message={}&cardCompany={}&amount=300000&payMethod=CARD",
            encode("결제가 실패했습니다"),
            encode("비씨")
        )))
        .header("user-agent", IPHONE)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let urls: Vec<&str> = body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["url"].as_str().unwrap())
        .collect();
    assert!(
        urls.contains(&"/help/over-300000-won-certificate#isp-rule"),
        "{urls:?}"
    );
    assert!(
        urls.contains(&"/help/mobile-checklist#checklist"),
        "{urls:?}"
    );

    let body = json(&app, "/v1/help/suggest?cardCompany=01&amount=299999").await;
    assert!(
        !slugs(&body).contains(&"over-300000-won-certificate".to_string()),
        "{body}"
    );
    assert!(!slugs(&body).is_empty(), "never empty");

    // A window parameter error: the shopper learns it is the shop's to fix, the developer how.
    let body = json(&app, "/v1/help/suggest?code=W003").await;
    assert_eq!(slugs(&body)[0], "shop-request-error", "{body}");
    let body = json(&app, "/v1/help/suggest?code=W003&audience=developer").await;
    assert_eq!(slugs(&body)[0], "developer-open-payment-window", "{body}");

    for (query, code, param) in [
        ("amount=-1", "invalid_amount", "amount"),
        (
            "cardCompany=%EC%97%86%EB%8A%94%EC%B9%B4%EB%93%9C",
            "unknown_card_company",
            "cardCompany",
        ),
        ("payMethod=CASH", "invalid_pay_method", "payMethod"),
        ("limit=11", "invalid_limit", "limit"),
    ] {
        let response = app.get(&format!("/v1/help/suggest?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        let error = error_body(response).await;
        assert_eq!(
            (error["code"].as_str(), error["param"].as_str()),
            (Some(code), Some(param)),
            "{query}"
        );
    }
}

/// What the checkout's API errors and failure page do with `suggest`: the Paybook/3Factor article
/// comes first in the envelope's `help` and in the failure page's help box.
#[tokio::test]
async fn a_3factor_failure_carries_the_paybook_article_first_in_the_error_and_the_page() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let hits = app.state.help.current().suggest(&SuggestRequest {
        message: Some(THREE_FACTOR.into()),
        card_company: Some("02".into()),
        amount: Some(50_000),
        ..SuggestRequest::default()
    });
    let error = ApiError::new(
        poem::http::StatusCode::PAYMENT_REQUIRED,
        paydesk::api::ErrorType::Payment,
        "card_declined",
        "the card company refused the payment",
    )
    .with_innopay("3011", THREE_FACTOR)
    .with_help(hits.iter().map(HelpLink::from).collect());
    let body = error
        .into_response()
        .into_body()
        .into_string()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["error"]["help"][0]["slug"], "paybook-3factor-error",
        "{body}"
    );
    assert!(
        body["error"]["help"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("/help/paybook-3factor-error"),
        "{body}"
    );

    let html = render_suggestions(&hits);
    let first_link = html.find("<a href=\"/help/").unwrap();
    assert!(
        html[first_link..].starts_with("<a href=\"/help/paybook-3factor-error?from=suggest"),
        "{html}"
    );
}

/// The search log never holds a search up: past its queue's capacity it drops records, and what it
/// holds (more than two batches of 512 rows, in power-of-two chunks) is all written when the server
/// stops.
#[tokio::test]
async fn the_search_log_drops_past_its_capacity_and_writes_everything_queued_on_stop() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let results =
            app.state
                .help
                .current()
                .search("팝업 차단", paydesk::help::Audience::Shopper, 10);
        let (log, writer) = paydesk::help::search_log(app.state.store.clone(), 1_200);
        for _ in 0..1_250 {
            log.record(&results, None, "api");
        }
        let (_stop, stopped) = tokio::sync::watch::channel(true);
        writer.spawn(stopped).await.unwrap();
        let since = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        let report = app
            .state
            .store
            .help_analytics()
            .report(since, 5)
            .await
            .unwrap();
        assert_eq!(report.searches, 1_200, "{backend:?}");
        assert_eq!(report.top_queries[0].key, "팝업 차단", "{backend:?}");
        assert_eq!(report.top_queries[0].count, 1_200, "{backend:?}");
    }
}

#[tokio::test]
async fn analytics_record_searches_clicks_and_feedback_behind_a_token() {
    for backend in backends() {
        let app =
            TestApp::spawn_with(backend, &[("help_analytics_token", "content-team-secret")]).await;
        for q in ["isp 비번", "ISP  비번", "qqqq zzzz"] {
            json(&app, &format!("/v1/help/search?q={}", encode(q))).await;
        }
        json(
            &app,
            &format!("/v1/help/search?q={}&typeahead=true", encode("isp")),
        )
        .await;
        let page = app
            .get(&format!("/help/search?q={}", encode("isp 비번")))
            .await;
        assert_eq!(page.status(), 200);
        let view = app
            .get(&format!(
                "/help/isp-password?from=search&q={}",
                encode("isp 비번")
            ))
            .await;
        assert_eq!(view.status(), 200);
        app.get("/help/isp-password").await;
        let click = app
            .client
            .post(app.url("/v1/help/clicks"))
            .json(&serde_json::json!({"slug": "popup-blocked", "anchor": "unblock-popups", "query": "팝업", "source": "widget"}))
            .send()
            .await
            .unwrap();
        assert_eq!(click.status(), 204);
        let feedback = app
            .client
            .post(app.url("/v1/help/feedback"))
            .json(&serde_json::json!({"slug": "isp-password", "helpful": false, "comment": "카드 삭제 메뉴가 없어요"}))
            .send()
            .await
            .unwrap();
        assert_eq!(feedback.status(), 204);
        let form = app
            .client
            .post(app.url("/help/isp-password/feedback"))
            .form(&[("helpful", "yes"), ("comment", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), 303);
        assert_eq!(
            form.headers()["location"],
            "/help/isp-password?feedback=thanks#feedback"
        );

        for (body, code, param) in [
            (
                serde_json::json!({"slug": "nope", "helpful": true}),
                "unknown_article",
                "slug",
            ),
            (
                serde_json::json!({"slug": "isp-password", "anchor": "nope", "helpful": true}),
                "unknown_section",
                "anchor",
            ),
            (
                serde_json::json!({"slug": "isp-password", "helpful": true, "comment": "가".repeat(1001)}),
                "comment_too_long",
                "comment",
            ),
        ] {
            let response = app
                .client
                .post(app.url("/v1/help/feedback"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{body}");
            let error = error_body(response).await;
            assert_eq!(
                (error["code"].as_str(), error["param"].as_str()),
                (Some(code), Some(param))
            );
        }

        let anonymous = app.get("/v1/help/analytics").await;
        assert_eq!(anonymous.status(), 401);
        assert!(
            anonymous
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
        assert_eq!(
            error_body(anonymous).await["code"],
            "invalid_analytics_token"
        );
        let wrong = app
            .client
            .get(app.url("/v1/help/analytics"))
            .bearer_auth("guess")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        // Searches are written off the request path: wait for the writer to catch up.
        let mut report = Value::Null;
        for _ in 0..100 {
            report = app
                .client
                .get(app.url("/v1/help/analytics?days=7"))
                .bearer_auth("content-team-secret")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if report["searches"] == 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(report["searches"], 4, "{report}");
        assert_eq!(report["fallbackSearches"], 1, "{report}");
        assert_eq!(report["topQueries"][0]["query"], "isp 비번", "{report}");
        assert_eq!(report["topQueries"][0]["searches"], 3, "{report}");
        assert_eq!(
            report["zeroResultQueries"][0]["query"], "qqqq zzzz",
            "{report}"
        );
        let clicks = report["clicks"].as_array().unwrap();
        assert!(
            clicks
                .iter()
                .any(|c| c["slug"] == "isp-password" && c["count"] == 1),
            "{report}"
        );
        assert!(
            clicks
                .iter()
                .any(|c| c["slug"] == "popup-blocked" && c["count"] == 1),
            "{report}"
        );
        assert_eq!(report["views"][0]["slug"], "isp-password", "{report}");
        assert_eq!(report["views"][0]["count"], 2, "{report}");
        assert_eq!(report["feedback"][0]["slug"], "isp-password", "{report}");
        assert_eq!(
            (
                report["feedback"][0]["helpful"].as_i64(),
                report["feedback"][0]["notHelpful"].as_i64()
            ),
            (Some(1), Some(1))
        );
        assert_eq!(
            report["comments"][0]["comment"], "카드 삭제 메뉴가 없어요",
            "{report}"
        );
        app.stop().await;
    }

    let app = TestApp::spawn(Backend::Sqlite).await;
    let disabled = app
        .client
        .get(app.url("/v1/help/analytics"))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 403);
    assert_eq!(error_body(disabled).await["code"], "analytics_disabled");
}

#[tokio::test]
async fn help_pages_render_in_korean_with_anchors_highlights_and_feedback() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let home = text(&app, "/help", "text/html").await;
    for expected in [
        "도움말 센터",
        "action=\"/help/search\"",
        "많이 본 도움말",
        "id=\"cat-isp\"",
        "data-typeahead",
        "/v1/help/search?audience=shopper&typeahead=true",
    ] {
        assert!(home.contains(expected), "{expected}");
    }

    let page = app
        .get(&format!("/help/search?q={}", encode("팝업 차단")))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("value=\"팝업 차단\""),
        "the box keeps the query"
    );
    assert!(page.contains("<mark>"), "highlighted snippets");
    assert!(
        page.contains("href=\"/help/popup-blocked?from=search&amp;q="),
        "tracked result links"
    );

    let fallback = app
        .get(&format!("/help/search?q={}", encode("qqqq zzzz")))
        .await
        .text()
        .await
        .unwrap();
    assert!(fallback.contains("찾지 못했어요"), "fallback notice");
    assert!(
        fallback.contains("class=\"hit\""),
        "fallback still lists articles"
    );

    let empty = app.get("/help/search?q=").await;
    assert_eq!(empty.status(), 303);

    let article = app.get("/help/popup-blocked").await.text().await.unwrap();
    assert!(
        article.contains("<h2 id=\"unblock-popups\">"),
        "section anchors"
    );
    assert!(article.contains("링크 복사"));
    assert!(
        article.contains(&format!(
            "data-copy=\"{}/help/popup-blocked#unblock-popups\"",
            app.base
        )),
        "absolute permalinks"
    );
    assert!(article.contains("함께 보면 좋은 도움말"));
    assert!(article.contains("href=\"/help/clear-cache-cookies?from=related\""));
    assert!(
        article.contains("도움이 되었나요?") && article.contains("name=\"helpful\" value=\"no\"")
    );

    let thanks = app
        .get("/help/popup-blocked?feedback=thanks")
        .await
        .text()
        .await
        .unwrap();
    assert!(thanks.contains("감사합니다") && !thanks.contains("name=\"helpful\""));

    let missing = app.get("/help/no-such-article").await;
    assert_eq!(missing.status(), 404);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("도움말을 찾을 수 없어요")
    );

    let bad_form = app
        .client
        .post(app.url("/help/popup-blocked/feedback"))
        .form(&[("comment", "no answer")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_form.status(), 400);
}

#[tokio::test]
async fn script_in_a_query_is_escaped_in_api_snippets_and_pages() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let attack = "<script>alert(1)</script> 팝업";
    let body = json(&app, &format!("/v1/help/search?q={}", encode(attack))).await;
    for hit in body["hits"].as_array().unwrap() {
        let snippet = hit["snippet"].as_str().unwrap();
        assert!(!snippet.contains("<script"), "{snippet}");
        let without_marks = snippet.replace("<mark>", "").replace("</mark>", "");
        assert!(
            !without_marks.contains('<'),
            "only <mark> is markup: {snippet}"
        );
    }
    let page = app
        .get(&format!("/help/search?q={}", encode(attack)))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<script>alert(1)"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let suggest = json(
        &app,
        &format!("/v1/help/suggest?message={}", encode(attack)),
    )
    .await;
    assert!(!suggest.to_string().contains("<script>alert"), "{suggest}");
}

#[tokio::test]
async fn the_widget_script_is_served_for_storefront_pages() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let script = text(&app, "/help/widget.js", "text/javascript").await;
    for expected in [
        "data-' + name",
        "error-message",
        "/v1/help/suggest",
        "/v1/help/search",
        "document.currentScript",
    ] {
        assert!(script.contains(expected), "{expected}");
    }
    let suggest = app
        .client
        .get(app.url("/v1/help/suggest?message=x"))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(suggest.headers()["access-control-allow-origin"], "*");
}

/// Writes the built-in articles into `dir`, with `popup-blocked`'s title replaced.
fn write_articles(dir: &Path, popup_title: &str) {
    for file in HelpSource::BuiltIn.files().unwrap() {
        let text = if file.name == "popup-blocked.md" {
            file.text
                .replace("결제창이 열리지 않아요 (팝업 차단 해제)", popup_title)
        } else {
            file.text
        };
        std::fs::write(dir.join(&file.name), text).unwrap();
    }
}

async fn popup_title(base: &str) -> String {
    let body: Value = reqwest::get(format!("{base}/v1/help/articles/popup-blocked"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["title"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_help_folder_is_served_instead_and_reloads_without_a_restart() {
    let dir = tempdir();
    write_articles(&dir, "팝업 차단 풀기 (지원팀 판)");
    let app = TestApp::spawn_with(Backend::Sqlite, &[("help_dir", dir.to_str().unwrap())]).await;
    assert_eq!(popup_title(&app.base).await, "팝업 차단 풀기 (지원팀 판)");

    write_articles(&dir, "팝업 차단 풀기 (개정판)");
    let stats = app.state.help.reload().unwrap();
    assert_eq!(stats.articles, 46);
    assert_eq!(popup_title(&app.base).await, "팝업 차단 풀기 (개정판)");

    // A broken edit is refused and the articles in use stay.
    std::fs::write(dir.join("popup-blocked.md"), "no front matter").unwrap();
    assert!(app.state.help.reload().is_err());
    assert_eq!(popup_title(&app.base).await, "팝업 차단 풀기 (개정판)");
    app.stop().await;

    let config = paydesk::Config::with_overrides([
        ("addr", "127.0.0.1:0"),
        ("help_dir", dir.to_str().unwrap()),
    ])
    .unwrap();
    let err = paydesk::App::build(config)
        .await
        .err()
        .expect("start-up refuses a broken folder");
    assert!(
        err.to_string()
            .contains("popup-blocked.md: no front matter"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sighup_makes_the_running_server_reload_its_articles() {
    let dir = tempdir();
    let articles = dir.join("articles");
    std::fs::create_dir_all(&articles).unwrap();
    write_articles(&articles, "첫 제목");
    let (mut child, address, _stdout) =
        spawn_binary(&dir, &[("PAYDESK_HELP_DIR", articles.to_str().unwrap())]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    paydesk::install_crypto_provider();
    assert_eq!(rt.block_on(popup_title(&address)), "첫 제목");

    write_articles(&articles, "고친 제목");
    let sent = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let mut title = String::new();
    for _ in 0..100 {
        title = rt.block_on(popup_title(&address));
        if title == "고친 제목" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(title, "고친 제목", "reloaded after SIGHUP");
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP does not stop the server"
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    wait_with_timeout(&mut child, Duration::from_secs(15));
    let _ = std::fs::remove_dir_all(dir);
}

fn paydesk(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_paydesk"))
        .args(args)
        .env_remove("PAYDESK_HELP_DIR")
        .output()
        .unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn help_check_passes_on_the_shipped_articles_and_lists_each_problem() {
    let (ok, output) = paydesk(&["help", "check"]);
    assert!(ok, "{output}");
    assert!(
        output.contains("built-in articles: 46 articles, no problems"),
        "{output}"
    );
    let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/help");
    let (ok, output) = paydesk(&["help", "check", "--dir", docs]);
    assert!(ok, "{output}");

    let dir = tempdir();
    write_articles(&dir, "제목");
    let broken = std::fs::read_to_string(dir.join("isp-password.md"))
        .unwrap()
        .replace("(/help/isp-signup#signup-steps)", "(/help/isp-signup#gone)")
        .replace("## 문의 {#more-help}", "## 문의");
    std::fs::write(dir.join("isp-password.md"), broken).unwrap();
    let (ok, output) = paydesk(&["help", "check", "--dir", dir.to_str().unwrap()]);
    assert!(!ok, "{output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(
        lines,
        [
            "isp-password.md: heading \"## 문의\" has no anchor; end it with {#some-anchor}",
            "isp-password.md: broken link /help/isp-signup#gone: isp-signup has no section #gone",
            "isp-password.md: broken link /help/isp-signup#gone: isp-signup has no section #gone",
            &format!("error: {}: 3 problem(s)", dir.display()),
        ],
        "{output}"
    );

    let (ok, output) = paydesk(&["help", "reindex"]);
    assert!(ok, "{output}");
    assert!(
        output.contains("46 articles") && output.contains("indexed in"),
        "{output}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The audience test: every surface a shopper sees (help home, search page, the typeahead and the
/// widget's API calls, suggestions for a failure page) shows no developer or agent-only article,
/// even for developer-worded queries; `audience=agent` shows everything, developer articles first
/// for developer words.
#[tokio::test]
async fn shopper_surfaces_never_show_developer_or_agent_articles() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let help = app.state.help.current();
    let hidden: Vec<String> = help
        .articles()
        .iter()
        .filter(|a| !a.audience.contains(&paydesk::help::Audience::Shopper))
        .map(|a| a.slug.clone())
        .collect();
    assert!(
        hidden.iter().any(|s| s.starts_with("developer-")),
        "{hidden:?}"
    );
    assert!(
        hidden.contains(&"agent-failure-code-guide".to_string()),
        "{hidden:?}"
    );
    let shows_hidden = |html: &str| -> Vec<String> {
        hidden
            .iter()
            .filter(|slug| html.contains(&format!("/help/{slug}")))
            .cloned()
            .collect()
    };
    let home = text(&app, "/help", "text/html").await;
    assert_eq!(shows_hidden(&home), Vec::<String>::new(), "help home");
    assert!(
        home.contains("/help/developers"),
        "developers have their own section"
    );
    let developers = text(&app, "/help/developers", "text/html").await;
    assert!(developers.contains("/help/developer-open-payment-window"));
    let widget = text(&app, "/help/widget.js", "text/javascript").await;
    assert!(
        widget.matches("audience: 'shopper'").count() >= 4,
        "the widget asks as a shopper"
    );

    for query in [
        "goPay",
        "returnUrl",
        "api",
        "Payment-Token 헤더",
        "javascript script",
        "W003",
        "상담원 실패 코드",
        "결제 오류",
        "잔액 부족",
        "2011",
        "결제창 api 연동",
    ] {
        let page = text(
            &app,
            &format!("/help/search?q={}", encode(query)),
            "text/html",
        )
        .await;
        assert_eq!(
            shows_hidden(&page),
            Vec::<String>::new(),
            "search page {query}"
        );
        for api in [
            format!("/v1/help/search?q={}", encode(query)),
            format!("/v1/help/search?q={}&typeahead=true&limit=6", encode(query)),
            format!("/v1/help/search?q={}&audience=shopper", encode(query)),
            format!("/v1/help/suggest?message={}", encode(query)),
            format!("/v1/help/suggest?code={}&audience=shopper", encode(query)),
        ] {
            let body = json(&app, &api).await;
            let shown: Vec<String> = slugs(&body)
                .into_iter()
                .filter(|s| hidden.contains(s))
                .collect();
            assert_eq!(shown, Vec::<String>::new(), "{api}");
        }
        let hits = help.suggest(&SuggestRequest {
            message: Some(query.into()),
            code: Some(query.into()),
            ..SuggestRequest::default()
        });
        let failure_page = render_suggestions(&hits);
        assert_eq!(
            shows_hidden(&failure_page),
            Vec::<String>::new(),
            "failure page {query}"
        );
    }

    let agent = json(&app, "/v1/help/search?q=returnUrl&audience=agent").await;
    assert!(slugs(&agent)[0].starts_with("developer-"), "{agent}");
    let agent = json(
        &app,
        &format!(
            "/v1/help/search?q={}&audience=agent",
            encode("상담원 실패 코드")
        ),
    )
    .await;
    assert!(
        slugs(&agent).contains(&"agent-failure-code-guide".to_string()),
        "{agent}"
    );
    app.stop().await;
}

/// At 390 px, a developer article's code and tables scroll in their own box: the page itself never
/// scrolls sideways. The help home, as a shopper sees it on a phone, lists no developer article.
#[tokio::test]
async fn a_developer_article_with_code_fits_a_390_px_phone() {
    use crate::browser::{Browser, PHONE, emulate_phone, phone_layout_problems};
    let Some(browser) = Browser::start_sized(PHONE).await else {
        return;
    };
    emulate_phone(&browser).await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (path, name) in [
        (
            "/help/developer-open-payment-window",
            "help-developer-article-phone",
        ),
        ("/help/developer-result-codes", "help-developer-codes-phone"),
        ("/help", "help-home-phone"),
    ] {
        browser.goto(&format!("{}{path}", app.base)).await;
        let wide = browser
            .execute(
                "return document.querySelectorAll('.help-article pre, .help-article .table-wrap').length;",
                serde_json::json!([]),
            )
            .await;
        if path != "/help" {
            assert!(wide.as_u64().unwrap_or(0) > 0, "{path} has code or a table");
        }
        // What sticks out inside a box that scrolls on its own (a code block, a table) is meant to:
        // the shared check counts it, so sticking out is checked here outside those boxes only.
        let mut problems: Vec<String> = phone_layout_problems(&browser)
            .await
            .into_iter()
            .filter(|p| !p.contains("sticks out"))
            .collect();
        let outside = browser
            .execute(
                "const w = window.innerWidth; return Array.from(document.body.querySelectorAll('*'))\
                 .filter(el => !el.closest('pre, .table-wrap'))\
                 .filter(el => { const r = el.getBoundingClientRect(); \
                   return r.width > 0 && (r.left < -0.5 || r.right > w + 0.5); })\
                 .map(el => el.tagName + '.' + el.className)\
                 .concat(Array.from(document.querySelectorAll('.help-article pre, .help-article .table-wrap'))\
                 .filter(el => el.scrollWidth > el.clientWidth \
                   && !['auto', 'scroll'].includes(getComputedStyle(el).overflowX))\
                 .map(el => el.tagName + ' overflows without scrolling'));",
                serde_json::json!([]),
            )
            .await;
        problems.extend(serde_json::from_value::<Vec<String>>(outside).unwrap());
        browser.screenshot(name).await;
        assert!(problems.is_empty(), "{path}: {problems:?}");
    }
    let home = browser.text("main").await;
    assert!(
        !home.contains("goPay") && !home.contains("Approving a payment"),
        "{home}"
    );
    app.stop().await;
}
