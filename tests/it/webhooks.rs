//! Webhooks to a real HTTP receiver on port 0: Standard Webhooks signatures (also across a secret
//! rotation), exactly-once delivery across two instances with sequences in order per payment, an
//! outage survived with every attempt logged, giving up, 410 Gone, redirects not followed, the
//! catch-up list of events, redelivery, and tenant isolation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{KeyInit, Mac};
use poem::http::StatusCode as PoemStatus;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{EndpointExt, IntoResponse, Request, Response, Route, Server, handler};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::approval::{TwoInstances, checkout_and_return, payment, settled};
use crate::checkout::{demo_key, other_storefront_key};
use crate::support::{Backend, TestApp, backends, error_body, execute_sql};
use paydesk::config::ExposeSecret;

/// A payment paid, partly cancelled, then cancelled, as the storefront hears it.
pub const PAID_PART_CANCELLED: [&str; 3] = [
    "payment.paid",
    "payment.partially_cancelled",
    "payment.cancelled",
];

/// Fast polling and a retry schedule a thousand times shorter (30 ms, 60 ms, ... giving up after
/// about four minutes instead of three days).
pub const FAST: [(&str, &str); 3] = [
    ("webhook_poll_ms", "50"),
    ("webhook_retry_scale", "0.001"),
    // Events are listed 100 ms after they are written instead of 2 s (the rule itself is tested
    // with an explicit `now` in `an_event_is_listed_only_once_it_has_settled`).
    ("webhook_event_settle_ms", "100"),
];

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    pub json: Value,
}

/// How the receiver answers.
#[derive(Clone)]
pub enum Answer {
    Status(u16),
    RedirectTo(String),
}

#[derive(Clone)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    answer: Answer,
}

#[handler]
async fn record_hook(req: &Request, body: String, Data(state): Data<&ReceiverState>) -> Response {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    state.received.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        json: serde_json::from_str(&body).unwrap_or(Value::Null),
        body,
    });
    match &state.answer {
        Answer::Status(status) => {
            ().with_status(PoemStatus::from_u16(*status).unwrap())
                .into_response()
        }
        Answer::RedirectTo(url) => {
            ().with_status(PoemStatus::FOUND)
                .with_header("location", url.as_str())
                .into_response()
        }
    }
}

/// A storefront's webhook endpoint: a real HTTP server that records every request.
pub struct WebhookReceiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl WebhookReceiver {
    pub async fn start(answer: Answer) -> Self {
        Self::start_on(0, answer).await
    }

