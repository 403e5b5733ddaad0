//! paydesk: a payment desk between Korean storefronts and the Innopay gateway, with an embedded Korean
//! help knowledge base. See `docs/ARCHITECTURE.md` for how data flows between the modules below.

pub mod api;
pub mod app;
pub(crate) mod checkout;
pub mod cli;
pub mod clock;
pub mod config;
pub(crate) mod console;
pub mod domain;
pub mod gateway;
pub mod help;
pub(crate) mod noti;
pub(crate) mod ops;
pub mod pages;
pub(crate) mod retention;
pub mod sandbox;
pub mod secrets;
pub(crate) mod server;
pub mod store;
pub mod storefronts;
pub(crate) mod webhooks;

pub use app::{App, AppState, StartupError};
pub use config::Config;

/// Installs the one TLS crypto provider (ring) for every rustls user in the process. Call first thing;
/// repeated calls are harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
