//! The integration suite: one test binary (linking the whole stack once), one module per area. Every
//! test starts the real server on port 0 with a fresh database and talks to it over HTTP.

mod approval;
mod attacks;
mod browser;
mod checkout;
mod console;
mod contract;
mod faults;
mod foundation;
mod gateway;
mod help;
mod help_methods;
mod help_quality;
mod help_vbank;
mod innopay;
mod journeys;
mod methods;
mod metrics;
mod migration;
mod noti;
mod operations;
mod quickstart;
mod retention;
mod sandbox;
mod secrets;
mod security;
mod shopper;
mod support;
mod timestamps;
mod vbank;
mod webhooks;
mod widget_doc;
