//! Cancels: a storefront's partial or full cancel through the API, and cancels Innopay reports by
//! Noti, recorded only once Innopay's own inquiry shows them.

use serde_json::json;
use time::Duration;

use super::*;
use crate::checkout::input::NewCancel;
use crate::checkout::{CheckoutError, PaymentStatus};
use crate::domain::{Currency, Money, PayMethod, Price, Tid, Unit, UsCent, Won};
use crate::gateway::{self, Approval, Outcome};
use crate::store::payments::{NewEvent, PaymentRow, PaymentUpdate};
use crate::storefronts::{self, Storefront};

/// How a cancel request ended.
pub enum CancelResult {
    Done(PaymentRow),
    /// Innopay's answer was lost; the reconciler confirms it.
    Pending(PaymentRow),
}

/// What became of a cancel Innopay reported by Noti (`record_reported_cancel`).
pub(crate) enum ReportedCancel {
    /// Innopay's inquiry shows it: recorded, with the amount this record added.
    Recorded(Box<PaymentRow>, i64),
    /// The payment changed since it was read: nothing written, judge the Noti again.
    Raced,
    /// Innopay's inquiry does not show it (why): nothing written.
    NotShown(String),
    /// Innopay gave no conclusive answer (why): nothing written.
    Inconclusive(String),
}

/// How much of `row` an inquiry shows cancelled. An answer without the amount only tells whether
/// the payment is still approved (status 0) or cancelled in full. A virtual account nobody paid is
/// cancelled whole once Innopay shows it closed.
pub(super) fn cancelled_at_innopay(approval: &Approval, row: &PaymentRow) -> i64 {
    if let Some(account) = &approval.virtual_account
        && account.deposit_amt.is_none()
    {
        let closed = approval.status != 0 || account.closed_at.is_some();
        return if closed { total(row) } else { 0 };
    }
    approval
        .cancelled_amt
        .map(Price::minor)
        .unwrap_or(if approval.status == 0 { 0 } else { total(row) })
}

/// How much of a payment of `total`, `cancelled` of it already, a cancel takes: worked out in the
/// payment's own unit, so that only amounts of its currency are compared or taken from it.
fn cancel_amount<U: Unit>(
    total: Money<U>,
    cancelled: Money<U>,
    cancel: &NewCancel,
    method: PayMethod,
) -> Result<Money<U>, CheckoutError> {
    let remaining = total.checked_sub(cancelled).unwrap_or(Money::ZERO);
    if let Some(expected) = cancel.expected_remaining
        && expected != remaining.minor()
    {
        return Err(CheckoutError::StaleRemainingAmount {
            expected,
            actual: remaining.minor(),
        });
    }
    let exceeds = |requested| CheckoutError::CancelExceedsRemaining {
        requested,
        remaining: remaining.minor(),
    };
    // An amount beyond the unit's bounds is beyond any payment's remainder.
    let amount = match cancel.amount {
        None => remaining,
        Some(asked) => Money::new(asked).map_err(|_| exceeds(asked))?,
    };
    if amount > remaining || remaining == Money::ZERO {
        return Err(exceeds(amount.minor()));
    }
    if amount < total && !method.rules().partial_cancel {
        return Err(CheckoutError::invalid(
            "partial_cancel_not_allowed",
            "amount",
            format!(
                "a {method} payment is only cancelled whole: omit amount to cancel all {} {}",
                total.minor(),
                U::WORDING
            ),
        ));
    }
    Ok(amount)
}

/// `cancel_amount` in the unit of the row's currency.
fn row_cancel_amount(row: &PaymentRow, cancel: &NewCancel) -> Result<Price, CheckoutError> {
    fn typed<U: Unit>(row: &PaymentRow, cancel: &NewCancel) -> Result<Money<U>, CheckoutError> {
        let stored = |units| Money::<U>::new(units).map_err(|_| CheckoutError::NotFound);
        cancel_amount(
            stored(total(row))?,
            stored(row.cancelled_amount)?,
            cancel,
            row.pay_method,
        )
    }
    Ok(match row.currency {
        Currency::Krw => Price::Krw(typed::<Won>(row, cancel)?),
        Currency::Usd => Price::Usd(typed::<UsCent>(row, cancel)?),
    })
}

/// The change a cancel of `amount` makes: `cancelled` once nothing remains, else
/// `partially_cancelled`; any cancel paydesk was waiting to confirm is settled by it.
fn cancel_change(
    row: &PaymentRow,
    amount: i64,
    cause: Cause,
    detail: serde_json::Value,
) -> (PaymentStatus, PaymentUpdate, NewEvent) {
    let cancelled = row.cancelled_amount + amount;
    let (to, kind) = if cancelled >= total(row) {
        (PaymentStatus::Cancelled, EventKind::Cancelled)
    } else {
        (
            PaymentStatus::PartiallyCancelled,
            EventKind::PartiallyCancelled,
        )
    };
    let update = PaymentUpdate {
        cancelled_amount: Some(cancelled),
        pending_cancel_amount: Some(None),
        reconcile_after: Some(None),
        ..Default::default()
    };
    (to, update, event(kind, cause, detail))
}

