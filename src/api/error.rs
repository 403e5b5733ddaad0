//! The one error envelope of the paydesk API:
//! `{"error": {"type", "code", "message", "param"?, "requestId", "retryable", "nextAction", ...}}`.
//! `code` is stable and meant for programs; `message` is for the developer reading logs; optional parts
//! carry Innopay's own code and message verbatim, a message safe to show a shopper, and help articles.
//! 5XX bodies never reveal internals: the cause is logged with the request id instead.

use std::marker::PhantomData;

use poem::http::{HeaderValue, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Enum, Object};

use super::request_id::current_request_id;

/// Broad class of an error; `code` says precisely what went wrong.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ErrorType {
    /// The request is malformed or a field is invalid; fix it before retrying.
    InvalidRequest,
    /// No valid API key was presented.
    Authentication,
    /// The key is valid but may not do this.
    Permission,
    /// The resource does not exist (or belongs to another storefront).
    NotFound,
    /// The request conflicts with the current state (idempotency key reuse, stale amounts).
    Conflict,
    /// Innopay or the card company refused the payment.
    Payment,
    /// A dependency (Innopay, the database) is unavailable; retry later.
    Unavailable,
    /// An unexpected error in paydesk; the request id locates it in the logs.
    ApiError,
}

/// What the caller should do next.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum NextAction {
    /// Correct the request (see `param`) and send it again.
    FixRequest,
    /// Sending the same request again may succeed.
    Retry,
    /// Retry after the time in `Retry-After`.
    RetryLater,
    /// The outcome is not known yet; poll the resource or wait for its webhook.
    WaitForOutcome,
    /// Ask the shopper to pay with another card or method.
    ChooseAnotherMethod,
    /// Nothing will succeed without a person looking at it.
    ContactSupport,
    /// Nothing to do (e.g. the resource simply does not exist).
    None,
}

/// Innopay's own answer, kept verbatim so support can look it up with Innopay.
#[derive(Object, Clone, Debug, PartialEq, Eq)]
pub struct InnopayErrorDetail {
    pub code: String,
    pub message: String,
}

/// A help article section that explains the error to a shopper.
#[derive(Object, Clone, Debug, PartialEq)]
pub struct HelpLink {
    pub slug: String,
    pub title: String,
    /// The section heading, when the link points at one section.
    #[oai(skip_serializing_if_is_none)]
    pub section: Option<String>,
    /// `/help/{slug}#{anchor}`, relative to this server.
    pub url: String,
}

/// The body of every API error.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct ErrorBody {
    #[oai(rename = "type")]
    pub kind: ErrorType,
    /// Stable, machine-readable code, e.g. `invalid_amount`. New codes may be added; existing ones keep
    /// their meaning.
    pub code: String,
    /// What went wrong, in English, for the developer.
    pub message: String,
    /// The request field, header or parameter at fault.
    #[oai(skip_serializing_if_is_none)]
    pub param: Option<String>,
    /// Quote it to support: it locates the request in paydesk's logs.
    pub request_id: String,
    /// Whether the same request may succeed if sent again.
    pub retryable: bool,
    pub next_action: NextAction,
    /// Innopay's code and message, verbatim, when Innopay refused.
    #[oai(skip_serializing_if_is_none)]
    pub innopay: Option<InnopayErrorDetail>,
    /// A short Korean message that is safe to show the shopper.
    #[oai(skip_serializing_if_is_none)]
    pub shopper_message: Option<String>,
    /// Help articles most likely to solve the problem, best first (absent when there are none).
    #[oai(default, skip_serializing_if_is_empty)]
    pub help: Vec<HelpLink>,
}

