//! The methods paid at approval besides cards, end to end through the built-in sandbox without a
//! browser, on every backend: bank transfer (BANK), account easy pay (EBANK), easy pay (EPAY) and
//! overseas cards (OPCARD, in US dollars).
//! Each goes checkout → the method's window → paid → cancel, partial where its rule allows it and
//! refused with the rule's code where not, with signed webhooks in sequence.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::approval::{authorize, payment};
use crate::checkout::{demo_key, new_checkout, order};
use crate::sandbox::{set_field, window_page};
use crate::support::{TestApp, backends, error_body};
use crate::webhooks::{Answer, FAST, PAID_PART_CANCELLED, WebhookReceiver, set_endpoint, verifies};

/// A checkout of `amount` won paid with `method`.
fn method_order(method: &str, amount: i64) -> Value {
    let mut body = order(amount);
    body["payMethod"] = json!(method);
    body
}

/// Creates a checkout, authenticates it in the sandbox window with `choice` and follows the
/// return: the checkout and the payment as it then is.
async fn pay(app: &TestApp, key: &str, body: &Value, choice: &[(&str, &str)]) -> (Value, Value) {
    let checkout = new_checkout(app, key, body).await;
    let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, choice).await;
    let landed = app.client.get(&return_url).send().await.unwrap();
    assert_eq!(landed.status(), StatusCode::OK);
    let paid = payment(app, key, checkout["id"].as_str().unwrap()).await;
    (checkout, paid)
}

async fn cancel(app: &TestApp, key: &str, id: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/payments/{id}/cancel")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn refund_account() -> Value {
    json!({"bankCode": "004", "accountNumber": "123-456-789012", "holderName": "홍길동"})
}

