//! Retention: `Store::purge` at a chosen `now` removes exactly the finished deliveries' attempts, help
//! logs, settled Noti and expired idempotency keys older than their ages, made through the real code
//! paths, and keeps payments, their events, webhook events and deliveries, pending deliveries'
//! attempts and flagged Noti however old; two instances purging at once remove every row exactly
//! once; the server purges by itself when an interval is set; `paydesk purge [--dry-run]` does it
//! from the command line.

use std::time::{Duration, Instant};

use paydesk::config::RetentionConfig;
use paydesk::store::NewSearch;
use paydesk::store::notis::ReceivedNoti;
use paydesk::store::retention::Purged;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::approval::payment;
use crate::checkout::{create, demo_key, order};
use crate::support::{Backend, TestApp, TestDb, backends, execute_sql, tempdir};
use crate::webhooks::{Answer, FAST, WebhookReceiver, deliveries, pay, set_endpoint};

const DAY: Duration = Duration::from_secs(86_400);

/// Three days for every kind: the idempotency keys' 72 h window then ends at the same `now`.
fn three_days() -> RetentionConfig {
    RetentionConfig {
        webhook_attempts: 3 * DAY,
        help_analytics: 3 * DAY,
        notis: 3 * DAY,
        purge_interval: None,
    }
}

/// Polls `check` every 50 ms until it holds, failing after 20 s.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited 20 s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every row of a query whose columns are all text, as strings.
async fn texts(db_url: &str, sql: &str) -> Vec<Vec<String>> {
    let conn = Database::connect(db_url).await.expect("connect");
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            sql,
        ))
        .await
        .expect("test SQL runs");
    conn.close().await.ok();
    rows.iter()
        .map(|row| {
            (0..)
                .map_while(|n| row.try_get::<String>("", &format!("c{n}")).ok())
                .collect()
        })
        .collect()
}

/// The attempts of finished (delivered or failed) deliveries.
async fn finished_attempts(db_url: &str) -> u64 {
    let rows = texts(
        db_url,
        "SELECT CAST(COUNT(*) AS TEXT) AS c0 FROM webhook_attempts a \
         JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.status <> 'pending'",
    )
    .await;
    rows[0][0].parse().unwrap()
}

async fn count(db_url: &str, table: &str) -> u64 {
    let rows = texts(
        db_url,
        &format!("SELECT CAST(COUNT(*) AS TEXT) AS c0 FROM {table}"),
    )
    .await;
    rows[0][0].parse().unwrap()
}

/// What no purge may change: every payment, payment event, webhook event and delivery.
async fn payment_records(db_url: &str) -> Vec<Vec<String>> {
    let mut all = texts(
        db_url,
        "SELECT id AS c0, status AS c1, CAST(version AS TEXT) AS c2, CAST(amount AS TEXT) AS c3 \
         FROM payments ORDER BY id",
    )
    .await;
    all.extend(
        texts(
            db_url,
            "SELECT CAST(id AS TEXT) AS c0, payment_id AS c1, kind AS c2, detail AS c3 \
             FROM payment_events ORDER BY id",
        )
        .await,
    );
    all.extend(
        texts(
            db_url,
            "SELECT id AS c0, body AS c1 FROM webhook_events ORDER BY id",
        )
        .await,
    );
    all.extend(
        texts(
            db_url,
            // A pending delivery's attempts go on while the test runs.
            "SELECT id AS c0, status AS c1, \
             CASE WHEN status = 'pending' THEN '' ELSE CAST(attempts AS TEXT) END AS c2 \
             FROM webhook_deliveries ORDER BY id",
        )
        .await,
    );
    all
}

/// The Noti rows as (tid, outcome, flagged).
async fn notis(app: &TestApp) -> Vec<(String, String, bool)> {
    let mut rows: Vec<_> = app
        .state
        .store
        .notis(false, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.tid.unwrap_or_default(), n.outcome, n.flagged))
        .collect();
    rows.sort();
    rows
}

fn tid(p: &Value) -> String {
    p["tid"].as_str().unwrap().to_string()
}

/// A payment paid through the sandbox whose delivery (to a receiver that accepts) finished and
/// whose Noti (the sandbox sends one for every approval) was judged a duplicate.
async fn paid_delivered_and_notified(app: &TestApp, key: &str) -> Value {
    let id = pay(app, key, 15000).await;
    let p = payment(app, key, &id).await;
    until("the delivery of payment.paid", || async {
        deliveries(app, key)
            .await
            .iter()
            .any(|d| d["paymentId"] == id.as_str() && d["status"] == "delivered")
    })
    .await;
    until("the sandbox's Noti", || async {
        notis(app)
            .await
            .iter()
            .any(|(t, outcome, _)| *t == tid(&p) && outcome == "duplicate")
    })
    .await;
    p
}

