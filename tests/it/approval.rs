//! The shopper's way through the built-in sandbox, without a browser: authorize like the payment
//! window does, follow the redirect to paydesk's returnUrl, and check what was recorded, what Innopay
//! (the sandbox) was asked, and that no fault leaves a payment stuck or charged twice.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::checkout::{create, demo_key, order};
use crate::innopay::add_fault;
use crate::support::{Backend, StandaloneSandbox, TestApp, backends};

/// The goPay parameters of a checkout as the payment window's form fields, plus the test scenario.
pub fn authorize_form(checkout: &Value, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = checkout["goPay"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect();
    form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    form
}

/// Authenticates in the sandbox window (headless) and returns the returnUrl it redirects to.
pub async fn authorize(
    client: &reqwest::Client,
    sandbox: &str,
    checkout: &Value,
    extra: &[(&str, &str)],
) -> String {
    let response = client
        .post(format!("{sandbox}/pay/authorize"))
        .form(&authorize_form(checkout, extra))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await.unwrap()
    );
    response.headers()["location"].to_str().unwrap().to_string()
}

pub async fn payment(app: &TestApp, key: &str, id: &str) -> Value {
    app.client
        .get(app.url(&format!("/v1/payments/{id}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every call `sandbox` (its URL, `.../sandbox`) received, from its control API.
pub async fn sandbox_calls(sandbox: &str) -> Vec<Value> {
    let calls: Value = reqwest::get(format!("{sandbox}/_control/calls"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    calls.as_array().unwrap().clone()
}

/// The approval calls `sandbox` received for this tid.
pub async fn pay_calls(sandbox: &str, tid: &str) -> usize {
    sandbox_calls(sandbox)
        .await
        .iter()
        .filter(|c| {
            c["path"]
                .as_str()
                .unwrap()
                .ends_with("/v1/transactions/pay")
                && c["tid"] == tid
        })
        .count()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Waits until the payment leaves the transient states, up to `limit`.
pub async fn settled(app: &TestApp, key: &str, id: &str, limit: Duration) -> Value {
    settled_at(&app.client, &app.base, key, id, limit).await
}

/// `settled` for a paydesk at `base` that is not a `TestApp` (a child process).
pub async fn settled_at(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
    limit: Duration,
) -> Value {
    let started = std::time::Instant::now();
    loop {
        let p: Value = client
            .get(format!("{base}/v1/payments/{id}"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let status = p["status"].as_str().unwrap().to_string();
        if !matches!(status.as_str(), "approving" | "unknown") && p["pendingCancelAmount"].is_null()
        {
            return p;
        }
        assert!(started.elapsed() < limit, "payment stuck in {status}: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn event_types(payment: &Value) -> Vec<String> {
    payment["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_checkout_is_paid_end_to_end_on_the_embedded_default() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let checkout: Value = create(&app, &key, &order(20000))
            .await
            .json()
            .await
            .unwrap();
        let id = checkout["id"].as_str().unwrap();
        let return_url = authorize(
            &app.client,
            &app.url("/sandbox"),
            &checkout,
            &[("cardCode", "07"), ("cardQuota", "00")],
        )
        .await;
        assert!(
            return_url.starts_with(&app.url(&format!("/checkout/{id}/return?"))),
            "{return_url}"
        );
        let tid = query_param(&return_url, "tid").unwrap();

        let page = app.client.get(&return_url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains(&format!("/checkout/{id}/result")), "{html}");

        let paid = payment(&app, &key, id).await;
        assert_eq!(paid["status"], "paid", "{backend:?}: {paid}");
        assert_eq!(paid["tid"], tid.as_str());
        assert_eq!(paid["card"]["companyCode"], "07");
        assert_eq!(paid["card"]["companyName"], "현대");
        assert!(paid["card"]["number"].as_str().unwrap().contains("****"));
        assert!(paid["approvalNumber"].is_string());
        assert!(paid["approvedAt"].is_string());
        assert!(paid["receiptUrl"].as_str().unwrap().contains(&tid));
        assert_eq!(
            event_types(&paid),
            vec!["created", "approval_started", "paid"]
        );
        let sequences: Vec<i64> = paid["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["sequence"].as_i64().unwrap())
            .collect();
        assert_eq!(sequences, vec![1, 2, 3]);

        // The receipt page shows the outcome in Korean.
        let receipt = app
            .get(&format!("/checkout/{id}/result"))
            .await
            .text()
            .await
            .unwrap();
        assert!(receipt.contains("결제가 완료되었습니다"), "{receipt}");
        assert!(receipt.contains("20,000 원"));

        // A replayed return changes nothing and asks Innopay nothing.
        assert_eq!(
            app.client.get(&return_url).send().await.unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(
            payment(&app, &key, id).await["events"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(pay_calls(&app.url("/sandbox"), &tid).await, 1);
    }
}

#[tokio::test]
async fn a_tampered_amount_is_refused_before_approval_and_flagged() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let checkout: Value = create(&app, &key, &order(300000))
            .await
            .json()
            .await
            .unwrap();
        let id = checkout["id"].as_str().unwrap();
        let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
        let tid = query_param(&return_url, "tid").unwrap();
        let tampered = return_url.replace("amt=300000", "amt=3000");
        assert_ne!(tampered, return_url);
        app.client.get(&tampered).send().await.unwrap();

        let refused = payment(&app, &key, id).await;
        assert_eq!(refused["status"], "failed", "{refused}");
        assert_eq!(refused["failure"]["code"], "amount_mismatch");
        assert_eq!(refused["flagged"], true);
        assert!(refused["flagReason"].as_str().unwrap().contains("amt"));
        assert_eq!(
            pay_calls(&app.url("/sandbox"), &tid).await,
            0,
            "no approval was requested"
        );

        // The genuine return afterwards cannot revive it either.
        app.client.get(&return_url).send().await.unwrap();
        assert_eq!(pay_calls(&app.url("/sandbox"), &tid).await, 0);
        let page = app
            .get(&format!("/checkout/{id}/result"))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("결제 정보가 주문 내용과 일치하지 않아"),
            "{page}"
        );
    }
}

#[tokio::test]
async fn window_declines_fail_and_shopper_cancels_leave_the_checkout_payable() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let checkout: Value = create(&app, &key, &order(20000))
        .await
        .json()
        .await
        .unwrap();
    let id = checkout["id"].as_str().unwrap();

    let cancelled = authorize(
        &app.client,
        &app.url("/sandbox"),
        &checkout,
        &[("scenario", "cancel")],
    )
    .await;
    app.client.get(&cancelled).send().await.unwrap();
    let still = payment(&app, &key, id).await;
    assert_eq!(still["status"], "ready", "{still}");
    assert_eq!(event_types(&still).last().unwrap(), "window_cancelled");

    let declined = authorize(
        &app.client,
        &app.url("/sandbox"),
        &checkout,
        &[("scenario", "decline"), ("declineCode", "C001")],
    )
    .await;
    app.client.get(&declined).send().await.unwrap();
    let failed = payment(&app, &key, id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["failure"]["code"], "C001");
    assert_eq!(
        failed["failure"]["message"],
        "3Factor 인증 필요 ISP 공인인증 오류"
    );
    let page = app
        .get(&format!("/checkout/{id}/result"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("3Factor 인증 필요 ISP 공인인증 오류"),
        "{page}"
    );
}

#[tokio::test]
async fn innopay_refusing_the_approval_fails_the_payment() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    add_fault(&app, json!({"kind": "decline", "api": "pay", "calls": 1, "code": "3011", "message": "카드번호 오류"})).await;
    let checkout: Value = create(&app, &key, &order(20000))
        .await
        .json()
        .await
        .unwrap();
    let id = checkout["id"].as_str().unwrap();
    let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    app.client.get(&return_url).send().await.unwrap();
    let failed = payment(&app, &key, id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["failure"]["code"], "3011");
    assert_eq!(failed["failure"]["message"], "카드번호 오류");
    assert_eq!(
        event_types(&failed),
        vec!["created", "approval_started", "declined"]
    );
}

/// Faults after which Innopay did approve, but paydesk did not hear it: the payment must end `paid`
/// by inquiry, with exactly one approval.
#[tokio::test]
async fn lost_approval_answers_end_paid_by_inquiry() {
    let faults = [
        json!({"kind": "drop_answer", "api": "pay", "calls": 1, "holdMs": 5000}),
        json!({"kind": "server_error", "api": "pay", "calls": 1, "status": 502, "applied": true}),
        json!({"kind": "malformed", "api": "pay", "calls": 1, "applied": true}),
        json!({"kind": "delay", "api": "pay", "calls": 1, "ms": 1500}),
    ];
    for backend in backends() {
        let app = TestApp::spawn_with(
            backend,
            &[
                ("innopay_read_timeout_ms", "400"),
                ("inquiry_grace_ms", "3000"),
                ("reconcile_interval_ms", "150"),
            ],
        )
        .await;
        let key = demo_key(&app);
        for fault in &faults {
            add_fault(&app, fault.clone()).await;
            let checkout: Value = create(&app, &key, &order(20000))
                .await
                .json()
                .await
                .unwrap();
            let id = checkout["id"].as_str().unwrap();
            let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
            let tid = query_param(&return_url, "tid").unwrap();
            app.client.get(&return_url).send().await.unwrap();
            let page = app
                .get(&format!("/checkout/{id}/result"))
                .await
                .text()
                .await
                .unwrap();
            let after_return = payment(&app, &key, id).await;
            if after_return["status"] == "unknown" {
                assert!(
                    page.contains("결제를 확인하고 있습니다"),
                    "the page never shows a failure that is not final"
                );
            }
            let resolved = settled(&app, &key, id, Duration::from_secs(15)).await;
            assert_eq!(
                resolved["status"], "paid",
                "{backend:?} {fault}: {resolved}"
            );
            assert_eq!(pay_calls(&app.url("/sandbox"), &tid).await, 1, "{fault}");
            assert!(
                event_types(&resolved).contains(&"outcome_unknown".to_string()),
                "{fault}: {resolved}"
            );
        }
    }
}

#[tokio::test]
async fn an_approval_for_another_amount_is_cancelled_at_once_and_flagged() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        add_fault(
            &app,
            json!({"kind": "amount_mismatch", "api": "pay", "calls": 1, "amt": 21000}),
        )
        .await;
        let checkout: Value = create(&app, &key, &order(20000))
            .await
            .json()
            .await
            .unwrap();
        let id = checkout["id"].as_str().unwrap();
        let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
        app.client.get(&return_url).send().await.unwrap();
        let cancelled = settled(&app, &key, id, Duration::from_secs(10)).await;
        assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
        assert_eq!(cancelled["flagged"], true);
        assert_eq!(cancelled["cancelledAmount"], 20000);
        assert!(event_types(&cancelled).contains(&"net_cancelled".to_string()));
    }
}

#[tokio::test]
async fn cancels_are_partial_or_full_never_above_what_remains() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let checkout: Value = create(&app, &key, &order(50000))
            .await
            .json()
            .await
            .unwrap();
        let id = checkout["id"].as_str().unwrap().to_string();
        let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
        app.client.get(&return_url).send().await.unwrap();
        let cancel = |body: Value, idem: &'static str| {
            app.client
                .post(app.url(&format!("/v1/payments/{id}/cancel")))
                .bearer_auth(&key)
                .header("Idempotency-Key", idem)
                .json(&body)
                .send()
        };
        let partial = cancel(
            json!({"amount": 20000, "reason": "부분 반품", "expectedRemainingAmount": 50000}),
            "c1",
        )
        .await
        .unwrap();
        assert_eq!(partial.status(), StatusCode::OK);
        let partial: Value = partial.json().await.unwrap();
        assert_eq!(partial["status"], "partially_cancelled");
        assert_eq!(partial["remainingAmount"], 30000);

        let replay = cancel(
            json!({"amount": 20000, "reason": "부분 반품", "expectedRemainingAmount": 50000}),
            "c1",
        )
        .await
        .unwrap();
        assert_eq!(replay.headers()["idempotent-replayed"], "true");
        assert_eq!(
            payment(&app, &key, &id).await["cancelledAmount"],
            20000,
            "the replay cancelled nothing"
        );

        let stale = cancel(
            json!({"amount": 1000, "reason": "x", "expectedRemainingAmount": 50000}),
            "c2",
        )
        .await
        .unwrap();
        assert_eq!(stale.status(), StatusCode::CONFLICT);
        assert_eq!(
            crate::support::error_body(stale).await["code"],
            "stale_remaining_amount"
        );

        let too_much = cancel(json!({"amount": 30001, "reason": "x"}), "c3")
            .await
            .unwrap();
        assert_eq!(too_much.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            crate::support::error_body(too_much).await["code"],
            "cancel_amount_exceeds_remaining"
        );

        let rest = cancel(json!({"reason": "전체 취소"}), "c4").await.unwrap();
        assert_eq!(rest.status(), StatusCode::OK);
        let rest: Value = rest.json().await.unwrap();
        assert_eq!(rest["status"], "cancelled");
        assert_eq!(rest["cancelledAmount"], 50000);
        assert_eq!(rest["remainingAmount"], 0);

        let again = cancel(json!({"reason": "또"}), "c5").await.unwrap();
        assert_eq!(again.status(), StatusCode::CONFLICT);
        assert_eq!(
            crate::support::error_body(again).await["code"],
            "payment_not_cancellable"
        );
        let types = event_types(&payment(&app, &key, &id).await);
        assert_eq!(
            types[3..].to_vec(),
            vec![
                "cancel_requested",
                "partially_cancelled",
                "cancel_requested",
                "cancelled"
            ]
        );
    }
}

#[tokio::test]
async fn a_lost_cancel_answer_is_confirmed_by_inquiry() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("innopay_read_timeout_ms", "400"),
            ("reconcile_interval_ms", "150"),
        ],
    )
    .await;
    let key = demo_key(&app);
    let checkout: Value = create(&app, &key, &order(30000))
        .await
        .json()
        .await
        .unwrap();
    let id = checkout["id"].as_str().unwrap();
    let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    app.client.get(&return_url).send().await.unwrap();
    add_fault(&app, json!({"kind": "server_error", "api": "cancel", "calls": 1, "status": 504, "applied": true})).await;
    let pending = app
        .client
        .post(app.url(&format!("/v1/payments/{id}/cancel")))
        .bearer_auth(&key)
        .json(&json!({"amount": 10000, "reason": "반품"}))
        .send()
        .await
        .unwrap();
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
    let pending: Value = pending.json().await.unwrap();
    assert_eq!(pending["pendingCancelAmount"], 10000);
    let done = settled(&app, &key, id, Duration::from_secs(10)).await;
    assert_eq!(done["status"], "partially_cancelled", "{done}");
    assert_eq!(done["cancelledAmount"], 10000);
}

#[tokio::test]
async fn expired_checkouts_refuse_payment() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("reconcile_interval_ms", "100")]).await;
    let key = demo_key(&app);
    let mut body = order(20000);
    body["expiresInSeconds"] = json!(60);
    let checkout: Value = create(&app, &key, &body).await.json().await.unwrap();
    let id = checkout["id"].as_str().unwrap();
    let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    // Move the expiry into the past, as if the shopper had waited too long.
    crate::support::execute_sql(
        &app,
        "UPDATE payments SET expires_at = ? WHERE id = ?",
        vec![
            (time::OffsetDateTime::now_utc() - time::Duration::seconds(1)).into(),
            id.into(),
        ],
    )
    .await;
    app.client.get(&return_url).send().await.unwrap();
    let expired = payment(&app, &key, id).await;
    assert_eq!(expired["status"], "expired", "{expired}");
    let tid = query_param(&return_url, "tid").unwrap();
    assert_eq!(pay_calls(&app.url("/sandbox"), &tid).await, 0);
}