/// The webhooks of one payment, checked signed and in sequence; their types.
async fn signed_in_sequence(
    receiver: &WebhookReceiver,
    app: &TestApp,
    key: &str,
    secret: &str,
    id: &str,
    count: usize,
) -> Vec<String> {
    receiver.wait_for(count, Duration::from_secs(10)).await;
    let hooks: Vec<_> = receiver
        .settled(app, key)
        .await
        .into_iter()
        .filter(|h| h.json["data"]["id"] == id)
        .collect();
    assert!(
        hooks.iter().all(|h| verifies(secret, h)),
        "every webhook is signed"
    );
    let sequences: Vec<i64> = hooks
        .iter()
        .map(|h| h.json["data"]["sequence"].as_i64().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    hooks
        .iter()
        .map(|h| h.json["type"].as_str().unwrap().to_string())
        .collect()
}

/// BANK and EBANK: paid at approval, the bank and masked account shown; a cancel is a refund to
/// a named account (refused without one), partly then in full.
#[tokio::test]
async fn bank_transfers_are_paid_at_approval_and_refunded_to_an_account_partly_then_whole() {
    for backend in backends() {
        for method in ["BANK", "EBANK"] {
            let app = TestApp::spawn_with(backend, &FAST).await;
            let key = demo_key(&app);
            let receiver = WebhookReceiver::start(Answer::Status(200)).await;
            let endpoint = set_endpoint(&app, &key, &receiver.url).await;
            let secret = endpoint["signingSecret"].as_str().unwrap();
            let (checkout, paid) = pay(
                &app,
                &key,
                &method_order(method, 30000),
                &[("bankCode", "088")],
            )
            .await;
            assert_eq!(checkout["goPay"]["payMethod"], method);
            assert_eq!(paid["status"], "paid", "{backend:?} {method}: {paid}");
            assert_eq!(paid["payMethod"], method);
            assert_eq!(paid["bank"]["bankCode"], "088", "{paid}");
            assert_eq!(paid["bank"]["bankName"], "신한은행");
            let account = paid["bank"]["accountNumber"].as_str().unwrap();
            assert!(account.contains('*'), "masked: {account}");
            assert!(paid["card"].is_null() && paid["epay"].is_null());
            let id = paid["id"].as_str().unwrap();
            let page = crate::approval::result_page(&app, id).await;
            assert!(
                page.contains("신한은행") && page.contains(account),
                "{page}"
            );

            let missing = cancel(&app, &key, id, json!({"reason": "반품", "amount": 10000})).await;
            assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
            let missing = error_body(missing).await;
            assert_eq!(missing["code"], "refund_account_required", "{missing}");
            assert_eq!(missing["param"], "refundAccount");

            let part = cancel(
                &app,
                &key,
                id,
                json!({"reason": "부분 반품", "amount": 10000, "refundAccount": refund_account()}),
            )
            .await;
            assert_eq!(part.status(), StatusCode::OK);
            let part: Value = part.json().await.unwrap();
            assert_eq!(part["status"], "partially_cancelled", "{part}");
            assert_eq!(part["remainingAmount"], 20000);
            let whole = cancel(
                &app,
                &key,
                id,
                json!({"reason": "전체 반품", "refundAccount": refund_account()}),
            )
            .await;
            assert_eq!(whole.status(), StatusCode::OK);
            let whole: Value = whole.json().await.unwrap();
            assert_eq!(whole["status"], "cancelled", "{whole}");
            assert_eq!(whole["cancelledAmount"], 30000);

            let types = signed_in_sequence(&receiver, &app, &key, secret, id, 3).await;
            assert_eq!(types, PAID_PART_CANCELLED, "{backend:?} {method}");
            // The sandbox was asked to refund to the account paydesk was given.
            let refunds: Vec<Value> = crate::approval::sandbox_calls(&app.url("/sandbox"))
                .await
                .into_iter()
                .filter(|c| c["path"].as_str().unwrap().ends_with("/api/cancelApi"))
                .collect();
            assert_eq!(refunds.len(), 2, "{refunds:?}");
            app.stop().await;
        }
    }
}

/// EPAY: the wallet shown (an unknown one kept verbatim), paid at approval, a partial cancel
/// refused with the rule's code and nothing sent to Innopay, the whole cancelled.
#[tokio::test]
async fn easy_pay_shows_its_wallet_refuses_partial_cancels_and_cancels_whole() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &FAST).await;
        let key = demo_key(&app);
        let receiver = WebhookReceiver::start(Answer::Status(200)).await;
        let endpoint = set_endpoint(&app, &key, &receiver.url).await;
        let secret = endpoint["signingSecret"].as_str().unwrap();
        let (_, paid) = pay(
            &app,
            &key,
            &method_order("EPAY", 25000),
            &[("wallet", "NAVERPAY")],
        )
        .await;
        assert_eq!(paid["status"], "paid", "{backend:?}: {paid}");
        assert_eq!(paid["epay"]["wallet"], "naver_pay", "{paid}");
        assert_eq!(paid["epay"]["walletName"], "네이버페이");
        let id = paid["id"].as_str().unwrap();
        let page = crate::approval::result_page(&app, id).await;
        assert!(page.contains("네이버페이"), "{page}");

        let part = cancel(
            &app,
            &key,
            id,
            json!({"reason": "부분 반품", "amount": 5000}),
        )
        .await;
        assert_eq!(part.status(), StatusCode::BAD_REQUEST);
        let part = error_body(part).await;
        assert_eq!(part["code"], "partial_cancel_not_allowed", "{part}");
        assert_eq!(part["param"], "amount");
        let calls = crate::approval::sandbox_calls(&app.url("/sandbox")).await;
        assert!(
            !calls
                .iter()
                .any(|c| c["path"].as_str().unwrap().ends_with("/api/cancelApi")),
            "a refused partial cancel reaches no one: {calls:?}"
        );
        // The whole amount named is a full cancel, not a partial one.
        let whole = cancel(
            &app,
            &key,
            id,
            json!({"reason": "주문 취소", "amount": 25000}),
        )
        .await;
        assert_eq!(whole.status(), StatusCode::OK);
        let whole: Value = whole.json().await.unwrap();
        assert_eq!(whole["status"], "cancelled", "{whole}");
        let types = signed_in_sequence(&receiver, &app, &key, secret, id, 2).await;
        assert_eq!(types, ["payment.paid", "payment.cancelled"], "{backend:?}");

        // The sandbox, like Innopay as reported (C), refuses a partial cancel of easy pay unless
        // told otherwise; paydesk's rule never lets one reach it.
        let partial = |tid: &Value| {
            json!({
                "mid": "testpay01m", "tid": tid, "svcCd": "16", "partialCancelCode": "1",
                "cancelAmt": 100, "cancelMsg": "부분 취소",
                "cancelPwd": paydesk::config::DEFAULT_SANDBOX_CANCEL_PASSWORD,
            })
        };
        let cancel_api = |body: Value| {
            let client = app.client.clone();
            let url = app.url("/sandbox/api/cancelApi");
            async move {
                let answer: Value = client
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                answer["resultCode"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            }
        };
        let (_, direct) = pay(&app, &key, &method_order("EPAY", 1000), &[]).await;
        assert_eq!(cancel_api(partial(&direct["tid"])).await, "2017");
        crate::innopay::set(&app, "settings", json!({"epayPartialCancel": true})).await;
        assert_eq!(cancel_api(partial(&direct["tid"])).await, "2001");

        // A wallet paydesk does not know is kept as Innopay named it.
        let (_, other) = pay(
            &app,
            &key,
            &method_order("EPAY", 1000),
            &[("wallet", "APPLEPAY")],
        )
        .await;
        assert_eq!(other["status"], "paid", "{other}");
        assert_eq!(other["epay"]["wallet"], "other");
        assert_eq!(other["epay"]["walletCode"], "APPLEPAY");
        app.stop().await;
    }
}

