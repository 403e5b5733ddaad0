//! Innopay's Noti into paydesk: a cancel made outside paydesk (straight through the sandbox's
//! cancelApi) reaches the payment and the storefront; the same Noti twice changes nothing; anything
//! unmatched or contradicting is stored, flagged and refused so Innopay resends.

use std::time::{Duration, Instant};

use paydesk::domain::{Amount, PayMethod, Price};
use paydesk::gateway::{CancelRequest, Outcome};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::approval::{checkout_and_return, payment};
use crate::checkout::{create, demo_key, new_checkout, order};
use crate::innopay::{add_fault, client, control, merchant};
use crate::support::{Backend, TestApp, backends};
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
                cancel_amt: Price::Krw(Amount::new(amount).unwrap()),
                cancel_msg: "관리자 취소".into(),
                refund: None,
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

/// The storefront's webhooks, from here on, as a receiver that accepts them.
async fn listen(app: &TestApp, key: &str) -> WebhookReceiver {
    let receiver = WebhookReceiver::start(Answer::Status(200)).await;
    set_endpoint(app, key, &receiver.url).await;
    receiver
}

/// What became of the Noti with this `status` (25 paid, 85 cancelled), oldest first.
async fn outcomes(app: &TestApp, status: &str) -> Vec<String> {
    let notis = app.state.store.notis(false, 50).await.unwrap();
    notis
        .into_iter()
        .rev()
        .filter(|n| n.status.as_deref() == Some(status))
        .map(|n| n.outcome)
        .collect()
}

/// A payment of `amount` paid through the sandbox: its id and tid.
async fn paid(app: &TestApp, key: &str, amount: i64) -> (String, String) {
    let id = pay(app, key, amount).await;
    let tid = payment(app, key, &id).await["tid"]
        .as_str()
        .unwrap()
        .to_string();
    (id, tid)
}

#[tokio::test]
async fn a_cancel_made_outside_paydesk_reaches_the_payment_and_the_storefront_once() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &FAST).await;
        let key = demo_key(&app);
        let receiver = listen(&app, &key).await;
        let (id, tid) = paid(&app, &key, 20000).await;
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
        // The Noti is judged before it is answered: the answer is the end of it.
        assert_eq!((status, body.as_str()), (StatusCode::OK, "0000"));
        assert_eq!(events(&payment(&app, &key, &id).await), history);
        assert_eq!(receiver.settled(&app, &key).await.len(), 3);

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

    // A deposit into a virtual account paydesk never issued: kept for a person, and refused, so
    // Innopay resends it (until someone settles it, or the payment it is for is recorded).
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
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::NOT_FOUND, "FAIL unmatched")
    );

    let flagged = app.state.store.notis(true, 20).await.unwrap();
    let outcomes: Vec<&str> = flagged.iter().rev().map(|n| n.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        vec![
            "unmatched",
            "contradiction",
            "contradiction",
            "invalid",
            "unmatched"
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
    let receiver = listen(&app, &key).await;
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
    let outcomes = outcomes(&app, "25").await;
    assert_eq!(
        outcomes.first().map(String::as_str),
        Some("deferred"),
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&"applied".to_string()), "{outcomes:?}");
}

/// The payment's status, history and webhook deliveries: what a Noti must not change unconfirmed.
async fn money_state(app: &TestApp, key: &str, id: &str) -> (Value, Value, usize) {
    let p = payment(app, key, id).await;
    let deliveries = crate::webhooks::deliveries(app, key).await.len();
    (p["status"].clone(), p["events"].clone(), deliveries)
}