impl CheckoutService {
    /// Cancels part or all of a paid payment.
    pub async fn cancel(
        &self,
        storefront: &Storefront,
        id: &str,
        cancel: NewCancel,
    ) -> Result<CancelResult, CheckoutError> {
        let row = self.get(storefront, id).await?;
        let current = row.status;
        if current == PaymentStatus::AwaitingDeposit && row.pending_cancel_amount.is_none() {
            return self.close_unpaid(storefront, row, cancel).await;
        }
        if !matches!(
            current,
            PaymentStatus::Paid | PaymentStatus::PartiallyCancelled
        ) {
            return Err(if row.pending_cancel_amount.is_some() {
                CheckoutError::CancelInProgress
            } else {
                CheckoutError::NotCancellable(current.as_str())
            });
        }
        if row.pending_cancel_amount.is_some() {
            return Err(CheckoutError::CancelInProgress);
        }
        let price = row_cancel_amount(&row, &cancel)?;
        let amount = price.minor();
        let refund = if row.pay_method.rules().refunds_to_account {
            let account = cancel
                .refund_account
                .clone()
                .ok_or(CheckoutError::RefundAccountRequired(row.pay_method))?;
            Some(gateway::RefundTo {
                bank_code: account.bank_code,
                account_number: account.account_number,
                holder_name: account.holder_name,
            })
        } else {
            None
        };
        let refund_detail = refund.as_ref().map(|r| {
            json!({
                "bankCode": r.bank_code.as_str(),
                "accountNumber": crate::domain::mask_digits(&r.account_number),
                "holderName": r.holder_name,
            })
        });
        let reserved = self
            .reserve_cancel(
                &row,
                amount,
                json!({"amount": amount, "reason": cancel.reason, "refundAccount": refund_detail}),
            )
            .await?;
        let request = gateway::CancelRequest {
            tid: row
                .tid
                .as_deref()
                .unwrap_or_default()
                .parse()
                .map_err(|_| CheckoutError::NotCancellable(current.as_str()))?,
            pay_method: row.pay_method,
            partial: amount < total(&row),
            cancel_amt: price,
            cancel_msg: cancel.reason,
            refund,
        };
        let outcome = self
            .gateway
            .cancel(&merchant(storefront), &request)
            .await
            .map(|done| json!({"resultCode": done.result_code, "amount": amount}));
        self.settle_cancel_call(&reserved, amount, outcome).await
    }

    /// Reserves `amount` of `row` for a cancel about to be sent (the status stays): the reconciler
    /// leaves it to this request until the call's deadline, and no second cancel can start.
    async fn reserve_cancel(
        &self,
        row: &PaymentRow,
        amount: i64,
        detail: serde_json::Value,
    ) -> Result<PaymentRow, CheckoutError> {
        let reserve = PaymentUpdate {
            pending_cancel_amount: Some(Some(amount)),
            reconcile_after: Some(Some(self.call_deadline())),
            ..Default::default()
        };
        self.store
            .transition(
                row,
                row.status,
                reserve,
                event(EventKind::CancelRequested, Cause::Api, detail),
            )
            .await?
            .ok_or(CheckoutError::CancelInProgress)
    }

    /// Records how Innopay answered a cancel (or an account's close) reserved on `reserved`; `Done`
    /// carries what the history records of it.
    async fn settle_cancel_call(
        &self,
        reserved: &PaymentRow,
        amount: i64,
        outcome: Outcome<serde_json::Value>,
    ) -> Result<CancelResult, CheckoutError> {
        tracing::info!(payment = %reserved.id, outcome = outcome.label(), "cancel answered");
        self.metrics.cancel("requested", outcome.label());
        let back_to = reserved.status;
        match outcome {
            Outcome::Done(detail) => Ok(CancelResult::Done(
                self.apply_cancel(reserved, amount, Cause::Api, detail)
                    .await?,
            )),
            Outcome::Unknown { reason } => {
                let update = PaymentUpdate {
                    reconcile_after: Some(Some(self.store.now() + Duration::seconds(2))),
                    ..Default::default()
                };
                let row = self
                    .apply_or_reload(
                        reserved,
                        back_to,
                        update,
                        event(
                            EventKind::CancelOutcomeUnknown,
                            Cause::Gateway,
                            json!({"reason": reason, "amount": amount}),
                        ),
                    )
                    .await?;
                Ok(CancelResult::Pending(row))
            }
            Outcome::Declined { code, message } => {
                self.release_cancel(
                    reserved,
                    back_to,
                    EventKind::CancelDeclined,
                    json!({"code": code, "message": message}),
                )
                .await?;
                Err(CheckoutError::Declined { code, message })
            }
            Outcome::NotSent { reason } => {
                self.release_cancel(
                    reserved,
                    back_to,
                    EventKind::CancelNotSent,
                    json!({"reason": reason}),
                )
                .await?;
                Err(CheckoutError::GatewayUnavailable(reason))
            }
        }
    }

