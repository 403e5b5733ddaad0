//! `/metrics` shows each business series with plausible values: after a payment, a decline, an
//! unknown outcome (and the reconciler settling it), a cancel, a failing webhook endpoint, Noti and
//! help searches, every counter moved by what this app did and every database gauge agrees with the
//! API's view of the database. Each app renders its own registry, so counters are compared between
//! two scrapes of one app, never with other tests' apps running in this process.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::approval::{authorize, checkout_and_return, payment};
use crate::checkout::{demo_key, new_checkout, order};
use crate::innopay::add_fault;
use crate::support::{TestApp, backends};
use crate::webhooks::{Answer, FAST, WebhookReceiver, cancel, pay, set_endpoint};

/// Every series paydesk exports besides the HTTP ones (which start with the first request answered);
/// each must be there from the first scrape.
const BUSINESS_SERIES: [&str; 17] = [
    "paydesk_approvals_total",
    "paydesk_cancels_total",
    "paydesk_reconciler_runs_total",
    "paydesk_reconciler_payments_total",
    "paydesk_webhook_attempts_total",
    "paydesk_webhook_deliveries_given_up_total",
    "paydesk_notis_total",
    "paydesk_help_searches_total",
    "paydesk_help_zero_result_searches_total",
    "paydesk_payments",
    "paydesk_payments_flagged",
    "paydesk_payments_oldest_age_seconds",
    "paydesk_webhook_deliveries",
    "paydesk_webhook_oldest_pending_age_seconds",
    "paydesk_db_gauges_up",
    "paydesk_db_pool_connections",
    "paydesk_db_pool_max_connections",
];

const STATUSES: [&str; 9] = [
    "ready",
    "approving",
    "paid",
    "failed",
    "unknown",
    "cancelled",
    "partially_cancelled",
    "expired",
    "awaiting_deposit",
];

/// One scrape: each sample line's series (name and labels as written) and value.
struct Scrape {
    samples: HashMap<String, f64>,
    text: String,
}

impl Scrape {
    /// The value of `name` with exactly these labels, in this order; fails when the series is absent.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let series = series(name, labels);
        *self
            .samples
            .get(&series)
            .unwrap_or_else(|| panic!("no {series} in\n{}", self.text))
    }

    fn has(&self, name: &str) -> bool {
        self.samples
            .keys()
            .any(|k| k == name || k.starts_with(&format!("{name}{{")))
    }
}

fn series(name: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

async fn scrape(app: &TestApp) -> Scrape {
    // The database gauges are read at most once a second of the app's clock: move it past that so
    // every scrape here reads them fresh.
    app.clock.advance(time::Duration::seconds(1));
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("{l}"));
            let value = value.parse().unwrap_or_else(|_| panic!("{l}"));
            (series.to_string(), value)
        })
        .collect();
    Scrape { samples, text }
}

