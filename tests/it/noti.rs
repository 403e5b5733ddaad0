//! Innopay's Noti into paydesk: a cancel made outside paydesk (straight through the sandbox's
//! cancelApi) reaches the payment and the storefront; the same Noti twice changes nothing; anything
//! unmatched or contradicting is stored, flagged and refused so Innopay resends.

use std::time::{Duration, Instant};

use paydesk::domain::{Amount, PayMethod};
use paydesk::gateway::{CancelRequest, Outcome};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::approval::{checkout_and_return, payment};
use crate::checkout::{create, demo_key, order};
use crate::innopay::{add_fault, client, control, merchant};
use crate::support::{TestApp, backends};
use crate::webhooks::{Answer, FAST, PAID_PART_CANCELLED, WebhookReceiver, pay, set_endpoint};

/// Cancels through the sandbox's cancelApi directly, as an operator in Innopay's admin would.
async fn cancel_at_innopay(app: &TestApp, tid: &str, amount: i64, partial: bool) {
    let outcome = client(app, 2000)
        .cancel(
            &merchant(),
            &CancelRequest {
                tid: tid.parse().unwrap(),
                pay_method: PayMethod::Card,
                partial,
                cancel_amt: Amount::new(amount).unwrap(),
                cancel_msg: "관리자 취소".into(),
            },
        )
        .await;
    assert!(matches!(outcome, Outcome::Done(_)), "{outcome:?}");
}

