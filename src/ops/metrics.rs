//! Prometheus metrics: HTTP requests (method, route pattern, status class; latency histogram), the
//! business facts counted where they happen (approvals, cancels, reconciler passes, webhook attempts,
//! Noti, help searches), and gauges read from the database when `/metrics` is scraped (payments by
//! status, flagged payments, the oldest `approving`/`unknown` payment, the webhook backlog) plus the
//! database pool. `docs/METRICS.md` lists every series.
//!
//! Recording goes through the `metrics` facade and is rendered by `metrics-exporter-prometheus`; the
//! exporter's own HTTP listener is not built (paydesk serves `/metrics` itself, behind
//! `PAYDESK_METRICS_TOKEN`).
//!
//! Each `App` owns one `Metrics`: its own `PrometheusRecorder`, never installed as the process's
//! global recorder. Code that records calls a method here, which runs the facade's macros inside
//! `metrics::with_local_recorder` with that recorder; the closure is synchronous (an increment), so
//! the thread-local scope never spans an `.await`. Why not one global recorder: the integration tests
//! run many apps in one process, and a global registry would mix their counters (one app's `/metrics`
//! would show every app's approvals), so no test could check a value; several apps in one process
//! is also what a library user gets. The cost is that a `counter!` written anywhere else, outside
//! these methods, goes to the facade's no-op recorder and is never exported: every series is
//! recorded here, by name, which also keeps the label sets bounded (labels take `&'static str`,
//! enum labels only, never ids).
//!
//! Counters are per instance (Prometheus sums them); the database gauges describe the shared
//! database, so every instance on one PostgreSQL reports the same values (aggregate them with `max`,
//! not `sum`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use poem::PathPattern;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use time::OffsetDateTime;

use crate::domain::PaymentStatus;
use crate::noti::NotiOutcome;
use crate::store::Store;

/// Upper bounds of the HTTP latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Requests between two drains of the latency samples into their buckets when nobody scrapes
/// (a scrape drains them too), so memory stays bounded without a background task.
const UPKEEP_EVERY: u64 = 1024;

const HTTP_REQUESTS: &str = "paydesk_http_requests_total";
const HTTP_DURATION: &str = "paydesk_http_request_duration_seconds";
const APPROVALS: &str = "paydesk_approvals_total";
const CANCELS: &str = "paydesk_cancels_total";
const RECONCILER_RUNS: &str = "paydesk_reconciler_runs_total";
const RECONCILED: &str = "paydesk_reconciler_payments_total";
const WEBHOOK_ATTEMPTS: &str = "paydesk_webhook_attempts_total";
const WEBHOOK_GIVEN_UP: &str = "paydesk_webhook_deliveries_given_up_total";
const NOTIS: &str = "paydesk_notis_total";
const HELP_SEARCHES: &str = "paydesk_help_searches_total";
const HELP_ZERO: &str = "paydesk_help_zero_result_searches_total";
const PAYMENTS: &str = "paydesk_payments";
const PAYMENTS_FLAGGED: &str = "paydesk_payments_flagged";
const PAYMENTS_OLDEST: &str = "paydesk_payments_oldest_age_seconds";
const WEBHOOK_DELIVERIES: &str = "paydesk_webhook_deliveries";
const WEBHOOK_OLDEST: &str = "paydesk_webhook_oldest_pending_age_seconds";
const DB_GAUGES_UP: &str = "paydesk_db_gauges_up";
const POOL_CONNECTIONS: &str = "paydesk_db_pool_connections";
const POOL_MAX: &str = "paydesk_db_pool_max_connections";

/// `gateway::Outcome::label` of every outcome.
pub const GATEWAY_OUTCOMES: [&str; 4] = ["done", "declined", "unknown", "not_sent"];
/// Which cancel: one asked through the API (or an account closed), or a net cancel (망취소) of an
/// approval paydesk must not keep.
pub const CANCEL_KINDS: [&str; 2] = ["requested", "net_cancel"];
/// Reconciler pass results.
pub const RECONCILER_RESULTS: [&str; 2] = ["ok", "error"];
/// What a reconciler pass did to one payment.
pub const RECONCILE_ACTIONS: [&str; 4] = ["expired", "settled", "retry_later", "error"];
/// How an endpoint took one webhook attempt.
pub const WEBHOOK_OUTCOMES: [&str; 4] = ["accepted", "failed", "gone", "not_sent"];
/// Noti outcomes besides `NotiOutcome`'s: refused before reading (address, rate, size), or not
/// processed (an error; Innopay resends).
pub const NOTI_NOT_JUDGED: [&str; 2] = ["refused", "error"];
/// Help search sources (`SearchLog::record`).
pub const SEARCH_SOURCES: [&str; 2] = ["api", "page"];
/// Statuses whose oldest payment's age is exported: waiting on Innopay or on the reconciler.
const WAITING: [PaymentStatus; 2] = [PaymentStatus::Approving, PaymentStatus::Unknown];

