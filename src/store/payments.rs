//! Queries on payments and their event history. Every status change goes through `transition`: one
//! conditional UPDATE (expected status and version) plus the event row, in one transaction, so that of
//! any number of concurrent requests or instances exactly one wins a given change, and every change is
//! recorded with its cause.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use time::OffsetDateTime;

use super::entities::{payment, payment_event};
use super::{Publisher, Store, StoreError};
use crate::domain::{
    CashReceipt, Cause, EventKind, FailureCode, InvalidValue, MethodDetails, PayMethod,
    PaymentStatus, Price,
};

pub use payment::Model as PaymentRow;
pub use payment_event::Model as PaymentEventRow;

impl PaymentRow {
    /// The taxable part (`amt`) in the row's currency. Only a row written around paydesk's checks
    /// can be out of the unit's bounds.
    pub fn price(&self) -> Result<Price, InvalidValue> {
        Price::new(self.currency, self.amount)
    }

    /// What the shopper pays, the taxable and the tax-free part, in the row's currency.
    pub fn total_price(&self) -> Result<Price, InvalidValue> {
        Price::new(self.currency, self.amount + self.tax_free_amount)
    }
}

/// What an event records besides the status change.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EventKind,
    pub cause: Cause,
    pub detail: serde_json::Value,
}

/// Columns a transition may change; `None` leaves a column as it is.
#[derive(Debug, Default, Clone)]
pub struct PaymentUpdate {
    /// The method the shopper chose among those offered.
    pub pay_method: Option<PayMethod>,
    pub tid: Option<String>,
    pub approval_number: Option<Option<String>>,
    pub approved_at: Option<Option<OffsetDateTime>>,
    pub method_details: Option<Option<MethodDetails>>,
    pub cash_receipt: Option<Option<CashReceipt>>,
    pub expires_at: Option<OffsetDateTime>,
    pub receipt_url: Option<Option<String>>,
    pub cancelled_amount: Option<i64>,
    pub pending_cancel_amount: Option<Option<i64>>,
    pub failure_code: Option<Option<FailureCode>>,
    pub failure_message: Option<Option<String>>,
    pub flag_reason: Option<String>,
    pub gateway_answer: Option<String>,
    pub reconcile_after: Option<Option<OffsetDateTime>>,
    pub reconcile_attempts: Option<i32>,
}

impl PaymentUpdate {
    fn into_active_model(
        self,
        status: PaymentStatus,
        version: i32,
        now: OffsetDateTime,
    ) -> payment::ActiveModel {
        fn set<T: Into<sea_orm::Value>>(value: Option<T>) -> sea_orm::ActiveValue<T> {
            value.map_or(sea_orm::ActiveValue::NotSet, Set)
        }
        payment::ActiveModel {
            status: Set(status),
            version: Set(version),
            updated_at: Set(now),
            pay_method: set(self.pay_method),
            tid: set(self.tid.map(Some)),
            approval_number: set(self.approval_number),
            approved_at: set(self.approved_at),
            method_details: set(self.method_details),
            cash_receipt: set(self.cash_receipt),
            expires_at: set(self.expires_at),
            receipt_url: set(self.receipt_url),
            cancelled_amount: set(self.cancelled_amount),
            pending_cancel_amount: set(self.pending_cancel_amount),
            failure_code: set(self.failure_code),
            failure_message: set(self.failure_message),
            flagged: set(self.flag_reason.as_ref().map(|_| true)),
            flag_reason: set(self.flag_reason.map(Some)),
            gateway_answer: set(self.gateway_answer.map(Some)),
            reconcile_after: set(self.reconcile_after),
            reconcile_attempts: set(self.reconcile_attempts),
            ..Default::default()
        }
    }
}

/// Filters of `GET /v1/payments`.
#[derive(Debug, Default, Clone)]
pub struct PaymentFilter {
    pub statuses: Vec<PaymentStatus>,
    pub created_from: Option<OffsetDateTime>,
    pub created_to: Option<OffsetDateTime>,
    pub order_id: Option<String>,
    pub flagged: Option<bool>,
    pub pay_method: Option<PayMethod>,
    /// Only payments with an id before this one (ids sort by creation time).
    pub before_id: Option<String>,
    pub limit: u64,
}

