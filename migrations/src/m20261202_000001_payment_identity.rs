//! One payment per Innopay identity: an order id (moid) is unique per MID, not per storefront, since
//! Innopay knows orders by MID alone and storefronts may share one; and a tid belongs to at most one
//! payment of its MID, so a Noti or an inquiry about it can never match two.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Payments {
    Table,
    Mid,
    OrderId,
    StorefrontId,
    Tid,
}

/// Order ids that two storefronts of one MID both used before the rule; listed so the operator can
/// settle them instead of the migration guessing which one Innopay meant.
const SHARED_ORDERS: &str = "SELECT mid, order_id FROM payments GROUP BY mid, order_id \
                             HAVING COUNT(*) > 1 ORDER BY mid, order_id";

/// A tid stored on a payment that never became Innopay's for it (the return of another checkout's
/// authentication, refused): cleared where another payment of the MID has the same tid. The event
/// history keeps it.
const CLEAR_UNCONFIRMED_TIDS: &str = "UPDATE payments SET tid = NULL \
     WHERE tid IS NOT NULL AND status IN ('ready', 'failed', 'expired') \
     AND EXISTS (SELECT 1 FROM payments other WHERE other.mid = payments.mid \
     AND other.tid = payments.tid AND other.id <> payments.id)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let shared = db
            .query_all_raw(Statement::from_string(backend, SHARED_ORDERS))
            .await?;
        if !shared.is_empty() {
            let pairs: Vec<String> = shared
                .iter()
                .take(10)
                .map(|row| {
                    let mid: String = row.try_get("", "mid").unwrap_or_default();
                    let order: String = row.try_get("", "order_id").unwrap_or_default();
                    format!("{mid}/{order}")
                })
                .collect();
            return Err(DbErr::Migration(format!(
                "{} order ids are used by several storefronts of one MID (MID/order: {}); \
                 Innopay cannot tell those payments apart. Settle them before upgrading \
                 (docs/SECURITY.md, 'Order ids per MID')",
                shared.len(),
                pairs.join(", ")
            )));
        }
        db.execute_raw(Statement::from_string(backend, CLEAR_UNCONFIRMED_TIDS))
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_payments_storefront_order")
                    .table(Payments::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_payments_mid_order")
                    .table(Payments::Table)
                    .col(Payments::Mid)
                    .col(Payments::OrderId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // NULL tids (not yet approved) never collide, on SQLite and PostgreSQL alike.
        manager
            .create_index(
                Index::create()
                    .name("ux_payments_mid_tid")
                    .table(Payments::Table)
                    .col(Payments::Mid)
                    .col(Payments::Tid)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_payments_mid_tid")
                    .table(Payments::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_payments_mid_order")
                    .table(Payments::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_payments_storefront_order")
                    .table(Payments::Table)
                    .col(Payments::StorefrontId)
                    .col(Payments::OrderId)
                    .unique()
                    .to_owned(),
            )
            .await
    }
}
