//! sea-orm entities: one per table, mirroring the migrations. Only `store` sees them.

pub mod api_key;
pub mod idempotency_key;
pub mod payment;
pub mod payment_event;
pub mod storefront;