async fn wait_for_status(app: &TestApp, key: &str, id: &str, status: &str) -> Value {
    let started = Instant::now();
    loop {
        let p = payment(app, key, id).await;
        if p["status"] == status {
            return p;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{p}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Posts a Noti form to paydesk and returns the status and body of the answer.
async fn post_noti(app: &TestApp, fields: &[(String, String)]) -> (StatusCode, String) {
    let response = app
        .client
        .post(app.url("/innopay/noti"))
        .form(fields)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The fields of a Noti as the sandbox's control API shows them (`[[key, value], ...]`).
fn fields(noti: &Value) -> Vec<(String, String)> {
    noti["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn events(p: &Value) -> Vec<(String, String)> {
    p["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["cause"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_cancel_made_outside_paydesk_reaches_the_payment_and_the_storefront_once() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &FAST).await;
        let key = demo_key(&app);
        let receiver = WebhookReceiver::start(Answer::Status(200)).await;
        set_endpoint(&app, &key, &receiver.url).await;
        let id = pay(&app, &key, 20000).await;
        let tid = payment(&app, &key, &id).await["tid"]
            .as_str()
            .unwrap()
            .to_string();
        receiver.wait_for(1, Duration::from_secs(10)).await;

        // A partial cancel in Innopay's admin, then the rest, its Noti delivered twice.
        cancel_at_innopay(&app, &tid, 5000, true).await;
        let partial = wait_for_status(&app, &key, &id, "partially_cancelled").await;
        assert_eq!(partial["cancelledAmount"], 5000);
        add_fault(&app, json!({"kind": "noti_duplicate", "calls": 1})).await;
        cancel_at_innopay(&app, &tid, 15000, false).await;
        let cancelled = wait_for_status(&app, &key, &id, "cancelled").await;
        assert_eq!(cancelled["cancelledAmount"], 20000);
        let history = events(&cancelled);
        assert_eq!(
            history[3..].to_vec(),
            vec![
                ("partially_cancelled".into(), "innopay_noti".into()),
                ("cancelled".into(), "innopay_noti".into())
            ],
            "{backend:?}: {history:?}"
        );

        let hooks = receiver.wait_for(3, Duration::from_secs(10)).await;
        assert_eq!(receiver.types(), PAID_PART_CANCELLED);
        assert_eq!(hooks[2].json["data"]["status"], "cancelled");
        assert_eq!(hooks[2].json["data"]["sequence"], 5);

        // The same Noti again: 0000, nothing changes, nothing is published.
        let notis = control(&app, "notis").await;
        let cancel_noti = notis
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|n| n["status"] == "85")
            .unwrap()
            .clone();
        let (status, body) = post_noti(&app, &fields(&cancel_noti)).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "0000"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(events(&payment(&app, &key, &id).await), history);
        assert_eq!(receiver.received().len(), 3);

        let recorded = app.state.store.notis(false, 20).await.unwrap();
        let cancels: Vec<&str> = recorded
            .iter()
            .filter(|n| n.status.as_deref() == Some("85"))
            .map(|n| n.outcome.as_str())
            .collect();
        assert_eq!(cancels.iter().filter(|o| **o == "applied").count(), 2);
        assert!(
            cancels.iter().filter(|o| **o == "duplicate").count() >= 2,
            "{cancels:?}"
        );
        assert!(recorded.iter().all(|n| !n.flagged));
        assert!(
            recorded
                .iter()
                .all(|n| n.payment_id.as_deref() == Some(id.as_str()))
        );
    }
}

#[tokio::test]
async fn unmatched_and_contradicting_notis_are_kept_flagged_and_refused() {
    let app = TestApp::spawn(*backends().last().unwrap()).await;
    let key = demo_key(&app);

    let unknown_tid = "testpay01m01082611270000009999";
    let (status, body) = post_noti(
        &app,
        &form(&[
            ("shopCode", "testpay01m"),
            ("tid", unknown_tid),
            ("moid", "no-such-order"),
            ("goodsAmt", "20000"),
            ("status", "25"),
            ("stateCd", "0"),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_ne!(body, "0000");

    // The right payment, the wrong amount.
    let id = pay(&app, &key, 20000).await;
    let paid = payment(&app, &key, &id).await;
    let tid = paid["tid"].as_str().unwrap();
    let (status, body) = post_noti(
        &app,
        &form(&[
            ("shopCode", "testpay01m"),
            ("tid", tid),
            ("goodsAmt", "2000"),
            ("status", "85"),
            ("cancelAmt", "2000"),
            ("remainAmt", "0"),
        ]),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::CONFLICT, "FAIL contradiction")
    );
    let unchanged = payment(&app, &key, &id).await;
    assert_eq!(unchanged["status"], "paid");
    assert_eq!(unchanged["events"], paid["events"]);

    // An approval of a checkout paydesk never approved.
    let ready: Value = create(&app, &key, &order(30000))
        .await
        .json()
        .await
        .unwrap();
    let (status, _) = post_noti(
        &app,
        &form(&[
            ("shopCode", "testpay01m"),
            ("tid", "testpay01m01082611270000008888"),
            ("moid", ready["orderId"].as_str().unwrap()),
            ("goodsAmt", "30000"),
            ("status", "25"),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        payment(&app, &key, ready["id"].as_str().unwrap()).await["status"],
        "ready"
    );

    // Not a Noti paydesk understands.
    let (status, body) =
        post_noti(&app, &form(&[("shopCode", "testpay01m"), ("status", "99")])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_ne!(body, "0000");

    // A virtual-account deposit: kept for a person, and acknowledged (resending adds nothing).
    let (status, body) = post_noti(
        &app,
        &form(&[
            ("shopCode", "testpay01m"),
            ("tid", "testpay01m03012611270000001234"),
            ("moid", "vbank-1"),
            ("goodsAmt", "50000"),
            ("payMethod", "VBANK"),
            ("vacctNo", "12345678901234"),
            ("status", "25"),
        ]),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "0000"));

    let flagged = app.state.store.notis(true, 20).await.unwrap();
    let outcomes: Vec<&str> = flagged.iter().rev().map(|n| n.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        vec![
            "unmatched",
            "contradiction",
            "contradiction",
            "invalid",
            "recorded"
        ]
    );
    let unmatched = flagged.last().unwrap();
    assert_eq!(unmatched.tid.as_deref(), Some(unknown_tid));
    let raw: Value = serde_json::from_str(&unmatched.fields).unwrap();
    assert_eq!(raw["moid"], "no-such-order", "the raw fields are kept");
    assert!(unmatched.note.contains(unknown_tid), "{}", unmatched.note);
    let wrong_amount = &flagged[flagged.len() - 2];
    assert_eq!(wrong_amount.payment_id.as_deref(), Some(id.as_str()));
    assert!(wrong_amount.note.contains("2000"), "{}", wrong_amount.note);
    assert!(flagged[0].note.contains("virtual-account"));
}

/// Innopay approved but its answer was lost: the payment is `unknown`. The sandbox's paid Noti is
/// confirmed by inquiry and the payment recorded `paid` with cause `innopay_noti`, before the
/// reconciler (set far off here) would have come round; the storefront hears `unknown`, then `paid`.
#[tokio::test]
async fn a_paid_noti_settles_an_unknown_payment_after_confirming_by_inquiry() {
    let mut settings = vec![
        ("innopay_read_timeout_ms", "400"),
        ("reconcile_interval_ms", "600000"),
    ];
    settings.extend(FAST);
    let app = TestApp::spawn_with(*backends().last().unwrap(), &settings).await;
    let key = demo_key(&app);
    crate::innopay::set(&app, "settings", json!({"notiBackoffMs": 300})).await;
    let receiver = WebhookReceiver::start(Answer::Status(200)).await;
    set_endpoint(&app, &key, &receiver.url).await;
    add_fault(
        &app,
        json!({"kind": "drop_answer", "api": "pay", "calls": 1, "holdMs": 3000}),
    )
    .await;
    let id = checkout_and_return(&app, &app.url("/sandbox"), &key, 20000).await;

    let paid = wait_for_status(&app, &key, &id, "paid").await;
    assert_eq!(
        events(&paid)[2..].to_vec(),
        vec![
            ("outcome_unknown".into(), "gateway".into()),
            ("paid".into(), "innopay_noti".into())
        ]
    );
    assert!(
        paid["approvalNumber"].is_string(),
        "filled from the inquiry"
    );
    receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(receiver.types(), vec!["payment.unknown", "payment.paid"]);
    let outcomes: Vec<String> = app
        .state
        .store
        .notis(false, 10)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|n| n.outcome)
        .collect();
    assert_eq!(
        outcomes.first().map(String::as_str),
        Some("deferred"),
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&"applied".to_string()), "{outcomes:?}");
}
