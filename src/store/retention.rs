//! Retention: which rows `paydesk purge` (and the optional periodic purge) removes, counted or deleted
//! in short batches. Payments, payment events, webhook events and deliveries are never touched here:
//! Korean e-commerce law expects payment records for five years, and nothing in paydesk purges them.
//!
//! Each batch is one `DELETE ... WHERE <rule> AND key IN (SELECT key ... WHERE <rule> LIMIT n)`, its own
//! transaction (autocommit), so no lock is held longer than one batch takes, on SQLite (one writer) or
//! PostgreSQL. Several instances may purge at once without any lock of their own: a row deleted by
//! one is simply not found by the other (on PostgreSQL each skips the rows the other's batch holds),
//! and a purge stops only after a batch that removed nothing, so it never stops while rows it could
//! take remain.

use sea_orm::sea_query::{
    Alias, Condition, DynIden, Expr, ExprTrait, IntoIden, LockBehavior, LockType, Query,
    SelectStatement,
};
use sea_orm::{ConnectionTrait, DbErr};
use time::OffsetDateTime;

use super::entities::{idempotency_key, innopay_noti, webhook_attempt, webhook_delivery};
use super::webhooks::DeliveryStatus;
use super::{Store, StoreError};
use crate::config::{DatabaseKind, RetentionConfig};

/// Rows per batch: small enough that one batch takes milliseconds, large enough that a year of rows
/// goes in a few thousand statements.
pub const PURGE_BATCH: u64 = 1000;

/// Delivery statuses after which nothing more is attempted.
const FINISHED_DELIVERIES: [DeliveryStatus; 2] =
    [DeliveryStatus::Delivered, DeliveryStatus::Failed];

/// Noti outcomes that need nobody and nothing more (`noti::NotiOutcome` spells them; a test there
/// checks that none of them is ever flagged): applied, already shown, or deferred to paydesk's own
/// call (Innopay's resend is stored as a row of its own). `received` (never judged) and every
/// flagged outcome are kept.
pub const SETTLED_NOTI_OUTCOMES: [&str; 3] = ["applied", "duplicate", "deferred"];

/// How many rows of each kind were (or, counting, would be) removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub webhook_attempts: u64,
    pub help_searches: u64,
    pub help_views: u64,
    pub help_feedback: u64,
    pub notis: u64,
    pub idempotency_keys: u64,
}

impl Purged {
    /// Each kind's name (its table) and count, in the order they are purged.
    pub fn kinds(&self) -> [(&'static str, u64); 6] {
        [
            ("webhook_attempts", self.webhook_attempts),
            ("help_searches", self.help_searches),
            ("help_views", self.help_views),
            ("help_feedback", self.help_feedback),
            ("innopay_notis", self.notis),
            ("idempotency_keys", self.idempotency_keys),
        ]
    }

    pub fn total(&self) -> u64 {
        self.kinds().iter().map(|(_, n)| n).sum()
    }

    fn slot(&mut self, table: &str) -> &mut u64 {
        match table {
            "webhook_attempts" => &mut self.webhook_attempts,
            "help_searches" => &mut self.help_searches,
            "help_views" => &mut self.help_views,
            "help_feedback" => &mut self.help_feedback,
            "innopay_notis" => &mut self.notis,
            "idempotency_keys" => &mut self.idempotency_keys,
            other => unreachable!("no purge kind {other}"),
        }
    }
}

/// One kind of purgeable row: its table, primary key and the rule that makes a row purgeable.
struct Kind {
    table: &'static str,
    key: Vec<DynIden>,
    rule: Condition,
}

fn cutoff(now: OffsetDateTime, age: std::time::Duration) -> OffsetDateTime {
    now - time::Duration::try_from(age).unwrap_or(time::Duration::MAX)
}

fn col(name: &'static str) -> DynIden {
    Alias::new(name).into_iden()
}

/// The purgeable rows of every kind at `now`.
fn kinds(now: OffsetDateTime, ages: &RetentionConfig) -> Vec<Kind> {
    // Attempts go per delivery, all of a delivery's at once, once it finished (delivered or given
    // up) longer ago than the age. The delivery row stays: it keeps the attempt count, the last
    // status code and error, and when it finished, which is what support asks about later.
    let attempts_before = cutoff(now, ages.webhook_attempts);
    let finished = Query::select()
        .column(webhook_delivery::Column::Id)
        .from(webhook_delivery::Entity)
        .and_where(
            Expr::col(webhook_delivery::Column::Status)
                .is_in(FINISHED_DELIVERIES.map(DeliveryStatus::as_str)),
        )
        .and_where(Expr::col(webhook_delivery::Column::FinishedAt).lt(attempts_before))
        .to_owned();
    let help_before = cutoff(now, ages.help_analytics);
    let help = |table: &'static str| Kind {
        table,
        key: vec![col("id")],
        rule: Condition::all().add(Expr::col(col("created_at")).lt(help_before)),
    };
    vec![
        Kind {
            table: "webhook_attempts",
            key: vec![webhook_attempt::Column::Id.into_iden()],
            rule: Condition::all()
                .add(Expr::col(webhook_attempt::Column::DeliveryId).in_subquery(finished)),
        },
        help("help_searches"),
        help("help_views"),
        help("help_feedback"),
        Kind {
            table: "innopay_notis",
            key: vec![innopay_noti::Column::Id.into_iden()],
            rule: Condition::all()
                .add(Expr::col(innopay_noti::Column::ReceivedAt).lt(cutoff(now, ages.notis)))
                .add(Expr::col(innopay_noti::Column::Flagged).eq(false))
                .add(Expr::col(innopay_noti::Column::Outcome).is_in(SETTLED_NOTI_OUTCOMES)),
        },
        // Past their replay window a key answers nothing: `idempotency_begin` replaces it on reuse
        // and the reconciler already removes expired keys on every pass; this catches up after a
        // long stop, in batches.
        Kind {
            table: "idempotency_keys",
            key: vec![
                idempotency_key::Column::StorefrontId.into_iden(),
                idempotency_key::Column::IdempotencyKey.into_iden(),
            ],
            rule: Condition::all().add(Expr::col(idempotency_key::Column::ExpiresAt).lte(now)),
        },
    ]
}

