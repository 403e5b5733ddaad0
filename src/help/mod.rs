//! The embedded help knowledge base: Korean articles (`docs/help/*.md`, built into the binary or read
//! from `PAYDESK_HELP_DIR`), their checks (`paydesk help check`), an in-RAM tantivy index with Korean
//! analysis that needs no dictionary, search, suggestions for payment errors, the JSON API, the help
//! pages and the storefront widget. Flow: `source` (files) → `article` + `catalog` (parse, check) →
//! `search` (index) → `center::HelpCenter` (search, grouping, snippets) → `suggest` → `api` / `pages`.
//! The loaded `HelpCenter` is immutable; `HelpHandle` swaps in a new one on reload (SIGHUP).

mod analysis;
mod api;
mod article;
mod catalog;
mod center;
mod pages;
mod search;
mod search_log;
mod snippet;
mod source;
mod suggest;
mod synonyms;

use std::sync::Arc;

use arc_swap::ArcSwap;
use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

pub use api::HelpApi;
pub use article::{Article, Audience, CATEGORIES, ErrorPattern, Section, category_label};
pub use catalog::Problem;
pub use center::{HelpCenter, HelpHit, SearchResults};
pub use pages::{mount as mount_pages, render_suggestions};
pub use search::IndexStats;
pub use search_log::{SearchLog, SearchLogWriter, search_log};
pub use source::{HelpSource, SourceFile};
pub use suggest::{DEFAULT_SUGGESTIONS, SuggestRequest};

use crate::api::{ApiError, ErrorType};
use crate::store::StoreError;

/// What went wrong in the help centre.
#[derive(Debug, thiserror::Error)]
pub enum HelpError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    /// `paydesk help check` would report these; the first is in the message.
    #[error(
        "{origin}: {} problem(s) in the help articles, first: {}; run `paydesk help check` for all",
        problems.len(),
        problems.first().map(ToString::to_string).unwrap_or_default()
    )]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
    #[error("cannot build the help index: {0}")]
    Index(String),
    #[error("there is no help article {0:?}")]
    ArticleNotFound(String),
    #[error("{message}")]
    InvalidParam {
        code: &'static str,
        param: &'static str,
        message: String,
    },
    #[error("help analytics are disabled: set PAYDESK_HELP_ANALYTICS_TOKEN to enable them")]
    AnalyticsDisabled,
    #[error("send `Authorization: Bearer <PAYDESK_HELP_ANALYTICS_TOKEN>`")]
    AnalyticsUnauthorized,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A 400 for a bad parameter or field.
fn invalid(code: &'static str, param: &'static str, message: impl Into<String>) -> HelpError {
    HelpError::InvalidParam {
        code,
        param,
        message: message.into(),
    }
}

impl From<HelpError> for ApiError {
    fn from(err: HelpError) -> Self {
        match err {
            HelpError::ArticleNotFound(_) => {
                ApiError::not_found("article_not_found", err.to_string())
            }
            HelpError::InvalidParam {
                code,
                param,
                message,
            } => ApiError::invalid(code, param, message),
            HelpError::AnalyticsDisabled => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorType::Permission,
                "analytics_disabled",
                err.to_string(),
            ),
            HelpError::AnalyticsUnauthorized => {
                ApiError::unauthenticated("invalid_analytics_token", err.to_string())
                    .with_param("Authorization")
            }
            HelpError::Store(e) => e.into(),
            HelpError::Unreadable { .. } | HelpError::Invalid { .. } | HelpError::Index(_) => {
                ApiError::internal(err)
            }
        }
    }
}

/// Logs instead of failing: analytics must never cost a reader their answer.
fn log_unrecorded(result: Result<(), StoreError>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot record help analytics");
    }
}

/// The help centre in use, shared by every request and replaced whole on reload, so a request sees
/// either the old or the new articles, never a mix.
#[derive(Clone)]
pub struct HelpHandle {
    current: Arc<ArcSwap<HelpCenter>>,
    source: HelpSource,
}

impl HelpHandle {
    pub fn load(source: HelpSource) -> Result<Self, HelpError> {
        let center = HelpCenter::load(&source)?;
        Ok(Self {
            current: Arc::new(ArcSwap::from_pointee(center)),
            source,
        })
    }

    /// The help centre as it is now; hold the `Arc` for the whole request.
    pub fn current(&self) -> Arc<HelpCenter> {
        self.current.load_full()
    }

    pub fn source(&self) -> &HelpSource {
        &self.source
    }

    /// Reads the source again and swaps the new help centre in; on any problem the old one stays.
    pub fn reload(&self) -> Result<IndexStats, HelpError> {
        let center = HelpCenter::load(&self.source)?;
        let stats = center.stats();
        self.current.store(Arc::new(center));
        Ok(stats)
    }
}

/// Reloads the articles whenever the process receives SIGHUP (`kill -HUP <pid>`, `systemctl reload`).
/// A signal rather than an HTTP endpoint: a public server has no safe unauthenticated way to accept
/// the request, and every instance reloads its own copy anyway.
pub async fn reload_on_sighup(handle: HelpHandle) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; help articles reload only on restart");
            return;
        };
        while hangups.recv().await.is_some() {
            let worker = handle.clone();
            match tokio::task::spawn_blocking(move || worker.reload()).await {
                Ok(Ok(stats)) => tracing::info!(
                    source = %handle.source(),
                    articles = stats.articles,
                    sections = stats.sections,
                    build_ms = stats.build_micros / 1000,
                    "help articles reloaded"
                ),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "help reload failed; keeping the previous articles")
                }
                Err(e) => {
                    tracing::error!(error = %e, "help reload panicked; keeping the previous articles")
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = handle;
    }
}

/// Lets a storefront's own pages (another origin) call the public help GETs: search, articles and
/// suggest. The analytics report is not opened up.
pub struct PublicHelpCors;

fn is_public_help_api(req: &Request) -> bool {
    let path = req.uri().path();
    req.method() == poem::http::Method::GET
        && path.starts_with("/v1/help/")
        && !path.starts_with("/v1/help/analytics")
}

impl<E: Endpoint> Middleware<E> for PublicHelpCors {
    type Output = PublicHelpCorsEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        PublicHelpCorsEndpoint { inner: ep }
    }
}

pub struct PublicHelpCorsEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for PublicHelpCorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let public = is_public_help_api(&req);
        let mut response = self.inner.call(req).await?.into_response();
        if public {
            response.headers_mut().insert(
                poem::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
                poem::http::HeaderValue::from_static("*"),
            );
        }
        Ok(response)
    }
}