/// One app's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    requests: Arc<AtomicU64>,
    /// When the database gauges were last read: scrapes closer together than `GAUGES_MAX_AGE`
    /// share one read (the counts scan `payments`), and concurrent scrapes wait for the one read.
    gauges_read_at: Arc<tokio::sync::Mutex<Option<OffsetDateTime>>>,
}

/// How long one read of the database gauges serves scrapes.
const GAUGES_MAX_AGE: time::Duration = time::Duration::seconds(1);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The method as a label: any client can send an extension method, so only the standard ones are
/// kept by name.
fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn seconds_since(at: Option<OffsetDateTime>, now: OffsetDateTime) -> f64 {
    at.map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0))
}

impl Metrics {
    /// A fresh registry, every series described and every bounded counter at zero.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_string()), &BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let metrics = Self {
            recorder: Arc::new(recorder),
            requests: Arc::default(),
            gauges_read_at: Arc::default(),
        };
        metrics.with(describe);
        metrics
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&*self.recorder, f)
    }

    pub fn http_request(&self, method: &poem::http::Method, route: &str, status: u16, secs: f64) {
        let labels = [
            ("method", method_label(method).to_string()),
            ("route", route.to_string()),
            ("status", status_class(status).to_string()),
        ];
        self.with(|| {
            counter!(HTTP_REQUESTS, &labels).increment(1);
            histogram!(HTTP_DURATION, &labels).record(secs);
        });
        if self.requests.fetch_add(1, Ordering::Relaxed) % UPKEEP_EVERY == UPKEEP_EVERY - 1 {
            self.recorder.handle().run_upkeep();
        }
    }

    /// Innopay answered (or did not answer) an approval call; `outcome` is `Outcome::label`.
    pub fn approval(&self, outcome: &'static str) {
        self.with(|| counter!(APPROVALS, "outcome" => outcome).increment(1));
    }

    /// A cancel call ended; `kind` is one of `CANCEL_KINDS`, `outcome` is `Outcome::label`.
    pub fn cancel(&self, kind: &'static str, outcome: &'static str) {
        self.with(|| counter!(CANCELS, "kind" => kind, "outcome" => outcome).increment(1));
    }

    /// A reconciler pass ended; `result` is one of `RECONCILER_RESULTS`.
    pub fn reconciler_run(&self, result: &'static str) {
        self.with(|| counter!(RECONCILER_RUNS, "result" => result).increment(1));
    }

    /// A reconciler pass handled one payment; `action` is one of `RECONCILE_ACTIONS`.
    pub fn reconciled(&self, action: &'static str) {
        self.with(|| counter!(RECONCILED, "action" => action).increment(1));
    }

    /// One webhook attempt; `outcome` is one of `WEBHOOK_OUTCOMES`; `given_up` when it was the last.
    pub fn webhook_attempt(&self, outcome: &'static str, given_up: bool) {
        self.with(|| {
            counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
            if given_up {
                counter!(WEBHOOK_GIVEN_UP).increment(1);
            }
        });
    }

    /// A Noti was judged (`NotiOutcome::as_str`), refused before reading, or could not be processed.
    pub fn noti(&self, outcome: &'static str) {
        self.with(|| counter!(NOTIS, "outcome" => outcome).increment(1));
    }

    /// A help search answered; `zero_results` when it found nothing (or fell back to suggestions).
    pub fn help_search(&self, source: &'static str, zero_results: bool) {
        self.with(|| {
            counter!(HELP_SEARCHES, "source" => source).increment(1);
            if zero_results {
                counter!(HELP_ZERO, "source" => source).increment(1);
            }
        });
    }

    /// Reads the database gauges (at most once a second) and renders everything in the Prometheus
    /// text format. A failed read leaves the gauges at their previous values and sets
    /// `paydesk_db_gauges_up` to 0.
    pub async fn render(&self, store: &Store) -> String {
        let mut read_at = self.gauges_read_at.lock().await;
        let now = store.now();
        let read = if read_at.is_some_and(|at| now - at < GAUGES_MAX_AGE) {
            None
        } else {
            let read = store.metric_gauges().await;
            if read.is_ok() {
                *read_at = Some(now);
            }
            Some(read)
        };
        drop(read_at);
        let pool = store.pool_usage();
        self.with(|| {
            match &read {
                // Read less than a second ago: the gauges hold it.
                None => {}
                Some(Ok(g)) => {
                    for status in PaymentStatus::ALL {
                        let label = status.as_str();
                        let count = g.payments.get(&status).copied().unwrap_or_default();
                        gauge!(PAYMENTS, "status" => label).set(count.total as f64);
                        gauge!(PAYMENTS_FLAGGED, "status" => label).set(count.flagged as f64);
                    }
                    for status in WAITING {
                        let oldest = g.oldest_change.get(&status).copied();
                        gauge!(PAYMENTS_OLDEST, "status" => status.as_str())
                            .set(seconds_since(oldest, now));
                    }
                    for (status, count) in &g.deliveries {
                        gauge!(WEBHOOK_DELIVERIES, "status" => status.as_str()).set(*count as f64);
                    }
                    gauge!(WEBHOOK_OLDEST).set(seconds_since(g.oldest_pending_delivery, now));
                    gauge!(DB_GAUGES_UP).set(1.0);
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "metrics: reading the database gauges failed");
                    gauge!(DB_GAUGES_UP).set(0.0);
                }
            }
            if let Some(pool) = pool {
                gauge!(POOL_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle));
                gauge!(POOL_CONNECTIONS, "state" => "in_use")
                    .set(f64::from(pool.open.saturating_sub(pool.idle)));
                gauge!(POOL_MAX).set(f64::from(pool.max));
            }
        });
        self.recorder.handle().render()
    }
}

