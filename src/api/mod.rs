//! What every HTTP API of paydesk shares: the one JSON error envelope (`ApiError`), the request id that
//! ties a response to its log lines, and the conversion of poem's own parse errors into that envelope.
//! Modules keep their own error enums and map them to `ApiError` once, in their own `From` impl.

mod allow;
mod bearer;
mod body_limit;
mod direct_json;
pub mod docs_page;
mod error;
mod json_body;
mod json_keys;
mod page;
mod request_id;
mod timestamp;

pub use allow::AllowHeader;
pub use bearer::{bearer_header_matches, bearer_matches};
pub use body_limit::BodyLimit;
pub use direct_json::DirectJson;
pub use error::{
    ApiError, ErrorBody, ErrorDocs, ErrorEnvelope, ErrorType, Errors, HelpLink, InnopayErrorDetail,
    NextAction, docs,
};
pub use json_body::{Fault, FieldCodes, JsonBody, top_level};
pub use page::{InvalidLimit, page_limit};
pub use request_id::{RequestIdMiddleware, current_request_id};
pub use timestamp::{PATTERN as TIMESTAMP_PATTERN, Timestamp};
