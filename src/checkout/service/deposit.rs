//! Virtual accounts (VBANK) after the approval issued one: what Innopay's inquiry says was deposited
//! becomes the payment's state (paid, or flagged for a person when it is the wrong amount, late, or
//! more than once), the reconciler checks issued accounts for deposits whose Noti was lost, and an
//! account past its deadline is closed at Innopay before the payment expires, so no deposit can
//! arrive for an order that no longer exists.

use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::approval::parse_kst;
use super::*;
use crate::checkout::{CheckoutError, PaymentStatus};
use crate::domain::{
    Amount, BankCode, CashReceipt, CashReceiptPurpose, Deposit, FailureCode, IssuedAccount,
    IssuedReceipt, MethodDetails, OrderId, Tid, VirtualAccount, kst_text,
};
use crate::gateway::{self, Approval, Outcome, VirtualAccountInfo};
use crate::store::payments::{PaymentRow, PaymentUpdate};
use crate::storefronts::{self, Storefront};

/// What became of a deposit Innopay's inquiry was asked about.
pub(crate) enum DepositOutcome {
    /// The deposit paid the payment.
    Paid(Box<PaymentRow>),
    /// The payment already shows it.
    AlreadyRecorded(Box<PaymentRow>),
    /// Money arrived that paydesk cannot take as the payment (why): flagged for a person.
    Flagged(Box<PaymentRow>, String),
    /// Innopay shows no deposit.
    NotDeposited(Box<PaymentRow>),
    /// Innopay shows the account closed, unpaid.
    Closed(Box<PaymentRow>),
    /// Innopay gave no conclusive answer (why).
    Inconclusive(String),
    /// The payment changed while this was decided: decide again.
    Raced,
}

/// The payment's virtual account, if it is a VBANK payment.
pub(super) fn account_of(row: &PaymentRow) -> Option<&VirtualAccount> {
    row.method_details
        .as_ref()
        .and_then(MethodDetails::virtual_account)
}

/// Starts the reason of a flag set when money reached an account paydesk was taking back: such a
/// payment is never paid automatically.
pub(super) const TAKE_BACK_FLAG: &str = "money was deposited into an account paydesk was closing";

/// The virtual account of `row` as Innopay now reports it, merged into what paydesk stored. The bank
/// is read from its code, else its name (the one field seen in real answers, B). An account paydesk
/// never asked for (Innopay issued one for a card checkout) is due at once.
pub(super) fn account_update(
    row: &PaymentRow,
    info: &VirtualAccountInfo,
) -> Option<VirtualAccount> {
    let stored = account_of(row);
    let bank_code = info
        .bank_code
        .as_deref()
        .and_then(|c| c.parse::<BankCode>().ok())
        .or_else(|| info.bank_name.as_deref().and_then(BankCode::from_name))
        .or(stored.and_then(|a| a.issued.as_ref()).map(|a| a.bank_code))?;
    let deposit = info.deposit_amt.map(|amount| Deposit {
        amount: amount.won(),
        depositor_name: info.depositor_name.clone(),
        deposited_at: info.deposited_at.as_deref().and_then(parse_kst),
    });
    Some(VirtualAccount {
        due_at: stored.map_or_else(OffsetDateTime::now_utc, |a| a.due_at),
        issued: Some(IssuedAccount {
            bank_code,
            account_number: info.account_number.clone(),
            holder_name: info.holder_name.clone(),
        }),
        deposit: deposit.or_else(|| stored.and_then(|a| a.deposit.clone())),
    })
}

/// The cash receipt Innopay reports issued, beside what was asked.
fn receipt_update(row: &PaymentRow, approval: &Approval) -> Option<CashReceipt> {
    let issued = approval.cash_receipt.as_ref()?;
    let asked = row.cash_receipt.as_ref();
    let purpose = issued
        .receipt_type
        .as_deref()
        .and_then(CashReceiptPurpose::from_innopay)
        .or(asked.map(|r| r.purpose))?;
    Some(CashReceipt {
        purpose: asked.map_or(purpose, |r| r.purpose),
        identifier: asked.map(|r| r.identifier.clone()).unwrap_or_default(),
        issued: Some(IssuedReceipt {
            purpose,
            identifier: issued.receipt_type_no.clone(),
            supply_amount: issued.supply_amt.won(),
            vat: issued.vat.won(),
            service_amount: issued.service_amt.won(),
            tid: issued.tid.clone(),
        }),
    })
}