/// Describes every series and shows each bounded counter at zero from the start, so a rate over a
/// label that never happened reads 0 rather than nothing.
fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests served.");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer HTTP requests."
    );
    describe_counter!(
        APPROVALS,
        "Approval calls to Innopay by outcome (done, declined, unknown, not_sent)."
    );
    describe_counter!(CANCELS, "Cancel calls to Innopay by kind and outcome.");
    describe_counter!(RECONCILER_RUNS, "Reconciler passes by result.");
    describe_counter!(
        RECONCILED,
        "Payments a reconciler pass handled, by what it did (expired, settled, retry_later, error)."
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts by outcome (accepted; failed, gone and not_sent are failures)."
    );
    describe_counter!(
        WEBHOOK_GIVEN_UP,
        "Webhook deliveries given up (retries ran out, 410 Gone, endpoint disabled)."
    );
    describe_counter!(NOTIS, "Innopay Noti received, by outcome.");
    describe_counter!(HELP_SEARCHES, "Help searches answered, by source.");
    describe_counter!(
        HELP_ZERO,
        "Help searches that found no article (fallback suggestions count), by source."
    );
    describe_gauge!(PAYMENTS, "Payments in the database by status.");
    describe_gauge!(
        PAYMENTS_FLAGGED,
        "Payments flagged for a person, by status."
    );
    describe_gauge!(
        PAYMENTS_OLDEST,
        Unit::Seconds,
        "Time since the last change of the longest-waiting payment in approving or unknown (0: none)."
    );
    describe_gauge!(
        WEBHOOK_DELIVERIES,
        "Webhook deliveries by status (pending is the backlog)."
    );
    describe_gauge!(
        WEBHOOK_OLDEST,
        Unit::Seconds,
        "Age of the oldest pending webhook delivery (0: none)."
    );
    describe_gauge!(
        DB_GAUGES_UP,
        "1 when this scrape read the database gauges, 0 when that failed (they hold older values)."
    );
    describe_gauge!(
        POOL_CONNECTIONS,
        "This instance's database connections by state."
    );
    describe_gauge!(POOL_MAX, "Most database connections this instance opens.");
    for outcome in GATEWAY_OUTCOMES {
        counter!(APPROVALS, "outcome" => outcome).absolute(0);
        for kind in CANCEL_KINDS {
            counter!(CANCELS, "kind" => kind, "outcome" => outcome).absolute(0);
        }
    }
    for result in RECONCILER_RESULTS {
        counter!(RECONCILER_RUNS, "result" => result).absolute(0);
    }
    for action in RECONCILE_ACTIONS {
        counter!(RECONCILED, "action" => action).absolute(0);
    }
    for outcome in WEBHOOK_OUTCOMES {
        counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).absolute(0);
    }
    counter!(WEBHOOK_GIVEN_UP).absolute(0);
    for outcome in NotiOutcome::ALL
        .map(NotiOutcome::as_str)
        .into_iter()
        .chain(NOTI_NOT_JUDGED)
    {
        counter!(NOTIS, "outcome" => outcome).absolute(0);
    }
    for source in SEARCH_SOURCES {
        counter!(HELP_SEARCHES, "source" => source).absolute(0);
        counter!(HELP_ZERO, "source" => source).absolute(0);
    }
}