/// One search, one article view, one "도움이 되었나요?" answer, all written.
async fn help_traffic(app: &TestApp, searches_before: u64) {
    let search = app.get("/v1/help/search?q=isp").await;
    assert_eq!(search.status(), StatusCode::OK);
    assert_eq!(app.get("/help/isp-password").await.status(), StatusCode::OK);
    let feedback = app
        .client
        .post(app.url("/v1/help/feedback"))
        .json(&json!({"slug": "isp-password", "helpful": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(feedback.status(), StatusCode::NO_CONTENT);
    // Searches are written by the search log's writer, off the request path.
    until("the search to be written", || async {
        count(&app.db_url, "help_searches").await > searches_before
    })
    .await;
}

async fn checkout_with_key(app: &TestApp, key: &str, idempotency_key: &str) {
    let response = app
        .client
        .post(app.url("/v1/checkouts"))
        .bearer_auth(key)
        .header("Idempotency-Key", idempotency_key)
        .json(&order(1000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// A port nothing listens on.
fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn purge_removes_exactly_what_is_old_and_settled_and_never_payment_records() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &FAST).await;
        let key = demo_key(&app);
        let db = app.db_url.clone();
        let accepting = WebhookReceiver::start(Answer::Status(200)).await;
        set_endpoint(&app, &key, &accepting.url).await;

        // Old: everything before `boundary`.
        let old = paid_delivered_and_notified(&app, &key).await;
        help_traffic(&app, 0).await;
        checkout_with_key(&app, &key, "purge-old").await;
        let unmatched = app
            .client
            .post(app.url("/innopay/noti"))
            .form(&[
                ("shopCode", "testpay01m"),
                ("tid", "testpay01m01082611270000009999"),
                ("moid", "no-such-order"),
                ("goodsAmt", "20000"),
                ("status", "25"),
                ("stateCd", "0"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(unmatched.status(), StatusCode::NOT_FOUND);
        // Stored but never judged (the instance died before settling it): nobody decided anything.
        app.state
            .store
            .insert_noti(ReceivedNoti {
                remote_addr: None,
                mid: Some("testpay01m".into()),
                tid: Some("testpay01m01082611270000008888".into()),
                moid: None,
                status: Some("25".into()),
                pay_method: None,
                fields: "{}".into(),
            })
            .await
            .unwrap();
        let old_attempts = count(&db, "webhook_attempts").await;
        let old_helps = [
            count(&db, "help_searches").await,
            count(&db, "help_views").await,
            count(&db, "help_feedback").await,
        ];
        assert!(old_helps.iter().all(|n| *n >= 1), "{old_helps:?}");
        let old_notis = notis(&app).await;
        let old_settled = old_notis
            .iter()
            .filter(|(_, outcome, flagged)| !flagged && outcome != "received")
            .count() as u64;
        assert!(old_attempts >= 1 && old_settled >= 1, "{old_notis:?}");
        assert!(
            old_notis
                .iter()
                .any(|(_, outcome, flagged)| outcome == "unmatched" && *flagged)
        );
        let boundary = OffsetDateTime::now_utc();

        // Recent: everything after it.
        let recent = paid_delivered_and_notified(&app, &key).await;
        let searches = count(&db, "help_searches").await;
        help_traffic(&app, searches).await;
        checkout_with_key(&app, &key, "purge-new").await;
        // A delivery that keeps failing stays pending, with attempts.
        set_endpoint(
            &app,
            &key,
            &format!("http://127.0.0.1:{}/hooks", refused_port()),
        )
        .await;
        let pending = pay(&app, &key, 16000).await;
        let pending_tid = tid(&payment(&app, &key, &pending).await);
        until("a failed attempt of the pending delivery", || async {
            deliveries(&app, &key).await.iter().any(|d| {
                d["paymentId"] == pending.as_str()
                    && d["status"] == "pending"
                    && !d["attempts"].as_array().unwrap().is_empty()
            })
        })
        .await;
        until("the pending payment's Noti", || async {
            notis(&app)
                .await
                .iter()
                .any(|(t, outcome, _)| *t == pending_tid && outcome == "duplicate")
        })
        .await;

        let records = payment_records(&db).await;
        let old_before = payment(&app, &key, old["id"].as_str().unwrap()).await;
        let attempts = finished_attempts(&db).await;
        let helps = [
            count(&db, "help_searches").await,
            count(&db, "help_views").await,
            count(&db, "help_feedback").await,
        ];
        let now = boundary + time::Duration::days(3);
        let store = &app.state.store;
        let expected = Purged {
            webhook_attempts: old_attempts,
            help_searches: old_helps[0],
            help_views: old_helps[1],
            help_feedback: old_helps[2],
            notis: old_settled,
            idempotency_keys: 1,
        };
        assert_eq!(
            store.purgeable(now, &three_days()).await.unwrap(),
            expected,
            "{backend:?}: the dry run counts what the purge removes"
        );
        assert_eq!(
            store.purge(now, &three_days(), 1).await.unwrap(),
            expected,
            "{backend:?}"
        );

        assert_eq!(payment_records(&db).await, records, "{backend:?}");
        assert_eq!(finished_attempts(&db).await, attempts - old_attempts);
        assert_eq!(count(&db, "help_searches").await, helps[0] - old_helps[0]);
        assert_eq!(count(&db, "help_views").await, helps[1] - old_helps[1]);
        assert_eq!(count(&db, "help_feedback").await, helps[2] - old_helps[2]);
        assert!(helps[0] > old_helps[0] && helps[1] > old_helps[1] && helps[2] > old_helps[2]);
        let keys = texts(&db, "SELECT idempotency_key AS c0 FROM idempotency_keys").await;
        assert_eq!(keys, vec![vec!["purge-new".to_string()]], "{backend:?}");
        let kept = notis(&app).await;
        assert!(
            !kept.iter().any(|(t, _, _)| *t == tid(&old)),
            "{backend:?}: {kept:?}"
        );
        assert!(
            kept.iter()
                .any(|(t, outcome, _)| *t == tid(&recent) && outcome == "duplicate")
        );
        assert!(
            kept.iter()
                .any(|(_, outcome, flagged)| outcome == "unmatched" && *flagged)
        );
        assert!(kept.iter().any(|(_, outcome, _)| outcome == "received"));
        // The delivery log still shows the old delivery, without its attempts.
        let log = deliveries(&app, &key).await;
        let old_id = old["id"].as_str().unwrap();
        let old_delivery = log.iter().find(|d| d["paymentId"] == old_id).unwrap();
        assert_eq!(old_delivery["status"], "delivered");
        assert_eq!(old_delivery["attempts"], json!([]), "{old_delivery}");
        let recent_id = recent["id"].as_str().unwrap();
        let recent_delivery = log.iter().find(|d| d["paymentId"] == recent_id).unwrap();
        assert!(!recent_delivery["attempts"].as_array().unwrap().is_empty());
        // The old payment reads back as before.
        assert_eq!(payment(&app, &key, old_id).await, old_before, "{backend:?}");

        // Nothing more at the same `now`.
        assert_eq!(
            store.purge(now, &three_days(), 1).await.unwrap(),
            Purged::default()
        );

        // Ten years on: every finished or settled row goes; a pending delivery's attempts, the
        // flagged Noti and every payment record stay however old.
        let later = now + time::Duration::days(3650);
        let purged = store.purge(later, &three_days(), 1000).await.unwrap();
        assert!(
            purged.webhook_attempts >= 1 && purged.notis >= 2 && purged.idempotency_keys == 1,
            "{backend:?}: {purged:?}"
        );
        assert_eq!(payment_records(&db).await, records, "{backend:?}");
        let pending_attempts = texts(
            &db,
            "SELECT d.status AS c0 FROM webhook_attempts a \
             JOIN webhook_deliveries d ON d.id = a.delivery_id",
        )
        .await;
        assert!(
            !pending_attempts.is_empty() && pending_attempts.iter().all(|r| r[0] == "pending"),
            "{backend:?}: {pending_attempts:?}"
        );
        let kept = notis(&app).await;
        let mut outcomes: Vec<&str> = kept.iter().map(|(_, o, _)| o.as_str()).collect();
        outcomes.sort();
        assert_eq!(outcomes, ["received", "unmatched"], "{backend:?}: {kept:?}");
        for table in ["help_searches", "help_views", "help_feedback"] {
            assert_eq!(count(&db, table).await, 0, "{backend:?}: {table}");
        }
        app.stop().await;
    }
}

/// Two instances purging the same rows at once: every row goes exactly once (the counts add up to
/// what was there), neither fails, and what is recent stays.
#[tokio::test]
async fn two_instances_purging_at_once_remove_every_row_exactly_once() {
    for backend in backends() {
        let first = TestApp::spawn(backend).await;
        let second = TestApp::spawn_beside(&first, &[]).await;
        let now = OffsetDateTime::now_utc();
        let search = |n: usize, at: OffsetDateTime| NewSearch {
            query: format!("검색 {n}"),
            audience: None,
            source: "api",
            result_count: 1,
            fallback: false,
            took_micros: 10,
            at,
        };
        let old: Vec<NewSearch> = (0..3000)
            .map(|n| search(n, now - time::Duration::days(400 + n as i64 % 7)))
            .collect();
        let recent: Vec<NewSearch> = (0..50).map(|n| search(n, now)).collect();
        let analytics = first.state.store.help_analytics();
        analytics.record_searches(&old).await.unwrap();
        analytics.record_searches(&recent).await.unwrap();

        let ages = RetentionConfig {
            help_analytics: 365 * DAY,
            ..three_days()
        };
        let (a, b) = tokio::join!(
            first.state.store.purge(now, &ages, 100),
            second.state.store.purge(now, &ages, 100)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(
            a.help_searches + b.help_searches,
            3000,
            "{backend:?}: {a:?} {b:?}"
        );
        assert_eq!(count(&first.db_url, "help_searches").await, 50);
        second.stop().await;
        first.stop().await;
    }
}

/// `paydesk purge` on a real SQLite file: `--dry-run` counts, the purge removes and prints the same
/// counts, a second run finds nothing, and an age below the minimum is refused with one line.
#[tokio::test]
async fn the_purge_command_counts_then_removes_and_refuses_a_short_help_retention() {
    // The database outlives the server: the command runs on it afterwards.
    let db = TestDb::create(Backend::Sqlite).await;
    let app = TestApp::spawn_on(&db.url, None, &[]).await;
    let key = demo_key(&app);
    let created = create(&app, &key, &order(1000)).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    help_traffic(&app, 0).await;
    // Two years old: as if the server had been running since (no API writes the past).
    let two_years_ago = OffsetDateTime::now_utc() - time::Duration::days(730);
    for table in ["help_searches", "help_views", "help_feedback"] {
        execute_sql(
            &app,
            &format!("UPDATE {table} SET created_at = ?"),
            vec![two_years_ago.into()],
        )
        .await;
    }
    let db_url = app.db_url.clone();
    let records = payment_records(&db_url).await;
    app.stop().await;

    let dir = tempdir();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_paydesk"))
            .args(args)
            .current_dir(&dir)
            .env_clear()
            .env("PAYDESK_DATABASE_URL", &db_url)
            .envs(env.iter().copied())
            .output()
            .expect("run paydesk");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let counts = |verb: &str, n: u64| {
        format!(
            "{verb} 0 webhook_attempts\n{verb} {n} help_searches\n{verb} {n} help_views\n\
             {verb} {n} help_feedback\n{verb} 0 innopay_notis\n{verb} 0 idempotency_keys\n\
             kept: payments and payment events (never purged)\n"
        )
    };
    let (ok, out, err) = run(&["purge", "--dry-run"], &[]);
    assert!(ok, "{err}");
    assert_eq!(out, counts("would purge", 1));
    let (ok, out, err) = run(&["purge"], &[]);
    assert!(ok, "{err}");
    assert_eq!(out, counts("purged", 1));
    let (ok, out, _) = run(&["purge"], &[]);
    assert!(ok);
    assert_eq!(out, counts("purged", 0));
    assert_eq!(payment_records(&db_url).await, records);

    let (ok, out, err) = run(
        &["purge"],
        &[("PAYDESK_RETENTION_HELP_ANALYTICS_DAYS", "30")],
    );
    assert!(!ok && out.is_empty());
    assert_eq!(
        err,
        "error: invalid PAYDESK_RETENTION_HELP_ANALYTICS_DAYS: expected a whole number of days, \
         at least 365 (the longest period of the help analytics report), got \"30\"\n"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// With `PAYDESK_PURGE_INTERVAL_MS` the server purges by itself, at the real time and configured
/// ages: searches 400 days old go, today's stay.
#[tokio::test]
async fn the_periodic_purge_runs_in_the_server_when_an_interval_is_set() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &[("purge_interval_ms", "100")]).await;
        let now = OffsetDateTime::now_utc();
        let search = |at: OffsetDateTime| NewSearch {
            query: "오래된 검색".into(),
            audience: None,
            source: "api",
            result_count: 0,
            fallback: true,
            took_micros: 10,
            at,
        };
        let searches: Vec<NewSearch> = (0..20)
            .map(|n| search(now - time::Duration::days(400 + n)))
            .chain((0..3).map(|_| search(now)))
            .collect();
        app.state
            .store
            .help_analytics()
            .record_searches(&searches)
            .await
            .unwrap();
        until("the periodic purge", || async {
            count(&app.db_url, "help_searches").await == 3
        })
        .await;
        app.stop().await;
    }
}
