//! Request ids: taken from an incoming `X-Request-Id` (when it is short and printable) or generated,
//! echoed in the response header, attached to every log line of the request through a tracing span, and
//! readable anywhere in the request's task so error bodies can carry it.

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use tracing::Instrument;

use super::error::error_from_poem;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request this task is serving, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Accept a caller's id only if it is safe to echo into headers and logs.
fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Sets the request id, logs one line per request, and turns any error that escaped the handlers
/// (bad JSON, a missing parameter, an unknown route) into the JSON error envelope.
pub struct RequestIdMiddleware;

impl<E: Endpoint> Middleware<E> for RequestIdMiddleware {
    type Output = RequestIdEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        RequestIdEndpoint { inner: ep }
    }
}

pub struct RequestIdEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for RequestIdEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let id = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| acceptable(v))
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
        let span = tracing::info_span!("request", request_id = %id);
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let started = std::time::Instant::now();
        let inner = &self.inner;
        let mut response = REQUEST_ID
            .scope(id.clone(), async move {
                match inner.call(req).await {
                    Ok(output) => output.into_response(),
                    Err(err) => {
                        // Keep the matched route so metrics label the error by it.
                        let pattern = err.data::<poem::PathPattern>().cloned();
                        let mut response = error_from_poem(err);
                        if let Some(pattern) = pattern {
                            response.set_data(pattern);
                        }
                        response
                    }
                }
            })
            .instrument(span.clone())
            .await;
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        span.in_scope(|| {
            tracing::info!(
                %method,
                path,
                status = response.status().as_u16(),
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "request"
            )
        });
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_printable_short_ids_are_echoed() {
        assert!(acceptable("abc-123_x.y:z"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable("line\nbreak"));
        assert!(!acceptable(&"x".repeat(129)));
    }
}
