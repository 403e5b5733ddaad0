//! HTTP metrics in Prometheus text format: request counts and latency histograms per method, route
//! pattern (not raw path, so ids do not explode the label set) and status class.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use poem::PathPattern;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum_seconds: f64,
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    buckets: [u64; BUCKETS.len() + 1],
}

/// Series by (method, route pattern, status class).
type SeriesByLabels = BTreeMap<(String, String, &'static str), Series>;

/// Shared, in-process metric state; each instance exports its own (Prometheus sums across instances).
#[derive(Clone, Default)]
pub struct HttpMetrics {
    series: Arc<Mutex<SeriesByLabels>>,
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

impl HttpMetrics {
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut series = self.series.lock().expect("metrics lock poisoned");
        let entry = series
            .entry((method.to_string(), route.to_string(), status_class(status)))
            .or_default();
        entry.count += 1;
        entry.sum_seconds += seconds;
        let slot = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        entry.buckets[slot] += 1;
    }

    /// The Prometheus text exposition of everything recorded so far.
    pub fn render(&self) -> String {
        let series = self.series.lock().expect("metrics lock poisoned");
        let mut out = String::new();
        out.push_str("# HELP paydesk_http_requests_total HTTP requests served.\n");
        out.push_str("# TYPE paydesk_http_requests_total counter\n");
        for ((method, route, class), s) in series.iter() {
            let _ = writeln!(
                out,
                "paydesk_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{class}\"}} {}",
                escape(route),
                s.count
            );
        }
        out.push_str("# HELP paydesk_http_request_duration_seconds Time to answer HTTP requests.\n");
        out.push_str("# TYPE paydesk_http_request_duration_seconds histogram\n");
        for ((method, route, class), s) in series.iter() {
            let labels = format!("method=\"{method}\",route=\"{}\",status=\"{class}\"", escape(route));
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += s.buckets[i];
                let _ = writeln!(
                    out,
                    "paydesk_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "paydesk_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "paydesk_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "paydesk_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Records every request into `HttpMetrics`.
pub struct MetricsMiddleware(pub HttpMetrics);

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
    metrics: HttpMetrics,
}

impl<E: Endpoint> Endpoint for MetricsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let method = req.method().to_string();
        let started = Instant::now();
        let result = self.inner.call(req).await.map(IntoResponse::into_response);
        let (status, route) = match &result {
            Ok(resp) => (resp.status().as_u16(), resp.data::<PathPattern>().map(|p| p.0.to_string())),
            Err(err) => (err.status().as_u16(), err.data::<PathPattern>().map(|p| p.0.to_string())),
        };
        let route = route.unwrap_or_else(|| "unmatched".to_string());
        self.metrics
            .record(&method, &route, status, started.elapsed().as_secs_f64());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_counted() {
        let metrics = HttpMetrics::default();
        metrics.record("GET", "/v1/x/:id", 200, 0.003);
        metrics.record("GET", "/v1/x/:id", 201, 0.2);
        metrics.record("GET", "/v1/x/:id", 503, 20.0);
        let text = metrics.render();
        assert!(text.contains(
            "paydesk_http_requests_total{method=\"GET\",route=\"/v1/x/:id\",status=\"2xx\"} 2"
        ));
        assert!(text.contains(
            "paydesk_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/x/:id\",status=\"2xx\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "paydesk_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/x/:id\",status=\"2xx\",le=\"0.25\"} 2"
        ));
        assert!(text.contains(
            "paydesk_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/x/:id\",status=\"5xx\",le=\"10\"} 0"
        ));
        assert!(text.contains(
            "paydesk_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/x/:id\",status=\"5xx\"} 1"
        ));
    }
}
