//! The typed Innopay client against the running sandbox, with a short read timeout: every outcome
//! (done, declined, unknown, not sent) and every fault, cancels and inquiries.

use std::time::{Duration, Instant};

use paydesk::config::{ExposeSecret, SecretString};
use paydesk::domain::{Amount, Currency, PayMethod, Price};
use paydesk::gateway::{Approval, CancelRequest, Cancellation, InnopayClient, Outcome};
use serde_json::{Value, json};

use crate::innopay::{add_fault, authorize, client, client_at, control, merchant, set};
use crate::support::{Backend, TestApp};

/// The read timeout of these tests: long enough for a loaded CI machine, short enough to wait for.
const READ_MS: u64 = 500;

fn won(n: i64) -> Amount {
    Amount::new(n).unwrap()
}

fn krw(n: i64) -> Price {
    Price::Krw(won(n))
}

fn done<T: std::fmt::Debug>(outcome: Outcome<T>) -> T {
    match outcome {
        Outcome::Done(value) => value,
        other => panic!("expected Done, got {other:?}"),
    }
}

fn declined<T: std::fmt::Debug>(outcome: Outcome<T>) -> (String, String) {
    match outcome {
        Outcome::Declined { code, message } => (code, message),
        other => panic!("expected Declined, got {other:?}"),
    }
}

fn unknown<T: std::fmt::Debug>(outcome: Outcome<T>) -> String {
    match outcome {
        Outcome::Unknown { reason } => reason,
        other => panic!("expected Unknown, got {other:?}"),
    }
}

fn cancel_request(tid: &str, partial: bool, amount: i64) -> CancelRequest {
    CancelRequest {
        tid: tid.parse().unwrap(),
        pay_method: PayMethod::Card,
        partial,
        cancel_amt: krw(amount),
        cancel_msg: "테스트 취소".into(),
        refund: None,
    }
}

async fn approve(app: &TestApp, gateway: &InnopayClient, extra: &[(&str, &str)]) -> Approval {
    let auth = authorize(app, extra).await;
    done(gateway.approve(&merchant(), &auth.approval_request()).await)
}