/// Finding 1: a cancel Noti nobody made at Innopay (the three shapes Innopay's cancel Noti take)
/// moves no money state: Innopay's inquiry does not show it, so it is kept flagged and refused, no
/// webhook goes out, and the storefront's own refund still works afterwards.
#[tokio::test]
async fn a_forged_cancel_noti_changes_nothing_and_the_storefront_can_still_refund() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &FAST).await;
        let key = demo_key(&app);
        let receiver = listen(&app, &key).await;
        let (id, tid) = paid(&app, &key, 20000).await;
        let moid = payment(&app, &key, &id).await["orderId"]
            .as_str()
            .unwrap()
            .to_string();
        let before = money_state(&app, &key, &id).await;
        let forgeries = [
            form(&[
                ("shopCode", "testpay01m"),
                ("moid", &moid),
                ("status", "85"),
                ("cancelAmt", "20000"),
            ]),
            form(&[
                ("shopCode", "testpay01m"),
                ("tid", &tid),
                ("status", "85"),
                ("remainAmt", "5000"),
            ]),
            form(&[
                ("shopCode", "testpay01m"),
                ("moid", &moid),
                ("stateCd", "2"),
                ("cancelAmt", "20000"),
            ]),
        ];
        for forged in &forgeries {
            let (status, body) = post_noti(&app, forged).await;
            assert_eq!(
                (status, body.as_str()),
                (StatusCode::CONFLICT, "FAIL contradiction"),
                "{backend:?}: {forged:?}"
            );
            assert_eq!(
                money_state(&app, &key, &id).await,
                before,
                "{backend:?}: {forged:?}"
            );
        }
        let recorded = app.state.store.notis(true, 10).await.unwrap();
        assert_eq!(recorded.len(), 3, "{backend:?}: all three kept flagged");
        for noti in &recorded {
            assert_eq!(noti.outcome, "contradiction");
            assert_eq!(noti.payment_id.as_deref(), Some(id.as_str()));
            assert!(noti.note.contains("inquiry"), "{}", noti.note);
        }

        crate::webhooks::cancel(&app, &key, &id, None).await;
        let hooks = receiver.wait_for(2, Duration::from_secs(10)).await;
        assert_eq!(hooks[1].json["type"], "payment.cancelled");
        assert_eq!(hooks[1].json["data"]["status"], "cancelled");
    }
}

/// A cancel really made at Innopay whose Noti overtakes nothing is recorded from what the inquiry
/// shows, with cause `innopay_noti` and `confirmedBy: inquiry`; a Noti claiming more than the
/// inquiry shows (a partial cancel passed off as a full one) is refused and changes nothing.
#[tokio::test]
async fn a_cancel_noti_is_applied_only_as_far_as_the_inquiry_confirms_it() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let (id, tid) = paid(&app, &key, 20000).await;
        // Held back so the forged full cancel below arrives first.
        add_fault(&app, json!({"kind": "noti_out_of_order", "ms": 1500})).await;
        cancel_at_innopay(&app, &tid, 5000, true).await;
        let before = money_state(&app, &key, &id).await;
        let (status, _) = post_noti(
            &app,
            &form(&[
                ("shopCode", "testpay01m"),
                ("tid", &tid),
                ("status", "85"),
                ("cancelAmt", "20000"),
                ("remainAmt", "0"),
            ]),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{backend:?}");
        assert_eq!(money_state(&app, &key, &id).await, before, "{backend:?}");

        let partial = wait_for_status(&app, &key, &id, "partially_cancelled").await;
        assert_eq!(partial["cancelledAmount"], 5000);
        let last = partial["events"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["cause"], "innopay_noti", "{last}");
        assert_eq!(last["detail"]["confirmedBy"], "inquiry", "{last}");
        assert_eq!(last["detail"]["amount"], 5000, "{last}");
    }
}

/// Innopay's inquiry cannot be had (its API fails): a cancel Noti is deferred, not applied, and
/// answered so Innopay resends; the resend after Innopay answers again is applied.
#[tokio::test]
async fn a_cancel_noti_waits_while_the_inquiry_is_inconclusive() {
    let app = TestApp::spawn(*backends().last().unwrap()).await;
    let key = demo_key(&app);
    crate::innopay::set(&app, "settings", json!({"notiBackoffMs": 300})).await;
    let (id, tid) = paid(&app, &key, 20000).await;
    add_fault(
        &app,
        json!({"kind": "server_error", "api": "inquiry", "calls": 1}),
    )
    .await;
    cancel_at_innopay(&app, &tid, 20000, false).await;
    let cancelled = wait_for_status(&app, &key, &id, "cancelled").await;
    assert_eq!(
        events(&cancelled).last().unwrap(),
        &("cancelled".to_string(), "innopay_noti".to_string())
    );
    let outcomes = outcomes(&app, "85").await;
    assert_eq!(outcomes, vec!["deferred", "applied"]);
}