/// Scrapes until `done` holds of a scrape, for at most ten seconds.
async fn scrape_until(app: &TestApp, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let started = Instant::now();
    loop {
        let now = scrape(app).await;
        if done(&now) {
            return now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what} never showed:\n{}",
            now.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Payments by status, and flagged ones by status, as the API lists them (one storefront here).
async fn payments_by_status(
    app: &TestApp,
    key: &str,
) -> (HashMap<String, f64>, HashMap<String, f64>) {
    let list: Value = app
        .client
        .get(app.url("/v1/payments?limit=100"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (mut all, mut flagged) = (HashMap::new(), HashMap::new());
    for p in list["data"].as_array().unwrap() {
        let status = p["status"].as_str().unwrap().to_string();
        *all.entry(status.clone()).or_default() += 1.0;
        if p["flagged"] == true {
            *flagged.entry(status).or_default() += 1.0;
        }
    }
    (all, flagged)
}

/// The payment gauges of `scrape` match the API's list.
async fn assert_payment_gauges(app: &TestApp, key: &str, scrape: &Scrape) {
    let (all, flagged) = payments_by_status(app, key).await;
    for status in STATUSES {
        let expected = all.get(status).copied().unwrap_or_default();
        assert_eq!(
            scrape.get("paydesk_payments", &[("status", status)]),
            expected,
            "payments {status}"
        );
        let expected = flagged.get(status).copied().unwrap_or_default();
        assert_eq!(
            scrape.get("paydesk_payments_flagged", &[("status", status)]),
            expected,
            "flagged {status}"
        );
    }
}

/// Pending webhook deliveries as the API lists them.
async fn pending_deliveries(app: &TestApp, key: &str) -> f64 {
    let list: Value = app
        .client
        .get(app.url("/v1/webhook-deliveries?limit=100&status=pending"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["data"].as_array().unwrap().len() as f64
}

async fn post_noti(app: &TestApp, fields: &[(&str, &str)]) -> StatusCode {
    app.client
        .post(app.url("/innopay/noti"))
        .form(fields)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn each_business_series_follows_what_the_app_did() {
    for backend in backends() {
        let mut settings = FAST.to_vec();
        // The test drives the reconciler itself, to see the `unknown` payment before it is settled.
        settings.extend([
            ("reconcile_interval_ms", "3600000"),
            ("inquiry_grace_ms", "100"),
        ]);
        let app = TestApp::spawn_with(backend, &settings).await;
        let key = demo_key(&app);
        let sandbox = app.url("/sandbox");

        let start = scrape(&app).await;
        for name in BUSINESS_SERIES {
            assert!(start.has(name), "{backend:?}: no {name} in\n{}", start.text);
        }
        let approvals =
            |s: &Scrape, outcome| s.get("paydesk_approvals_total", &[("outcome", outcome)]);
        let notis = |s: &Scrape, outcome| s.get("paydesk_notis_total", &[("outcome", outcome)]);
        let attempts =
            |s: &Scrape, outcome| s.get("paydesk_webhook_attempts_total", &[("outcome", outcome)]);
        let oldest = |s: &Scrape, status| {
            s.get("paydesk_payments_oldest_age_seconds", &[("status", status)])
        };
        assert_eq!(start.get("paydesk_db_gauges_up", &[]), 1.0);

        // The storefront's endpoint fails every delivery.
        let receiver = WebhookReceiver::start(Answer::Status(500)).await;
        set_endpoint(&app, &key, &receiver.url).await;

        // A payment, a decline, an unknown outcome.
        let paid = pay(&app, &key, 20000).await;
        add_fault(
            &app,
            json!({"kind": "decline", "api": "pay", "calls": 1, "code": "3011", "message": "카드 한도 초과"}),
        )
        .await;
        let declined = checkout_and_return(&app, &sandbox, &key, 21000).await;
        assert_eq!(payment(&app, &key, &declined).await["status"], "ready");
        add_fault(
            &app,
            json!({"kind": "server_error", "api": "pay", "calls": 1, "status": 503, "applied": false}),
        )
        .await;
        let unknown = checkout_and_return(&app, &sandbox, &key, 22000).await;
        assert_eq!(payment(&app, &key, &unknown).await["status"], "unknown");
        // And a return whose amount was tampered with: refused before any approval, and flagged.
        let checkout = new_checkout(&app, &key, &order(300000)).await;
        let return_url = authorize(&app.client, &sandbox, &checkout, &[]).await;
        app.client
            .get(return_url.replace("amt=300000", "amt=3000"))
            .send()
            .await
            .unwrap();
        let tampered = payment(&app, &key, checkout["id"].as_str().unwrap()).await;
        assert_eq!(tampered["flagged"], true, "{tampered}");

        let now = scrape(&app).await;
        for (outcome, expected) in [
            ("done", 1.0),
            ("declined", 1.0),
            ("unknown", 1.0),
            ("not_sent", 0.0),
        ] {
            assert_eq!(
                approvals(&now, outcome) - approvals(&start, outcome),
                expected,
                "{backend:?}: approvals {outcome}"
            );
        }
        assert_payment_gauges(&app, &key, &now).await;
        assert_eq!(now.get("paydesk_payments", &[("status", "unknown")]), 1.0);
        assert_eq!(now.get("paydesk_payments", &[("status", "failed")]), 1.0);
        assert_eq!(
            now.get("paydesk_payments_flagged", &[("status", "failed")]),
            1.0
        );
        let waited = oldest(&now, "unknown");
        assert!(
            waited > 0.0 && waited < 120.0,
            "{backend:?}: oldest unknown {waited}"
        );
        assert_eq!(oldest(&now, "approving"), 0.0);

        // The reconciler settles the unknown outcome (Innopay never approved it).
        let runs =
            |s: &Scrape, result| s.get("paydesk_reconciler_runs_total", &[("result", result)]);
        let reconciled =
            |s: &Scrape, action| s.get("paydesk_reconciler_payments_total", &[("action", action)]);
        let started = Instant::now();
        let mut passes = 0.0;
        while payment(&app, &key, &unknown).await["status"] == "unknown" {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{backend:?}: still unknown"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            app.state.checkout.reconcile_due(50).await.unwrap();
            passes += 1.0;
        }
        let after = scrape(&app).await;
        assert_eq!(runs(&after, "ok") - runs(&now, "ok"), passes, "{backend:?}");
        assert_eq!(runs(&after, "error"), runs(&now, "error"));
        assert_eq!(
            reconciled(&after, "settled") - reconciled(&now, "settled"),
            1.0
        );
        assert_eq!(reconciled(&after, "error"), reconciled(&now, "error"));
        assert_eq!(after.get("paydesk_payments", &[("status", "unknown")]), 0.0);
        assert_eq!(oldest(&after, "unknown"), 0.0);
        assert_payment_gauges(&app, &key, &after).await;

        // The failing endpoint: attempts fail, and the backlog is what the delivery log shows pending
        // (each delivery is retried for minutes at this scale, so none is given up meanwhile).
        let failing = scrape_until(&app, "a failed webhook attempt", |s| {
            attempts(s, "failed") > attempts(&start, "failed")
        })
        .await;
        assert_eq!(attempts(&failing, "accepted"), attempts(&start, "accepted"));
        assert!(!receiver.received().is_empty());
        let pending = pending_deliveries(&app, &key).await;
        assert!(pending >= 1.0, "{backend:?}");
        let backlog = scrape(&app).await;
        assert_eq!(
            backlog.get("paydesk_webhook_deliveries", &[("status", "pending")]),
            pending,
            "{backend:?}: backlog"
        );
        assert_eq!(
            backlog.get("paydesk_webhook_deliveries", &[("status", "delivered")]),
            0.0
        );
        let age = backlog.get("paydesk_webhook_oldest_pending_age_seconds", &[]);
        assert!(
            age > 0.0 && age < 120.0,
            "{backend:?}: oldest pending {age}"
        );

        // Noti: the sandbox's own for the approval (already recorded, or still being), one for no
        // payment, and one contradicting the paid payment's amount.
        let answered = |s: &Scrape| {
            ["applied", "duplicate", "deferred"]
                .iter()
                .map(|o| notis(s, o) - notis(&start, o))
                .sum::<f64>()
        };
        let before = scrape_until(&app, "the sandbox's Noti", |s| answered(s) >= 1.0).await;
        let status = post_noti(
            &app,
            &[
                ("shopCode", "testpay01m"),
                ("tid", "testpay01m01082611270000009999"),
                ("moid", "no-such-order"),
                ("goodsAmt", "20000"),
                ("status", "25"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let tid = payment(&app, &key, &paid).await["tid"]
            .as_str()
            .unwrap()
            .to_string();
        let status = post_noti(
            &app,
            &[
                ("shopCode", "testpay01m"),
                ("tid", &tid),
                ("goodsAmt", "2000"),
                ("status", "85"),
                ("cancelAmt", "2000"),
                ("remainAmt", "0"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let now = scrape(&app).await;
        assert_eq!(notis(&now, "unmatched") - notis(&before, "unmatched"), 1.0);
        assert_eq!(
            notis(&now, "contradiction") - notis(&before, "contradiction"),
            1.0
        );
        assert_eq!(notis(&now, "error"), notis(&start, "error"));

        // A cancel.
        let before_cancel = scrape(&app).await;
        cancel(&app, &key, &paid, None).await;
        let cancelled = scrape(&app).await;
        let cancels = |s: &Scrape, outcome| {
            s.get(
                "paydesk_cancels_total",
                &[("kind", "requested"), ("outcome", outcome)],
            )
        };
        assert_eq!(
            cancels(&cancelled, "done") - cancels(&before_cancel, "done"),
            1.0
        );
        assert_eq!(
            cancels(&cancelled, "declined"),
            cancels(&before_cancel, "declined")
        );
        assert_payment_gauges(&app, &key, &cancelled).await;

        // Help searches: one that finds articles, one that finds none.
        let searches = |s: &Scrape| s.get("paydesk_help_searches_total", &[("source", "api")]);
        let zero = |s: &Scrape| {
            s.get(
                "paydesk_help_zero_result_searches_total",
                &[("source", "api")],
            )
        };
        let found = app
            .get("/v1/help/search?q=팝업")
            .await
            .json::<Value>()
            .await
            .unwrap();
        assert!(!found["hits"].as_array().unwrap().is_empty(), "{found}");
        app.get("/v1/help/search?q=qqxqzzvvkw").await;
        let after_help = scrape(&app).await;
        assert_eq!(searches(&after_help) - searches(&cancelled), 2.0);
        assert_eq!(zero(&after_help) - zero(&cancelled), 1.0);

        // The pool and the HTTP series.
        let open = after_help.get("paydesk_db_pool_connections", &[("state", "idle")])
            + after_help.get("paydesk_db_pool_connections", &[("state", "in_use")]);
        assert!(
            (1.0..=5.0).contains(&open),
            "{backend:?}: {open} connections"
        );
        assert_eq!(after_help.get("paydesk_db_pool_max_connections", &[]), 5.0);
        assert!(
            after_help.get(
                "paydesk_http_requests_total",
                &[("method", "GET"), ("route", "/metrics"), ("status", "2xx")]
            ) >= 8.0
        );
        let return_route = [
            ("method", "GET"),
            ("route", "/checkout/:id/return"),
            ("status", "2xx"),
        ];
        assert_eq!(
            after_help.get("paydesk_http_request_duration_seconds_count", &return_route),
            after_help.get("paydesk_http_requests_total", &return_route),
        );

        // Another instance on the same database: the same database gauges, its own counters. Only
        // on PostgreSQL, where several instances are a deployment; a SQLite file has one (a second
        // one starting while the first retries webhooks can meet SQLite's busy error).
        if backend == crate::support::Backend::Postgres {
            let beside = TestApp::spawn_beside(&app, &settings).await;
            let other = scrape(&beside).await;
            assert_payment_gauges(&app, &key, &other).await;
            assert_eq!(approvals(&other, "done"), 0.0);
            assert_eq!(notis(&other, "unmatched"), 0.0);
            beside.stop().await;
        }
        app.stop().await;
    }
}

/// The metric names a PromQL expression reads (`up` aside).
fn series_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("paydesk_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.push(name);
    }
    names
}

/// `docs/ops/alerts.yml` and `docs/ops/grafana-dashboard.json` read only series a real paydesk
/// exports (so a renamed series cannot silently blind an alert or a panel), and every alert has its
/// runbook section in `docs/OPERATIONS.md`.
/// Scrapes closer together than a second share one read of the database gauges (they count
/// `payments`, and `/metrics` may be open to anyone who reaches the port): a payment made between
/// two such scrapes shows only once the second has passed on the app's clock.
#[tokio::test]
async fn scrapes_within_a_second_share_one_read_of_the_database_gauges() {
    let app = TestApp::spawn(crate::support::Backend::Sqlite).await;
    let key = demo_key(&app);
    let ready = |s: &Scrape| s.get("paydesk_payments", &[("status", "ready")]);
    let first = scrape(&app).await;
    assert_eq!(ready(&first), 0.0);
    new_checkout(&app, &key, &order(20000)).await;
    let soon = app.get("/metrics").await.text().await.unwrap();
    assert!(
        soon.contains("paydesk_payments{status=\"ready\"} 0\n"),
        "{soon}"
    );
    assert_eq!(ready(&scrape(&app).await), 1.0);
}

#[tokio::test]
async fn the_ops_files_use_only_series_paydesk_exports_and_every_alert_has_a_runbook() {
    let app = TestApp::spawn(crate::support::Backend::Sqlite).await;
    app.get("/healthz").await;
    let scrape = scrape(&app).await;
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |path: &str| std::fs::read_to_string(format!("{root}/{path}")).unwrap();

    let rules: serde_yaml::Value = serde_yaml::from_str(&read("docs/ops/alerts.yml")).unwrap();
    let operations = read("docs/OPERATIONS.md");
    let anchors: Vec<String> = operations
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    let mut exprs = Vec::new();
    let mut alerts = 0;
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let name = rule["alert"].as_str().unwrap();
            let expr = rule["expr"].as_str().unwrap();
            let runbook = rule["annotations"]["runbook"].as_str().unwrap_or_default();
            assert_eq!(
                runbook,
                format!("docs/OPERATIONS.md#{}", name.to_lowercase()),
                "{name}"
            );
            assert!(
                anchors.contains(&name.to_lowercase()),
                "{name} has no runbook section in OPERATIONS.md"
            );
            assert!(rule["labels"]["severity"].is_string(), "{name}");
            exprs.push((name.to_string(), expr.to_string()));
            alerts += 1;
        }
    }
    assert!(alerts >= 5, "{alerts} alerts");

    let dashboard: Value = serde_json::from_str(&read("docs/ops/grafana-dashboard.json")).unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push((
                panel["title"].as_str().unwrap().to_string(),
                target["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    let mut unknown = Vec::new();
    for (what, expr) in &exprs {
        let names = series_in(expr);
        assert!(
            !names.is_empty() || expr.starts_with("up"),
            "{what}: {expr}"
        );
        for name in names {
            if !scrape.has(&name) {
                unknown.push(format!("{what}: {name}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "series paydesk does not export: {unknown:#?}"
    );
}