/// The JSON envelope of every API error.
#[derive(Object, Clone, Debug)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// An API error about to be sent. Built by each module's `From<ModuleError>`; rendered here only.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Seconds for the `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: ErrorType,
        code: &str,
        message: impl Into<String>,
    ) -> Self {
        let (retryable, next_action) = match kind {
            ErrorType::Unavailable => (true, NextAction::RetryLater),
            ErrorType::ApiError => (true, NextAction::Retry),
            ErrorType::NotFound => (false, NextAction::None),
            ErrorType::Payment => (false, NextAction::ChooseAnotherMethod),
            ErrorType::Conflict => (false, NextAction::FixRequest),
            _ => (false, NextAction::FixRequest),
        };
        Self {
            status,
            body: ErrorBody {
                kind,
                code: code.to_string(),
                message: message.into(),
                param: None,
                request_id: String::new(),
                retryable,
                next_action,
                innopay: None,
                shopper_message: None,
                help: Vec::new(),
            },
            retry_after: None,
        }
    }

    /// 400: a field or parameter is invalid.
    pub fn invalid(code: &str, param: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequest,
            code,
            message,
        )
        .with_param(param)
    }

    /// 404: the resource is not there, or belongs to someone else (never say which).
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorType::NotFound, code, message)
    }

    /// 409: the request conflicts with current state.
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorType::Conflict, code, message)
    }

    /// 401: no usable credentials.
    pub fn unauthenticated(code: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorType::Authentication,
            code,
            message,
        )
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(code: &str, message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut err = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Unavailable,
            code,
            message,
        );
        err.retry_after = Some(retry_after_secs);
        err
    }

    /// 500: logs the cause with the request id and answers without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::ApiError,
            "internal_error",
            "paydesk failed to handle this request; quote the request id to support",
        )
    }

    pub fn with_param(mut self, param: &str) -> Self {
        self.body.param = Some(param.to_string());
        self
    }

    pub fn with_retry(mut self, retryable: bool, next_action: NextAction) -> Self {
        self.body.retryable = retryable;
        self.body.next_action = next_action;
        self
    }

    pub fn with_innopay(mut self, code: &str, message: &str) -> Self {
        self.body.innopay = Some(InnopayErrorDetail {
            code: code.to_string(),
            message: message.to_string(),
        });
        self
    }

    pub fn with_shopper_message(mut self, message: impl Into<String>) -> Self {
        self.body.shopper_message = Some(message.into());
        self
    }

    pub fn with_help(mut self, help: Vec<HelpLink>) -> Self {
        self.body.help = help;
        self
    }

    pub fn code(&self) -> &str {
        &self.body.code
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.body.code,
            self.body.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.body;
        body.request_id = current_request_id().unwrap_or_default();
        let json = ErrorEnvelope { error: body }.to_json_string();
        let mut response = Response::builder()
            .status(self.status)
            .content_type("application/json; charset=utf-8")
            .body(json);
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
        }
        response
    }
}

impl From<Box<ApiError>> for ApiError {
    fn from(err: Box<ApiError>) -> Self {
        *err
    }
}

impl From<ApiError> for poem::Error {
    fn from(err: ApiError) -> Self {
        poem::Error::from_response(err.into_response())
    }
}

/// The error answers one operation documents in the OpenAPI spec: each status it can answer, with a
/// description naming the `error.code` values that status carries there. Listing exact statuses per
/// operation (rather than `4XX`/`5XX`) is what lets a test prove every documented answer reachable.
pub trait ErrorDocs: Send + Sync + 'static {
    /// `(status, description)`, in status order.
    const ERRORS: &'static [(u16, &'static str)];
}

/// Answers every authenticated operation shares, for `ErrorDocs` tables.
pub mod docs {
    pub const UNAUTHORIZED: (u16, &str) = (
        401,
        "No usable API key: `missing_api_key` (no `Authorization: Bearer ...`), `invalid_api_key` \
         (unknown, revoked, or of the wrong mode).",
    );
    pub const FORBIDDEN: (u16, &str) = (
        403,
        "`live_key_on_sandbox`: a live key sent to a server that talks to the Innopay sandbox.",
    );
    pub const NOT_FOUND: (u16, &str) = (
        404,
        "`resource_not_found`: no such id for this storefront (another storefront's ids are not \
         found either).",
    );
    pub const PAYLOAD_TOO_LARGE: (u16, &str) =
        (413, "`payload_too_large`: the body is larger than 256 KiB.");
    pub const UNSUPPORTED_MEDIA_TYPE: (u16, &str) = (
        415,
        "`unsupported_media_type`: the body is not `application/json`.",
    );
    pub const INTERNAL: (u16, &str) = (
        500,
        "`internal_error`: paydesk failed unexpectedly; the cause is logged under `requestId`. \
         Send the request again (writes with the same `Idempotency-Key`).",
    );
    pub const DATABASE_UNAVAILABLE: (u16, &str) = (
        503,
        "`database_unavailable`: paydesk cannot reach its database. Send the request again after \
         `Retry-After` seconds (writes with the same `Idempotency-Key`).",
    );
    pub const BAD_ID: (u16, &str) = (
        400,
        "`invalid_parameter`: the id in the path is not valid percent-encoded UTF-8.",
    );
}