/// The paid-Noti rule: a paid Noti for a payment that is `ready`, `failed` or `expired` changes
/// nothing (no inquiry result is taken from the Noti) and is kept flagged and refused.
#[tokio::test]
async fn a_forged_paid_noti_for_an_unpaid_payment_changes_nothing_and_is_flagged() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let ready = new_checkout(&app, &key, &order(30000)).await;
        let failed = new_checkout(&app, &key, &order(31000)).await;
        crate::approval::declined_for_good(&app, &key, &failed, "C001", "3Factor 인증 필요").await;
        let expired = new_checkout(&app, &key, &order(32000)).await;
        crate::support::execute_sql(
            &app,
            "UPDATE payments SET status = 'expired' WHERE id = ?",
            vec![expired["id"].as_str().unwrap().into()],
        )
        .await;
        for (checkout, status, amount) in [
            (&ready, "ready", "30000"),
            (&failed, "failed", "31000"),
            (&expired, "expired", "32000"),
        ] {
            let id = checkout["id"].as_str().unwrap();
            let before = money_state(&app, &key, id).await;
            assert_eq!(before.0, status, "{backend:?}");
            let (answer, body) = post_noti(
                &app,
                &form(&[
                    ("shopCode", "testpay01m"),
                    ("tid", "testpay01m01082612020000007777"),
                    ("moid", checkout["orderId"].as_str().unwrap()),
                    ("goodsAmt", amount),
                    ("status", "25"),
                    ("stateCd", "0"),
                ]),
            )
            .await;
            assert_eq!(
                (answer, body.as_str()),
                (StatusCode::CONFLICT, "FAIL contradiction"),
                "{backend:?} {status}"
            );
            assert_eq!(money_state(&app, &key, id).await, before, "{backend:?}");
            let noti = app.state.store.notis(false, 1).await.unwrap().remove(0);
            assert!(noti.flagged, "{backend:?} {status}");
            assert_eq!(noti.payment_id.as_deref(), Some(id));
        }
    }
}

/// `PAYDESK_INNOPAY_NOTI_ALLOW`: a Noti from an address outside the ranges is refused before it is
/// read and nothing is stored; from inside, it is handled as usual.
#[tokio::test]
async fn a_noti_from_outside_the_allowed_ranges_is_refused_unread() {
    let invalid = form(&[("shopCode", "testpay01m"), ("status", "99")]);
    let outside = TestApp::spawn_with(
        *backends().last().unwrap(),
        &[("innopay_noti_allow", "10.0.0.0/8, 2001:db8::/32")],
    )
    .await;
    let (status, body) = post_noti(&outside, &invalid).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::FORBIDDEN, "FAIL forbidden")
    );
    assert!(
        outside
            .state
            .store
            .notis(false, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let inside = TestApp::spawn_with(
        Backend::Sqlite,
        &[("innopay_noti_allow", "10.0.0.0/8,127.0.0.1")],
    )
    .await;
    let (status, _) = post_noti(&inside, &invalid).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "read and judged invalid");
    assert_eq!(inside.state.store.notis(false, 10).await.unwrap().len(), 1);
}

/// Finding 7: a body larger than any Noti is refused unstored; what is kept of a large invalid one
/// is bounded (each value, the identifying columns, the note, and the whole field list).
#[tokio::test]
async fn oversized_notis_are_refused_and_what_is_kept_of_an_invalid_one_is_bounded() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let huge = "가".repeat(10_000);
        let (status, body) = post_noti(&app, &form(&[("status", "99"), ("x", &huge)])).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "FAIL too large"),
            "{backend:?}"
        );
        assert!(app.state.store.notis(false, 10).await.unwrap().is_empty());

        // Just under the limit: one long value, a long tid, and many small fields whose escaped JSON
        // would be larger than the body.
        let long = "x".repeat(3000);
        let mut fields = form(&[
            ("shopCode", "testpay01m"),
            ("tid", &long),
            ("moid", &long),
            ("status", "99"),
        ]);
        fields.extend((0..600).map(|i| (format!("f{i}"), "\u{1}".to_string())));
        let (status, _) = post_noti(&app, &fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{backend:?}");
        let kept = app.state.store.notis(false, 1).await.unwrap().remove(0);
        assert!(kept.fields.len() <= 4 * 1024, "{}", kept.fields.len());
        let raw: Value = serde_json::from_str(&kept.fields).unwrap();
        assert!(raw["_truncated"].is_string(), "{raw}");
        assert_eq!(raw["shopCode"], "testpay01m", "the first fields are kept");
        assert!(raw["tid"].as_str().unwrap().chars().count() <= 1000);
        assert!(kept.tid.as_deref().unwrap().len() <= 100);
        assert!(kept.moid.as_deref().unwrap().len() <= 100);
        assert!(kept.note.len() <= 1024, "{}", kept.note.len());
    }
}

/// Finding 7: past `PAYDESK_INNOPAY_NOTI_RATE_PER_MIN` from one address, Noti are answered 429
/// unread and unstored (Innopay resends later).
#[tokio::test]
async fn notis_past_the_rate_limit_are_refused_unstored() {
    let app = TestApp::spawn_with(
        *backends().last().unwrap(),
        &[("innopay_noti_rate_per_min", "5")],
    )
    .await;
    let invalid = form(&[("shopCode", "testpay01m"), ("status", "99")]);
    for _ in 0..5 {
        assert_eq!(post_noti(&app, &invalid).await.0, StatusCode::BAD_REQUEST);
    }
    let (status, body) = post_noti(&app, &invalid).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "FAIL rate limited")
    );
    assert_eq!(app.state.store.notis(false, 10).await.unwrap().len(), 5);
}
