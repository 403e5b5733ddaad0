//! Reconciliation: what each instance's reconciler does every interval (expire abandoned checkouts,
//! resolve `unknown` and orphaned `approving` payments and unconfirmed cancels by inquiry).

use serde_json::json;
use time::Duration;

use super::cancel::cancelled_at_innopay;
use super::*;
use crate::checkout::{CheckoutError, PaymentStatus};
use crate::domain::{FailureCode, OrderId, Tid};
use crate::gateway::{Approval, Outcome};
use crate::store::payments::{PaymentRow, PaymentUpdate};
use crate::storefronts::{self, Storefront};

/// How long an instance may hold a payment it is reconciling before another may take over.
const RECONCILE_LEASE: Duration = Duration::seconds(30);

impl CheckoutService {
    /// One pass of the reconciler: expire abandoned checkouts, resolve `unknown` and orphaned
    /// `approving` payments and unconfirmed cancels by inquiry. Returns how many payments it touched.
    pub async fn reconcile_due(&self, batch: u64) -> Result<usize, CheckoutError> {
        let result = self.reconcile_pass(batch).await;
        self.metrics
            .reconciler_run(if result.is_ok() { "ok" } else { "error" });
        result
    }

    async fn reconcile_pass(&self, batch: u64) -> Result<usize, CheckoutError> {
        let now = self.store.now();
        let mut touched = 0;
        for row in self.store.expired_ready_payments(now, batch).await? {
            self.expire_if_due(row, Cause::Reconciler).await?;
            self.metrics.reconciled("expired");
            touched += 1;
        }
        for row in self
            .store
            .payments_to_reconcile(now, now - self.call_stale_after, batch)
            .await?
        {
            if !self
                .store
                .claim_for_reconcile(&row, now, now + RECONCILE_LEASE)
                .await?
            {
                continue;
            }
            let Some(row) = self.store.payment(&row.id).await? else {
                continue;
            };
            let (status, pending) = (row.status, row.pending_cancel_amount);
            let action = match self.reconcile_one(row, Cause::Reconciler).await {
                Ok(after) if after.status != status || after.pending_cancel_amount != pending => {
                    "settled"
                }
                Ok(_) => "retry_later",
                Err(e) => {
                    tracing::warn!(error = %e, "reconciling a payment failed; will retry");
                    "error"
                }
            };
            self.metrics.reconciled(action);
            touched += 1;
        }
        self.store.purge_expired_idempotency_keys(now).await?;
        Ok(touched)
    }

    /// Finds out what happened to one payment at Innopay and records it, with `cause` in the history
    /// of an approval's outcome (the reconciler, or a Noti that reported one paydesk had not settled).
    pub(crate) async fn reconcile_one(
        &self,
        row: PaymentRow,
        cause: Cause,
    ) -> Result<PaymentRow, CheckoutError> {
        if row.status == PaymentStatus::AwaitingDeposit && row.pending_cancel_amount.is_none() {
            return self.check_account(row).await;
        }
        let storefront = storefronts::find(&self.store, &row.storefront_id).await?;
        let merchant = merchant(&storefront);
        let inquiry = match row.tid.as_deref().and_then(|t| t.parse::<Tid>().ok()) {
            Some(tid) => {
                self.gateway
                    .transaction(&merchant, &tid, row.currency)
                    .await
            }
            None => match row.order_id.parse::<OrderId>() {
                Ok(moid) => {
                    self.gateway
                        .transaction_by_order(&merchant, &moid, row.currency)
                        .await
                }
                Err(_) => return Ok(row),
            },
        };
        tracing::info!(payment = %row.id, status = %row.status, outcome = inquiry.label(), "reconciling by inquiry");
        if let Some(pending) = row.pending_cancel_amount {
            return self
                .reconcile_cancel(&storefront, row, pending, inquiry)
                .await;
        }
        let conclusive = match &inquiry {
            Outcome::Done(_) => true,
            // "No such transaction" while the approval may still be in flight proves nothing.
            Outcome::Declined { .. } => {
                self.approval_attempt_age(&row).await? >= self.inquiry_grace
            }
            Outcome::Unknown { .. } | Outcome::NotSent { .. } => false,
        };
        if !conclusive {
            let backoff = backoff(&row, 6);
            self.store
                .schedule_reconcile(&row.id, self.store.now() + backoff)
                .await?;
            return Ok(row);
        }
        self.apply_approval_outcome(&storefront, row, inquiry, cause)
            .await
    }

    /// Time since paydesk last asked Innopay to approve this payment.
    async fn approval_attempt_age(&self, row: &PaymentRow) -> Result<Duration, CheckoutError> {
        let events = self.store.payment_events(&row.id).await?;
        let started = events
            .iter()
            .rev()
            .find(|e| e.kind == EventKind::ApprovalStarted.as_str())
            .map_or(row.updated_at, |e| e.created_at);
        Ok(self.store.now() - started)
    }

    /// Settles a cancel whose answer was lost, from what the inquiry says was cancelled.
    async fn reconcile_cancel(
        &self,
        storefront: &Storefront,
        row: PaymentRow,
        pending: i64,
        inquiry: Outcome<Approval>,
    ) -> Result<PaymentRow, CheckoutError> {
        let net_cancel = row.status == PaymentStatus::Unknown;
        match inquiry {
            Outcome::Done(approval)
                if net_cancel
                    && approval
                        .virtual_account
                        .as_ref()
                        .is_some_and(|a| a.deposit_amt.is_some()) =>
            {
                self.deposit_while_taking_back(row, &approval).await
            }
            Outcome::Done(approval) => {
                let cancelled_there = cancelled_at_innopay(&approval, &row);
                if cancelled_there >= row.cancelled_amount + pending {
                    self.apply_cancel(
                        &row,
                        pending,
                        Cause::Reconciler,
                        json!({"confirmedBy": "inquiry", "amount": pending}),
                    )
                    .await
                } else if net_cancel {
                    // The net-cancel did not happen: try it again.
                    self.net_cancel(
                        storefront,
                        row.clone(),
                        row.flag_reason.as_deref().unwrap_or("net-cancel retry"),
                        None,
                    )
                    .await
                } else {
                    self.release_cancel(
                        &row,
                        row.status,
                        EventKind::CancelNotApplied,
                        json!({"confirmedBy": "inquiry"}),
                    )
                    .await
                }
            }
            Outcome::Declined { code, message } if net_cancel => {
                // Innopay has no approval: nothing to take back.
                let update = PaymentUpdate {
                    pending_cancel_amount: Some(None),
                    reconcile_after: Some(None),
                    ..failure(FailureCode::innopay(&code), &message)
                };
                self.apply_or_reload(
                    &row,
                    PaymentStatus::Failed,
                    update,
                    event(
                        EventKind::NotApprovedAtInnopay,
                        Cause::Reconciler,
                        json!({"code": code, "message": message}),
                    ),
                )
                .await
            }
            _ => Ok(row),
        }
    }
}