/// An `ApiError` returned by an operation whose possible error answers `S` documents. Every module
/// error converts into it with `?`, exactly as into `ApiError`.
pub struct Errors<S>(ApiError, PhantomData<S>);

impl<S, E: Into<ApiError>> From<E> for Errors<S> {
    fn from(err: E) -> Self {
        Errors(err.into(), PhantomData)
    }
}

impl<S> From<Errors<S>> for poem::Error {
    fn from(err: Errors<S>) -> Self {
        err.0.into()
    }
}

impl<S: ErrorDocs> ApiResponse for Errors<S> {
    fn meta() -> MetaResponses {
        let responses = S::ERRORS
            .iter()
            .map(|&(status, description)| MetaResponse {
                description,
                status: Some(status),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json; charset=utf-8",
                    schema: ErrorEnvelope::schema_ref(),
                }],
                // Every 503 comes from `ApiError::unavailable`, which always sets it.
                headers: (status == 503)
                    .then(|| MetaHeader {
                        name: "Retry-After".to_string(),
                        description: Some("Seconds to wait before retrying.".to_string()),
                        required: true,
                        deprecated: false,
                        schema: u64::schema_ref(),
                    })
                    .into_iter()
                    .collect(),
            })
            .collect();
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        ErrorEnvelope::register(registry);
    }
}

/// Renders an error that escaped a handler (poem-openapi's parse errors, routing, size limits) in the
/// envelope. Errors that are already an `ApiError` response pass through unchanged.
pub(super) fn error_from_poem(err: poem::Error) -> Response {
    use poem_openapi::error::{
        AuthorizationError, ContentTypeError, ParseMultipartError, ParseParamError,
        ParseRequestPayloadError,
    };
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let api_error = if let Some(e) = err.downcast_ref::<ParseParamError>() {
        ApiError::invalid(
            "invalid_parameter",
            e.name,
            format!("parameter `{}` is invalid: {}", e.name, e.reason),
        )
    } else if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        ApiError::invalid(
            "invalid_body",
            "body",
            format!("the request body cannot be read: {}", e.reason),
        )
    } else if let Some(e) = err.downcast_ref::<ParseMultipartError>() {
        ApiError::invalid("invalid_body", "body", e.reason.clone())
    } else if let Some(e) = err.downcast_ref::<ContentTypeError>() {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorType::InvalidRequest,
            "unsupported_media_type",
            e.to_string(),
        )
        .with_param("Content-Type")
    } else if err.is::<poem::error::ParsePathError>() {
        ApiError::invalid(
            "invalid_parameter",
            "path",
            "a path parameter is not valid percent-encoded UTF-8",
        )
    } else if err.is::<AuthorizationError>() {
        ApiError::unauthenticated("missing_api_key", "send `Authorization: Bearer <API key>`")
            .with_param("Authorization")
    } else if status == StatusCode::NOT_FOUND {
        ApiError::not_found("route_not_found", "no such route")
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        ApiError::new(
            status,
            ErrorType::InvalidRequest,
            "method_not_allowed",
            "this route does not accept that method",
        )
    } else if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            ErrorType::InvalidRequest,
            "payload_too_large",
            "the request body is larger than paydesk accepts",
        )
        .with_param("body")
    } else if status.is_server_error() {
        ApiError::internal(&err)
    } else {
        ApiError::new(
            status,
            ErrorType::InvalidRequest,
            "bad_request",
            err.to_string(),
        )
    };
    api_error.into_response()
}

/// The store is a leaf: how its errors look in the API is decided here.
impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        if err.is_temporary() {
            tracing::warn!(reason = %err, "database unavailable");
            return ApiError::unavailable(
                "database_unavailable",
                "paydesk cannot reach its database right now; retry shortly",
                5,
            );
        }
        ApiError::internal(err)
    }
}