/// OPCARD in US dollars: amounts are cents from the checkout to the window, the approval, the
/// payment and its cancels; the window is the foreign-card form and shows dollars, the pages show
/// dollars; a partial then a full cancel, with signed webhooks in sequence. A dollar checkout of a
/// won-only method, with a tax-free part, or outside its bounds is refused by name.
#[tokio::test]
async fn overseas_cards_pay_in_dollar_cents_and_cancel_partly_then_whole() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &FAST).await;
        let key = demo_key(&app);
        let receiver = WebhookReceiver::start(Answer::Status(200)).await;
        let endpoint = set_endpoint(&app, &key, &receiver.url).await;
        let secret = endpoint["signingSecret"].as_str().unwrap();
        let mut body = method_order("OPCARD", 1234);
        body["currency"] = json!("USD");
        let created = new_checkout(&app, &key, &body).await;
        assert_eq!(created["currency"], "USD", "{created}");
        assert_eq!(created["goPay"]["currency"], "USD");
        assert_eq!(created["goPay"]["amt"], 1234);
        let hosted = app
            .client
            .get(created["checkoutUrl"].as_str().unwrap())
            .send()
            .await;
        let hosted = hosted.unwrap().text().await.unwrap();
        assert!(hosted.contains("$12.34"), "the shopper's page: {hosted}");
        let form = crate::approval::authorize_form(&created, &[]);
        let (status, window) = window_page(&app, "/sandbox/pay/window", &form).await;
        assert_eq!(status, 200, "{window}");
        assert!(
            window.contains("해외카드 결제") && window.contains("$12.34"),
            "{window}"
        );
        assert!(
            window.contains("VISA") && window.contains("4111 **** **** 1111"),
            "{window}"
        );
        assert!(
            window.contains("O002") && !window.contains("할부 선택"),
            "{window}"
        );

        let (checkout, paid) = pay(&app, &key, &body, &[("cardCode", "26")]).await;
        assert_eq!(checkout["goPay"]["payMethod"], "OPCARD");
        assert_eq!(paid["status"], "paid", "{backend:?}: {paid}");
        assert_eq!(paid["currency"], "USD", "{paid}");
        assert_eq!(paid["totalAmount"], 1234);
        assert_eq!(paid["card"]["companyName"], "Master", "{paid}");
        let id = paid["id"].as_str().unwrap();
        let page = crate::approval::result_page(&app, id).await;
        assert!(
            page.contains("$12.34") && !page.contains("1,234 원"),
            "{page}"
        );

        let part = cancel(
            &app,
            &key,
            id,
            json!({"reason": "부분 반품", "amount": 234}),
        )
        .await;
        assert_eq!(part.status(), StatusCode::OK);
        let part: Value = part.json().await.unwrap();
        assert_eq!(part["status"], "partially_cancelled", "{part}");
        assert_eq!(
            (part["currency"].clone(), part["remainingAmount"].clone()),
            (json!("USD"), json!(1000))
        );
        let whole = cancel(
            &app,
            &key,
            id,
            json!({"reason": "전체 반품", "expectedRemainingAmount": 1000}),
        )
        .await;
        assert_eq!(whole.status(), StatusCode::OK);
        let whole: Value = whole.json().await.unwrap();
        assert_eq!(whole["status"], "cancelled", "{whole}");
        assert_eq!(whole["cancelledAmount"], 1234);
        let types = signed_in_sequence(&receiver, &app, &key, secret, id, 3).await;
        assert_eq!(types, PAID_PART_CANCELLED, "{backend:?}");
        let hooks = receiver.settled(&app, &key).await;
        let amounts: Vec<(Value, Value)> = hooks
            .iter()
            .filter(|h| h.json["data"]["id"] == id)
            .map(|h| {
                (
                    h.json["data"]["currency"].clone(),
                    h.json["data"]["cancelledAmount"].clone(),
                )
            })
            .collect();
        assert_eq!(
            amounts,
            [
                (json!("USD"), json!(0)),
                (json!("USD"), json!(234)),
                (json!("USD"), json!(1234))
            ],
            "webhooks carry the currency and cents"
        );
        let cancels: Vec<Value> = crate::approval::sandbox_calls(&app.url("/sandbox"))
            .await
            .into_iter()
            .filter(|c| c["path"].as_str().unwrap().ends_with("/api/cancelApi"))
            .collect();
        assert_eq!(cancels.len(), 2, "{cancels:?}");

        for (change, code, param) in [
            (
                json!({"payMethod": "CARD"}),
                "currency_not_allowed",
                "currency",
            ),
            (
                json!({"taxFreeAmount": 100}),
                "tax_free_not_allowed",
                "taxFreeAmount",
            ),
            (json!({"amount": 99}), "invalid_amount", "amount"),
            (json!({"amount": 10_000_001}), "invalid_amount", "amount"),
        ] {
            let mut refused = body.clone();
            for (k, v) in change.as_object().unwrap() {
                refused[k] = v.clone();
            }
            let answer = crate::checkout::create(&app, &key, &refused).await;
            assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{change}");
            let answer = error_body(answer).await;
            assert_eq!(answer["code"], code, "{change}: {answer}");
            assert_eq!(answer["param"], param, "{change}");
        }
        // In won, an overseas card is paid like any card.
        let (_, won) = pay(&app, &key, &method_order("OPCARD", 15000), &[]).await;
        assert_eq!(
            (won["status"].clone(), won["currency"].clone()),
            (json!("paid"), json!("KRW")),
            "{won}"
        );
        app.stop().await;
    }
}