impl CheckoutService {
    /// When the reconciler next asks Innopay about an issued account: after the check interval,
    /// and at the deadline at the latest.
    pub(super) fn next_deposit_check(&self, due_at: OffsetDateTime) -> OffsetDateTime {
        (self.store.now() + self.deposit_check_interval).min(due_at)
    }

    /// Innopay issued a virtual account for an approving (or unknown) payment: `awaiting_deposit`,
    /// or straight to the deposit's outcome when the inquiry that found it also shows the money.
    pub(super) async fn record_issued_account(
        &self,
        row: PaymentRow,
        approval: Approval,
        cause: Cause,
    ) -> Result<PaymentRow, CheckoutError> {
        let account = approval
            .virtual_account
            .as_ref()
            .and_then(|info| account_update(&row, info));
        let Some(account) = account else {
            return self.unusable_account(row, cause).await;
        };
        let has_deposit = approval
            .virtual_account
            .as_ref()
            .is_some_and(|info| info.deposit_amt.is_some());
        let due_at = account.due_at;
        let issued = account
            .issued
            .clone()
            .expect("account_update always sets it");
        let mut update = super::approval::approval_update(&approval);
        update.method_details = Some(Some(MethodDetails::VirtualAccount(VirtualAccount {
            deposit: None,
            ..account
        })));
        update.expires_at = Some(due_at);
        update.reconcile_after = Some(Some(self.next_deposit_check(due_at)));
        let detail = json!({
            "tid": approval.tid,
            "bankCode": issued.bank_code.as_str(),
            "accountNumber": issued.account_number,
            "dueAt": api_time(due_at),
        });
        let issued_row = self
            .apply_or_reload(
                &row,
                PaymentStatus::AwaitingDeposit,
                update,
                event(EventKind::AccountIssued, cause, detail),
            )
            .await?;
        if issued_row.status == PaymentStatus::AwaitingDeposit && has_deposit {
            return match self
                .settle_deposit(issued_row.clone(), &approval, cause)
                .await?
            {
                DepositOutcome::Paid(row)
                | DepositOutcome::AlreadyRecorded(row)
                | DepositOutcome::Flagged(row, _)
                | DepositOutcome::NotDeposited(row)
                | DepositOutcome::Closed(row) => Ok(*row),
                DepositOutcome::Inconclusive(_) | DepositOutcome::Raced => Ok(issued_row),
            };
        }
        Ok(issued_row)
    }

    /// Innopay answered about a VBANK payment without an account paydesk can show (none, or at a
    /// bank it does not know): the payment stays `unknown`, asked about again with backoff, and is
    /// flagged once the same answer came three times.
    async fn unusable_account(
        &self,
        row: PaymentRow,
        cause: Cause,
    ) -> Result<PaymentRow, CheckoutError> {
        let reason =
            "Innopay's answer for this VBANK payment has no virtual account of a known bank";
        let backoff = backoff(&row, 8);
        let next = self.store.now() + backoff;
        if row.status == PaymentStatus::Unknown && row.flag_reason.as_deref() == Some(reason) {
            self.store.schedule_reconcile(&row.id, next).await?;
            return Ok(row);
        }
        let update = PaymentUpdate {
            reconcile_after: Some(Some(next)),
            flag_reason: (row.reconcile_attempts >= 3).then(|| reason.to_string()),
            ..Default::default()
        };
        self.apply_or_reload(
            &row,
            PaymentStatus::Unknown,
            update,
            event(EventKind::OutcomeUnknown, cause, json!({"reason": reason})),
        )
        .await
    }

