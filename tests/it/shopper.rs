//! The shopper's side of a checkout: the demo shop, the hosted checkout page, the signed redirect to
//! the storefront, and an instance killed in the middle of an approval.

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::approval::{authorize, pay_calls};
use crate::checkout::{demo_key, new_checkout, order};
use crate::innopay::add_fault;
use crate::support::{Backend, StandaloneSandbox, TestApp, TestDb, backends, start_paydesk};
use paydesk::config::ExposeSecret;

fn unescape(html: &str) -> String {
    html.replace("&amp;", "&").replace("&quot;", "\"")
}

/// The `href` of the "다음 화면으로 이동" link on the return page: where the shopper is sent.
fn destination(return_page: &str) -> String {
    const LINK: &str = "<a id=\"next\" href=\"";
    let start = return_page.find(LINK).expect("a link") + LINK.len();
    let end = start + return_page[start..].find('"').unwrap();
    unescape(&return_page[start..end])
}

#[tokio::test]
async fn the_demo_shop_creates_a_checkout_through_the_public_api() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let home = app.get("/").await.text().await.unwrap();
    assert!(home.contains("구매하기"), "{home}");
    assert!(home.contains("실제 결제가 이루어지지 않습니다"));
    let response = app
        .client
        .post(app.url("/demo/buy"))
        .form(&[("quantity", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let checkout_url = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        checkout_url.starts_with(&app.url("/checkout/pay_")),
        "{checkout_url}"
    );
    let page = app
        .client
        .get(&checkout_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("40,000 원"), "{page}");
    assert!(page.contains("결제하기"));
    assert!(page.contains("/sandbox/tpay/js/innopay.js"));
    // The storefront's own API sees the checkout the demo shop made.
    let list: Value = app
        .client
        .get(app.url("/v1/payments"))
        .bearer_auth(demo_key(&app))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["amount"], 40000);
}

#[tokio::test]
async fn the_checkout_page_escapes_what_the_storefront_sent() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let mut body = order(20000);
    body["goodsName"] = json!("<script>alert('x')</script></script>");
    body["buyer"]["name"] = json!("<img src=x onerror=alert(1)>");
    let checkout: Value = new_checkout(&app, &key, &body).await;
    let page = app
        .get(&format!("/checkout/{}", checkout["id"].as_str().unwrap()))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(page.contains("&lt;script&gt;alert"));
    // Inside the page's script the value is JSON with `</` broken up.
    assert!(!page.contains("</script></script>\""));
}

#[tokio::test]
async fn the_shopper_returns_to_the_storefront_with_a_verifiable_signature() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let mut body = order(20000);
        body["successUrl"] = json!("https://shop.example/paid?cart=1");
        body["failUrl"] = json!("https://shop.example/failed");
        let checkout: Value = new_checkout(&app, &key, &body).await;
        let id = checkout["id"].as_str().unwrap();
        let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
        let page = app
            .client
            .get(&return_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let target = url::Url::parse(&destination(&page)).unwrap();
        assert_eq!(target.host_str(), Some("shop.example"));
        assert_eq!(target.path(), "/paid");
        let q: std::collections::HashMap<String, String> =
            target.query_pairs().into_owned().collect();
        assert_eq!(q["cart"], "1", "the storefront's own query is kept");
        assert_eq!(q["checkoutId"], id);
        assert_eq!(q["status"], "paid");
        assert_eq!(q["amount"], "20000");

        // Verify as a storefront would, with the secret it was given.
        let signed = format!(
            "{}.{}.{}.{}.{}",
            q["checkoutId"], q["orderId"], q["status"], q["amount"], q["timestamp"]
        );
        assert_eq!(q["signature"], demo_signature(&app, &signed).await);
    }
}