/// Records every request into `Metrics`.
pub struct MetricsMiddleware(pub Metrics);

impl<E: Endpoint> Middleware<E> for MetricsMiddleware {
    type Output = MetricsEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        MetricsEndpoint {
            inner: ep,
            metrics: self.0.clone(),
        }
    }
}

pub struct MetricsEndpoint<E> {
    inner: E,
    metrics: Metrics,
}

impl<E: Endpoint> Endpoint for MetricsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let method = req.method().clone();
        let started = Instant::now();
        let result = self.inner.call(req).await.map(IntoResponse::into_response);
        let (status, route) = match &result {
            Ok(resp) => (
                resp.status().as_u16(),
                resp.data::<PathPattern>().map(|p| p.0.to_string()),
            ),
            Err(err) => (
                err.status().as_u16(),
                err.data::<PathPattern>().map(|p| p.0.to_string()),
            ),
        };
        let route = route.unwrap_or_else(|| "unmatched".to_string());
        self.metrics
            .http_request(&method, &route, status, started.elapsed().as_secs_f64());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::Outcome;
    use poem::http::Method;

    fn render(metrics: &Metrics) -> String {
        metrics.recorder.handle().render()
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_counted() {
        let metrics = Metrics::default();
        metrics.http_request(&Method::GET, "/v1/x/:id", 200, 0.003);
        metrics.http_request(&Method::GET, "/v1/x/:id", 201, 0.2);
        metrics.http_request(&Method::GET, "/v1/x/:id", 503, 20.0);
        let text = render(&metrics);
        for line in [
            "paydesk_http_requests_total{method=\"GET\",route=\"/v1/x/:id\",status=\"2xx\"} 2",
            "paydesk_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/x/:id\",status=\"2xx\",le=\"0.005\"} 1",
            "paydesk_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/x/:id\",status=\"2xx\",le=\"0.25\"} 2",
            "paydesk_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/x/:id\",status=\"5xx\",le=\"10\"} 0",
            "paydesk_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/x/:id\",status=\"5xx\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }

    #[test]
    fn two_registries_do_not_share_counts() {
        let (a, b) = (Metrics::default(), Metrics::default());
        a.approval("done");
        a.approval("done");
        b.approval("declined");
        let (a, b) = (render(&a), render(&b));
        assert!(
            a.contains("paydesk_approvals_total{outcome=\"done\"} 2"),
            "{a}"
        );
        assert!(
            a.contains("paydesk_approvals_total{outcome=\"declined\"} 0"),
            "{a}"
        );
        assert!(
            b.contains("paydesk_approvals_total{outcome=\"done\"} 0"),
            "{b}"
        );
        assert!(
            b.contains("paydesk_approvals_total{outcome=\"declined\"} 1"),
            "{b}"
        );
    }

    #[test]
    fn extension_methods_share_one_label() {
        let metrics = Metrics::default();
        let odd = Method::from_bytes(b"PURGE-42").unwrap();
        metrics.http_request(&odd, "unmatched", 405, 0.001);
        assert!(render(&metrics).contains("method=\"other\""));
    }

    #[test]
    fn every_gateway_outcome_label_is_listed() {
        let outcomes: [Outcome<()>; 4] = [
            Outcome::Done(()),
            Outcome::Declined {
                code: String::new(),
                message: String::new(),
            },
            Outcome::Unknown {
                reason: String::new(),
            },
            Outcome::NotSent {
                reason: String::new(),
            },
        ];
        for outcome in outcomes {
            assert!(GATEWAY_OUTCOMES.contains(&outcome.label()));
        }
    }
}
