//! sea-orm entities: one per table, mirroring the migrations. Only `store` sees them.

pub mod api_key;
pub mod console_audit;
pub mod console_session;
pub mod console_throttle;
pub mod console_user;
pub mod idempotency_key;
pub mod innopay_noti;
pub mod payment;
pub mod payment_event;
pub mod storefront;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
pub mod webhook_event;
