//! `JsonBody<T>`: a JSON request body that the operation parses itself, after it has authenticated
//! the caller, so a wrong API key is `401` whatever the body holds. The OpenAPI document shows the
//! body exactly as poem-openapi's `Json<T>` would (T's schema, `application/json`).
//!
//! A body that cannot be read is `400` with `param` naming the JSON path of the first field at fault
//! (`buyer.tel`, `amount`): the value is checked against T's own schema (the one the spec publishes)
//! by the `jsonschema` crate, which says where and why, before poem-openapi reads it into `T`. The error `code` is the field's own (`invalid_amount`, ...) where the request type names one,
//! else `invalid_body`.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock, RwLock};

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use poem::http::StatusCode;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::Value;

use super::error::{ApiError, ErrorType};
use super::json_keys::duplicate_key;

/// What is wrong with a field, as far as its schema says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Required and absent (or `null`).
    Missing,
    /// Another JSON type than the schema's.
    WrongType,
    /// Not one of the schema's enum values.
    NotAllowed,
    /// Outside a length, range, pattern or format.
    OutOfLimits,
}

/// A request type's error codes per field: the code a body error at `path` answers with. `path`
/// is the dotted JSON path (`buyer.tel`, `items[2].id`); `None` means `invalid_body`.
pub trait FieldCodes {
    fn field_code(path: &str, fault: Fault) -> Option<&'static str>;
}

/// The top-level key of a dotted JSON path (`buyer` for `buyer.tel`).
pub fn top_level(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or(path)
}

/// The raw body and its content type, parsed by [`JsonBody::parse`].
pub struct JsonBody<T> {
    content_type: Option<String>,
    bytes: Vec<u8>,
    _type: PhantomData<fn() -> T>,
}

const CONTENT_TYPE: &str = "application/json; charset=utf-8";

impl<T: ParseFromJSON + FieldCodes> JsonBody<T> {
    /// The body as `T`, or the error naming the field at fault (boxed: it is the cold path).
    pub fn parse(&self) -> Result<T, Box<ApiError>> {
        let json = self
            .content_type
            .as_deref()
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == "application"
                    && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
            });
        if !json {
            return Err(Box::new(
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorType::InvalidRequest,
                    "unsupported_media_type",
                    "send the body as JSON with `Content-Type: application/json`",
                )
                .with_param("Content-Type"),
            ));
        }
        if self.bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Box::new(ApiError::invalid(
                "invalid_body",
                "body",
                "the request body is empty; send a JSON object",
            )));
        }
        // serde keeps the last of two equal keys; a proxy or a log may keep the first.
        if let Some(path) = duplicate_key(&self.bytes) {
            return Err(Box::new(ApiError::invalid(
                "invalid_body",
                &path,
                format!("the JSON body gives the key {path:?} more than once; send each key once"),
            )));
        }
        let value: Value = serde_json::from_slice(&self.bytes).map_err(|e| {
            Box::new(ApiError::invalid(
                "invalid_body",
                "body",
                format!("the request body is not valid JSON: {e}"),
            ))
        })?;
        // poem-openapi alone would read `5` as the string "5"; the published schema is the contract.
        if let Some((path, fault, message)) = locate::<T>(&value) {
            return Err(Box::new(ApiError::invalid(
                fault
                    .and_then(|fault| T::field_code(&path, fault))
                    .unwrap_or("invalid_body"),
                &path,
                message,
            )));
        }
        T::parse_from_json(Some(value)).map_err(|e| {
            Box::new(ApiError::invalid(
                "invalid_body",
                "body",
                format!("the request body cannot be read: {}", e.into_message()),
            ))
        })
    }
}

/// Validators of the request types' schemas, built once per type: derived data, not state.
static VALIDATORS: LazyLock<RwLock<HashMap<String, Arc<jsonschema::Validator>>>> =
    LazyLock::new(Default::default);

fn validator<T: Type>() -> Option<Arc<jsonschema::Validator>> {
    let MetaSchemaRef::Reference(name) = T::schema_ref() else {
        return None;
    };
    if let Some(found) = VALIDATORS.read().ok()?.get(&name) {
        return Some(found.clone());
    }
    let mut registry = Registry::new();
    T::register(&mut registry);
    let schemas = serde_json::to_value(&registry.schemas).ok()?;
    // The refs poem-openapi writes (`#/components/schemas/X`) resolve inside this one document.
    let root = serde_json::json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": { "schemas": schemas },
    });
    let built = Arc::new(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(true)
            .build(&root)
            .map_err(
                |e| tracing::error!(schema = %name, error = %e, "request schema does not compile"),
            )
            .ok()?,
    );
    VALIDATORS.write().ok()?.insert(name, built.clone());
    Some(built)
}