/// What the demo storefront's signing secret makes of `message`, computed as a storefront would.
async fn demo_signature(app: &TestApp, message: &str) -> String {
    let storefront = paydesk::storefronts::find(&app.state.store, "sf_demo")
        .await
        .unwrap();
    let secret = storefront
        .signing_secret
        .expose_secret()
        .trim_start_matches("whsec_")
        .to_string();
    let key_bytes = base64::engine::general_purpose::STANDARD
        .decode(secret)
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key_bytes).unwrap();
    mac.update(message.as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

#[tokio::test]
async fn a_failed_payment_goes_to_the_fail_url() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let mut body = order(20000);
    body["failUrl"] = json!("https://shop.example/failed");
    let checkout: Value = new_checkout(&app, &key, &body).await;
    add_fault(
        &app,
        json!({"kind": "decline", "api": "pay", "calls": 1, "code": "C003", "message": "카드 한도 초과"}),
    )
    .await;
    let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    let page = app
        .client
        .get(&return_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let target = url::Url::parse(&destination(&page)).unwrap();
    assert!(
        target.as_str().starts_with("https://shop.example/failed?"),
        "{target}"
    );
    let q: std::collections::HashMap<String, String> = target.query_pairs().into_owned().collect();
    // Declined, nothing charged, payable again: the shop's page can offer another try.
    assert_eq!(q["status"], "ready", "{target}");
    assert_eq!(q["failureCode"], "C003");
    let id = checkout["id"].as_str().unwrap();
    assert_eq!(q["helpUrl"], app.url(&format!("/checkout/{id}/result")));
    let signed = format!(
        "{}.{}.{}.{}",
        q["checkoutId"], q["failureCode"], q["helpUrl"], q["timestamp"]
    );
    assert_eq!(q["helpSignature"], demo_signature(&app, &signed).await);
    let signed = format!(
        "{}.{}.{}.{}.{}",
        q["checkoutId"], q["orderId"], q["status"], q["amount"], q["timestamp"]
    );
    assert_eq!(q["signature"], demo_signature(&app, &signed).await);
    // The help link is paydesk's page of the decline: the shopper's message, help and a retry.
    // (as a browser: following the result page's redirect to the payable checkout)
    let help = reqwest::get(&q["helpUrl"])
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(help.contains("카드 한도 초과"), "{help}");
    assert!(help.contains("다른 카드로 결제"), "{help}");

    // Declined until the checkout ends: the fail URL says `failed`, with the code and the help.
    crate::approval::declined_for_good(&app, &key, &checkout, "C003", "카드 한도 초과").await;
    let storefront = paydesk::storefronts::find(&app.state.store, "sf_demo")
        .await
        .unwrap();
    let row = app.state.store.payment(id).await.unwrap().unwrap();
    let last = url::Url::parse(
        &app.state
            .checkout
            .storefront_redirect(&row, &storefront)
            .unwrap(),
    )
    .unwrap();
    let q: std::collections::HashMap<String, String> = last.query_pairs().into_owned().collect();
    assert_eq!(q["status"], "failed");
    assert_eq!(q["failureCode"], "C003");
    assert!(q.contains_key("helpSignature"));
}

/// Every page a shopper can land on ends with somewhere to go: an unknown checkout the help
/// centre, a payment that failed for good the shop (its address when the checkout has no fail
/// URL) and the help centre, and no retry (it cannot be paid any more).
#[tokio::test]
async fn pages_that_end_a_payment_lead_somewhere() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let unknown = app.get("/checkout/pay_doesnotexist").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let unknown = unknown.text().await.unwrap();
    assert!(
        unknown.contains("id=\"help-centre\" href=\"/help\""),
        "{unknown}"
    );

    let checkout = new_checkout(&app, &key, &order(20000)).await;
    crate::approval::declined_for_good(
        &app,
        &key,
        &checkout,
        "C004",
        "분실 또는 도난 신고된 카드입니다.",
    )
    .await;
    let id = checkout["id"].as_str().unwrap();
    let page = crate::approval::result_page(&app, id).await;
    assert!(page.contains("결제에 실패했습니다"), "{page}");
    assert!(page.contains("오류 코드: C004"), "{page}");
    assert!(page.contains("더 이상 결제할 수 없습니다"), "{page}");
    assert!(
        !page.contains("data-pay"),
        "no retry on a failed payment: {page}"
    );
    let shop = format!("id=\"back-to-shop\" href=\"{}\"", app.url("/"));
    assert!(page.contains(&shop), "{page}");

    // Without a shop address the page says where the order can be seen instead.
    paydesk::storefronts::set_shop_url(&app.state.store, "sf_demo", "")
        .await
        .unwrap();
    let page = crate::approval::result_page(&app, id).await;
    assert!(!page.contains("back-to-shop"), "{page}");
    assert!(
        page.contains("주문하신 쇼핑몰에서 확인할 수 있습니다"),
        "{page}"
    );
    let refused =
        paydesk::storefronts::set_shop_url(&app.state.store, "sf_demo", "javascript:alert(1)")
            .await;
    assert!(refused.is_err());
}

