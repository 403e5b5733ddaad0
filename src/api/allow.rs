//! `Allow` on 405 answers (RFC 9110 requires it): the methods the OpenAPI document lists for the
//! route that matched. poem's router answers 405 without saying which methods would have worked.

use std::collections::HashMap;
use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response};

/// Methods by route shape (`/v1/payments/*`, see `shape`).
#[derive(Clone, Default)]
pub struct AllowHeader(Arc<HashMap<String, HeaderValue>>);

impl AllowHeader {
    /// Reads the methods of every path of an OpenAPI document (JSON). A GET route also answers HEAD.
    pub fn from_spec(spec_json: &str) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
        let mut table = HashMap::new();
        for (path, operations) in spec["paths"].as_object().into_iter().flatten() {
            let mut methods: Vec<String> = operations
                .as_object()
                .into_iter()
                .flatten()
                .map(|(method, _)| method.to_ascii_uppercase())
                .collect();
            if methods.iter().any(|m| m == "GET") {
                methods.push("HEAD".into());
            }
            if let Ok(value) = HeaderValue::from_str(&methods.join(", ")) {
                table.insert(shape(path), value);
            }
        }
        Self(Arc::new(table))
    }
}

/// A route with its parameters blanked out: the document writes `/v1/payments/{id}`, poem's matched
/// pattern `/v1/payments/:param0`; both become `/v1/payments/*`.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with(':') || segment.starts_with('{') {
                "*"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl<E: Endpoint> Middleware<E> for AllowHeader {
    type Output = AllowHeaderEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        AllowHeaderEndpoint {
            inner: ep,
            table: self.0.clone(),
        }
    }
}

pub struct AllowHeaderEndpoint<E> {
    inner: E,
    table: Arc<HashMap<String, HeaderValue>>,
}

impl<E: Endpoint> Endpoint for AllowHeaderEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let mut response = self.inner.call(req).await?.into_response();
        if response.status() == StatusCode::METHOD_NOT_ALLOWED
            && let Some(methods) = response
                .data::<PathPattern>()
                .and_then(|pattern| self.table.get(&shape(&pattern.0)))
                .cloned()
        {
            response.headers_mut().insert("allow", methods);
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::{AllowHeader, shape};

    #[test]
    fn methods_come_from_the_spec_whatever_the_parameter_names() {
        let allow = AllowHeader::from_spec(
            r#"{"paths": {"/v1/payments/{id}/cancel": {"post": {}}, "/healthz": {"get": {}}}}"#,
        );
        assert_eq!(allow.0[&shape("/v1/payments/:param0/cancel")], "POST");
        assert_eq!(allow.0[&shape("/healthz")], "GET, HEAD");
    }
}
