//! `/healthz` (the process answers), `/readyz` (it can do real work: database reachable, migrations
//! applied) and `/metrics` (rendered by `ops::metrics`).

use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use crate::api::{ApiError, ErrorDocs, ErrorType, Errors};
use crate::app::AppState;
use crate::config::ExposeSecret;

#[derive(Tags)]
enum OpsTags {
    /// Probes and metrics for operators and orchestrators.
    Operations,
}

/// Probe answer.
#[derive(Object)]
struct ProbeStatus {
    /// `ok` or `ready`.
    status: String,
}

#[derive(ApiResponse)]
enum HealthResponse {
    /// The process is alive.
    #[oai(status = 200)]
    Ok(Json<ProbeStatus>),
}

#[derive(ApiResponse)]
enum ReadyResponse {
    /// The database is reachable and every migration is applied.
    #[oai(status = 200)]
    Ready(Json<ProbeStatus>),
}

/// `/readyz` answers 503 and nothing else when not ready.
struct ReadyErrors;

impl ErrorDocs for ReadyErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[(
        503,
        "`not_ready`: the database is unreachable or migrations are missing; `error.message` says \
         which.",
    )];
}

/// `/metrics` with `PAYDESK_METRICS_TOKEN` set.
struct MetricsErrors;

impl ErrorDocs for MetricsErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[(
        401,
        "`invalid_metrics_token`: this server has `PAYDESK_METRICS_TOKEN` set and the request has \
         no `Authorization: Bearer` with it.",
    )];
}

#[derive(ApiResponse)]
enum MetricsResponse {
    /// Prometheus text exposition format 0.0.4.
    #[oai(
        status = 200,
        content_type = "text/plain; version=0.0.4; charset=utf-8"
    )]
    Ok(PlainText<String>),
}

pub struct OpsApi;

#[OpenApi(tag = "OpsTags::Operations")]
impl OpsApi {
    /// Liveness: answers as long as the process serves HTTP.
    #[oai(path = "/healthz", method = "get", operation_id = "checkLiveness")]
    async fn healthz(&self) -> HealthResponse {
        HealthResponse::Ok(Json(ProbeStatus {
            status: "ok".into(),
        }))
    }

    /// Readiness: 503 with the reason (`not_ready`) while the database is unreachable or migrations are
    /// missing.
    #[oai(path = "/readyz", method = "get", operation_id = "checkReadiness")]
    async fn readyz(&self, state: Data<&AppState>) -> Result<ReadyResponse, Errors<ReadyErrors>> {
        match state.store.readiness().await {
            Ok(()) => Ok(ReadyResponse::Ready(Json(ProbeStatus {
                status: "ready".into(),
            }))),
            Err(reason) => {
                tracing::warn!(%reason, "not ready");
                Err(ApiError::unavailable("not_ready", reason, 5).into())
            }
        }
    }

    /// Prometheus metrics: HTTP requests per route and status class, this instance's business counters
    /// (approvals, cancels, reconciler, webhook attempts, Noti, help searches) and gauges read from the
    /// database at each scrape (payments by status, webhook backlog); `docs/METRICS.md` lists them.
    /// With `PAYDESK_METRICS_TOKEN` set, only for `Authorization: Bearer <that token>`.
    #[oai(path = "/metrics", method = "get", operation_id = "getMetrics")]
    async fn metrics(
        &self,
        state: Data<&AppState>,
        req: &Request,
    ) -> Result<MetricsResponse, Errors<MetricsErrors>> {
        if let Some(token) = &state.config.metrics_token
            && crate::api::bearer_matches(req, token.expose_secret()) != Some(true)
        {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorType::Authentication,
                "invalid_metrics_token",
                "send Authorization: Bearer with the token this server has in PAYDESK_METRICS_TOKEN",
            )
            .with_param("Authorization")
            .into());
        }
        Ok(MetricsResponse::Ok(PlainText(
            state.metrics.render(&state.store).await,
        )))
    }
}