/// The first place where `value` breaks `T`'s published schema, as (dotted path, fault, message).
fn locate<T: Type>(value: &Value) -> Option<(String, Option<Fault>, String)> {
    let validator = validator::<T>()?;
    // poem-openapi reads `null` as an absent optional field; the schema has no `null` type.
    let value = without_nulls(value);
    let error = validator.iter_errors(&value).next()?;
    let mut path = String::new();
    for segment in error.instance_path() {
        match segment {
            LocationSegment::Property(key) if path.is_empty() => path.push_str(&key),
            LocationSegment::Property(key) => {
                path.push('.');
                path.push_str(&key);
            }
            LocationSegment::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    let fault = match error.kind() {
        ValidationErrorKind::Type { .. } => Some(Fault::WrongType),
        ValidationErrorKind::Enum { .. } => Some(Fault::NotAllowed),
        ValidationErrorKind::MinLength { .. }
        | ValidationErrorKind::MaxLength { .. }
        | ValidationErrorKind::Minimum { .. }
        | ValidationErrorKind::Maximum { .. }
        | ValidationErrorKind::Pattern { .. }
        | ValidationErrorKind::Format { .. } => Some(Fault::OutOfLimits),
        _ => None,
    };
    let message = match error.kind() {
        ValidationErrorKind::Required { property } => {
            let property = property.as_str().unwrap_or_default();
            path = if path.is_empty() {
                property.to_string()
            } else {
                format!("{path}.{property}")
            };
            let message = format!("`{path}` is required");
            return Some((path, Some(Fault::Missing), message));
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => article(&t.to_string()),
                TypeKind::Multiple(set) => set
                    .iter()
                    .map(|t| article(&t.to_string()))
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            format!("must be {expected}, not {}", describe(error.instance()))
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<String> = options
                .as_array()
                .map(|o| o.iter().map(|v| v.to_string()).collect())
                .unwrap_or_default();
            format!(
                "must be one of {}, not {}",
                options.join(", "),
                error.instance()
            )
        }
        ValidationErrorKind::MinLength { limit } => format!("must be at least {limit} characters"),
        ValidationErrorKind::MaxLength { limit } => format!("must be at most {limit} characters"),
        ValidationErrorKind::Minimum { limit } => format!("must be at least {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("must be at most {limit}"),
        ValidationErrorKind::Pattern { pattern } => format!("must match `{pattern}`"),
        ValidationErrorKind::Format { format } if format == "date-time" => {
            "must be an RFC 3339 date-time such as 2026-12-05T14:59:59Z".to_string()
        }
        _ => error.to_string(),
    };
    let shown = if path.is_empty() { "the body" } else { &path };
    let message = format!("`{shown}` {message}");
    let path = if path.is_empty() { "body".into() } else { path };
    Some((path, fault, message))
}

fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn article(kind: &str) -> String {
    match kind {
        "integer" | "object" | "array" => format!("an {kind}"),
        "null" => "null".into(),
        _ => format!("a {kind}"),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

impl<'a, T: Type + ParseFromJSON> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: CONTENT_TYPE,
                schema: T::schema_ref(),
            }],
            required: true,
        })
    }

    /// Reads the bytes only: the operation parses them once it knows who is asking.
    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(Self {
            content_type: request.content_type().map(str::to_string),
            bytes: body.take()?.into_vec().await?,
            _type: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::Object;

    use super::*;

    #[derive(Object, Debug)]
    struct Inner {
        #[oai(validator(min_length = 1, max_length = 5))]
        tel: String,
    }

    #[derive(Object, Debug)]
    struct Outer {
        #[oai(validator(minimum(value = "100")))]
        amount: i64,
        note: Option<String>,
        inner: Inner,
        items: Option<Vec<Inner>>,
    }

    impl FieldCodes for Outer {
        fn field_code(path: &str, _: Fault) -> Option<&'static str> {
            (top_level(path) == "amount").then_some("invalid_amount")
        }
    }

    fn error(body: &str) -> (String, String, String) {
        let body = JsonBody::<Outer> {
            content_type: Some("application/json".into()),
            bytes: body.as_bytes().to_vec(),
            _type: PhantomData,
        };
        let e = *body.parse().unwrap_err();
        (e.body.code, e.body.param.unwrap(), e.body.message)
    }

    #[test]
    fn each_kind_of_mistake_names_the_json_path_at_fault() {
        let cases = [
            (
                r#"{"amount": "100", "inner": {"tel": "1"}}"#,
                (
                    "invalid_amount",
                    "amount",
                    "must be an integer, not a string",
                ),
            ),
            (
                r#"{"amount": 100}"#,
                ("invalid_body", "inner", "`inner` is required"),
            ),
            (
                r#"{"amount": 100, "inner": {"tel": null}}"#,
                ("invalid_body", "inner.tel", "`inner.tel` is required"),
            ),
            (
                r#"{"amount": 100, "inner": {"tel": "123456"}}"#,
                ("invalid_body", "inner.tel", "at most 5 characters"),
            ),
            (
                r#"{"amount": 99, "inner": {"tel": "1"}}"#,
                ("invalid_amount", "amount", "at least 100"),
            ),
            (
                r#"{"amount": 100, "inner": {"tel": "1"}, "items": [{"tel": "1"}, {"tel": 5}]}"#,
                (
                    "invalid_body",
                    "items[1].tel",
                    "must be a string, not an integer",
                ),
            ),
            (
                r#"{"amount": 100, "amount": 100, "inner": {"tel": "1"}}"#,
                ("invalid_body", "amount", "more than once"),
            ),
            (
                r#"{"amount": 1"#,
                ("invalid_body", "body", "not valid JSON"),
            ),
            ("", ("invalid_body", "body", "empty")),
            ("[]", ("invalid_body", "body", "must be an object")),
        ];
        for (body, (code, param, message)) in cases {
            let (got_code, got_param, got_message) = error(body);
            assert_eq!(
                (got_code.as_str(), got_param.as_str()),
                (code, param),
                "{body}"
            );
            assert!(got_message.contains(message), "{body}: {got_message}");
        }
    }

    #[test]
    fn a_null_optional_field_is_absent_and_a_good_body_parses() {
        let body = JsonBody::<Outer> {
            content_type: Some("application/json; charset=utf-8".into()),
            bytes: br#"{"amount": 100, "note": null, "inner": {"tel": "1"}}"#.to_vec(),
            _type: PhantomData,
        };
        let parsed = body.parse().unwrap();
        assert_eq!((parsed.amount, parsed.note), (100, None));
    }
}
