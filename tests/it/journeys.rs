//! Shopper journeys through paydesk's own pages in headless Chromium (harness in `browser.rs`):
//! the hosted checkout page, Innopay's popup window (the sandbox), and the result page.

use serde_json::Value;

use crate::approval::{payment, settled};
use crate::browser::{Browser, DESKTOP, open_payment_window};
use crate::checkout::{demo_key, new_checkout, order};
use crate::support::{Backend, TestApp};
use crate::webhooks::{Answer, FAST, WebhookReceiver, set_endpoint, verifies};

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
