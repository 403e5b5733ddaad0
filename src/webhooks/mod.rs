//! Webhooks: telling storefronts what happened to their payments, in the Standard Webhooks format
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`). Owns which payment changes are published
//! and their body (`event`), the storefront's endpoint and secret rotation, the catch-up list of events
//! and the delivery log (`service`, `api`), the delivery worker every instance runs (`delivery`), and
//! which addresses webhooks may go to (`destination`).
//!
//! The outbox is written by `Store::transition` in the transaction of the change itself; delivery is
//! claimed per row with a database lease, so any number of instances deliver each event once, and a
//! payment's events in sequence order.

mod api;
mod delivery;
pub(crate) mod destination;
mod event;
mod service;

pub use api::WebhooksApi;
pub use delivery::spawn_delivery_worker;
pub use event::{EventType, WebhookEvent, publisher};
pub use service::WebhookService;

use crate::api::ApiError;
use crate::store::StoreError;
use crate::storefronts::StorefrontError;

/// Everything that can go wrong in this module, mapped to the API envelope once below.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("url must be an absolute http:// or https:// URL of at most 2000 characters: {0}")]
    InvalidUrl(String),
    #[error(
        "url points at {0}, which is not a public address; this server sends webhooks to public \
         addresses only"
    )]
    NotPublic(std::net::IpAddr),
    #[error("no webhook endpoint is set; set one with PUT /v1/webhook-endpoint")]
    NoEndpoint,
    #[error("the webhook endpoint is disabled ({0}); set it again with PUT /v1/webhook-endpoint")]
    EndpointDisabled(String),
    #[error("no such event")]
    EventNotFound,
    #[error("no such webhook delivery")]
    DeliveryNotFound,
    #[error("a stored webhook event cannot be read: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Storefront(#[from] StorefrontError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        let message = err.to_string();
        match err {
            WebhookError::InvalidUrl(_) => ApiError::invalid("invalid_webhook_url", "url", message),
            WebhookError::NotPublic(_) => {
                ApiError::invalid("webhook_url_not_public", "url", message)
            }
            WebhookError::NoEndpoint => ApiError::not_found("webhook_endpoint_not_found", message),
            WebhookError::EndpointDisabled(_) => {
                ApiError::conflict("webhook_endpoint_disabled", message)
            }
            WebhookError::EventNotFound => {
                ApiError::not_found("event_not_found", message).with_param("after")
            }
            WebhookError::DeliveryNotFound => ApiError::not_found("resource_not_found", message),
            WebhookError::Corrupt(cause) => ApiError::internal(cause),
            WebhookError::Storefront(e) => e.into(),
            WebhookError::Store(e) => e.into(),
        }
    }
}