impl Store {
    /// Inserts a new payment and its `created` event (sequence = the row's version, 1). A duplicate
    /// order id for the same storefront is `StoreError::Duplicate`.
    pub async fn insert_payment(&self, row: PaymentRow, event: NewEvent) -> Result<(), StoreError> {
        let txn = self.db().begin().await?;
        row.clone()
            .into_active_model()
            .insert(&txn)
            .await
            .map_err(StoreError::from_insert)?;
        record_change(&txn, self.publisher()?, None, &row, event, self.now()).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The payment with this id, if it belongs to `storefront_id`.
    pub async fn payment_of(
        &self,
        storefront_id: &str,
        id: &str,
    ) -> Result<Option<PaymentRow>, StoreError> {
        Ok(payment::Entity::find_by_id(id)
            .filter(payment::Column::StorefrontId.eq(storefront_id))
            .one(self.db())
            .await?)
    }

    /// The payment with this id, whoever owns it (shopper-facing pages address it by id alone).
    pub async fn payment(&self, id: &str) -> Result<Option<PaymentRow>, StoreError> {
        Ok(payment::Entity::find_by_id(id).one(self.db()).await?)
    }

    /// The payment Innopay knows under this MID and tid.
    pub async fn payment_by_tid(
        &self,
        mid: &str,
        tid: &str,
    ) -> Result<Option<PaymentRow>, StoreError> {
        Ok(payment::Entity::find()
            .filter(payment::Column::Mid.eq(mid))
            .filter(payment::Column::Tid.eq(tid))
            .one(self.db())
            .await?)
    }

    /// Payments with this order id under this MID: at most one since order ids are unique per MID
    /// (`ux_payments_mid_order`); a list so the caller can still tell "none" from "several" should
    /// the index ever be missing.
    pub async fn payments_by_mid_order(
        &self,
        mid: &str,
        order_id: &str,
    ) -> Result<Vec<PaymentRow>, StoreError> {
        Ok(payment::Entity::find()
            .filter(payment::Column::Mid.eq(mid))
            .filter(payment::Column::OrderId.eq(order_id))
            .limit(2)
            .all(self.db())
            .await?)
    }

    pub async fn payment_events(
        &self,
        payment_id: &str,
    ) -> Result<Vec<PaymentEventRow>, StoreError> {
        Ok(payment_event::Entity::find()
            .filter(payment_event::Column::PaymentId.eq(payment_id))
            .order_by_asc(payment_event::Column::Sequence)
            .all(self.db())
            .await?)
    }

    /// The history row of one change of a payment (its `sequence` is the version it made).
    pub async fn payment_event(
        &self,
        payment_id: &str,
        sequence: i32,
    ) -> Result<Option<PaymentEventRow>, StoreError> {
        Ok(payment_event::Entity::find()
            .filter(payment_event::Column::PaymentId.eq(payment_id))
            .filter(payment_event::Column::Sequence.eq(sequence))
            .one(self.db())
            .await?)
    }

    /// A storefront's payments, newest first.
    pub async fn payments(
        &self,
        storefront_id: &str,
        filter: &PaymentFilter,
    ) -> Result<Vec<PaymentRow>, StoreError> {
        let mut query =
            payment::Entity::find().filter(payment::Column::StorefrontId.eq(storefront_id));
        if !filter.statuses.is_empty() {
            query = query.filter(payment::Column::Status.is_in(filter.statuses.clone()));
        }
        if let Some(from) = filter.created_from {
            query = query.filter(payment::Column::CreatedAt.gte(from));
        }
        if let Some(to) = filter.created_to {
            query = query.filter(payment::Column::CreatedAt.lt(to));
        }
        if let Some(order_id) = &filter.order_id {
            query = query.filter(payment::Column::OrderId.eq(order_id.clone()));
        }
        if let Some(flagged) = filter.flagged {
            query = query.filter(payment::Column::Flagged.eq(flagged));
        }
        if let Some(method) = filter.pay_method {
            query = query.filter(payment::Column::PayMethod.eq(method));
        }
        if let Some(before) = &filter.before_id {
            query = query.filter(payment::Column::Id.lt(before.clone()));
        }
        Ok(query
            .order_by_desc(payment::Column::Id)
            .limit(filter.limit)
            .all(self.db())
            .await?)
    }

    /// Applies a change if the payment is still in `from_status` at `from_version`. Returns the
    /// updated row, or `None` when someone else changed it first (nothing is written then). The event
    /// row and, when the change is published, the webhook outbox rows commit with it or not at all.
    pub async fn transition(
        &self,
        current: &PaymentRow,
        to_status: PaymentStatus,
        update: PaymentUpdate,
        event: NewEvent,
    ) -> Result<Option<PaymentRow>, StoreError> {
        if !current.status.may_become().contains(&to_status) {
            return Err(StoreError::IllegalTransition {
                from: current.status,
                to: to_status,
            });
        }
        self.apply_change(current, to_status, update, event).await
    }

    /// Flags a payment for a person without changing its status (money arrived that paydesk cannot
    /// take as the payment), with what else `update` records of it. Conditional like `transition`,
    /// recorded like it; `None` when someone changed the payment first.
    pub async fn flag(
        &self,
        current: &PaymentRow,
        reason: &str,
        update: PaymentUpdate,
        event: NewEvent,
    ) -> Result<Option<PaymentRow>, StoreError> {
        let update = PaymentUpdate {
            flag_reason: Some(reason.to_string()),
            ..update
        };
        self.apply_change(current, current.status, update, event)
            .await
    }

    /// The one write of a payment change: the conditional UPDATE (status and version as read), the
    /// history row and the outbox, in one transaction.
    async fn apply_change(
        &self,
        current: &PaymentRow,
        to_status: PaymentStatus,
        update: PaymentUpdate,
        event: NewEvent,
    ) -> Result<Option<PaymentRow>, StoreError> {
        let txn = self.db().begin().await?;
        let result = payment::Entity::update_many()
            .set(update.into_active_model(to_status, current.version + 1, self.now()))
            .filter(payment::Column::Id.eq(current.id.clone()))
            .filter(payment::Column::Status.eq(current.status))
            .filter(payment::Column::Version.eq(current.version))
            .exec(&txn)
            .await?;
        if result.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(None);
        }
        let updated = payment::Entity::find_by_id(current.id.clone())
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::Db(sea_orm::DbErr::RecordNotFound(current.id.clone())))?;
        record_change(
            &txn,
            self.publisher()?,
            Some(current),
            &updated,
            event,
            self.now(),
        )
        .await?;
        txn.commit().await?;
        Ok(Some(updated))
    }

    /// Payments the reconciler should look at now: `unknown`, or `approving` for longer than
    /// `stale_after` (an instance died mid-approval), or an issued virtual account, whose next
    /// attempt time has come.
    pub async fn payments_to_reconcile(
        &self,
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<PaymentRow>, StoreError> {
        let due = Condition::any()
            .add(payment::Column::ReconcileAfter.is_null())
            .add(payment::Column::ReconcileAfter.lte(now));
        let candidates = Condition::any()
            .add(payment::Column::Status.eq(PaymentStatus::Unknown))
            .add(
                Condition::all()
                    .add(payment::Column::Status.eq(PaymentStatus::Approving))
                    .add(payment::Column::UpdatedAt.lt(stale_before)),
            )
            .add(payment::Column::Status.eq(PaymentStatus::AwaitingDeposit))
            .add(payment::Column::PendingCancelAmount.is_not_null());
        Ok(payment::Entity::find()
            .filter(candidates)
            .filter(due)
            .order_by_asc(payment::Column::UpdatedAt)
            .limit(limit)
            .all(self.db())
            .await?)
    }

    /// Claims a payment for reconciliation until `until`, if no other instance holds it; the claim is
    /// the conditional update, so two instances never resolve the same payment at once.
    pub async fn claim_for_reconcile(
        &self,
        row: &PaymentRow,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let due = Condition::any()
            .add(payment::Column::ReconcileAfter.is_null())
            .add(payment::Column::ReconcileAfter.lte(now));
        let result = payment::Entity::update_many()
            .col_expr(payment::Column::ReconcileAfter, Expr::value(until))
            .col_expr(
                payment::Column::ReconcileAttempts,
                Expr::col(payment::Column::ReconcileAttempts).add(1),
            )
            .filter(payment::Column::Id.eq(row.id.clone()))
            .filter(payment::Column::Version.eq(row.version))
            .filter(due)
            .exec(self.db())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Sets when the reconciler looks at a payment next (after an inconclusive inquiry). Not a state
    /// change, so no event.
    pub async fn schedule_reconcile(&self, id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        payment::Entity::update_many()
            .col_expr(payment::Column::ReconcileAfter, Expr::value(at))
            .filter(payment::Column::Id.eq(id))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Ready checkouts whose time ran out.
    pub async fn expired_ready_payments(
        &self,
        now: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<PaymentRow>, StoreError> {
        Ok(payment::Entity::find()
            .filter(payment::Column::Status.eq(PaymentStatus::Ready))
            .filter(payment::Column::ExpiresAt.lte(now))
            .limit(limit)
            .all(self.db())
            .await?)
    }

    pub async fn count_payments(&self, storefront_id: &str) -> Result<u64, StoreError> {
        Ok(payment::Entity::find()
            .filter(payment::Column::StorefrontId.eq(storefront_id))
            .count(self.db())
            .await?)
    }
}

/// Records one change of a payment, in the caller's transaction: the history row (its sequence is
/// the payment's new version) and, for changes storefronts are told about, the webhook outbox.
async fn record_change(
    txn: &sea_orm::DatabaseTransaction,
    publisher: &Publisher,
    before: Option<&PaymentRow>,
    after: &PaymentRow,
    event: NewEvent,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    payment_event::ActiveModel {
        payment_id: Set(after.id.clone()),
        sequence: Set(after.version),
        kind: Set(event.kind.as_str().to_string()),
        from_status: Set(before.map(|b| b.status.as_str().to_string())),
        to_status: Set(after.status.as_str().to_string()),
        cause: Set(event.cause.as_str().to_string()),
        detail: Set(event.detail.to_string()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    match publisher(before, after, now) {
        Some(entry) => super::webhooks::write_outbox(txn, after, entry, now).await,
        None => Ok(()),
    }
}
