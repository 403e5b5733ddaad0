//! Refuses request bodies larger than paydesk accepts, with the envelope's `payload_too_large` (413).
//! Unlike poem's `SizeLimit` it does not demand a `Content-Length`: GETs have none, and chunked bodies
//! are read up to the limit instead.

use poem::http::StatusCode;
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};

use super::error::{ApiError, ErrorType};

pub struct BodyLimit(pub usize);

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        BodyLimitEndpoint {
            inner: ep,
            max: self.0,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
}

fn too_large(max: usize) -> poem::Error {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorType::InvalidRequest,
        "payload_too_large",
        format!("the request body is larger than {max} bytes"),
    )
    .with_param("body")
    .into()
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let declared = req
            .headers()
            .get(poem::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match declared {
            Some(len) if len > self.max as u64 => return Err(too_large(self.max)),
            Some(_) => {}
            None => {
                let body = req.take_body();
                if !body.is_empty() {
                    let bytes = body
                        .into_bytes_limit(self.max)
                        .await
                        .map_err(|_| too_large(self.max))?;
                    req.set_body(Body::from_bytes(bytes));
                } else {
                    req.set_body(body);
                }
            }
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}