#[tokio::test]
async fn an_unknown_outcome_that_was_never_approved_ends_failed_after_the_grace() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("innopay_read_timeout_ms", "400"),
            ("reconcile_interval_ms", "150"),
            ("inquiry_grace_ms", "1500"),
        ],
    )
    .await;
    let key = demo_key(&app);
    add_fault(
        &app,
        json!({"kind": "server_error", "api": "pay", "calls": 1, "status": 503, "applied": false}),
    )
    .await;
    let checkout: Value = create(&app, &key, &order(20000))
        .await
        .json()
        .await
        .unwrap();
    let id = checkout["id"].as_str().unwrap();
    let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    app.client.get(&return_url).send().await.unwrap();
    assert_eq!(payment(&app, &key, id).await["status"], "unknown");
    let resolved = settled(&app, &key, id, Duration::from_secs(15)).await;
    assert_eq!(resolved["status"], "failed", "{resolved}");
    assert_eq!(
        event_types(&resolved),
        vec!["created", "approval_started", "outcome_unknown", "declined"],
        "inconclusive inquiries add no events"
    );
}

/// Two paydesk instances on one database, one standalone sandbox, 20 concurrent returns of the same
/// authentication: exactly one approval reaches Innopay and one payment is recorded.
#[tokio::test]
async fn concurrent_returns_across_instances_approve_once() {
    let standalone = StandaloneSandbox::start(&[("sandbox_merchant_key", "shared-key")]).await;
    let sandbox = standalone.url.clone();
    // PostgreSQL when available: that is the production set-up this must hold on.
    let backend = *backends().last().unwrap();
    let settings = [("innopay_api_url", sandbox.as_str()), ("sandbox", "false")];
    let first = TestApp::spawn_with(backend, &settings).await;
    let second = TestApp::spawn_beside(&first, &settings).await;
    let created = paydesk::storefronts::create(
        &first.state.store,
        &first.state.config,
        paydesk::storefronts::NewStorefront {
            name: "동시성 상점".into(),
            mid: "testpay01m".into(),
            merchant_key: paydesk::config::Secret::new("shared-key".into()),
            cancel_password: paydesk::config::Secret::new(
                paydesk::config::DEFAULT_SANDBOX_CANCEL_PASSWORD.into(),
            ),
        },
    )
    .await
    .unwrap();
    let key = created.api_key.expose().clone();

    for round in 0..3 {
        let checkout: Value = create(&first, &key, &order(20000 + round))
            .await
            .json()
            .await
            .unwrap();
        let id = checkout["id"].as_str().unwrap().to_string();
        let return_url = authorize(&first.client, &sandbox, &checkout, &[]).await;
        let tid = query_param(&return_url, "tid").unwrap();
        let path_and_query = return_url.strip_prefix(&first.base).unwrap().to_string();
        let returns = (0..20).map(|i| {
            let app = if i % 2 == 0 { &first } else { &second };
            app.client.get(app.url(&path_and_query)).send()
        });
        for response in futures_util::future::join_all(returns).await {
            assert_eq!(response.unwrap().status(), StatusCode::OK);
        }
        assert_eq!(
            pay_calls(&sandbox, &tid).await,
            1,
            "{backend:?} round {round}"
        );
        let paid = settled(&second, &key, &id, Duration::from_secs(10)).await;
        assert_eq!(paid["status"], "paid", "{paid}");
        assert_eq!(
            event_types(&paid).iter().filter(|t| *t == "paid").count(),
            1,
            "{paid}"
        );
    }
    standalone.stop().await;
}
