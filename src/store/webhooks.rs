//! Queries on webhook endpoints, the event outbox, deliveries and their attempts. Instances coordinate
//! deliveries only through these rows: a delivery is claimed with a conditional UPDATE that sets a
//! lease (exactly one instance wins it), finished only by the holder of that lease, and a payment's
//! delivery waits while an earlier one of the same payment is still pending.

use sea_orm::sea_query::OnConflict;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, TransactionTrait,
};
use time::OffsetDateTime;

use super::entities::{webhook_attempt, webhook_delivery, webhook_endpoint, webhook_event};
use super::payments::PaymentRow;
use super::{OutboxEntry, Store, StoreError};

pub use webhook_attempt::Model as AttemptRow;
pub use webhook_delivery::Model as DeliveryRow;
pub use webhook_endpoint::Model as EndpointRow;
pub use webhook_event::Model as EventRow;

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or for an earlier event of the same payment).
    Pending,
    /// The endpoint answered 2XX.
    Delivered,
    /// Given up: the retry schedule ran out, the endpoint answered 410 Gone, or it was disabled.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// One attempt, as it is logged.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    pub url: String,
    pub attempted_at: OffsetDateTime,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    RetryAt(OffsetDateTime),
    GiveUp,
}

/// Filters of `GET /v1/webhook-deliveries`.
#[derive(Debug, Default, Clone)]
pub struct DeliveryFilter {
    pub event_id: Option<String>,
    pub status: Option<DeliveryStatus>,
    /// Only deliveries created before this one (ids sort by creation time).
    pub before_id: Option<String>,
    pub limit: u64,
}

fn new_delivery(event: &EventRow, now: OffsetDateTime) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        id: Set(format!("whd_{}", uuid::Uuid::now_v7().simple())),
        event_id: Set(event.id.clone()),
        storefront_id: Set(event.storefront_id.clone()),
        payment_id: Set(event.payment_id.clone()),
        sequence: Set(event.sequence),
        status: Set(DeliveryStatus::Pending.as_str().to_string()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_until: Set(None),
        lease_token: Set(None),
        last_status_code: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        finished_at: Set(None),
    }
}