async fn call_outcomes(app: &TestApp) -> Vec<String> {
    control(app, "calls")
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["path"] == "/sandbox/v1/transactions/pay")
        .map(|c| c["outcome"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn approval_maps_every_field_and_a_reused_token_is_declined() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let gateway = client(&app, READ_MS);
    let auth = authorize(
        &app,
        &[
            ("taxFreeAmt", "500"),
            ("cardCode", "01"),
            ("cardQuota", "03"),
            ("amt", "60000"),
        ],
    )
    .await;
    let request = auth.approval_request();
    let approval = done(gateway.approve(&merchant(), &request).await);
    assert_eq!(approval.tid, request.tid.as_str());
    assert_eq!(approval.mid, "testpay01m");
    assert_eq!(approval.moid, request.moid.as_str());
    assert_eq!(
        (approval.amt, approval.tax_free_amt),
        (krw(60000), won(500))
    );
    assert_eq!(approval.status, 0);
    assert_eq!(approval.pay_method, "CARD");
    assert_eq!(approval.auth_num.as_deref().map(str::len), Some(8));
    assert_eq!(approval.approved_at.as_deref().map(str::len), Some(19));
    assert!(
        approval
            .receipt_url
            .as_deref()
            .unwrap()
            .contains(&approval.tid)
    );
    let card = approval.card.clone().unwrap();
    assert_eq!((card.fn_cd.as_str(), card.fn_name.as_str()), ("01", "비씨"));
    assert_eq!(
        (card.acqu_card_code.as_str(), card.acqu_card_name.as_str()),
        ("01", "비씨")
    );
    assert_eq!(card.card_quota, "03");
    assert!(card.card_num.contains("****"));
    assert_eq!(card.currency.as_deref(), Some("KRW"));
    assert_eq!(
        approval.raw["data"]["gid"], "GID000001g",
        "unknown fields are kept"
    );

    let (code, message) = declined(gateway.approve(&merchant(), &request).await);
    assert_eq!(code, "A004");
    assert!(!message.is_empty());

    let mut wrong = merchant();
    wrong.merchant_key = SecretString::from("very-secret-wrong-key");
    let auth = authorize(&app, &[]).await;
    let outcome = gateway.approve(&wrong, &auth.approval_request()).await;
    assert!(!format!("{outcome:?} {wrong:?}").contains("very-secret-wrong-key"));
    assert_eq!(declined(outcome).0, "A001");
}

#[tokio::test]
async fn each_fault_ends_in_its_outcome() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let gateway = client(&app, READ_MS);
    let m = merchant();

    // A short delay is only slow.
    add_fault(&app, json!({"kind": "delay", "ms": 50, "calls": 1})).await;
    approve(&app, &gateway, &[]).await;

    // A delay past the read timeout: unknown, never declined.
    add_fault(&app, json!({"kind": "delay", "ms": 2500, "calls": 1})).await;
    let auth = authorize(&app, &[]).await;
    let started = Instant::now();
    let reason = unknown(gateway.approve(&m, &auth.approval_request()).await);
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "the read timeout fired"
    );
    assert!(reason.contains("no answer"), "{reason}");

    // Approved but the answer never comes: unknown, and the inquiry finds the approval.
    add_fault(
        &app,
        json!({"kind": "drop_answer", "api": "pay", "calls": 1}),
    )
    .await;
    let auth = authorize(&app, &[]).await;
    let request = auth.approval_request();
    unknown(gateway.approve(&m, &request).await);
    let found = done(gateway.transaction(&m, &request.tid, Currency::Krw).await);
    assert_eq!((found.status, found.amt), (0, request.amt));

    // 5XX before anything happened: unknown; the inquiry finds nothing and the token still works.
    add_fault(
        &app,
        json!({"kind": "server_error", "status": 502, "calls": 1}),
    )
    .await;
    let auth = authorize(&app, &[]).await;
    let request = auth.approval_request();
    let reason = unknown(gateway.approve(&m, &request).await);
    assert!(reason.contains("502"), "{reason}");
    assert_eq!(
        declined(gateway.transaction(&m, &request.tid, Currency::Krw).await).0,
        "N001"
    );
    done(gateway.approve(&m, &request).await);

    // 5XX after the approval was recorded: unknown; the inquiry finds it.
    add_fault(
        &app,
        json!({"kind": "server_error", "status": 500, "applied": true, "calls": 1}),
    )
    .await;
    let auth = authorize(&app, &[]).await;
    let request = auth.approval_request();
    unknown(gateway.approve(&m, &request).await);
    done(
        gateway
            .transaction_by_order(&m, &request.moid, Currency::Krw)
            .await,
    );

    // Malformed JSON: unknown.
    add_fault(&app, json!({"kind": "malformed", "calls": 1})).await;
    let auth = authorize(&app, &[]).await;
    let reason = unknown(gateway.approve(&m, &auth.approval_request()).await);
    assert!(reason.contains("unreadable"), "{reason}");

    // Innopay's own refusal: declined, verbatim.
    add_fault(
        &app,
        json!({"kind": "decline", "code": "3011", "message": "카드 한도 초과", "calls": 1}),
    )
    .await;
    let auth = authorize(&app, &[]).await;
    let (code, message) = declined(gateway.approve(&m, &auth.approval_request()).await);
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("3011", "카드 한도 초과")
    );

    // An approval of another amount for our tid is reported as it is; the checkout refuses it.
    add_fault(
        &app,
        json!({"kind": "amount_mismatch", "amt": 19000, "calls": 1}),
    )
    .await;
    let auth = authorize(&app, &[]).await;
    match gateway.approve(&m, &auth.approval_request()).await {
        Outcome::Done(approval) => assert_eq!(approval.amt.minor(), 19000),
        other => panic!("expected the approval as answered, got {other:?}"),
    }

    // Faults for another merchant leave testpay01m alone.
    add_fault(&app, json!({"kind": "server_error", "mid": "othermid01"})).await;
    approve(&app, &gateway, &[]).await;

    // The call log shows what happened behind each outcome.
    let outcomes = call_outcomes(&app).await;
    for expected in [
        "approved (fault: delay)",
        "approved (fault: drop_answer)",
        "not handled (fault: server_error)",
        "approved (fault: server_error)",
        "approved (fault: malformed)",
        "declined 3011 (fault: decline)",
        "approved (fault: amount_mismatch)",
    ] {
        assert!(
            outcomes.iter().any(|o| o == expected),
            "{expected} not in {outcomes:?}"
        );
    }
}

