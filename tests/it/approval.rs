//! The shopper's way through the built-in sandbox, without a browser: authorize like the payment
//! window does, follow the redirect to paydesk's returnUrl, and check what was recorded, what Innopay
//! (the sandbox) was asked, and that no fault leaves a payment stuck or charged twice.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::checkout::{demo_key, new_checkout, order, storefront_key};
use crate::innopay::{add_fault, add_fault_at};
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

/// The approvals `sandbox` answered as approved, of any payment.
pub async fn approvals(sandbox: &str) -> usize {
    sandbox_calls(sandbox)
        .await
        .iter()
        .filter(|c| {
            c["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/v1/transactions/pay"))
                && c["outcome"]
                    .as_str()
                    .is_some_and(|o| o.starts_with("approved"))
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

/// paydesk's own result page for a checkout.
pub async fn result_page(app: &TestApp, id: &str) -> String {
    app.get(&format!("/checkout/{id}/result"))
        .await
        .text()
        .await
        .unwrap()
}

/// The shopper's checkout page (where a return without payment leads).
pub async fn checkout_page(app: &TestApp, id: &str) -> String {
    app.get(&format!("/checkout/{id}"))
        .await
        .text()
        .await
        .unwrap()
}

/// Two paydesk instances on one database (PostgreSQL when available: the production set-up) sharing
/// one standalone sandbox, and a storefront on its test merchant. The sandbox stops when dropped.
pub struct TwoInstances {
    pub first: TestApp,
    pub second: TestApp,
    /// The standalone sandbox's URL (`.../sandbox`).
    pub sandbox: String,
    /// The storefront's API key.
    pub key: String,
    pub backend: Backend,
    _sandbox: StandaloneSandbox,
}

impl TwoInstances {
    /// `extra` settings go to both instances.
    pub async fn start(extra: &[(&str, &str)]) -> Self {
        let standalone = StandaloneSandbox::start(&[("sandbox_merchant_key", "shared-key")]).await;
        let sandbox = standalone.url.clone();
        let backend = *backends().last().unwrap();
        let mut settings = vec![("innopay_api_url", sandbox.as_str()), ("sandbox", "false")];
        settings.extend_from_slice(extra);
        let first = TestApp::spawn_with(backend, &settings).await;
        let second = TestApp::spawn_beside(&first, &settings).await;
        let key = storefront_key(
            &first,
            "두 인스턴스 상점",
            "shared-key",
            paydesk::config::DEFAULT_SANDBOX_CANCEL_PASSWORD,
        )
        .await;
        Self {
            first,
            second,
            key,
            sandbox,
            backend,
            _sandbox: standalone,
        }
    }
}

/// Creates a checkout on `app`, authenticates it in `sandbox` and follows the return; returns the
/// payment id.
pub async fn checkout_and_return(app: &TestApp, sandbox: &str, key: &str, amount: i64) -> String {
    let checkout = new_checkout(app, key, &order(amount)).await;
    let return_url = authorize(&app.client, sandbox, &checkout, &[]).await;
    app.client.get(&return_url).send().await.unwrap();
    checkout["id"].as_str().unwrap().to_string()
}

/// Has Innopay decline `checkout`'s approval with `code` and `message` until paydesk ends it (a
/// declined checkout stays payable for a few more tries); returns the payment as it ends.
pub async fn declined_for_good(
    app: &TestApp,
    key: &str,
    checkout: &Value,
    code: &str,
    message: &str,
) -> Value {
    let id = checkout["id"].as_str().unwrap();
    for _ in 0..DECLINES_THAT_END_A_CHECKOUT {
        add_fault(
            app,
            json!({"kind": "decline", "api": "pay", "calls": 1, "code": code, "message": message}),
        )
        .await;
        let return_url = authorize(&app.client, &app.url("/sandbox"), checkout, &[]).await;
        app.client.get(&return_url).send().await.unwrap();
    }
    let failed = payment(app, key, id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    failed
}

/// How many declined approvals end a checkout (paydesk's `DECLINED_ATTEMPTS_MAX`).
pub const DECLINES_THAT_END_A_CHECKOUT: usize = 5;

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
        let checkout: Value = new_checkout(&app, &key, &order(20000)).await;
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
        let receipt = result_page(&app, id).await;
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
        let checkout: Value = new_checkout(&app, &key, &order(300000)).await;
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
        let page = result_page(&app, id).await;
        assert!(
            page.contains("결제 정보가 주문 내용과 일치하지 않아"),
            "{page}"
        );
    }
}

#[tokio::test]
async fn window_declines_and_shopper_cancels_leave_the_checkout_payable() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let checkout: Value = new_checkout(&app, &key, &order(20000)).await;
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
    let page = checkout_page(&app, id).await;
    assert!(page.contains("결제창에서 결제를 취소하셨습니다"), "{page}");

    // A decline in the window comes back unsigned: it proves nothing, so the checkout stays
    // payable, and the page explains it with our own articles, never the query's words.
    let declined = authorize(
        &app.client,
        &app.url("/sandbox"),
        &checkout,
        &[("scenario", "decline"), ("declineCode", "C001")],
    )
    .await;
    app.client.get(&declined).send().await.unwrap();
    let still = payment(&app, &key, id).await;
    assert_eq!(still["status"], "ready", "{still}");
    assert!(still["failure"].is_null(), "{still}");
    assert_eq!(event_types(&still).last().unwrap(), "window_not_completed");
    let page = checkout_page(&app, id).await;
    assert!(page.contains("결제가 완료되지 않았습니다"), "{page}");
    // The Paybook / 3Factor article comes first.
    let help = &page[page.find("help-suggestions").expect("a help box")..];
    let first_link = &help[help.find("href=\"").unwrap() + 6..];
    assert!(
        first_link.starts_with("/help/paybook-3factor-error"),
        "{help}"
    );

    // Innopay itself declining the approval (an authenticated answer) is the payment's failure,
    // with its words and the same article first, in the API and on the page; nothing was charged,
    // so the checkout is payable again.
    add_fault(&app, json!({"kind": "decline", "api": "pay", "calls": 1, "code": "C001", "message": "3Factor 인증 필요 ISP 공인인증 오류"})).await;
    let approved = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    app.client.get(&approved).send().await.unwrap();
    let failed = payment(&app, &key, id).await;
    assert_eq!(failed["status"], "ready");
    assert_eq!(failed["failure"]["code"], "C001");
    assert_eq!(
        failed["failure"]["message"],
        "3Factor 인증 필요 ISP 공인인증 오류"
    );
    assert_eq!(
        failed["failure"]["shopperMessage"],
        "결제가 승인되지 않았습니다: 3Factor 인증 필요 ISP 공인인증 오류"
    );
    assert_eq!(
        failed["failure"]["help"][0]["slug"], "paybook-3factor-error",
        "{failed}"
    );
    // The result page sends the shopper to the checkout page, which explains the decline and
    // offers another card.
    let result = app.get(&format!("/checkout/{id}/result")).await;
    assert_eq!(result.status(), StatusCode::SEE_OTHER);
    let page = checkout_page(&app, id).await;
    assert!(
        page.contains("3Factor 인증 필요 ISP 공인인증 오류"),
        "{page}"
    );
    assert!(page.contains("다른 카드로 결제"), "{page}");
    let help = &page[page.find("help-suggestions").expect("a help box")..];
    let first_link = &help[help.find("href=\"").unwrap() + 6..];
    assert!(
        first_link.starts_with("/help/paybook-3factor-error"),
        "{help}"
    );
    // Lists stay light: no help lookups per payment.
    let list: Value = app
        .client
        .get(app.url("/v1/payments?status=ready"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["failure"]["code"], "C001", "{list}");
    assert!(list["data"][0]["failure"]["help"].is_null(), "{list}");
}

/// A decline took no money: the shopper may try again (another card) and the approval that then
/// succeeds is the only one; declines past the limit end the checkout, in case it is card testing.
#[tokio::test]
async fn a_declined_approval_leaves_the_checkout_payable_until_the_declines_run_out() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    add_fault(&app, json!({"kind": "decline", "api": "pay", "calls": 1, "code": "3011", "message": "카드번호 오류"})).await;
    let checkout: Value = new_checkout(&app, &key, &order(20000)).await;
    let id = checkout["id"].as_str().unwrap();
    let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    app.client.get(&return_url).send().await.unwrap();
    let declined = payment(&app, &key, id).await;
    assert_eq!(declined["status"], "ready", "{declined}");
    assert_eq!(declined["failure"]["code"], "3011");
    assert_eq!(declined["failure"]["message"], "카드번호 오류");
    assert_eq!(
        event_types(&declined),
        vec!["created", "approval_started", "declined"]
    );
    // The same return again changes nothing: its token was spent on the declined attempt.
    app.client.get(&return_url).send().await.unwrap();
    // Another card: approved, once, and the failure is gone.
    let retry = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    app.client.get(&retry).send().await.unwrap();
    let paid = payment(&app, &key, id).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert!(paid["failure"].is_null(), "{paid}");
    let types = event_types(&paid);
    assert_eq!(
        types.iter().filter(|t| *t == "paid").count(),
        1,
        "{types:?}"
    );
    assert_eq!(approvals(&app.url("/sandbox")).await, 1);

    // Five declines end a checkout for good.
    let checkout: Value = new_checkout(&app, &key, &order(20000)).await;
    let id = checkout["id"].as_str().unwrap();
    for attempt in 1..=DECLINES_THAT_END_A_CHECKOUT {
        add_fault(&app, json!({"kind": "decline", "api": "pay", "calls": 1, "code": "C002", "message": "잔액이 부족합니다."})).await;
        let back = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
        app.client.get(&back).send().await.unwrap();
        let now = payment(&app, &key, id).await;
        let expected = if attempt < DECLINES_THAT_END_A_CHECKOUT {
            "ready"
        } else {
            "failed"
        };
        assert_eq!(now["status"], expected, "attempt {attempt}: {now}");
    }
    let refused = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    app.client.get(&refused).send().await.unwrap();
    assert_eq!(payment(&app, &key, id).await["status"], "failed");
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
            let checkout: Value = new_checkout(&app, &key, &order(20000)).await;
            let id = checkout["id"].as_str().unwrap();
            let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
            let tid = query_param(&return_url, "tid").unwrap();
            app.client.get(&return_url).send().await.unwrap();
            let page = result_page(&app, id).await;
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
        let checkout: Value = new_checkout(&app, &key, &order(20000)).await;
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
        let checkout: Value = new_checkout(&app, &key, &order(50000)).await;
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
    let checkout: Value = new_checkout(&app, &key, &order(30000)).await;
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
    let checkout: Value = new_checkout(&app, &key, &body).await;
    let id = checkout["id"].as_str().unwrap();
    let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    // The shopper waits past the expiry.
    app.clock.advance(time::Duration::seconds(61));
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
    let checkout: Value = new_checkout(&app, &key, &order(20000)).await;
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
    let two = TwoInstances::start(&[]).await;
    let (first, second, sandbox, key) = (&two.first, &two.second, &two.sandbox, &two.key);
    let backend = two.backend;

    for round in 0..3 {
        let checkout: Value = new_checkout(first, key, &order(20000 + round)).await;
        let id = checkout["id"].as_str().unwrap().to_string();
        let return_url = authorize(&first.client, sandbox, &checkout, &[]).await;
        let tid = query_param(&return_url, "tid").unwrap();
        let path_and_query = return_url.strip_prefix(&first.base).unwrap().to_string();
        let returns = (0..20).map(|i| {
            let app = if i % 2 == 0 { first } else { second };
            app.client.get(app.url(&path_and_query)).send()
        });
        for response in futures_util::future::join_all(returns).await {
            assert_eq!(response.unwrap().status(), StatusCode::OK);
        }
        assert_eq!(
            pay_calls(sandbox, &tid).await,
            1,
            "{backend:?} round {round}"
        );
        let paid = settled(second, key, &id, Duration::from_secs(10)).await;
        assert_eq!(paid["status"], "paid", "{paid}");
        assert_eq!(
            event_types(&paid).iter().filter(|t| *t == "paid").count(),
            1,
            "{paid}"
        );
    }
}

/// A cancel still on its way to Innopay is its request's to settle: the reconciler (here running every
/// 20 ms, on two instances) must not inquire meanwhile, see nothing cancelled yet, and release it
/// while Innopay carries it out.
#[tokio::test]
async fn the_reconciler_leaves_a_cancel_in_flight_to_its_request() {
    let two = TwoInstances::start(&[("reconcile_interval_ms", "20")]).await;
    let (first, second, key) = (&two.first, &two.second, &two.key);
    let id = checkout_and_return(first, &two.sandbox, key, 20000).await;
    assert_eq!(payment(first, key, &id).await["status"], "paid");
    add_fault_at(
        &two.sandbox,
        json!({"kind": "delay", "api": "cancel", "calls": 1, "ms": 600}),
    )
    .await;
    let cancelled: Value = first
        .client
        .post(first.url(&format!("/v1/payments/{id}/cancel")))
        .bearer_auth(key)
        .json(&json!({"amount": 5000, "reason": "반품"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "partially_cancelled", "{cancelled}");
    assert_eq!(cancelled["cancelledAmount"], 5000);
    let history = event_types(&payment(second, key, &id).await);
    assert_eq!(
        history[3..].to_vec(),
        vec!["cancel_requested", "partially_cancelled"]
    );
}