impl Kind {
    /// The keys of at most `limit` purgeable rows. On PostgreSQL rows another purge has locked are
    /// skipped (`FOR UPDATE SKIP LOCKED`): two instances then take different rows instead of one
    /// waiting for the other's batch, and can never deadlock on each other's rows. SQLite has one
    /// writer, so its batches simply take turns.
    fn keys(&self, limit: u64, kind: DatabaseKind) -> SelectStatement {
        let mut select = Query::select()
            .columns(self.key.clone())
            .from(col(self.table))
            .cond_where(self.rule.clone())
            .limit(limit)
            .to_owned();
        if kind == DatabaseKind::Postgres {
            select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        select
    }

    fn key_expr(&self) -> Expr {
        match self.key.as_slice() {
            [one] => Expr::col(one.clone()),
            many => Expr::tuple(many.iter().map(|c| Expr::col(c.clone()))),
        }
    }
}

impl Store {
    /// Removes every row the retention rules allow at `now`, kind by kind, `batch` rows per
    /// statement, until a batch removes nothing; returns how many of each kind went.
    pub async fn purge(
        &self,
        now: OffsetDateTime,
        ages: &RetentionConfig,
        batch: u64,
    ) -> Result<Purged, StoreError> {
        let mut purged = Purged::default();
        for kind in kinds(now, ages) {
            // The rule is repeated outside the key list: a key that was deleted and inserted again
            // meanwhile (an idempotency key reused after it expired) is a new row and stays.
            let delete = Query::delete()
                .from_table(col(kind.table))
                .cond_where(kind.rule.clone())
                .and_where(kind.key_expr().in_subquery(kind.keys(batch, self.kind())))
                .to_owned();
            loop {
                let removed = self.db().execute(&delete).await?.rows_affected();
                *purged.slot(kind.table) += removed;
                if removed == 0 {
                    break;
                }
            }
        }
        Ok(purged)
    }

    /// How many rows `purge` would remove at `now` (for `paydesk purge --dry-run`).
    pub async fn purgeable(
        &self,
        now: OffsetDateTime,
        ages: &RetentionConfig,
    ) -> Result<Purged, StoreError> {
        let mut counts = Purged::default();
        for kind in kinds(now, ages) {
            let count = Query::select()
                .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
                .from(col(kind.table))
                .cond_where(kind.rule.clone())
                .to_owned();
            let n: i64 = self
                .db()
                .query_one(&count)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound("COUNT(*)".into()))?
                .try_get("", "n")?;
            *counts.slot(kind.table) = n as u64;
        }
        Ok(counts)
    }
}
