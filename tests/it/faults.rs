//! Faults under load: Innopay (the sandbox) misbehaving in every way at once, the database stopped and
//! started again under traffic, and the server killed with many approvals in flight. Each ends with
//! every payment final, its history whole, and the money at Innopay matching what paydesk recorded.
//! docs/RELIABILITY.md records the outcomes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paydesk::config::ExposeSecret;
use paydesk::domain::Currency;
use paydesk::gateway::Outcome;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::approval::{authorize, sandbox_calls, settled, settled_at};
use crate::checkout::{demo_key, new_checkout, order};
use crate::innopay::{add_fault, add_fault_at, client_at, merchant};
use crate::support::{
    StandaloneSandbox, TestApp, TestDb, ThrowawayPostgres, backends, start_paydesk, whole_histories,
};

/// Innopay's answers are given up on, and unknown outcomes inquired about, within about a second,
/// so that a test sees every payment resolved in seconds.
const QUICK_RESOLUTION: [(&str, &str); 3] = [
    ("innopay_read_timeout_ms", "1000"),
    ("inquiry_grace_ms", "2500"),
    ("reconcile_interval_ms", "150"),
];

/// How many approvals of each tid the sandbox carried out.
async fn approvals_by_tid(sandbox: &str) -> HashMap<String, usize> {
    let mut approvals = HashMap::new();
    for call in sandbox_calls(sandbox).await {
        let approved = call["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("approved"));
        if approved
            && call["path"]
                .as_str()
                .unwrap()
                .ends_with("/v1/transactions/pay")
        {
            *approvals
                .entry(call["tid"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
    }
    approvals
}

/// Checks paydesk's record of a settled payment against Innopay's (the sandbox's) books.
async fn matches_innopay(sandbox: &str, payment: &Value) {
    let status = payment["status"].as_str().unwrap();
    let Some(tid) = payment["tid"].as_str() else {
        // Never authenticated to the end, or refused before approval: nothing to find at Innopay.
        assert!(matches!(status, "ready" | "failed"), "{payment}");
        return;
    };
    let inquiry = client_at(sandbox, 2000)
        .transaction(&merchant(), &tid.parse().unwrap(), Currency::Krw)
        .await;
    match (status, inquiry) {
        ("paid", Outcome::Done(approval)) => {
            assert_eq!(approval.status, 0, "{payment}");
            assert_eq!(approval.amt.minor(), payment["amount"].as_i64().unwrap());
        }
        ("cancelled", Outcome::Done(approval)) => {
            assert_eq!(
                approval.status, 1,
                "cancelled in full at Innopay: {payment}"
            );
        }
        ("failed" | "ready", Outcome::Declined { .. }) => {}
        (status, inquiry) => panic!("paydesk says {status}, Innopay says {inquiry:?}: {payment}"),
    }
}

/// Every kind of approval fault the sandbox has, several times each, on payments made concurrently.
#[tokio::test]
async fn every_sandbox_fault_ends_each_payment_final_and_charged_at_most_once() {
    let backend = *backends().last().unwrap();
    let app = TestApp::spawn_with(backend, &QUICK_RESOLUTION).await;
    let key = demo_key(&app);
    let sandbox = app.url("/sandbox");
    for fault in [
        json!({"kind": "delay", "ms": 1500}),
        json!({"kind": "drop_answer", "holdMs": 3000}),
        json!({"kind": "server_error", "status": 502, "applied": true}),
        json!({"kind": "server_error", "status": 503, "applied": false}),
        json!({"kind": "malformed", "applied": true}),
        json!({"kind": "malformed", "applied": false}),
        json!({"kind": "amount_mismatch"}),
        json!({"kind": "decline", "code": "3011", "message": "카드 한도 초과"}),
    ] {
        let mut fault = fault;
        fault["api"] = json!("pay");
        fault["calls"] = json!(3);
        add_fault(&app, fault).await;
    }
    let payments = futures_util::future::join_all((0..28).map(|i| {
        let (app, key, sandbox) = (&app, &key, &sandbox);
        async move {
            let checkout = new_checkout(app, key, &order(20000 + i)).await;
            let return_url = authorize(&app.client, sandbox, &checkout, &[]).await;
            let page = app.client.get(&return_url).send().await.unwrap();
            assert_eq!(page.status(), StatusCode::OK);
            checkout["id"].as_str().unwrap().to_string()
        }
    }))
    .await;

    let mut by_status: HashMap<String, usize> = HashMap::new();
    for id in &payments {
        let done = settled(&app, &key, id, Duration::from_secs(30)).await;
        matches_innopay(&sandbox, &done).await;
        *by_status
            .entry(done["status"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for (tid, count) in approvals_by_tid(&sandbox).await {
        assert_eq!(count, 1, "{tid} approved {count} times");
    }
    whole_histories(&app.db_url).await;
    eprintln!("{backend:?}: 28 payments under 8 fault kinds ended {by_status:?}");
    assert_eq!(
        by_status.get("cancelled"),
        Some(&3),
        "amount mismatches: {by_status:?}"
    );
    assert_eq!(
        by_status.get("ready"),
        Some(&3),
        "declines leave the checkout payable, nothing charged: {by_status:?}"
    );
    assert!(by_status.get("paid").copied().unwrap_or(0) >= 4 + 3 + 3 + 3);
}

/// What one load client saw.
#[derive(Default)]
struct Seen {
    /// (status, has Retry-After) of every API answer, with whether the database was down.
    answers: Vec<(u16, bool, bool)>,
    /// Checkouts answered 201.
    created: Vec<String>,
    /// Transport errors (the server did not answer at all).
    unanswered: usize,
}

/// PostgreSQL stopped (immediately, as in a crash) under a steady stream of checkouts and payments,
/// then started again: the API and /readyz answer 503 with Retry-After meanwhile, nothing is
/// half-written, and service comes back by itself.
#[tokio::test]
async fn postgres_stopped_under_load_answers_503_and_resumes_by_itself() {
    let Some(postgres) = ThrowawayPostgres::start() else {
        return;
    };
    let app = TestApp::spawn_on(&postgres.url(), None, &QUICK_RESOLUTION).await;
    let key = demo_key(&app);
    let sandbox = app.url("/sandbox");
    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop_at = Instant::now() + Duration::from_secs(14);
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let (client, base, key, sandbox) = (
                app.client.clone(),
                app.base.clone(),
                key.clone(),
                sandbox.clone(),
            );
            let (down, seen) = (down.clone(), seen.clone());
            tokio::spawn(async move {
                while Instant::now() < stop_at {
                    let response = client
                        .post(format!("{base}/v1/checkouts"))
                        .bearer_auth(&key)
                        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                        .json(&order(20000))
                        .send()
                        .await;
                    let was_down = down.load(std::sync::atomic::Ordering::SeqCst);
                    let Ok(response) = response else {
                        seen.lock().unwrap().unanswered += 1;
                        continue;
                    };
                    let status = response.status().as_u16();
                    let retry_after = response.headers().contains_key("retry-after");
                    seen.lock()
                        .unwrap()
                        .answers
                        .push((status, retry_after, was_down));
                    if status != 201 {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    let checkout: Value = response.json().await.unwrap();
                    seen.lock()
                        .unwrap()
                        .created
                        .push(checkout["id"].as_str().unwrap().to_string());
                    let return_url = authorize(&client, &sandbox, &checkout, &[]).await;
                    if client.get(&return_url).send().await.is_err() {
                        seen.lock().unwrap().unanswered += 1;
                    }
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(3)).await;
    postgres.stop();
    down.store(true, std::sync::atomic::Ordering::SeqCst);
    let probe = app.get("/readyz").await;
    assert_eq!(probe.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(probe.headers().contains_key("retry-after"));
    tokio::time::sleep(Duration::from_secs(4)).await;
    postgres.start_again();
    let restarted = Instant::now();
    let back = loop {
        if app.get("/readyz").await.status() == StatusCode::OK {
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(30),
            "never ready again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    down.store(false, std::sync::atomic::Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }

    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    assert_eq!(seen.unanswered, 0, "the server always answered");
    let during: Vec<_> = seen.answers.iter().filter(|a| a.2).collect();
    let after_down = seen.answers.iter().rposition(|a| a.2).unwrap_or(0);
    let after: Vec<_> = seen.answers[after_down + 1..].iter().collect();
    assert!(
        during.iter().any(|a| a.0 == 503),
        "some requests hit the outage"
    );
    for (status, retry_after, _) in &seen.answers {
        assert!(
            *status == 201 || (*status == 503 && *retry_after),
            "only 201, or 503 with Retry-After: got {status}"
        );
    }
    assert!(
        after.iter().any(|a| a.0 == 201),
        "checkouts are created again after the database returned"
    );

    // Every payment ends final; payments caught in the middle are resolved by the reconciler.
    for id in &seen.created {
        let done = settled(&app, &key, id, Duration::from_secs(30)).await;
        assert!(
            matches!(done["status"].as_str(), Some("paid" | "failed" | "ready")),
            "{done}"
        );
        matches_innopay(&sandbox, &done).await;
    }
    let histories = whole_histories(&app.db_url).await;
    for (tid, count) in approvals_by_tid(&sandbox).await {
        assert_eq!(count, 1, "{tid} approved {count} times");
    }
    let count = |status: &str| histories.iter().filter(|(_, s)| s == status).count();
    eprintln!(
        "PostgreSQL outage: {} answers ({} while down: {} x 503), ready {back:?} after restart; \
         {} payments: {} paid, {} failed, {} ready",
        seen.answers.len(),
        during.len(),
        during.iter().filter(|a| a.0 == 503).count(),
        histories.len(),
        count("paid"),
        count("failed"),
        count("ready"),
    );
}

/// Ten approvals in flight when the server is killed (SIGKILL): six that Innopay carried out (their
/// answers held back) and four it never received in full. A new instance resolves all ten: paid for
/// the six, failed after the inquiry grace for the four, none left `approving`, each approved once.
#[tokio::test]
async fn a_server_killed_with_many_approvals_in_flight_leaves_none_approving() {
    let standalone = StandaloneSandbox::start(&[]).await;
    let sandbox = standalone.url.clone();
    let db = TestDb::create(*backends().last().unwrap()).await;
    let config = paydesk::Config::with_overrides([
        ("innopay_api_url", sandbox.as_str()),
        ("secret_key", crate::support::TEST_SECRET_KEY),
    ])
    .unwrap();
    let store = paydesk::store::Store::connect(&db.url.parse().unwrap(), 2)
        .await
        .unwrap()
        .with_secrets(paydesk::secrets::Secrets::load(&config).unwrap());
    store.migrate_up().await.unwrap();
    let key = paydesk::storefronts::create(
        &store,
        &config,
        paydesk::storefronts::NewStorefront {
            name: "재시작 상점".into(),
            mid: "testpay01m".into(),
            merchant_key: paydesk::config::SecretString::from(
                paydesk::config::DEFAULT_SANDBOX_MERCHANT_KEY,
            ),
            cancel_password: paydesk::config::SecretString::from(
                paydesk::config::DEFAULT_SANDBOX_CANCEL_PASSWORD,
            ),
        },
    )
    .await
    .unwrap()
    .api_key
    .expose_secret()
    .to_string();
    store.close().await;
    let env = |read_timeout_ms: &str| -> Vec<(&'static str, String)> {
        vec![
            ("PAYDESK_DATABASE_URL", db.url.clone()),
            ("PAYDESK_INNOPAY_API_URL", sandbox.clone()),
            ("PAYDESK_SANDBOX", "false".into()),
            ("PAYDESK_INNOPAY_READ_TIMEOUT_MS", read_timeout_ms.into()),
            // Longer than the 60 s read timeout, as the configuration requires.
            ("PAYDESK_IDLE_TIMEOUT_SECS", "90".into()),
            ("PAYDESK_INQUIRY_GRACE_MS", "3000".into()),
            ("PAYDESK_RECONCILE_INTERVAL_MS", "200".into()),
            // The instance that died is known dead: no need to wait 15 s for it.
            ("PAYDESK_CALL_STALE_MARGIN_MS", "500".into()),
        ]
    };
    // The first instance waits long for Innopay, so the approvals are still in flight when it dies.
    let first_env = env("60000");
    let first_env: Vec<(&str, &str)> = first_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = start_paydesk(&first_env);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for fault in [
        json!({"kind": "drop_answer", "api": "pay", "calls": 6, "holdMs": 120000}),
        json!({"kind": "delay", "api": "pay", "calls": 4, "ms": 120000}),
    ] {
        add_fault_at(&sandbox, fault).await;
    }
    let mut ids = Vec::new();
    let mut returns = Vec::new();
    for i in 0..10 {
        let checkout: Value = client
            .post(format!("{}/v1/checkouts", first.base))
            .bearer_auth(&key)
            .json(&order(20000 + i))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(checkout["id"].as_str().unwrap().to_string());
        returns.push(authorize(&client, &sandbox, &checkout, &[]).await);
    }
    let in_flight: Vec<_> = returns
        .iter()
        .map(|url| tokio::spawn(client.get(url).send()))
        .collect();
    // Wait until all ten approvals reached the sandbox (both faults used up, the six recorded as
    // approved while their answers are held), then kill the instance waiting for them.
    let started = Instant::now();
    loop {
        let faults: Value = client
            .get(format!("{sandbox}/_control/faults"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let approved: usize = approvals_by_tid(&sandbox).await.values().sum();
        if faults.as_array().is_some_and(Vec::is_empty) && approved == 6 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "approvals never all reached the sandbox: {approved} approved, faults left {faults}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    for call in in_flight {
        let _ = call.await;
    }

    let second_env = env("1000");
    let second_env: Vec<(&str, &str)> = second_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let second = start_paydesk(&second_env);
    let mut by_status: HashMap<String, usize> = HashMap::new();
    for id in &ids {
        let done = settled_at(&client, &second.base, &key, id, Duration::from_secs(40)).await;
        matches_innopay(&sandbox, &done).await;
        let types: Vec<&str> = done["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        let last = if done["status"] == "paid" {
            "paid"
        } else {
            "declined"
        };
        assert_eq!(types, vec!["created", "approval_started", last], "{done}");
        assert_eq!(done["events"][2]["cause"], "reconciler");
        *by_status
            .entry(done["status"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for (tid, count) in approvals_by_tid(&sandbox).await {
        assert_eq!(count, 1, "{tid} approved {count} times");
    }
    whole_histories(&db.url).await;
    // What the storefront is told: one event per payment, the one its outcome calls for (events
    // are listed once they are two seconds old).
    for id in &ids {
        let started = Instant::now();
        let events = loop {
            let page: Value = client
                .get(format!("{}/v1/events?paymentId={id}", second.base))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let Some(events) = page["data"].as_array().cloned() else {
                panic!("{id}: {page}");
            };
            if !events.is_empty() || started.elapsed() > Duration::from_secs(10) {
                break events;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert!(
            types == ["payment.paid"] || types == ["payment.failed"],
            "{id}: {types:?}"
        );
    }
    assert_eq!(by_status.get("paid"), Some(&6), "{by_status:?}");
    assert_eq!(by_status.get("failed"), Some(&4), "{by_status:?}");
    second.kill();
    standalone.stop().await;
}