#[tokio::test]
async fn faults_on_cancel_and_inquiry_and_refusals_at_any_status() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let gateway = client(&app, READ_MS);
    let m = merchant();
    let approval = approve(&app, &gateway, &[]).await;
    let tid = approval.tid.parse().unwrap();

    add_fault(
        &app,
        json!({"kind": "server_error", "api": "inquiry", "calls": 1}),
    )
    .await;
    unknown(gateway.transaction(&m, &tid, Currency::Krw).await);
    add_fault(
        &app,
        json!({"kind": "drop_answer", "api": "inquiry", "calls": 1}),
    )
    .await;
    unknown(gateway.transaction(&m, &tid, Currency::Krw).await);
    add_fault(
        &app,
        json!({"kind": "amount_mismatch", "api": "inquiry", "calls": 1}),
    )
    .await;
    assert_eq!(
        done(gateway.transaction(&m, &tid, Currency::Krw).await).amt,
        krw(21000)
    );

    add_fault(&app, json!({"kind": "decline", "api": "cancel", "code": "2099", "message": "취소 불가", "calls": 1})).await;
    assert_eq!(
        declined(
            gateway
                .cancel(&m, &cancel_request(&approval.tid, true, 1000))
                .await
        )
        .0,
        "2099"
    );
    add_fault(
        &app,
        json!({"kind": "malformed", "api": "cancel", "calls": 1}),
    )
    .await;
    unknown(
        gateway
            .cancel(&m, &cancel_request(&approval.tid, true, 1000))
            .await,
    );
    // The malformed answer hid a real cancel.
    assert_eq!(
        done(gateway.transaction(&m, &tid, Currency::Krw).await).cancelled_amt,
        Some(krw(1000))
    );

    // Innopay's failure status is undocumented: refusals at 200 read the same.
    set(&app, "settings", json!({"errorStatus": 200})).await;
    assert_eq!(
        declined(
            gateway
                .transaction(
                    &m,
                    &"testpay01m01082501010000000000".parse().unwrap(),
                    Currency::Krw
                )
                .await
        )
        .0,
        "N001"
    );
}

#[tokio::test]
async fn calls_that_cannot_leave_are_not_sent() {
    paydesk::install_crypto_provider();
    let m = merchant();
    let tid = "testpay01m01082502061700416194".parse().unwrap();

    // Connection refused: a port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = client_at(&format!("http://127.0.0.1:{port}/sandbox"), READ_MS);
    let outcome = refused.transaction(&m, &tid, Currency::Krw).await;
    assert!(matches!(outcome, Outcome::NotSent { .. }), "{outcome:?}");

    // A server that takes the request and hangs up without answering: it may have acted, so unknown.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = socket.read(&mut buf).await;
        drop(socket);
    });
    let hangs_up = client_at(&format!("http://{addr}"), READ_MS);
    let outcome = hangs_up.transaction(&m, &tid, Currency::Krw).await;
    assert!(matches!(outcome, Outcome::Unknown { .. }), "{outcome:?}");

    // A name that does not resolve (a longer connect timeout, so the DNS failure decides).
    let nowhere = InnopayClient::new(
        "http://innopay.invalid/".parse().unwrap(),
        Duration::from_millis(1_000),
        Duration::from_millis(READ_MS),
    );
    let outcome = nowhere.transaction(&m, &tid, Currency::Krw).await;
    assert!(matches!(outcome, Outcome::NotSent { .. }), "{outcome:?}");

    // An API URL reqwest cannot use.
    let misconfigured = client_at("ftp://127.0.0.1/", READ_MS);
    let auth_request = paydesk::gateway::ApprovalRequest {
        tid: "testpay01m01082502061700416194".parse().unwrap(),
        moid: "o1".parse().unwrap(),
        amt: krw(1),
        tax_free_amt: Amount::ZERO,
        payment_token: SecretString::from("token-secret-value"),
    };
    let outcome = misconfigured.approve(&m, &auth_request).await;
    let Outcome::NotSent { reason } = outcome else {
        panic!("not sent: {outcome:?}");
    };
    assert!(
        !reason.contains("token-secret-value") && !reason.contains(m.merchant_key.expose_secret())
    );
}

