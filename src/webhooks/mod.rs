//! Webhooks: telling storefronts what happened to their payments.

mod event;

pub use event::{EventType, Publication, WebhookEvent, publication};
