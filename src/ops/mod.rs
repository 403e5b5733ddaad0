//! Operating the service: liveness and readiness probes, Prometheus metrics, and log set-up.

mod health;
mod logging;
mod metrics;

pub use health::OpsApi;
pub use logging::init_logging;
pub use metrics::{Metrics, MetricsMiddleware};