#[tokio::test]
async fn cancels_full_partial_over_the_limit_and_with_a_wrong_password() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let gateway = client(&app, READ_MS);
    let m = merchant();
    let approval = approve(&app, &gateway, &[]).await;
    let tid = approval.tid.parse().unwrap();

    let first: Cancellation = done(
        gateway
            .cancel(&m, &cancel_request(&approval.tid, true, 5000))
            .await,
    );
    assert_eq!(
        (first.result_code.as_str(), first.cancel_amt),
        ("2001", krw(5000))
    );
    assert_eq!(first.pg_tid.as_deref(), Some(approval.tid.as_str()));
    assert_eq!(first.pg_app_date.as_deref().map(str::len), Some(8));
    let after = done(gateway.transaction(&m, &tid, Currency::Krw).await);
    assert_eq!((after.status, after.cancelled_amt), (0, Some(krw(5000))));

    let (code, _) = declined(
        gateway
            .cancel(&m, &cancel_request(&approval.tid, true, 15001))
            .await,
    );
    assert_eq!(code, "2013", "cumulative cancels never exceed the approval");

    let mut wrong = merchant();
    wrong.cancel_password = SecretString::from("000000");
    assert_eq!(
        declined(
            gateway
                .cancel(&wrong, &cancel_request(&approval.tid, true, 1000))
                .await
        )
        .0,
        "2011"
    );

    let rest = done(
        gateway
            .cancel(&m, &cancel_request(&approval.tid, false, 20000))
            .await,
    );
    assert_eq!(
        rest.cancel_amt,
        krw(15000),
        "a full cancel takes back what remains"
    );
    let after = done(gateway.transaction(&m, &tid, Currency::Krw).await);
    assert_eq!((after.status, after.cancelled_amt), (1, Some(krw(20000))));
    assert_eq!(
        declined(
            gateway
                .cancel(&m, &cancel_request(&approval.tid, false, 20000))
                .await
        )
        .0,
        "2012"
    );
    assert_eq!(
        declined(
            gateway
                .cancel(
                    &m,
                    &cancel_request("testpay01m01082501010000000000", false, 1)
                )
                .await
        )
        .0,
        "2014"
    );
}

#[tokio::test]
async fn inquiries_agree_with_approvals() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let gateway = client(&app, READ_MS);
    let m = merchant();
    let approval = approve(&app, &gateway, &[("mallReserved", "keep-me")]).await;
    let by_tid = done(
        gateway
            .transaction(&m, &approval.tid.parse().unwrap(), Currency::Krw)
            .await,
    );
    let by_order = done(
        gateway
            .transaction_by_order(&m, &approval.moid.parse().unwrap(), Currency::Krw)
            .await,
    );
    for found in [&by_tid, &by_order] {
        assert_eq!(found.tid, approval.tid);
        assert_eq!(found.amt, approval.amt);
        assert_eq!(found.auth_num, approval.auth_num);
        assert_eq!(found.approved_at, approval.approved_at);
        assert_eq!(found.card, approval.card);
        assert_eq!(found.cancelled_amt, Some(Price::Krw(Amount::ZERO)));
        assert_eq!(found.raw["data"]["etc"]["mallReserved"], "keep-me");
    }
    assert_eq!(
        declined(
            gateway
                .transaction_by_order(&m, &"never-paid".parse().unwrap(), Currency::Krw)
                .await
        )
        .0,
        "N001"
    );
    let mut wrong = merchant();
    wrong.merchant_key = SecretString::from("nope");
    assert_eq!(
        declined(
            gateway
                .transaction(&wrong, &approval.tid.parse().unwrap(), Currency::Krw)
                .await
        )
        .0,
        "A001"
    );

    let calls = control(&app, "calls").await;
    let inquiry = calls
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["path"]
                .as_str()
                .unwrap()
                .starts_with("/sandbox/v1/transactions/orders/")
        })
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(inquiry["method"], "GET");
    assert_eq!(inquiry["tid"], approval.tid.as_str());
    assert_eq!(inquiry["outcome"], "found");
}

#[tokio::test]
async fn the_app_talks_to_its_own_sandbox_by_default() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(app.state.gateway.api_base(), app.url("/sandbox"));
    let auth = authorize(&app, &[]).await;
    done(
        app.state
            .gateway
            .approve(&merchant(), &auth.approval_request())
            .await,
    );
}
