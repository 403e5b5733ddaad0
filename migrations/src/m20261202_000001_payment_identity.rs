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
const SHARED_ORDERS: &str = "SELECT mid, order_id AS dup FROM payments GROUP BY mid, order_id \
                             HAVING COUNT(*) > 1 ORDER BY mid, order_id";

/// A tid stored on a payment that never became Innopay's for it (the return of another checkout's
/// authentication, refused): cleared where another payment of the MID has the same tid. The event
/// history keeps it.
const CLEAR_UNCONFIRMED_TIDS: &str = "UPDATE payments SET tid = NULL \
     WHERE tid IS NOT NULL AND status IN ('ready', 'failed', 'expired') \
     AND EXISTS (SELECT 1 FROM payments other WHERE other.mid = payments.mid \
     AND other.tid = payments.tid AND other.id <> payments.id)";

/// Tids still on more than one payment once the unconfirmed ones are cleared.
const SHARED_TIDS: &str = "SELECT mid, tid AS dup FROM payments WHERE tid IS NOT NULL \
                           GROUP BY mid, tid HAVING COUNT(*) > 1 ORDER BY mid, tid";

/// Stops the migration, naming up to ten of them, when `query` (columns `mid`, `dup`) finds any:
/// which payment Innopay meant is for a person to decide, not for the migration to guess.
async fn refuse_duplicates<C: ConnectionTrait>(
    db: &C,
    query: &str,
    what: &str,
    label: &str,
) -> Result<(), DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), query))
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let pairs: Vec<String> = rows
        .iter()
        .take(10)
        .map(|row| {
            let mid: String = row.try_get("", "mid").unwrap_or_default();
            let key: String = row.try_get("", "dup").unwrap_or_default();
            format!("{mid}/{key}")
        })
        .collect();
    Err(DbErr::Migration(format!(
        "{} {what} ({label}: {}); settle them before upgrading (docs/SECURITY.md, \
         'Upgrading to one payment per Innopay order')",
        rows.len(),
        pairs.join(", ")
    )))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        refuse_duplicates(
            db,
            SHARED_ORDERS,
            "order ids are used by several storefronts of one MID",
            "MID/order",
        )
        .await?;
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            CLEAR_UNCONFIRMED_TIDS,
        ))
        .await?;
        refuse_duplicates(
            db,
            SHARED_TIDS,
            "tids are stored on several payments of one MID that Innopay may have approved",
            "MID/tid",
        )
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
