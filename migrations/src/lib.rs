//! Database migrations of paydesk, written with sea-orm's database-neutral schema API so that one set
//! runs on SQLite (the embedded default) and PostgreSQL (production). Each has a working `down`.
//! Names come from the file names (`mYYYYMMDD_HHMMSS_what`), which fixes their order.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_storefronts;
mod m20261127_000010_payments;
mod m20261127_000020_webhooks;
mod m20261127_000100_help_analytics;
mod m20261202_000001_payment_identity;
mod m20261203_000001_method_details;
mod m20261203_000002_signing_secret_since;
mod m20261204_000001_console;
mod m20261204_000002_purge_indexes;
mod m20261205_000001_pay_method_choice;
mod m20261205_000002_app_scheme;
mod m20261205_000003_storefront_shop_url;
mod m20261206_000001_payment_currency;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_storefronts::Migration),
            Box::new(m20261127_000010_payments::Migration),
            Box::new(m20261127_000020_webhooks::Migration),
            Box::new(m20261127_000100_help_analytics::Migration),
            Box::new(m20261202_000001_payment_identity::Migration),
            Box::new(m20261203_000001_method_details::Migration),
            Box::new(m20261203_000002_signing_secret_since::Migration),
            Box::new(m20261204_000001_console::Migration),
            Box::new(m20261204_000002_purge_indexes::Migration),
            Box::new(m20261205_000001_pay_method_choice::Migration),
            Box::new(m20261205_000002_app_scheme::Migration),
            Box::new(m20261205_000003_storefront_shop_url::Migration),
            Box::new(m20261206_000001_payment_currency::Migration),
        ]
    }
}
