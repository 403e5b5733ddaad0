//! `DirectJson`: a JSON response body written straight from the value's `serde::Serialize`, for hot
//! read paths. poem-openapi's `Json` first turns the value into a `serde_json::Value` tree (a map
//! and a copied string per field) and then writes that; for a help search answered from the cache
//! that detour cost more than everything else the request did. The OpenAPI document is the same as
//! with `Json`: the schema is the value's `poem_openapi::Type`, and a test per use checks that both
//! routes write the same JSON.

use poem::http::header::CONTENT_TYPE;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::Serialize;

/// A JSON body serialized by serde, documented by poem-openapi.
pub struct DirectJson<T>(pub T);

impl<T: Type + Send> Payload for DirectJson<T> {
    /// What poem-openapi's `Json` declares, so the document does not change.
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Serialize + Send> IntoResponse for DirectJson<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder()
                .header(CONTENT_TYPE, "application/json; charset=utf-8")
                .body(body),
            Err(e) => super::ApiError::internal(e).into_response(),
        }
    }
}