/// The windows of the new methods: the bank, wallet or overseas card choice, their declines (bank maintenance
/// hours among them) reported back unsigned, so the checkout stays payable and says why.
#[tokio::test]
async fn bank_and_wallet_windows_offer_their_choices_and_declines() {
    let app = TestApp::spawn(crate::support::Backend::Sqlite).await;
    let key = demo_key(&app);
    for (method, choice, decline) in [
        ("BANK", "bankCode", "B002"),
        ("EBANK", "bankCode", "B001"),
        ("EPAY", "wallet", "E002"),
        ("OPCARD", "cardCode", "O001"),
    ] {
        let checkout = new_checkout(&app, &key, &method_order(method, 12000)).await;
        let form = crate::approval::authorize_form(&checkout, &[]);
        let (status, page) = window_page(&app, "/sandbox/pay/window", &form).await;
        assert_eq!(status, 200);
        assert!(
            page.contains(&format!("name=\"{choice}\"")),
            "{method}: {page}"
        );
        assert!(page.contains(decline), "{method}: {page}");
        if method == "EPAY" {
            assert!(
                page.contains("카카오페이") && page.contains("페이코"),
                "{page}"
            );
        } else if method == "OPCARD" {
            assert!(page.contains("AMEX") && page.contains("JCB"), "{page}");
        } else {
            assert!(page.contains("KB국민은행"), "{page}");
        }

        let return_url = authorize(
            &app.client,
            &app.url("/sandbox"),
            &checkout,
            &[("scenario", "decline"), ("declineCode", decline)],
        )
        .await;
        assert!(
            return_url.contains(&format!("resultCode={decline}")),
            "{return_url}"
        );
        app.client.get(&return_url).send().await.unwrap();
        let p = payment(&app, &key, checkout["id"].as_str().unwrap()).await;
        assert_eq!(
            p["status"], "ready",
            "an unsigned decline leaves it payable: {p}"
        );
        let last = p["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["detail"]["code"], decline, "{p}");
    }
    app.stop().await;
}

/// A storefront's allowed methods bound what its checkouts offer; a checkout offering several is
/// paid by the one the shopper chose, and a return claiming another (one not offered, or one the
/// window did not authenticate) is refused before any approval and flagged.
#[tokio::test]
async fn a_checkout_offering_several_methods_is_paid_by_the_choice_and_other_claims_are_refused() {
    use paydesk::domain::{PayMethod, PayMethods};
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let allowed = PayMethods::new([PayMethod::Card, PayMethod::Epay, PayMethod::Vbank]);
        paydesk::storefronts::set_pay_methods(
            &app.state.store,
            paydesk::storefronts::DEMO_STOREFRONT_ID,
            allowed,
        )
        .await
        .unwrap();
        let one = crate::checkout::create(&app, &key, &method_order("BANK", 1000)).await;
        assert_eq!(one.status(), StatusCode::BAD_REQUEST);
        let one = error_body(one).await;
        assert_eq!(one["code"], "pay_method_not_allowed", "{one}");
        assert_eq!(one["param"], "payMethod");
        let mut listed = order(1000);
        listed["payMethods"] = json!(["CARD", "BANK"]);
        let list = error_body(crate::checkout::create(&app, &key, &listed).await).await;
        assert_eq!(list["code"], "pay_method_not_allowed", "{list}");
        assert_eq!(list["param"], "payMethods");

        let mut offering = order(15000);
        offering["payMethods"] = json!(["CARD", "EPAY", "VBANK"]);
        let checkout = new_checkout(&app, &key, &offering).await;
        assert_eq!(checkout["payMethods"], json!(["CARD", "EPAY", "VBANK"]));
        assert_eq!(checkout["goPay"]["payMethod"], "CARD");
        assert!(checkout["goPay"]["vBankExpDate"].is_null(), "{checkout}");
        // The shopper chose easy pay: goPay is called with it.
        let mut chosen = checkout.clone();
        chosen["goPay"]["payMethod"] = json!("EPAY");
        let return_url = authorize(
            &app.client,
            &app.url("/sandbox"),
            &chosen,
            &[("wallet", "PAYCO")],
        )
        .await;
        app.client.get(&return_url).send().await.unwrap();
        let paid = payment(&app, &key, checkout["id"].as_str().unwrap()).await;
        assert_eq!(paid["status"], "paid", "{backend:?}: {paid}");
        assert_eq!(paid["payMethod"], "EPAY");
        assert_eq!(paid["epay"]["wallet"], "payco");
        assert!(paid["virtualAccount"].is_null(), "{paid}");

        for (claimed, why) in [
            ("BANK", "not one the checkout offered"),
            ("CARD", "not a CARD transaction"),
        ] {
            let checkout = new_checkout(&app, &key, &offering).await;
            let mut chosen = checkout.clone();
            chosen["goPay"]["payMethod"] = json!("EPAY");
            let return_url = authorize(&app.client, &app.url("/sandbox"), &chosen, &[]).await;
            assert!(return_url.contains("payMethod=EPAY"), "{return_url}");
            let tampered = return_url.replace("payMethod=EPAY", &format!("payMethod={claimed}"));
            app.client.get(&tampered).send().await.unwrap();
            let p = payment(&app, &key, checkout["id"].as_str().unwrap()).await;
            assert_eq!(p["status"], "failed", "{claimed}: {p}");
            assert_eq!(p["flagged"], true);
            assert!(
                p["flagReason"].as_str().unwrap().contains(why),
                "{claimed}: {p}"
            );
            let approvals = crate::approval::sandbox_calls(&app.url("/sandbox"))
                .await
                .into_iter()
                .filter(|c| {
                    c["path"]
                        .as_str()
                        .unwrap()
                        .ends_with("/v1/transactions/pay")
                        && c["mid"].is_string()
                        && return_url.contains(c["tid"].as_str().unwrap_or("-"))
                })
                .count();
            assert_eq!(approvals, 0, "{claimed}: refused before any approval");
        }
        app.stop().await;
    }
}