    /// Money reached an account paydesk was taking back (closing it because the approval could not
    /// be honoured): closing is no longer possible and a refund needs an account only a person can
    /// get. The payment waits, flagged, as an issued account that is never paid automatically.
    pub(super) async fn deposit_while_taking_back(
        &self,
        row: PaymentRow,
        approval: &Approval,
    ) -> Result<PaymentRow, CheckoutError> {
        let account = approval
            .virtual_account
            .as_ref()
            .and_then(|info| account_update(&row, info));
        let why = format!(
            "{TAKE_BACK_FLAG} ({}): refund it in Innopay's admin, or accept the order by hand",
            row.flag_reason
                .as_deref()
                .unwrap_or("the approval could not be honoured")
        );
        tracing::error!(payment = %row.id, %why, "deposit flagged for a person");
        let update = PaymentUpdate {
            method_details: account.map(|a| Some(MethodDetails::VirtualAccount(a))),
            pending_cancel_amount: Some(None),
            reconcile_after: Some(Some(self.store.now() + self.deposit_check_interval)),
            flag_reason: Some(why.clone()),
            ..Default::default()
        };
        self.apply_or_reload(
            &row,
            PaymentStatus::AwaitingDeposit,
            update,
            event(
                EventKind::DepositFlagged,
                Cause::Reconciler,
                json!({"reason": why}),
            ),
        )
        .await
    }

    /// Asks Innopay about the payment's virtual account and records what it shows (a deposit Noti
    /// is only a reason to ask: it is unsigned).
    pub(crate) async fn confirm_deposit(
        &self,
        row: PaymentRow,
        cause: Cause,
    ) -> Result<DepositOutcome, CheckoutError> {
        let Some(tid) = row.tid.as_deref().and_then(|t| t.parse::<Tid>().ok()) else {
            return Ok(DepositOutcome::NotDeposited(Box::new(row)));
        };
        let storefront = storefronts::find(&self.store, &row.storefront_id).await?;
        match self
            .gateway
            .transaction(&merchant(&storefront), &tid, row.currency)
            .await
        {
            Outcome::Done(approval) => self.settle_deposit(row, &approval, cause).await,
            Outcome::Declined { code, message } => Ok(DepositOutcome::Inconclusive(format!(
                "Innopay's inquiry does not know tid {tid}: {code} {message}"
            ))),
            Outcome::Unknown { reason } | Outcome::NotSent { reason } => {
                Ok(DepositOutcome::Inconclusive(reason))
            }
        }
    }