    /// On a given port (0: any free one).
    pub async fn start_on(port: u16, answer: Answer) -> Self {
        let acceptor = TcpListener::bind(format!("127.0.0.1:{port}"))
            .into_acceptor()
            .await
            .unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let endpoint = Route::new()
            .at("/hooks", poem::post(record_hook))
            .data(ReceiverState {
                received: received.clone(),
                answer,
            });
        tokio::spawn(Server::new_with_acceptor(acceptor).run(endpoint));
        Self {
            url: format!("http://{addr}/hooks"),
            received,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `count` requests arrived (failing after `limit`) and returns them all. Whether
    /// more will come is `settled`'s to say.
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Received> {
        let started = Instant::now();
        while self.received().len() < count {
            assert!(
                started.elapsed() < limit,
                "only {} of {count} webhooks arrived: {:?}",
                self.received().len(),
                self.received()
                    .iter()
                    .map(|r| r.json["type"].clone())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.received()
    }

    /// Everything received once `app` has nothing left to send for `key`: every delivery is
    /// finished (delivered or given up), so nothing more can arrive, and a request sent twice would
    /// be among these. Asked of the server's delivery log, not of a pause.
    pub async fn settled(&self, app: &TestApp, key: &str) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let log = deliveries(app, key).await;
            if log.iter().all(|d| d["status"] != "pending") {
                return self.received();
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "deliveries still pending: {log:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The event types received, in arrival order.
    pub fn types(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|r| r.json["type"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// How many requests arrived per `webhook-id`.
    pub fn counts_by_id(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for r in self.received() {
            *counts.entry(r.id).or_insert(0) += 1;
        }
        counts
    }
}

/// A port nothing listens on: bound, then released (connection refused until someone binds it).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Standard Webhooks verification, written independently of paydesk's signing code: some
/// `v1,<signature>` in the header must be the HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed by the
/// bytes of the `whsec_` secret.
pub fn verifies(secret: &str, r: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    r.signature
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

pub async fn set_endpoint(app: &TestApp, key: &str, url: &str) -> Value {
    let response = app
        .client
        .put(app.url("/v1/webhook-endpoint"))
        .bearer_auth(key)
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn status_and_json(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn get_json(app: &TestApp, key: &str, path: &str) -> (StatusCode, Value) {
    status_and_json(app.client.get(app.url(path)).bearer_auth(key)).await
}

/// Waits (bounded: 15 s) until the embedded sandbox has at least `count` Noti and has read `0000`
/// for each: from then on it sends none of them again.
pub async fn sandbox_notis_delivered(app: &TestApp, count: usize) {
    let started = Instant::now();
    loop {
        let notis = crate::innopay::control(app, "notis").await;
        let notis = notis.as_array().unwrap();
        if notis.len() >= count && notis.iter().all(|n| n["delivered"] == true) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{notis:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `GET /v1/events{query}` once it lists at least `count` events (bounded: 10 s), for tests whose
/// events must first settle.
pub async fn events_listed(app: &TestApp, key: &str, query: &str, count: usize) -> Value {
    let started = Instant::now();
    loop {
        let (status, page) = get_json(app, key, &format!("/v1/events{query}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        if page["data"].as_array().unwrap().len() >= count {
            return page;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "only {} of {count} events listed: {page}",
            page["data"].as_array().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn post_json(app: &TestApp, key: &str, path: &str) -> (StatusCode, Value) {
    status_and_json(app.client.post(app.url(path)).bearer_auth(key)).await
}

/// A payment paid through `sandbox`.
pub async fn pay_at(app: &TestApp, sandbox: &str, key: &str, amount: i64) -> String {
    let id = checkout_and_return(app, sandbox, key, amount).await;
    assert_eq!(payment(app, key, &id).await["status"], "paid");
    id
}

pub async fn pay(app: &TestApp, key: &str, amount: i64) -> String {
    pay_at(app, &app.url("/sandbox"), key, amount).await
}

pub async fn cancel(app: &TestApp, key: &str, id: &str, amount: Option<i64>) {
    let response = app
        .client
        .post(app.url(&format!("/v1/payments/{id}/cancel")))
        .bearer_auth(key)
        .json(&json!({"amount": amount, "reason": "반품"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
}

/// The delivery log, newest first.
pub async fn deliveries(app: &TestApp, key: &str) -> Vec<Value> {
    let (status, body) = get_json(app, key, "/v1/webhook-deliveries?limit=100").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_paid_payment_delivers_one_signed_payment_paid_on_the_embedded_default() {
    let app = TestApp::spawn_with(Backend::Sqlite, &FAST).await;
    let key = demo_key(&app);
    let receiver = WebhookReceiver::start(Answer::Status(200)).await;
    let endpoint = set_endpoint(&app, &key, &receiver.url).await;
    assert_eq!(endpoint["enabled"], true);
    let secret = endpoint["signingSecret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let stored = paydesk::storefronts::find(&app.state.store, "sf_demo")
        .await
        .unwrap();
    assert_eq!(stored.signing_secret.expose_secret(), &secret);

    let id = pay(&app, &key, 20000).await;
    // The sandbox also sends its paid Noti for this approval: it must not publish anything again.
    receiver.wait_for(1, Duration::from_secs(10)).await;
    // Judged `duplicate`, or `deferred` while the approval was still being recorded and then
    // resent: either way done once the sandbox has read a 0000.
    sandbox_notis_delivered(&app, 1).await;
    let received = receiver.settled(&app, &key).await;
    assert_eq!(received.len(), 1, "{received:?}");
    let hook = &received[0];
    assert!(
        verifies(&secret, hook),
        "signature does not verify: {hook:?}"
    );
    assert!(!verifies("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", hook));
    assert_eq!(hook.json["type"], "payment.paid");
    assert_eq!(hook.json["id"], hook.id.as_str());
    assert!(hook.id.starts_with("evt_"));
    assert_eq!(hook.json["data"]["id"], id.as_str());
    assert_eq!(hook.json["data"]["status"], "paid");
    assert_eq!(hook.json["data"]["totalAmount"], 20000);
    assert_eq!(
        hook.json["data"]["sequence"], 3,
        "created, approval_started, paid"
    );
    let sent_at: i64 = hook.timestamp.parse().unwrap();
    assert!((time::OffsetDateTime::now_utc().unix_timestamp() - sent_at).abs() < 30);

    let log = deliveries(&app, &key).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["eventId"], hook.id.as_str());
    assert_eq!(log[0]["eventType"], "payment.paid");
    assert_eq!(log[0]["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(log[0]["attempts"][0]["statusCode"], 200);
    assert!(log[0]["attempts"][0]["durationMs"].is_i64());
    assert_eq!(log[0]["attempts"][0]["url"], receiver.url.as_str());
}

/// Two instances on one database (PostgreSQL when available), one standalone sandbox, 50 payments
/// each paid, partly cancelled and cancelled through either instance: 150 events, each delivered
/// exactly once, each payment's in sequence order; the same 150 listed by `GET /v1/events`.
#[tokio::test]
async fn two_instances_deliver_every_event_exactly_once_in_sequence_order() {
    // Both talk to a standalone sandbox as to Innopay, which would refuse a local receiver.
    let two = TwoInstances::start(&[
        FAST[0],
        FAST[1],
        FAST[2],
        ("webhook_private_networks", "true"),
    ])
    .await;
    let (first, second, sandbox, key) = (&two.first, &two.second, &two.sandbox, &two.key);
    let backend = two.backend;
    let receiver = WebhookReceiver::start(Answer::Status(200)).await;
    let secret = set_endpoint(second, key, &receiver.url).await["signingSecret"]
        .as_str()
        .unwrap()
        .to_string();

    const PAYMENTS: usize = 50;
    let mut ids = Vec::new();
    for chunk in 0..PAYMENTS / 10 {
        let journeys = (0..10).map(|i| {
            let (app, other) = if (chunk * 10 + i) % 2 == 0 {
                (first, second)
            } else {
                (second, first)
            };
            let (sandbox, key) = (sandbox.as_str(), key.as_str());
            async move {
                let id = pay_at(app, sandbox, key, 20000).await;
                cancel(other, key, &id, Some(5000)).await;
                cancel(app, key, &id, None).await;
                id
            }
        });
        ids.extend(futures_util::future::join_all(journeys).await);
    }

    receiver
        .wait_for(3 * PAYMENTS, Duration::from_secs(90))
        .await;
    let received = receiver.settled(first, key).await;
    assert_eq!(received.len(), 3 * PAYMENTS, "{backend:?}: no event twice");
    assert!(
        receiver.counts_by_id().values().all(|&n| n == 1),
        "{backend:?}: every webhook-id exactly once"
    );
    assert!(received.iter().all(|r| verifies(&secret, r)));
    for id in &ids {
        let mine: Vec<&Received> = received
            .iter()
            .filter(|r| r.json["data"]["id"] == id.as_str())
            .collect();
        let sequences: Vec<i64> = mine
            .iter()
            .map(|r| r.json["data"]["sequence"].as_i64().unwrap())
            .collect();
        let types: Vec<&str> = mine
            .iter()
            .map(|r| r.json["type"].as_str().unwrap())
            .collect();
        assert_eq!(sequences, vec![3, 5, 7], "{id}: arrival order");
        assert_eq!(types, PAID_PART_CANCELLED);
    }

    // The catch-up list has the same 150 events, oldest first, over two pages.
    let page = events_listed(first, key, "?limit=100", 100).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 100);
    assert_eq!(page["hasMore"], true);
    let cursor = page["nextCursor"].as_str().unwrap();
    let (_, rest) = get_json(second, key, &format!("/v1/events?limit=100&after={cursor}")).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 50);
    assert_eq!(rest["hasMore"], false);
    let mut listed: Vec<String> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["data"].as_array().unwrap())
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let mut delivered: Vec<String> = received.iter().map(|r| r.id.clone()).collect();
    listed.sort();
    delivered.sort();
    assert_eq!(listed, delivered);
}

#[tokio::test]
async fn events_survive_a_receiver_outage_and_the_log_shows_every_attempt() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &FAST).await;
        let key = demo_key(&app);
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}/hooks");
        set_endpoint(&app, &key, &url).await;
        let mut ids = Vec::new();
        for amount in [11000, 12000, 13000] {
            ids.push(pay(&app, &key, amount).await);
        }

        // Connection refused, again and again: every delivery keeps being tried.
        let started = Instant::now();
        loop {
            let log = deliveries(&app, &key).await;
            if log.len() == 3
                && log
                    .iter()
                    .all(|d| d["attempts"].as_array().unwrap().len() >= 2)
            {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "{log:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let receiver = WebhookReceiver::start_on(port, Answer::Status(204)).await;
        receiver.wait_for(3, Duration::from_secs(15)).await;
        let received = receiver.settled(&app, &key).await;
        assert_eq!(received.len(), 3, "{backend:?}: none twice");
        assert!(receiver.counts_by_id().values().all(|&n| n == 1));
        let mut paid: Vec<&str> = received
            .iter()
            .map(|r| r.json["data"]["id"].as_str().unwrap())
            .collect();
        paid.sort();
        ids.sort();
        assert_eq!(paid, ids);

        for delivery in deliveries(&app, &key).await {
            assert_eq!(delivery["status"], "delivered", "{delivery}");
            let attempts = delivery["attempts"].as_array().unwrap();
            let (last, failed) = attempts.split_last().unwrap();
            assert!(failed.len() >= 2, "{delivery}");
            for attempt in failed {
                assert!(attempt["statusCode"].is_null(), "{attempt}");
                assert!(
                    attempt["error"]
                        .as_str()
                        .unwrap()
                        .starts_with("connection failed"),
                    "{attempt}"
                );
                assert_eq!(attempt["url"], url.as_str());
            }
            assert_eq!(last["statusCode"], 204);
            assert!(last["error"].is_null());
            let times: Vec<&str> = attempts
                .iter()
                .map(|a| a["attemptedAt"].as_str().unwrap())
                .collect();
            assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        }
    }
}

/// A declined payment's events carry its failure without help links, as the document allows: the
/// event list reads them back, and the webhooks have them. A decline that leaves the checkout
/// payable is `payment.declined`; the one that ends it, `payment.failed`. (`help` was required by
/// the schema but left out when empty, so listing the events of a storefront with a failed payment
/// answered 500.)
#[tokio::test]
async fn a_failed_payments_event_is_listed_and_delivered_as_documented() {
    let app = TestApp::spawn_with(Backend::Sqlite, &FAST).await;
    let key = demo_key(&app);
    let receiver = WebhookReceiver::start(Answer::Status(200)).await;
    set_endpoint(&app, &key, &receiver.url).await;
    let checkout = crate::checkout::new_checkout(&app, &key, &crate::checkout::order(20000)).await;
    crate::approval::declined_for_good(
        &app,
        &key,
        &checkout,
        "C001",
        "3Factor 인증 필요 ISP 공인인증 오류",
    )
    .await;
    let declines = crate::approval::DECLINES_THAT_END_A_CHECKOUT;
    let hooks = receiver.wait_for(declines, Duration::from_secs(10)).await;
    let types: Vec<&str> = hooks
        .iter()
        .map(|h| h.json["type"].as_str().unwrap())
        .collect();
    let mut expected = vec!["payment.declined"; declines - 1];
    expected.push("payment.failed");
    assert_eq!(types, expected);
    for hook in &hooks {
        assert_eq!(hook.json["data"]["failure"]["code"], "C001");
        assert!(hook.json["data"]["failure"].get("help").is_none());
    }
    assert_eq!(hooks[0].json["data"]["status"], "ready");

    let events = events_listed(&app, &key, "", declines).await;
    let listed: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(listed, expected, "{events}");
    assert_eq!(
        events["data"][declines - 1]["data"]["failure"]["code"],
        "C001"
    );
}

/// A server that refuses private networks (the default once it talks to Innopay) never posts to
/// the operator's own network: IP literals are refused when set, a name that resolves only to
/// private addresses is tried and logged as such, and an address stored before is not sent to.
#[tokio::test]
async fn webhooks_to_private_addresses_are_refused_when_private_networks_are() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("webhook_poll_ms", "50"),
            ("webhook_retry_scale", "0.001"),
            ("webhook_private_networks", "false"),
        ],
    )
    .await;
    let key = demo_key(&app);
    let receiver = WebhookReceiver::start(Answer::Status(200)).await;
    let port = url::Url::parse(&receiver.url).unwrap().port().unwrap();
    for refused in [
        receiver.url.clone(),
        "http://[::1]/hooks".to_string(),
        "https://169.254.169.254/latest/meta-data".to_string(),
    ] {
        let response = app
            .client
            .put(app.url("/v1/webhook-endpoint"))
            .bearer_auth(&key)
            .json(&json!({ "url": refused }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{refused}");
        let error = error_body(response).await;
        assert_eq!(error["code"], "webhook_url_not_public", "{error}");
        assert_eq!(error["param"], "url");
    }

    set_endpoint(&app, &key, &format!("http://localhost:{port}/hooks")).await;
    pay(&app, &key, 20000).await;
    let attempted = |log: &[Value]| {
        log.iter()
            .filter_map(|d| d["attempts"][0]["error"].as_str().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let started = Instant::now();
    while attempted(&deliveries(&app, &key).await).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    execute_sql(
        &app,
        &format!("UPDATE webhook_endpoints SET url = 'http://127.0.0.1:{port}/hooks'"),
        vec![],
    )
    .await;
    pay(&app, &key, 21000).await;
    let started = Instant::now();
    let errors = loop {
        let errors = attempted(&deliveries(&app, &key).await);
        if errors.len() == 2 || started.elapsed() > Duration::from_secs(10) {
            break errors;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        errors
            .iter()
            .any(|e| e.contains("localhost resolves to no public address")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("not sent: url points at 127.0.0.1")),
        "{errors:?}"
    );
    assert!(receiver.received().is_empty());
}

/// Waits (bounded) until the app's delivery worker has nothing due and nothing in flight by the app's
/// clock: every attempt the current time calls for has been made.
async fn worker_caught_up(app: &TestApp) {
    use paydesk::store::webhooks::{DeliveryFilter, DeliveryStatus};
    let store = &app.state.store;
    let pending = DeliveryFilter {
        status: Some(DeliveryStatus::Pending),
        limit: 1000,
        ..Default::default()
    };
    let started = Instant::now();
    loop {
        let now = store.now();
        let due = store.due_webhook_deliveries(now, 1).await.unwrap();
        let leased = store
            .webhook_deliveries("sf_demo", &pending)
            .await
            .unwrap()
            .iter()
            .any(|d| d.lease_until.is_some_and(|until| until > now));
        if due.is_empty() && !leased {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the delivery worker never caught up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A receiver down for a whole day misses nothing. The real retry schedule runs on the app's
/// clock, which the test moves through the day in five-minute steps, letting the worker catch up at
/// each; payments are paid, part-cancelled and cancelled through its first half. When the receiver
/// comes back, no delivery has been given up, and every event arrives once, each payment's in
/// sequence order. It prints the figures `docs/RELIABILITY.md` records.
#[tokio::test]
async fn a_receiver_down_for_a_simulated_day_gets_every_event_afterwards_in_order() {
    let step = time::Duration::minutes(5);
    let steps_per_day = 24 * 12;
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &[("webhook_poll_ms", "20")]).await;
        let key = demo_key(&app);
        let port = free_port();
        set_endpoint(&app, &key, &format!("http://127.0.0.1:{port}/hooks")).await;
        let outage = Instant::now();
        let mut ids = Vec::new();
        for step_no in 0..steps_per_day {
            // A payment every three hours through the first half of the day.
            if step_no % 36 == 0 && ids.len() < 4 {
                let amount = 11000 + 1000 * ids.len() as i64;
                let id = pay(&app, &key, amount).await;
                cancel(&app, &key, &id, Some(1000)).await;
                cancel(&app, &key, &id, None).await;
                ids.push(id);
            }
            worker_caught_up(&app).await;
            app.clock.advance(step);
        }
        worker_caught_up(&app).await;

        let log = deliveries(&app, &key).await;
        assert_eq!(log.len(), 12, "{backend:?}: one delivery per event");
        assert!(
            log.iter().all(|d| d["status"] == "pending"),
            "{backend:?}: none given up within the day: {log:?}"
        );
        let mut attempts: Vec<usize> = log
            .iter()
            .map(|d| d["attempts"].as_array().unwrap().len())
            .filter(|&n| n > 0)
            .collect();
        attempts.sort();
        // Only each payment's first event is tried: the later ones wait their turn.
        assert_eq!(attempts.len(), 4, "{backend:?}: {log:?}");
        assert!(attempts[3] >= 10, "{backend:?}: attempts {attempts:?}");

        let back = Instant::now();
        let receiver = WebhookReceiver::start_on(port, Answer::Status(204)).await;
        // Each payment's next attempt is at most 6 h (+25 % jitter) away; the rest follow at once.
        let mut waited = time::Duration::ZERO;
        while receiver.received().len() < 12 && waited < time::Duration::hours(8) {
            app.clock.advance(step);
            waited += step;
            worker_caught_up(&app).await;
        }
        let received = receiver.settled(&app, &key).await;
        assert_eq!(received.len(), 12, "{backend:?}: none twice");
        assert!(receiver.counts_by_id().values().all(|&n| n == 1));
        for id in &ids {
            let mine: Vec<(i64, &str)> = received
                .iter()
                .filter(|r| r.json["data"]["id"] == id.as_str())
                .map(|r| {
                    (
                        r.json["data"]["sequence"].as_i64().unwrap(),
                        r.json["type"].as_str().unwrap(),
                    )
                })
                .collect();
            let types: Vec<&str> = mine.iter().map(|(_, t)| *t).collect();
            assert_eq!(
                types,
                [
                    "payment.paid",
                    "payment.partially_cancelled",
                    "payment.cancelled"
                ],
                "{backend:?} {id}: arrival order"
            );
            assert!(
                mine.windows(2).all(|w| w[0].0 < w[1].0),
                "{backend:?} {id}: sequences {mine:?}"
            );
        }
        eprintln!(
            "simulated day ({backend:?}): 24 h of outage on the app's clock in {:.1} s; attempts \
             of each payment's first delivery during it {attempts:?}; all 12 events arrived \
             within {} min of app time after the receiver came back",
            (back - outage).as_secs_f64(),
            waited.whole_minutes()
        );
    }
}

/// A delivery that never succeeds is given up when the schedule runs out; the payment's next event,
/// held back until then, follows.
#[tokio::test]
async fn a_delivery_is_given_up_after_the_schedule_and_the_next_event_follows() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("webhook_poll_ms", "20")]).await;
    let key = demo_key(&app);
    set_endpoint(
        &app,
        &key,
        &format!("http://127.0.0.1:{}/hooks", free_port()),
    )
    .await;
    let id = pay(&app, &key, 20000).await;
    cancel(&app, &key, &id, Some(1000)).await;

    worker_caught_up(&app).await;
    let log = deliveries(&app, &key).await;
    let by_type =
        |log: &[Value], t: &str| log.iter().find(|d| d["eventType"] == t).cloned().unwrap();
    let paid = by_type(&log, "payment.paid");
    let partial = by_type(&log, "payment.partially_cancelled");
    assert_eq!(paid["status"], "pending");
    assert!(!paid["attempts"].as_array().unwrap().is_empty());
    assert_eq!(
        partial["attempts"].as_array().unwrap().len(),
        0,
        "sequence 5 waits while sequence 3 is pending"
    );

    // Three days and a bit on the app's clock, an hour at a time.
    for _ in 0..(3 * 24 + 7) {
        app.clock.advance(time::Duration::hours(1));
        worker_caught_up(&app).await;
    }
    {
        let log = deliveries(&app, &key).await;
        let paid = by_type(&log, "payment.paid");
        let partial = by_type(&log, "payment.partially_cancelled");
        assert_eq!(paid["status"], "failed", "{log:?}");
        assert!(paid["finishedAt"].is_string());
        assert!(paid["nextAttemptAt"].is_null());
        let first_partial = partial["attempts"][0]["attemptedAt"].as_str().unwrap();
        assert!(first_partial >= paid["finishedAt"].as_str().unwrap());
    }
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_redelivery_resends_the_same_event() {
    let app = TestApp::spawn_with(Backend::Sqlite, &FAST).await;
    let key = demo_key(&app);
    let gone = WebhookReceiver::start(Answer::Status(410)).await;
    set_endpoint(&app, &key, &gone.url).await;
    pay(&app, &key, 20000).await;
    gone.wait_for(1, Duration::from_secs(10)).await;

    let (_, endpoint) = get_json(&app, &key, "/v1/webhook-endpoint").await;
    assert_eq!(endpoint["enabled"], false, "{endpoint}");
    assert!(
        endpoint["disabledReason"]
            .as_str()
            .unwrap()
            .contains("410 Gone")
    );
    let log = deliveries(&app, &key).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "failed", "410 is not retried");
    assert_eq!(log[0]["attempts"][0]["statusCode"], 410);

    // While disabled nothing is sent, but every event is still listed.
    pay(&app, &key, 21000).await;
    // Deliveries are written with their event: once the event is listed, none was made for it.
    let events = events_listed(&app, &key, "", 2).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 2);
    assert_eq!(deliveries(&app, &key).await.len(), 1);
    assert_eq!(gone.received().len(), 1);

    let redeliver = |id: String| {
        app.client
            .post(app.url(&format!("/v1/webhook-deliveries/{id}/redeliver")))
            .bearer_auth(&key)
            .send()
    };
    let refused = redeliver(log[0]["id"].as_str().unwrap().to_string())
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert_eq!(
        error_body(refused).await["code"],
        "webhook_endpoint_disabled"
    );

    // Setting the endpoint again enables it; a redelivery sends the first event again, same id.
    let fine = WebhookReceiver::start(Answer::Status(200)).await;
    let endpoint = set_endpoint(&app, &key, &fine.url).await;
    assert_eq!(endpoint["enabled"], true);
    assert!(endpoint["disabledReason"].is_null());
    let again = redeliver(log[0]["id"].as_str().unwrap().to_string())
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["eventId"], log[0]["eventId"]);
    assert_ne!(again["id"], log[0]["id"]);
    fine.wait_for(1, Duration::from_secs(10)).await;
    let received = fine.settled(&app, &key).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, log[0]["eventId"].as_str().unwrap());
    assert_eq!(received[0].body, gone.received()[0].body, "the same bytes");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = TestApp::spawn_with(Backend::Sqlite, &FAST).await;
    let key = demo_key(&app);
    let target = WebhookReceiver::start(Answer::Status(200)).await;
    let redirecting = WebhookReceiver::start(Answer::RedirectTo(target.url.clone())).await;
    set_endpoint(&app, &key, &redirecting.url).await;
    pay(&app, &key, 20000).await;
    redirecting.wait_for(2, Duration::from_secs(10)).await;
    assert!(target.received().is_empty(), "the redirect was followed");
    let log = deliveries(&app, &key).await;
    assert_eq!(
        log[0]["status"], "pending",
        "a redirect is a failed attempt"
    );
    assert_eq!(log[0]["attempts"][0]["statusCode"], 302);
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends() {
    let app = TestApp::spawn_with(Backend::Sqlite, &FAST).await;
    let key = demo_key(&app);
    let receiver = WebhookReceiver::start(Answer::Status(200)).await;
    let old = set_endpoint(&app, &key, &receiver.url).await["signingSecret"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, rotated) = post_json(&app, &key, "/v1/webhook-endpoint/rotate-secret").await;
    assert_eq!(status, StatusCode::OK);
    let new = rotated["signingSecret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    let until = time::OffsetDateTime::parse(
        rotated["previousSecretExpiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let overlap = until - time::OffsetDateTime::now_utc();
    assert!(overlap > time::Duration::hours(23) && overlap <= time::Duration::hours(24));
    let (_, endpoint) = get_json(&app, &key, "/v1/webhook-endpoint").await;
    assert_eq!(endpoint["signingSecret"], new.as_str());
    assert_eq!(
        endpoint["previousSecretExpiresAt"],
        rotated["previousSecretExpiresAt"]
    );

    pay(&app, &key, 20000).await;
    let during = receiver.wait_for(1, Duration::from_secs(10)).await[0].clone();
    assert_eq!(
        during.signature.split(' ').count(),
        2,
        "{}",
        during.signature
    );
    assert!(verifies(&old, &during) && verifies(&new, &during));

    // The overlap ends: only the new secret signs.
    app.clock
        .advance(time::Duration::hours(24) + time::Duration::seconds(1));
    pay(&app, &key, 21000).await;
    let after = receiver.wait_for(2, Duration::from_secs(10)).await[1].clone();
    assert_eq!(after.signature.split(' ').count(), 1);
    assert!(verifies(&new, &after) && !verifies(&old, &after));
}

#[tokio::test]
async fn endpoints_must_be_http_urls() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    for url in [
        "ftp://shop.example/hooks",
        "shop.example/hooks",
        "javascript:alert(1)",
    ] {
        let response = app
            .client
            .put(app.url("/v1/webhook-endpoint"))
            .bearer_auth(&key)
            .json(&json!({ "url": url }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
        let error = error_body(response).await;
        assert_eq!(error["code"], "invalid_webhook_url");
        assert_eq!(error["param"], "url");
    }
    let (status, body) = get_json(&app, &key, "/v1/webhook-endpoint").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "webhook_endpoint_not_found");
}

#[tokio::test]
async fn storefronts_see_only_their_own_events_and_deliveries() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &FAST).await;
        let key = demo_key(&app);
        let other = other_storefront_key(&app).await;
        let receiver = WebhookReceiver::start(Answer::Status(200)).await;
        set_endpoint(&app, &key, &receiver.url).await;
        let id = pay(&app, &key, 20000).await;
        let hook = receiver.wait_for(1, Duration::from_secs(10)).await[0].clone();
        let mine = events_listed(&app, &key, "", 1).await;
        assert_eq!(mine["data"].as_array().unwrap().len(), 1);
        assert_eq!(
            mine["data"][0], hook.json,
            "the list shows what was delivered"
        );
        let (_, mine) = get_json(&app, &key, &format!("/v1/events?paymentId={id}")).await;
        assert_eq!(mine["data"].as_array().unwrap().len(), 1);
        let delivery_id = deliveries(&app, &key).await[0]["id"]
            .as_str()
            .unwrap()
            .to_string();

        let (_, theirs) = get_json(&app, &other, "/v1/events").await;
        assert_eq!(theirs["data"], json!([]), "{backend:?}");
        assert!(deliveries(&app, &other).await.is_empty());
        let (status, body) = get_json(&app, &other, &format!("/v1/events?after={}", hook.id)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "event_not_found");
        let (status, _) = get_json(&app, &other, "/v1/webhook-endpoint").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        set_endpoint(&app, &other, &receiver.url).await;
        let stolen = app
            .client
            .post(app.url(&format!("/v1/webhook-deliveries/{delivery_id}/redeliver")))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(stolen.status(), StatusCode::NOT_FOUND);
        assert_eq!(error_body(stolen).await["code"], "resource_not_found");

        for path in [
            "/v1/events",
            "/v1/webhook-deliveries",
            "/v1/webhook-endpoint",
        ] {
            let anonymous = app.get(path).await;
            assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{path}");
        }
        assert_eq!(receiver.received().len(), 1);
    }
}

/// The Noti the sandbox sends for paydesk's own approvals and cancels are answered `0000` (once
/// paydesk has recorded the outcome) and publish nothing twice.
#[tokio::test]
async fn innopays_notis_of_paydesks_own_changes_add_no_events() {
    let app = TestApp::spawn_with(Backend::Sqlite, &FAST).await;
    let key = demo_key(&app);
    crate::innopay::set(&app, "settings", json!({"notiBackoffMs": 200})).await;
    let receiver = WebhookReceiver::start(Answer::Status(200)).await;
    set_endpoint(&app, &key, &receiver.url).await;
    let id = pay(&app, &key, 20000).await;
    cancel(&app, &key, &id, Some(5000)).await;
    cancel(&app, &key, &id, None).await;
    sandbox_notis_delivered(&app, 3).await;
    receiver.wait_for(3, Duration::from_secs(10)).await;
    receiver.settled(&app, &key).await;
    assert_eq!(receiver.types(), PAID_PART_CANCELLED);
    let history = settled(&app, &key, &id, Duration::from_secs(1)).await;
    assert_eq!(history["events"].as_array().unwrap().len(), 7, "{history}");
}

/// `paydesk storefront set-webhook` sets the same endpoint the API does, on a running server's
/// database, and prints the secret that verifies the webhooks.
#[tokio::test]
async fn the_cli_sets_the_webhook_endpoint() {
    let app = TestApp::spawn_with(Backend::Sqlite, &FAST).await;
    let key = demo_key(&app);
    let receiver = WebhookReceiver::start(Answer::Status(200)).await;
    let run = |url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_paydesk"))
            .args(["storefront", "set-webhook", "sf_demo", "--url", url])
            .env_clear()
            .env("PAYDESK_DATABASE_URL", &app.db_url)
            .output()
            .expect("run paydesk")
    };
    let refused = run("ftp://shop.example/hooks");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("http:// or https://"));

    let output = run(&receiver.url);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let secret = stdout
        .split_whitespace()
        .find(|w| w.starts_with("whsec_"))
        .expect("the secret is printed")
        .to_string();
    let (_, endpoint) = get_json(&app, &key, "/v1/webhook-endpoint").await;
    assert_eq!(endpoint["url"], receiver.url.as_str());
    pay(&app, &key, 20000).await;
    let hook = receiver.wait_for(1, Duration::from_secs(10)).await[0].clone();
    assert!(verifies(&secret, &hook));
}

/// What `GET /v1/signing-secret` calls a secret: the start of the SHA-256 of the whole string.
fn key_id(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))[..8].to_string()
}

#[tokio::test]
async fn the_signing_secret_is_named_and_rotated_without_an_endpoint() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &FAST).await;
        let key = demo_key(&app);
        let (status, _) = get_json(&app, &key, "/v1/webhook-endpoint").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, before) = get_json(&app, &key, "/v1/signing-secret").await;
        assert_eq!(status, StatusCode::OK, "{before}");
        let first_id = before["keyId"].as_str().unwrap().to_string();
        assert_eq!(first_id.len(), 8);
        assert!(first_id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(before.get("previousKeyId").is_none(), "{before}");
        let issued = |identity: &Value| {
            time::OffsetDateTime::parse(
                identity["createdAt"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        };
        let first_issued = issued(&before);

        let (status, rotated) = post_json(&app, &key, "/v1/webhook-endpoint/rotate-secret").await;
        assert_eq!(status, StatusCode::OK, "{rotated}");
        let secret = rotated["signingSecret"].as_str().unwrap().to_string();
        assert_eq!(rotated["keyId"], key_id(&secret).as_str());
        assert_ne!(rotated["keyId"], first_id.as_str());

        let response = app
            .client
            .get(app.url("/v1/signing-secret"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        let text = response.text().await.unwrap();
        assert!(!text.contains("whsec_") && !text.contains(secret.trim_start_matches("whsec_")));
        let identity: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(identity["keyId"], rotated["keyId"]);
        assert_eq!(identity["previousKeyId"], first_id.as_str());
        assert!(issued(&identity) > first_issued, "{identity}");
        assert_eq!(
            identity["previousSecretExpiresAt"],
            rotated["previousSecretExpiresAt"]
        );

        // An endpoint set afterwards gets webhooks signed with the rotated secret.
        let receiver = WebhookReceiver::start(Answer::Status(200)).await;
        assert_eq!(
            set_endpoint(&app, &key, &receiver.url).await["signingSecret"],
            secret.as_str()
        );
        pay(&app, &key, 20000).await;
        let delivered = receiver.wait_for(1, Duration::from_secs(10)).await[0].clone();
        assert!(verifies(&secret, &delivered));
    }
}

#[tokio::test]
async fn serve_prints_the_demo_signing_secret_beside_the_demo_key() {
    use std::io::BufRead;
    let dir = crate::support::tempdir();
    let (mut child, base, mut stdout) = crate::support::spawn_binary(
        &dir,
        &[
            ("PAYDESK_LOG", "warn"),
            ("PAYDESK_SECRET_KEY", crate::support::TEST_SECRET_KEY),
            ("PAYDESK_WEBHOOK_POLL_MS", "50"),
        ],
    );
    let mut printed = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        printed.push(line.trim().to_string());
    }
    std::thread::spawn(move || for _ in stdout.lines() {});
    paydesk::install_crypto_provider();
    let key = printed[0]
        .split("demo storefront test key: ")
        .nth(1)
        .expect("the demo key is printed")
        .to_string();
    let secret = printed[1]
        .strip_prefix("demo storefront signing secret: ")
        .expect("the signing secret is printed on the next line")
        .to_string();

    // The sandbox window answers with a redirect to the return URL: read it, do not follow it.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let identity: Value = client
        .get(format!("{base}/v1/signing-secret"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(identity["keyId"], key_id(&secret).as_str());

    let receiver = WebhookReceiver::start(Answer::Status(200)).await;
    let set = client
        .put(format!("{base}/v1/webhook-endpoint"))
        .bearer_auth(&key)
        .json(&json!({ "url": receiver.url }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let checkout: Value = client
        .post(format!("{base}/v1/checkouts"))
        .bearer_auth(&key)
        .json(&crate::checkout::order(20000))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let return_url =
        crate::approval::authorize(&client, &format!("{base}/sandbox"), &checkout, &[]).await;
    client.get(&return_url).send().await.unwrap();
    let delivered = receiver.wait_for(1, Duration::from_secs(10)).await[0].clone();
    assert_eq!(delivered.json["type"], "payment.paid");
    assert!(verifies(&secret, &delivered));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The catch-up list shows an event only once it has settled (`PAYDESK_WEBHOOK_EVENT_SETTLE_MS`,
/// 2 s by default), judged at the `now` the list is asked for: the test sets the clock instead of
/// sleeping past it.
#[tokio::test]
async fn an_event_is_listed_only_once_it_has_settled() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    pay(&app, &key, 20000).await;
    let storefront = paydesk::storefronts::find(&app.state.store, "sf_demo")
        .await
        .unwrap();
    let list = |now: time::OffsetDateTime| {
        let (webhooks, storefront) = (&app.state.webhooks, &storefront);
        async move {
            let (rows, _) = webhooks
                .events(storefront, None, None, 10, now)
                .await
                .unwrap();
            rows
        }
    };
    let far = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    let written = list(far).await[0].created_at;
    let settle = time::Duration::milliseconds(2000);
    assert!(
        list(written + settle - time::Duration::milliseconds(1))
            .await
            .is_empty()
    );
    assert_eq!(
        list(written + settle + time::Duration::milliseconds(1))
            .await
            .len(),
        1
    );
}