    /// Cancels a virtual-account payment nobody paid yet: the account is closed at Innopay, so no
    /// deposit can arrive any more, and the payment is `cancelled` with nothing left to pay or
    /// refund. A lost answer is confirmed by inquiry like a cancel's.
    async fn close_unpaid(
        &self,
        storefront: &Storefront,
        row: PaymentRow,
        cancel: NewCancel,
    ) -> Result<CancelResult, CheckoutError> {
        let amount = total(&row);
        if let Some(asked) = cancel.amount
            && asked != amount
        {
            return Err(CheckoutError::invalid(
                "invalid_cancel_amount",
                "amount",
                "an unpaid virtual account is cancelled whole: omit amount (nothing was paid, so \
                 nothing is refunded)",
            ));
        }
        let reserved = self
            .reserve_cancel(
                &row,
                amount,
                json!({"amount": amount, "reason": cancel.reason, "closeAccount": true}),
            )
            .await?;
        let outcome = self
            .close_account(storefront, &reserved)
            .await
            .map(|()| json!({"accountClosed": true}));
        self.settle_cancel_call(&reserved, amount, outcome).await
    }

    /// Records a cancel Innopay carried out.
    pub(super) async fn apply_cancel(
        &self,
        row: &PaymentRow,
        amount: i64,
        cause: Cause,
        detail: serde_json::Value,
    ) -> Result<PaymentRow, CheckoutError> {
        let (to, update, ev) = cancel_change(row, amount, cause, detail);
        self.apply_or_reload(row, to, update, ev).await
    }

    /// Records a cancel Innopay reports by Noti (made in Innopay's admin, or anywhere but paydesk)
    /// once Innopay's own inquiry, by the payment's tid with the merchant's key, shows it: a Noti is
    /// unsigned and anyone can post one. `claimed` is the total cancelled the Noti says; the inquiry
    /// must show at least that much, and no more than it is recorded (a later cancel is recorded by
    /// its own Noti, with its own details).
    pub(crate) async fn record_reported_cancel(
        &self,
        row: &PaymentRow,
        claimed: i64,
        mut detail: serde_json::Value,
    ) -> Result<ReportedCancel, CheckoutError> {
        let Some(tid) = row.tid.as_deref().and_then(|t| t.parse::<Tid>().ok()) else {
            return Ok(ReportedCancel::NotShown(
                "the payment has no tid to ask Innopay about".into(),
            ));
        };
        let storefront = storefronts::find(&self.store, &row.storefront_id).await?;
        let shown = match self
            .gateway
            .transaction(&merchant(&storefront), &tid, row.currency)
            .await
        {
            Outcome::Done(approval) => cancelled_at_innopay(&approval, row),
            Outcome::Declined { code, message } => {
                return Ok(ReportedCancel::NotShown(format!(
                    "Innopay's inquiry does not know tid {tid}: {code} {message}"
                )));
            }
            Outcome::Unknown { reason } | Outcome::NotSent { reason } => {
                return Ok(ReportedCancel::Inconclusive(reason));
            }
        };
        if shown < claimed {
            return Ok(ReportedCancel::NotShown(format!(
                "Innopay's inquiry shows {shown} cancelled, the Noti {claimed}"
            )));
        }
        let amount = claimed - row.cancelled_amount;
        detail["amount"] = json!(amount);
        detail["confirmedBy"] = json!("inquiry");
        detail["cancelledAtInnopay"] = json!(shown);
        let (to, update, ev) = cancel_change(row, amount, Cause::InnopayNoti, detail);
        Ok(match self.store.transition(row, to, update, ev).await? {
            Some(recorded) => ReportedCancel::Recorded(Box::new(recorded), amount),
            None => ReportedCancel::Raced,
        })
    }

    pub(super) async fn release_cancel(
        &self,
        row: &PaymentRow,
        back_to: PaymentStatus,
        kind: EventKind,
        detail: serde_json::Value,
    ) -> Result<PaymentRow, CheckoutError> {
        let update = PaymentUpdate {
            pending_cancel_amount: Some(None),
            reconcile_after: Some(None),
            ..Default::default()
        };
        self.apply_or_reload(row, back_to, update, event(kind, Cause::Gateway, detail))
            .await
    }
}