/// Writes the outbox entry of a payment change in the transaction that records it: the event and,
/// when the storefront has an enabled endpoint, its delivery.
pub(super) async fn write_outbox(
    txn: &sea_orm::DatabaseTransaction,
    after: &PaymentRow,
    entry: OutboxEntry,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let event = webhook_event::ActiveModel {
        id: Set(entry.id),
        storefront_id: Set(after.storefront_id.clone()),
        payment_id: Set(after.id.clone()),
        sequence: Set(entry.sequence),
        event_type: Set(entry.event_type),
        body: Set(entry.body),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let endpoint = webhook_endpoint::Entity::find_by_id(after.storefront_id.clone())
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .one(txn)
        .await?;
    if endpoint.is_some() {
        new_delivery(&event, now).insert(txn).await?;
    }
    Ok(())
}

/// Deliveries that may be attempted now: pending, due, not leased, and with no earlier pending
/// delivery of the same payment (lower sequence, or the same sequence created earlier).
fn deliverable(now: OffsetDateTime) -> Condition {
    use webhook_delivery::{Column, Entity};
    let earlier = Alias::new("earlier");
    let pending = DeliveryStatus::Pending.as_str();
    let earlier_pending = Query::select()
        .expr(Expr::val(1))
        .from_as(Entity, earlier.clone())
        .and_where(
            Expr::col((earlier.clone(), Column::PaymentId)).equals((Entity, Column::PaymentId)),
        )
        .and_where(Expr::col((earlier.clone(), Column::Status)).eq(pending))
        .cond_where(
            Condition::any()
                .add(
                    Expr::col((earlier.clone(), Column::Sequence))
                        .lt(Expr::col((Entity, Column::Sequence))),
                )
                .add(
                    Condition::all()
                        .add(
                            Expr::col((earlier.clone(), Column::Sequence))
                                .equals((Entity, Column::Sequence)),
                        )
                        .add(Expr::col((earlier, Column::Id)).lt(Expr::col((Entity, Column::Id)))),
                ),
        )
        .to_owned();
    Condition::all()
        .add(Column::Status.eq(pending))
        .add(Column::NextAttemptAt.lte(now))
        .add(unleased(now))
        .add(Expr::exists(earlier_pending).not())
}

fn unleased(now: OffsetDateTime) -> Condition {
    Condition::any()
        .add(webhook_delivery::Column::LeaseUntil.is_null())
        .add(webhook_delivery::Column::LeaseUntil.lt(now))
}

impl Store {
    pub async fn webhook_endpoint(
        &self,
        storefront_id: &str,
    ) -> Result<Option<EndpointRow>, StoreError> {
        Ok(webhook_endpoint::Entity::find_by_id(storefront_id)
            .one(self.db())
            .await?)
    }

    /// Sets the storefront's endpoint and (re-)enables it.
    pub async fn put_webhook_endpoint(
        &self,
        storefront_id: &str,
        url: &str,
    ) -> Result<EndpointRow, StoreError> {
        let now = self.now();
        let row = webhook_endpoint::ActiveModel {
            storefront_id: Set(storefront_id.to_string()),
            url: Set(url.to_string()),
            enabled: Set(true),
            disabled_reason: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        webhook_endpoint::Entity::insert(row)
            .on_conflict(
                OnConflict::column(webhook_endpoint::Column::StorefrontId)
                    .update_columns([
                        webhook_endpoint::Column::Url,
                        webhook_endpoint::Column::Enabled,
                        webhook_endpoint::Column::DisabledReason,
                        webhook_endpoint::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(self.db())
            .await?;
        self.webhook_endpoint(storefront_id)
            .await?
            .ok_or_else(|| StoreError::Db(sea_orm::DbErr::RecordNotFound(storefront_id.into())))
    }

    /// Disables the endpoint, unless it was changed to another URL since (that one was never asked).
    pub async fn disable_webhook_endpoint(
        &self,
        storefront_id: &str,
        url: &str,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let result = webhook_endpoint::Entity::update_many()
            .col_expr(webhook_endpoint::Column::Enabled, Expr::value(false))
            .col_expr(
                webhook_endpoint::Column::DisabledReason,
                Expr::value(reason),
            )
            .col_expr(webhook_endpoint::Column::UpdatedAt, Expr::value(self.now()))
            .filter(webhook_endpoint::Column::StorefrontId.eq(storefront_id))
            .filter(webhook_endpoint::Column::Url.eq(url))
            .filter(webhook_endpoint::Column::Enabled.eq(true))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// A storefront's events in the order they were written, after the event `after` (exclusive),
    /// only those created at or before `settled_before`. `None` when `after` is not one of its events.
    pub async fn webhook_events(
        &self,
        storefront_id: &str,
        after: Option<&str>,
        payment_id: Option<&str>,
        settled_before: OffsetDateTime,
        limit: u64,
    ) -> Result<Option<Vec<EventRow>>, StoreError> {
        let mut query = webhook_event::Entity::find()
            .filter(webhook_event::Column::StorefrontId.eq(storefront_id))
            .filter(webhook_event::Column::CreatedAt.lte(settled_before));
        if let Some(after) = after {
            let Some(cursor) = self.webhook_event(storefront_id, after).await? else {
                return Ok(None);
            };
            query = query.filter(webhook_event::Column::Position.gt(cursor.position));
        }
        if let Some(payment_id) = payment_id {
            query = query.filter(webhook_event::Column::PaymentId.eq(payment_id));
        }
        Ok(Some(
            query
                .order_by_asc(webhook_event::Column::Position)
                .limit(limit)
                .all(self.db())
                .await?,
        ))
    }

    /// The event with this id, if it belongs to `storefront_id`.
    pub async fn webhook_event(
        &self,
        storefront_id: &str,
        id: &str,
    ) -> Result<Option<EventRow>, StoreError> {
        Ok(webhook_event::Entity::find()
            .filter(webhook_event::Column::Id.eq(id))
            .filter(webhook_event::Column::StorefrontId.eq(storefront_id))
            .one(self.db())
            .await?)
    }

    pub async fn webhook_events_by_ids(&self, ids: &[String]) -> Result<Vec<EventRow>, StoreError> {
        Ok(webhook_event::Entity::find()
            .filter(webhook_event::Column::Id.is_in(ids.to_vec()))
            .all(self.db())
            .await?)
    }

    /// Deliveries any instance may attempt now, oldest due first.
    pub async fn due_webhook_deliveries(
        &self,
        now: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        Ok(webhook_delivery::Entity::find()
            .filter(deliverable(now))
            .order_by_asc(webhook_delivery::Column::NextAttemptAt)
            .limit(limit)
            .all(self.db())
            .await?)
    }

    /// Leases a delivery to the caller until `until` under `token`, if it is still due and nobody
    /// holds it. Of any number of instances trying at once, exactly one gets `true`.
    pub async fn claim_webhook_delivery(
        &self,
        id: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        token: &str,
    ) -> Result<bool, StoreError> {
        let result = webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::LeaseUntil, Expr::value(until))
            .col_expr(webhook_delivery::Column::LeaseToken, Expr::value(token))
            .filter(webhook_delivery::Column::Id.eq(id))
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
            .filter(unleased(now))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Logs an attempt and moves the delivery on, releasing the lease; `Err(reason)` when nothing was
    /// sent (the reason becomes the delivery's last error). The attempt is logged even when the lease
    /// was lost meanwhile (it happened); the delivery is only changed by the lease holder. Returns
    /// whether the caller still held the lease.
    pub async fn finish_webhook_attempt(
        &self,
        delivery_id: &str,
        token: &str,
        attempt: Result<NewAttempt, String>,
        next: NextStep,
    ) -> Result<bool, StoreError> {
        use webhook_delivery::Column;
        let txn = self.db().begin().await?;
        let now = self.now();
        let mut update = webhook_delivery::Entity::update_many()
            .col_expr(
                Column::LeaseUntil,
                Expr::value(Option::<OffsetDateTime>::None),
            )
            .col_expr(Column::LeaseToken, Expr::value(Option::<String>::None))
            .col_expr(Column::UpdatedAt, Expr::value(now));
        match attempt {
            Err(reason) => {
                update = update.col_expr(Column::LastError, Expr::value(reason));
            }
            Ok(attempt) => {
                update = update
                    .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
                    .col_expr(
                        Column::LastStatusCode,
                        Expr::value(attempt.status_code.map(i32::from)),
                    )
                    .col_expr(Column::LastError, Expr::value(attempt.error.clone()));
                webhook_attempt::ActiveModel {
                    delivery_id: Set(delivery_id.to_string()),
                    url: Set(attempt.url),
                    attempted_at: Set(attempt.attempted_at),
                    status_code: Set(attempt.status_code.map(i32::from)),
                    error: Set(attempt.error),
                    duration_ms: Set(attempt.duration_ms),
                    ..Default::default()
                }
                .insert(&txn)
                .await?;
            }
        }
        let (status, finished) = match next {
            NextStep::Delivered => (DeliveryStatus::Delivered, Some(now)),
            NextStep::GiveUp => (DeliveryStatus::Failed, Some(now)),
            NextStep::RetryAt(at) => {
                update = update.col_expr(Column::NextAttemptAt, Expr::value(at));
                (DeliveryStatus::Pending, None)
            }
        };
        let result = update
            .col_expr(Column::Status, Expr::value(status.as_str()))
            .col_expr(Column::FinishedAt, Expr::value(finished))
            .filter(Column::Id.eq(delivery_id))
            .filter(Column::LeaseToken.eq(token))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(result.rows_affected == 1)
    }

    /// A storefront's deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        storefront_id: &str,
        filter: &DeliveryFilter,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let mut query = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::StorefrontId.eq(storefront_id));
        if let Some(event_id) = &filter.event_id {
            query = query.filter(webhook_delivery::Column::EventId.eq(event_id.clone()));
        }
        if let Some(status) = filter.status {
            query = query.filter(webhook_delivery::Column::Status.eq(status.as_str()));
        }
        if let Some(before) = &filter.before_id {
            query = query.filter(webhook_delivery::Column::Id.lt(before.clone()));
        }
        Ok(query
            .order_by_desc(webhook_delivery::Column::Id)
            .limit(filter.limit)
            .all(self.db())
            .await?)
    }

    /// The delivery with this id, if it belongs to `storefront_id`.
    pub async fn webhook_delivery(
        &self,
        storefront_id: &str,
        id: &str,
    ) -> Result<Option<DeliveryRow>, StoreError> {
        Ok(webhook_delivery::Entity::find_by_id(id)
            .filter(webhook_delivery::Column::StorefrontId.eq(storefront_id))
            .one(self.db())
            .await?)
    }

    /// The attempts of these deliveries, oldest first.
    pub async fn webhook_attempts(
        &self,
        delivery_ids: &[String],
    ) -> Result<Vec<AttemptRow>, StoreError> {
        Ok(webhook_attempt::Entity::find()
            .filter(webhook_attempt::Column::DeliveryId.is_in(delivery_ids.to_vec()))
            .order_by_asc(webhook_attempt::Column::Id)
            .all(self.db())
            .await?)
    }

    /// A new delivery of an event that was delivered (or given up) before, due now.
    pub async fn insert_redelivery(&self, event: &EventRow) -> Result<DeliveryRow, StoreError> {
        Ok(new_delivery(event, self.now()).insert(self.db()).await?)
    }
}
