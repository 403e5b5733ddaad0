//! What `/metrics` reads from the database at each scrape: one grouped query per family, each
//! answered from an index on `status` where one exists (payments by status also reads `flagged`,
//! so it scans the payments table: a scrape every 15 s of a few million rows is still well under
//! the scrape timeout, and it is the only read here whose cost grows with the history). And this
//! instance's connection pool, from memory.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseConnectionType, EntityTrait, QueryFilter, QuerySelect};
use time::OffsetDateTime;

use super::entities::{payment, webhook_delivery};
use super::webhooks::DeliveryStatus;
use super::{Store, StoreError};
use crate::domain::PaymentStatus;

/// Payments of one status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusCount {
    pub total: u64,
    /// Of those, flagged for a person.
    pub flagged: u64,
}

/// The database's side of the metrics, as of one read.
#[derive(Clone, Debug, Default)]
pub struct MetricGauges {
    /// Statuses with no payment are absent.
    pub payments: HashMap<PaymentStatus, StatusCount>,
    /// The oldest `updated_at` (the last change) of the payments in `approving` and in `unknown`;
    /// absent when there is none.
    pub oldest_change: HashMap<PaymentStatus, OffsetDateTime>,
    /// Webhook deliveries by status, every status listed (0 when none).
    pub deliveries: Vec<(DeliveryStatus, u64)>,
    /// When the oldest pending delivery was created.
    pub oldest_pending_delivery: Option<OffsetDateTime>,
}

/// This instance's database connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolUsage {
    /// Open connections, idle or in use.
    pub open: u32,
    pub idle: u32,
    /// The most the pool opens (`PAYDESK_DB_MAX_CONNECTIONS`).
    pub max: u32,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

impl Store {
    pub async fn metric_gauges(&self) -> Result<MetricGauges, StoreError> {
        let mut gauges = MetricGauges::default();
        let by_status: Vec<(PaymentStatus, bool, i64)> = payment::Entity::find()
            .select_only()
            .column(payment::Column::Status)
            .column(payment::Column::Flagged)
            .column_as(Expr::col(payment::Column::Id).count(), "n")
            .group_by(payment::Column::Status)
            .group_by(payment::Column::Flagged)
            .into_tuple()
            .all(self.db())
            .await?;
        for (status, flagged, n) in by_status {
            let entry = gauges.payments.entry(status).or_default();
            entry.total += count(n);
            if flagged {
                entry.flagged += count(n);
            }
        }
        let waiting: Vec<(PaymentStatus, Option<OffsetDateTime>)> = payment::Entity::find()
            .select_only()
            .column(payment::Column::Status)
            .column_as(Expr::col(payment::Column::UpdatedAt).min(), "oldest")
            .filter(
                payment::Column::Status.is_in([PaymentStatus::Approving, PaymentStatus::Unknown]),
            )
            .group_by(payment::Column::Status)
            .into_tuple()
            .all(self.db())
            .await?;
        gauges.oldest_change = waiting
            .into_iter()
            .filter_map(|(status, oldest)| Some((status, oldest?)))
            .collect();
        let deliveries: Vec<(String, i64)> = webhook_delivery::Entity::find()
            .select_only()
            .column(webhook_delivery::Column::Status)
            .column_as(Expr::col(webhook_delivery::Column::Id).count(), "n")
            .group_by(webhook_delivery::Column::Status)
            .into_tuple()
            .all(self.db())
            .await?;
        gauges.deliveries = DeliveryStatus::ALL
            .into_iter()
            .map(|status| {
                let n = deliveries
                    .iter()
                    .filter(|(s, _)| s == status.as_str())
                    .map(|(_, n)| count(*n))
                    .sum();
                (status, n)
            })
            .collect();
        gauges.oldest_pending_delivery = webhook_delivery::Entity::find()
            .select_only()
            .column_as(
                Expr::col(webhook_delivery::Column::CreatedAt).min(),
                "oldest",
            )
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .into_tuple::<Option<OffsetDateTime>>()
            .one(self.db())
            .await?
            .flatten();
        Ok(gauges)
    }

    /// `None` for a connection that is not a pool (none of paydesk's).
    pub fn pool_usage(&self) -> Option<PoolUsage> {
        let (open, idle, max) = match &self.db().inner {
            DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
                let pool = self.db().get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                let pool = self.db().get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => return None,
        };
        Some(PoolUsage {
            open,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max,
        })
    }
}