    /// Turns what an inquiry shows deposited into the payment's state.
    pub(super) async fn settle_deposit(
        &self,
        row: PaymentRow,
        approval: &Approval,
        cause: Cause,
    ) -> Result<DepositOutcome, CheckoutError> {
        let total = total(&row);
        let Some(info) = approval.virtual_account.as_ref() else {
            return Ok(DepositOutcome::NotDeposited(Box::new(row)));
        };
        let issued_number = account_of(&row)
            .and_then(|a| a.issued.as_ref())
            .map(|a| a.account_number.clone());
        if issued_number
            .as_deref()
            .is_some_and(|n| n != info.account_number)
        {
            let why = format!(
                "Innopay reports account {} for this payment, paydesk issued {}",
                info.account_number,
                issued_number.unwrap_or_default()
            );
            return self.flag_deposit(row, why, None, cause).await;
        }
        let Some(deposited) = info.deposit_amt.map(Amount::won) else {
            let closed = approval.status != 0 || info.closed_at.is_some();
            return Ok(if closed {
                DepositOutcome::Closed(Box::new(row))
            } else {
                DepositOutcome::NotDeposited(Box::new(row))
            });
        };
        let Some(account) = account_update(&row, info) else {
            return Ok(DepositOutcome::NotDeposited(Box::new(row)));
        };
        let deposited_at = account.deposit.as_ref().and_then(|d| d.deposited_at);
        match row.status {
            PaymentStatus::AwaitingDeposit
                if row
                    .flag_reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with(TAKE_BACK_FLAG)) =>
            {
                let why = row.flag_reason.clone().unwrap_or_default();
                Ok(DepositOutcome::Flagged(Box::new(row), why))
            }
            // A close of this account is in flight: its outcome (refused, since money arrived)
            // comes first, then this deposit is decided.
            PaymentStatus::AwaitingDeposit if row.pending_cancel_amount.is_some() => Ok(
                DepositOutcome::Inconclusive("a close of this account is in flight".into()),
            ),
            PaymentStatus::AwaitingDeposit => {
                if deposited != total {
                    let why = format!(
                        "a deposit of {deposited} won into an account issued for {total} won: \
                         return it or settle the difference with the shopper"
                    );
                    return self.flag_deposit(row, why, Some(account), cause).await;
                }
                // A deposit Innopay took before paydesk closed the account, at a time it does not
                // say, counts as in time: the account closes at the deadline.
                let late = deposited_at.is_some_and(|at| at > account.due_at);
                if late {
                    let why = format!(
                        "a deposit of {deposited} won at {} after the deadline {}: the order was \
                         not paid in time; refund it or accept it by hand",
                        deposited_at
                            .map(kst_text)
                            .unwrap_or_else(|| "an unknown time".into()),
                        kst_text(account.due_at)
                    );
                    return self.flag_deposit(row, why, Some(account), cause).await;
                }
                let update = PaymentUpdate {
                    method_details: Some(Some(MethodDetails::VirtualAccount(account))),
                    cash_receipt: receipt_update(&row, approval).map(Some),
                    gateway_answer: Some(approval.raw.to_string()),
                    reconcile_after: Some(None),
                    ..Default::default()
                };
                let detail = json!({
                    "amount": deposited,
                    "depositedAt": deposited_at.map(api_time),
                    "confirmedBy": "inquiry",
                });
                Ok(
                    match self
                        .store
                        .transition(
                            &row,
                            PaymentStatus::Paid,
                            update,
                            event(EventKind::Deposited, cause, detail),
                        )
                        .await?
                    {
                        Some(paid) => DepositOutcome::Paid(Box::new(paid)),
                        None => DepositOutcome::Raced,
                    },
                )
            }
            PaymentStatus::PartiallyCancelled | PaymentStatus::Cancelled
                if account_of(&row).is_none_or(|a| a.deposit.is_none()) =>
            {
                let why = format!(
                    "a deposit of {deposited} won into an account paydesk closed unpaid: refund it"
                );
                self.flag_deposit(row, why, Some(account), cause).await
            }
            PaymentStatus::Paid | PaymentStatus::PartiallyCancelled | PaymentStatus::Cancelled
                if deposited > total =>
            {
                let why = format!(
                    "deposited {deposited} won in all into an account issued for {total} won: \
                     return the {} won more than owed",
                    deposited - total
                );
                self.flag_deposit(row, why, Some(account), cause).await
            }
            PaymentStatus::Paid | PaymentStatus::PartiallyCancelled | PaymentStatus::Cancelled => {
                Ok(DepositOutcome::AlreadyRecorded(Box::new(row)))
            }
            PaymentStatus::Expired => {
                let why = format!(
                    "a deposit of {deposited} won into the account of an expired payment: refund it"
                );
                self.flag_deposit(row, why, Some(account), cause).await
            }
            _ => Ok(DepositOutcome::NotDeposited(Box::new(row))),
        }
    }

    /// Flags money paydesk cannot take as the payment, once per reason, keeping what Innopay showed
    /// deposited (`account`) on the payment for whoever settles it.
    async fn flag_deposit(
        &self,
        row: PaymentRow,
        why: String,
        account: Option<VirtualAccount>,
        cause: Cause,
    ) -> Result<DepositOutcome, CheckoutError> {
        if row.flag_reason.as_deref() == Some(why.as_str()) {
            return Ok(DepositOutcome::Flagged(Box::new(row), why));
        }
        tracing::error!(payment = %row.id, %why, "deposit flagged for a person");
        let update = PaymentUpdate {
            method_details: account.map(|a| Some(MethodDetails::VirtualAccount(a))),
            ..Default::default()
        };
        Ok(
            match self
                .store
                .flag(
                    &row,
                    &why,
                    update,
                    event(EventKind::DepositFlagged, cause, json!({"reason": why})),
                )
                .await?
            {
                Some(flagged) => DepositOutcome::Flagged(Box::new(flagged), why),
                None => DepositOutcome::Raced,
            },
        )
    }

    /// The reconciler's look at an issued account: a deposit whose Noti never came, or the
    /// deadline, when the account is closed and the payment expires.
    pub(super) async fn check_account(&self, row: PaymentRow) -> Result<PaymentRow, CheckoutError> {
        let due_at = match account_of(&row) {
            Some(account) => account.due_at,
            None => return Ok(row),
        };
        match self.confirm_deposit(row.clone(), Cause::Reconciler).await? {
            DepositOutcome::Paid(paid) => return Ok(*paid),
            DepositOutcome::NotDeposited(row) if self.store.now() >= due_at => {
                return self.expire_account(*row).await;
            }
            DepositOutcome::Closed(row) => return self.record_expiry(*row).await,
            DepositOutcome::Inconclusive(why) => {
                tracing::info!(payment = %row.id, %why, "deposit check inconclusive; will ask again");
                let backoff = backoff(&row, 6);
                let at = (self.store.now() + backoff).min(self.next_deposit_check(due_at));
                self.store
                    .schedule_reconcile(&row.id, at.max(self.store.now() + Duration::seconds(1)))
                    .await?;
                return Ok(row);
            }
            _ => {}
        }
        let current = self
            .store
            .payment(&row.id)
            .await?
            .ok_or(CheckoutError::NotFound)?;
        if current.status == PaymentStatus::AwaitingDeposit {
            let next = if self.store.now() >= due_at {
                // Flagged money in a late account: a person decides; look again later.
                self.store.now() + self.deposit_check_interval
            } else {
                self.next_deposit_check(due_at)
            };
            self.store.schedule_reconcile(&current.id, next).await?;
        }
        Ok(current)
    }

    /// Closes an account nobody paid by its deadline, then expires the payment. Until Innopay has
    /// closed it a deposit could still arrive, so the payment stays `awaiting_deposit` and the
    /// reconciler tries again.
    async fn expire_account(&self, row: PaymentRow) -> Result<PaymentRow, CheckoutError> {
        let storefront = storefronts::find(&self.store, &row.storefront_id).await?;
        match self.close_account(&storefront, &row).await {
            Outcome::Done(()) => self.record_expiry(row).await,
            other => {
                let why = match &other {
                    Outcome::Declined { code, message } => format!("{code} {message}"),
                    Outcome::Unknown { reason } | Outcome::NotSent { reason } => reason.clone(),
                    Outcome::Done(()) => String::new(),
                };
                tracing::warn!(payment = %row.id, %why, "closing an expired virtual account failed; will retry");
                let backoff = backoff(&row, 8);
                let next = self.store.now() + backoff;
                // Past the deadline the account may still take money: a person must know once
                // closing it keeps failing.
                let flag =
                    format!("closing the virtual account past its deadline keeps failing: {why}");
                if row.reconcile_attempts >= 5 && row.flag_reason.as_deref() != Some(flag.as_str())
                {
                    let update = PaymentUpdate {
                        reconcile_after: Some(Some(next)),
                        ..Default::default()
                    };
                    self.store
                        .flag(
                            &row,
                            &flag,
                            update,
                            event(
                                EventKind::DepositFlagged,
                                Cause::Reconciler,
                                json!({"reason": flag}),
                            ),
                        )
                        .await?;
                } else {
                    self.store.schedule_reconcile(&row.id, next).await?;
                }
                Ok(row)
            }
        }
    }

    /// The account is closed at Innopay: the payment expires.
    async fn record_expiry(&self, row: PaymentRow) -> Result<PaymentRow, CheckoutError> {
        let update = PaymentUpdate {
            reconcile_after: Some(None),
            ..failure(
                FailureCode::DepositExpired,
                "no deposit reached the virtual account before its deadline; the account was closed",
            )
        };
        let due = account_of(&row).map(|a| api_time(a.due_at));
        self.apply_or_reload(
            &row,
            PaymentStatus::Expired,
            update,
            event(
                EventKind::Expired,
                Cause::Reconciler,
                json!({"dueAt": due, "accountClosed": true}),
            ),
        )
        .await
    }

    /// Asks Innopay to close the payment's account.
    pub(super) async fn close_account(
        &self,
        storefront: &Storefront,
        row: &PaymentRow,
    ) -> Outcome<()> {
        let issued = account_of(row).and_then(|a| a.issued.clone());
        let (Some(issued), Some(tid), Ok(moid), Ok(amt)) = (
            issued,
            row.tid.as_deref().and_then(|t| t.parse::<Tid>().ok()),
            row.order_id.parse::<OrderId>(),
            Amount::new(total(row)),
        ) else {
            return Outcome::NotSent {
                reason: "the payment has no issued account to close".into(),
            };
        };
        let request = gateway::CloseAccountRequest {
            tid,
            moid,
            amt,
            bank_code: issued.bank_code,
            account_number: issued.account_number,
        };
        self.gateway
            .close_virtual_account(&merchant(storefront), &request)
            .await
    }
}