/// The server is killed (SIGKILL) while Innopay is approving; a new instance on the same database
/// finds the payment in `approving`, asks Innopay, and records it `paid`: not stuck, charged once.
#[tokio::test]
async fn a_server_killed_mid_approval_is_resolved_after_restart() {
    let standalone = StandaloneSandbox::start(&[]).await;
    let sandbox = standalone.url.clone();
    let db = TestDb::create(*backends().last().unwrap()).await;
    let env = [
        ("PAYDESK_DATABASE_URL", db.url.as_str()),
        ("PAYDESK_INNOPAY_API_URL", sandbox.as_str()),
        ("PAYDESK_SANDBOX", "false"),
        ("PAYDESK_INNOPAY_READ_TIMEOUT_MS", "1000"),
        ("PAYDESK_RECONCILE_INTERVAL_MS", "200"),
        // The instance that died is known dead: no need to wait 15 s for it.
        ("PAYDESK_CALL_STALE_MARGIN_MS", "500"),
        ("PAYDESK_SECRET_KEY", crate::support::TEST_SECRET_KEY),
    ];
    let output = Command::new(env!("CARGO_BIN_EXE_paydesk"))
        .env_clear()
        .envs(env)
        .env(
            "PAYDESK_STOREFRONT_MERCHANT_KEY",
            paydesk::config::DEFAULT_SANDBOX_MERCHANT_KEY,
        )
        .env(
            "PAYDESK_STOREFRONT_CANCEL_PASSWORD",
            paydesk::config::DEFAULT_SANDBOX_CANCEL_PASSWORD,
        )
        .args([
            "storefront",
            "create",
            "--name",
            "재시작 상점",
            "--mid",
            "testpay01m",
        ])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{printed}");
    let key = printed
        .lines()
        .find_map(|l| l.strip_prefix("API key (shown once): "))
        .expect("the key is printed")
        .to_string();

    let first = start_paydesk(&env);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let checkout: Value = client
        .post(format!("{}/v1/checkouts", first.base))
        .bearer_auth(&key)
        .json(&order(20000))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = checkout["id"].as_str().unwrap().to_string();
    // Innopay approves but its answer is held far longer than the test lives.
    client
        .post(format!("{sandbox}/_control/faults"))
        .json(&json!({"kind": "drop_answer", "api": "pay", "calls": 1, "holdMs": 60000}))
        .send()
        .await
        .unwrap();
    let return_url = authorize(&client, &sandbox, &checkout, &[]).await;
    let tid = url::Url::parse(&return_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "tid")
        .unwrap()
        .1
        .into_owned();
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move { client.get(return_url).send().await }
    });
    // Wait until the approval reached the sandbox, then kill the instance doing it.
    let started = std::time::Instant::now();
    while pay_calls(&sandbox, &tid).await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the approval never reached the sandbox"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    let _ = in_flight.await;

    let second = start_paydesk(&env);
    let started = std::time::Instant::now();
    let resolved = loop {
        let p: Value = client
            .get(format!("{}/v1/payments/{id}", second.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if p["status"] == "paid" {
            break p;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still {}: {p}",
            p["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(pay_calls(&sandbox, &tid).await, 1, "charged once");
    let types: Vec<&str> = resolved["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec!["created", "approval_started", "paid"],
        "{resolved}"
    );
    assert_eq!(resolved["events"][2]["cause"], "reconciler");
    second.kill();
    standalone.stop().await;
}