/// `appScheme`: an app URL reaches goPay and the sandbox window shows the hand-off it would make;
/// anything that is not an app's own URL is refused naming the field.
#[tokio::test]
async fn an_app_scheme_reaches_the_window_and_a_bad_one_is_refused_by_name() {
    let app = TestApp::spawn(crate::support::Backend::Sqlite).await;
    let key = demo_key(&app);
    for bad in [
        "javascript://alert(document.cookie)",
        "JAVASCRIPT://x",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "file:///etc/passwd",
        "https://shop.example/return",
        "myshop",
    ] {
        let mut body = method_order("CARD", 1000);
        body["appScheme"] = json!(bad);
        let refused = crate::checkout::create(&app, &key, &body).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
        let refused = error_body(refused).await;
        assert_eq!(refused["code"], "invalid_app_scheme", "{bad}: {refused}");
        assert_eq!(refused["param"], "appScheme");
    }

    let mut body = method_order("EPAY", 1000);
    body["appScheme"] = json!("myshop://payments/return?from=paydesk");
    let checkout = new_checkout(&app, &key, &body).await;
    assert_eq!(
        checkout["appScheme"],
        "myshop://payments/return?from=paydesk"
    );
    assert_eq!(
        checkout["goPay"]["appScheme"],
        "myshop://payments/return?from=paydesk"
    );
    let form = crate::approval::authorize_form(&checkout, &[]);
    let (_, window) = window_page(&app, "/sandbox/pay/window", &form).await;
    assert!(
        window.contains("id=\"app-handoff\"")
            && window.contains("href=\"myshop://payments/return?from=paydesk\""),
        "{window}"
    );
    let last = crate::approval::authorize_form(&checkout, &[("window", "1")]);
    let (_, finished) = window_page(&app, "/sandbox/pay/authorize", &last).await;
    assert!(finished.contains("id=\"app-scheme\""), "{finished}");

    // Called directly with a script URL, the sandbox window refuses it rather than link it.
    let mut forged = form.clone();
    set_field(&mut forged, "appScheme", "javascript://alert(1)");
    let (status, refused) = window_page(&app, "/sandbox/pay/window", &forged).await;
    assert_eq!(status, 400);
    assert!(
        refused.contains("W022") && !refused.contains("href=\"javascript"),
        "{refused}"
    );
    app.stop().await;
}
