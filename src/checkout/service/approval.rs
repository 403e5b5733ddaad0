//! The shopper's return from Innopay's window: checking it against the checkout, the approval call,
//! and turning Innopay's answer (or an inquiry's) into the payment's next state, including the
//! full cancel (망취소) of an approval paydesk must not keep; then where the shopper goes next.

use serde_json::json;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use super::*;
use crate::checkout::{CheckoutError, PaymentStatus};
use crate::config::SecretString;
use crate::domain::{
    Amount, BankTransfer, CardDetails, EpayDetails, FailureCode, MethodDetails, PayMethod, Price,
    Tid, Wallet,
};
use crate::gateway::{self, Approval, Outcome};
use crate::store::payments::{PaymentRow, PaymentUpdate};
use crate::storefronts::Storefront;

/// What the payment window sent back to `returnUrl` (all optional: nothing from the browser is
/// trusted until compared with the stored checkout).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReturnQuery {
    pub payment_token: Option<String>,
    pub tid: Option<String>,
    pub mid: Option<String>,
    pub moid: Option<String>,
    pub amt: Option<String>,
    pub tax_free_amt: Option<String>,
    pub pay_method: Option<String>,
    pub mall_reserved: Option<String>,
    pub result_code: Option<String>,
    pub result_msg: Option<String>,
}

/// How the last attempt to pay a still payable checkout ended.
pub enum LastAttempt {
    /// The window came back without a payment token (unsigned: it picks help, nothing more).
    Window(WindowReport),
    /// Innopay declined the approval; the payment's `failure` holds its code and message.
    Declined,
}

/// What a payment window's return without a token said, for the checkout page.
pub struct WindowReport {
    /// The shopper closed or cancelled the window.
    pub shopper_cancelled: bool,
    pub code: String,
    pub message: String,
}

/// Innopay's `approvedAt` is KST wall time.
pub(super) fn parse_kst(text: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    PrimitiveDateTime::parse(text, &format)
        .ok()
        .map(|t| t.assume_offset(crate::domain::KST))
}

/// Why an approved payment cannot be kept, if it cannot.
fn approval_problem(row: &PaymentRow, approval: &Approval) -> Option<String> {
    let mut problems = Vec::new();
    // A price equals only one of its own currency: 1234 cents are not 1234 won.
    if row.price().ok() != Some(approval.amt) {
        problems.push(format!(
            "approved amt {} {} differs from {} {}",
            approval.amt.minor(),
            approval.amt.currency(),
            row.amount,
            row.currency
        ));
    }
    if approval.tax_free_amt.won() != row.tax_free_amount {
        problems.push(format!(
            "approved taxFreeAmt {} differs from {}",
            approval.tax_free_amt, row.tax_free_amount
        ));
    }
    if approval.moid != row.order_id {
        problems.push(format!(
            "approved moid {} differs from {}",
            approval.moid, row.order_id
        ));
    }
    if row.tid.as_deref().is_some_and(|tid| tid != approval.tid) {
        problems.push("approved tid differs from the authenticated tid".to_string());
    }
    if approval.mid != row.mid {
        problems.push(format!(
            "approved mid {} differs from {}",
            approval.mid, row.mid
        ));
    }
    // Another method than the checkout's: a card checkout "approved" as an issued account took no
    // money. An answer without payMethod is read as the checkout's (seen left out, B).
    let answered_method = (!approval.pay_method.is_empty()).then_some(approval.pay_method.as_str());
    let issued_account = approval.virtual_account.is_some() && !row.pay_method.rules().paid_later;
    if answered_method.is_some_and(|m| m != row.pay_method.code()) || issued_account {
        problems.push(format!(
            "Innopay answered payMethod {} for a {} payment",
            answered_method.unwrap_or("VBANK"),
            row.pay_method
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// The columns an approval fills.
pub(super) fn approval_update(approval: &Approval) -> PaymentUpdate {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let card = approval.card.as_ref().map(|c| {
        MethodDetails::Card(CardDetails {
            company_code: non_empty(&c.fn_cd),
            company_name: non_empty(&c.fn_name),
            number: non_empty(&c.card_num),
            quota: non_empty(&c.card_quota),
        })
    });
    let bank = approval.bank.as_ref().map(|b| {
        MethodDetails::BankTransfer(BankTransfer::new(
            b.bank_code.as_deref(),
            b.bank_name.as_deref(),
            b.account_number.as_deref(),
        ))
    });
    // `epayCl`'s code list is unknown: a wallet known by its code or by its name, else the code
    // (or the name) verbatim.
    let epay = approval.epay.as_ref().and_then(|e| {
        let given = [e.epay_cl.as_deref(), e.epay_name.as_deref()];
        let known = given
            .into_iter()
            .flatten()
            .map(Wallet::from_innopay)
            .find(|w| !matches!(w, Wallet::Other(_)));
        let wallet =
            known.or_else(|| given.into_iter().flatten().next().map(Wallet::from_innopay))?;
        Some(MethodDetails::Epay(EpayDetails { wallet }))
    });
    let details = card.or(bank).or(epay);
    PaymentUpdate {
        tid: Some(approval.tid.clone()),
        approval_number: Some(approval.auth_num.clone()),
        approved_at: Some(approval.approved_at.as_deref().and_then(parse_kst)),
        method_details: details.map(Some),
        receipt_url: Some(approval.receipt_url.clone()),
        gateway_answer: Some(approval.raw.to_string()),
        failure_code: Some(None),
        failure_message: Some(None),
        reconcile_after: Some(None),
        ..Default::default()
    }
}

/// Innopay's window reports a shopper's own cancel this way (sandbox and legacy codes).
fn is_shopper_cancel(code: &str, message: &str) -> bool {
    matches!(code, "USER_CANCEL" | "9998" | "CANCEL") || message.contains("취소")
}

/// Compares what the browser brought back (and the storefront as it is now) with the stored checkout.
/// Missing `taxFreeAmt` means the stored one (Innopay sometimes leaves it out). Answers the method
/// paid with (one the checkout offered), or the kind (`amount_mismatch` or `order_mismatch`, also
/// the failure code) and what differs.
fn checked_return(
    row: &PaymentRow,
    storefront: &Storefront,
    query: &ReturnQuery,
) -> Result<PayMethod, (EventKind, String)> {
    const AMOUNT: EventKind = EventKind::AmountMismatch;
    const ORDER: EventKind = EventKind::OrderMismatch;
    // The approval is sent with the storefront's MID and key: they must be the ones the checkout
    // (and so the shopper's authentication) was made for.
    if storefront.mid.as_str() != row.mid {
        return Err((
            ORDER,
            "the storefront's MID changed after the checkout was created".into(),
        ));
    }
    // The window returns `amt` in the checkout's own currency unit (won, US cents).
    match query.amt.as_deref().map(|a| Price::parse(row.currency, a)) {
        Some(Ok(amt)) if row.price().ok() == Some(amt) => {}
        Some(Ok(amt)) => {
            return Err((
                AMOUNT,
                format!(
                    "amt {} differs from the checkout's {}",
                    amt.minor(),
                    row.amount
                ),
            ));
        }
        _ => {
            return Err((
                AMOUNT,
                format!("amt is missing or not a whole number of {}", row.currency),
            ));
        }
    }
    if let Some(raw) = query.tax_free_amt.as_deref().filter(|t| !t.is_empty()) {
        match raw.parse::<Amount>() {
            Ok(t) if t.won() == row.tax_free_amount => {}
            _ => {
                return Err((
                    AMOUNT,
                    format!(
                        "taxFreeAmt {raw:?} differs from the checkout's {}",
                        row.tax_free_amount
                    ),
                ));
            }
        }
    }
    if query.moid.as_deref() != Some(row.order_id.as_str()) {
        return Err((
            ORDER,
            format!(
                "moid {:?} differs from the checkout's order id",
                query.moid.as_deref().unwrap_or("")
            ),
        ));
    }
    if query.mid.as_deref() != Some(row.mid.as_str()) {
        return Err((
            ORDER,
            format!(
                "mid {:?} differs from the storefront's",
                query.mid.as_deref().unwrap_or("")
            ),
        ));
    }
    let offered = crate::checkout::api::offered_methods(row);
    let Some(tid) = query.tid.as_deref().and_then(|t| t.parse::<Tid>().ok()) else {
        return Err((ORDER, "tid is missing or malformed".into()));
    };
    // The tid carries the method's service code at characters 11 and 12 (A): the method the
    // window authenticated, whatever the query claims.
    let service_code = tid.as_str().get(10..12).unwrap_or_default();
    let by_tid = offered
        .iter()
        .copied()
        .find(|m| m.service_code() == service_code);
    let chosen = match query.pay_method.as_deref().filter(|m| !m.is_empty()) {
        // Without payMethod (seen left out, B) the tid says which of the offered methods it was.
        None => by_tid,
        Some(claimed) => offered.iter().copied().find(|m| m.code() == claimed),
    };
    let Some(chosen) = chosen else {
        let offered: Vec<&str> = offered.iter().map(|m| m.code()).collect();
        return Err((
            ORDER,
            format!(
                "payMethod {:?} is not one the checkout offered ({})",
                query.pay_method.as_deref().unwrap_or(""),
                offered.join(", ")
            ),
        ));
    };
    if service_code != chosen.service_code() {
        return Err((
            ORDER,
            format!("tid is not a {chosen} transaction (service code {service_code:?})"),
        ));
    }
    if !tid.as_str().starts_with(row.mid.as_str()) {
        return Err((ORDER, "tid does not belong to the storefront's mid".into()));
    }
    Ok(chosen)
}

/// How many declined approvals end a checkout: past a few, declines are more likely card testing
/// than a shopper trying their cards.
const DECLINED_ATTEMPTS_MAX: usize = 5;

impl CheckoutService {
    /// How many approvals of this checkout Innopay has declined so far.
    async fn declined_attempts(&self, row: &PaymentRow) -> Result<usize, CheckoutError> {
        let events = self.store.payment_events(&row.id).await?;
        Ok(events
            .iter()
            .filter(|e| e.kind == EventKind::Declined.as_str())
            .count())
    }

    /// Handles the browser's return from the payment window: verifies, approves, verifies again.
    /// Safe to call any number of times, concurrently, from any instance: only the request that moves
    /// the payment from `ready` to `approving` calls Innopay. Answers the payment as it now is, with
    /// its storefront (where the shopper goes next depends on both).
    pub async fn handle_return(
        &self,
        id: &str,
        query: &ReturnQuery,
    ) -> Result<(PaymentRow, Storefront), CheckoutError> {
        let (row, storefront) = self.for_shopper(id).await?;
        let row = self.approve_return(row, &storefront, query).await?;
        Ok((row, storefront))
    }

    async fn approve_return(
        &self,
        row: PaymentRow,
        storefront: &Storefront,
        query: &ReturnQuery,
    ) -> Result<PaymentRow, CheckoutError> {
        if row.status != PaymentStatus::Ready {
            // A replayed or concurrent return: the first one is handling (or handled) it.
            return Ok(row);
        }
        let Some(token) = query.payment_token.as_deref().filter(|t| !t.is_empty()) else {
            return self.authentication_ended(&row, query).await;
        };
        let chosen = match checked_return(&row, storefront, query) {
            Ok(chosen) => chosen,
            Err((code, problem)) => {
                tracing::warn!(payment = %row.id, %problem, "return query does not match the checkout; not approving");
                let update = PaymentUpdate {
                    flag_reason: Some(format!("return query mismatch: {problem}")),
                    ..failure(
                        if code == EventKind::AmountMismatch {
                            FailureCode::AmountMismatch
                        } else {
                            FailureCode::OrderMismatch
                        },
                        &format!(
                            "the payment window's answer does not match the checkout: {problem}"
                        ),
                    )
                };
                return self
                    .apply_or_reload(
                        &row,
                        PaymentStatus::Failed,
                        update,
                        event(code, Cause::ShopperReturn, json!({"problem": problem})),
                    )
                    .await;
            }
        };
        let tid: Tid = query
            .tid
            .as_deref()
            .unwrap_or_default()
            .parse()
            .expect("checked_return checked the tid");
        // The shopper's choice among the methods offered is the payment's method from here on. A
        // VBANK deadline is kept: should this approval not reach Innopay, the shopper may still
        // choose VBANK next time (and the approval's details replace it).
        let choice = PaymentUpdate {
            pay_method: Some(chosen),
            ..PaymentUpdate::default()
        };
        // The tid is not stored yet: the browser's word proves nothing until Innopay approves it for
        // this order. Until then the event carries it, and an inquiry goes by order id.
        let Some(approving) = self
            .store
            .transition(
                &row,
                PaymentStatus::Approving,
                choice,
                event(
                    EventKind::ApprovalStarted,
                    Cause::ShopperReturn,
                    json!({"tid": tid.as_str(), "payMethod": chosen.code()}),
                ),
            )
            .await?
        else {
            // Another request changed the payment first. If it is approving, its answer settles
            // it; if a tokenless return left it payable meanwhile, this return still counts.
            let current = self
                .store
                .payment(&row.id)
                .await?
                .ok_or(CheckoutError::NotFound)?;
            if current.status == PaymentStatus::Ready && current.version > row.version {
                return Box::pin(self.approve_return(current, storefront, query)).await;
            }
            return Ok(current);
        };
        let request = gateway::ApprovalRequest {
            tid,
            moid: row.order_id.parse().map_err(|_| CheckoutError::NotFound)?,
            amt: row.price().map_err(|_| CheckoutError::NotFound)?,
            tax_free_amt: Amount::new(row.tax_free_amount).map_err(|_| CheckoutError::NotFound)?,
            payment_token: SecretString::from(token.to_string()),
        };
        let outcome = self.gateway.approve(&merchant(storefront), &request).await;
        tracing::info!(payment = %row.id, outcome = outcome.label(), "approval answered");
        self.metrics.approval(outcome.label());
        self.apply_approval_outcome(storefront, approving, outcome, Cause::Gateway)
            .await
    }

    /// The window came back without a payment token: the shopper cancelled, the authentication
    /// failed, or someone opened the return URL by hand. None of that is signed, so the checkout stays
    /// payable; what the window said is kept, bounded, in the history (for support and for the help
    /// the checkout page suggests), never as the payment's failure.
    async fn authentication_ended(
        &self,
        row: &PaymentRow,
        query: &ReturnQuery,
    ) -> Result<PaymentRow, CheckoutError> {
        let code = bounded(
            query
                .result_code
                .as_deref()
                .unwrap_or("missing_payment_token"),
            WINDOW_CODE_MAX,
        );
        let message = bounded(query.result_msg.as_deref().unwrap_or(""), WINDOW_TEXT_MAX);
        // Each return adds a history row; an unauthenticated client repeating it must not grow it
        // without end.
        let events = self.store.payment_events(&row.id).await?;
        if events
            .iter()
            .filter(|e| WINDOW_EVENTS.iter().any(|k| k.as_str() == e.kind))
            .count()
            >= WINDOW_EVENTS_KEPT
        {
            return Ok(row.clone());
        }
        let kind = if is_shopper_cancel(&code, &message) {
            WINDOW_EVENTS[0]
        } else {
            WINDOW_EVENTS[1]
        };
        self.apply_or_reload(
            row,
            PaymentStatus::Ready,
            PaymentUpdate::default(),
            event(
                kind,
                Cause::ShopperReturn,
                json!({"code": code, "message": message}),
            ),
        )
        .await
    }

    /// What ended the last attempt to pay a checkout that is still payable, if its latest change was
    /// such an end: the checkout page explains it, suggests help and offers another try.
    pub async fn last_attempt(
        &self,
        row: &PaymentRow,
    ) -> Result<Option<LastAttempt>, CheckoutError> {
        if row.status != PaymentStatus::Ready {
            return Ok(None);
        }
        // The checkout page asks on every load: one row, the latest change, not the history.
        let Some(last) = self.store.payment_event(&row.id, row.version).await? else {
            return Ok(None);
        };
        if last.kind == EventKind::Declined.as_str() {
            return Ok(Some(LastAttempt::Declined));
        }
        if !WINDOW_EVENTS.iter().any(|k| k.as_str() == last.kind) {
            return Ok(None);
        }
        let detail: serde_json::Value = serde_json::from_str(&last.detail).unwrap_or_default();
        let text = |key: &str| detail[key].as_str().unwrap_or_default().to_string();
        Ok(Some(LastAttempt::Window(WindowReport {
            shopper_cancelled: last.kind == WINDOW_EVENTS[0].as_str(),
            code: text("code"),
            message: text("message"),
        })))
    }

    /// Turns Innopay's answer to an approval (or an inquiry about one) into the payment's next state.
    pub(super) async fn apply_approval_outcome(
        &self,
        storefront: &Storefront,
        row: PaymentRow,
        outcome: Outcome<Approval>,
        cause: Cause,
    ) -> Result<PaymentRow, CheckoutError> {
        match outcome {
            Outcome::Done(approval) if approval.status == 0 => {
                let problem = approval_problem(&row, &approval);
                if let Some(problem) = problem {
                    tracing::error!(payment = %row.id, %problem, "approved payment does not match its checkout; cancelling");
                    return self
                        .net_cancel(
                            storefront,
                            row,
                            &format!("approved payment does not match the checkout: {problem}"),
                            Some(approval),
                        )
                        .await;
                }
                // Confirmed late (by inquiry, not by the approval's own answer): too late to keep. An
                // issued account is not money taken: its own deadline decides.
                if row.expires_at <= self.store.now()
                    && cause != Cause::Gateway
                    && !row.pay_method.rules().paid_later
                {
                    return self
                        .net_cancel(
                            storefront,
                            row,
                            "approval confirmed only after the checkout expired",
                            Some(approval),
                        )
                        .await;
                }
                if row.pay_method.rules().paid_later {
                    return self.record_issued_account(row, approval, cause).await;
                }
                let detail = json!({"tid": approval.tid, "authNum": approval.auth_num, "amt": approval.amt.minor(), "currency": approval.amt.currency().code()});
                self.apply_or_reload(
                    &row,
                    PaymentStatus::Paid,
                    approval_update(&approval),
                    event(EventKind::Paid, cause, detail),
                )
                .await
            }
            Outcome::Done(approval) => {
                // Innopay knows the transaction but not as approved (e.g. already cancelled there).
                let mut update = approval_update(&approval);
                update.cancelled_amount = Some(total(&row));
                self.apply_or_reload(
                    &row,
                    PaymentStatus::Cancelled,
                    update,
                    event(
                        EventKind::CancelledAtInnopay,
                        cause,
                        json!({"innopayStatus": approval.status}),
                    ),
                )
                .await
            }
            Outcome::Declined { code, message } => {
                // A decline took no money; a shopper still on the page may try another card. Only
                // the approval their return drove leaves the checkout payable, and not forever.
                let payable = cause == Cause::Gateway
                    && row.expires_at > self.store.now()
                    && self.declined_attempts(&row).await? + 1 < DECLINED_ATTEMPTS_MAX;
                let update = PaymentUpdate {
                    reconcile_after: Some(None),
                    ..failure(FailureCode::innopay(&code), &message)
                };
                self.apply_or_reload(
                    &row,
                    if payable {
                        PaymentStatus::Ready
                    } else {
                        PaymentStatus::Failed
                    },
                    update,
                    event(
                        EventKind::Declined,
                        cause,
                        json!({"code": code, "message": message, "payable": payable}),
                    ),
                )
                .await
            }
            Outcome::Unknown { reason } => {
                let update = PaymentUpdate {
                    reconcile_after: Some(Some(self.store.now() + Duration::seconds(1))),
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
            Outcome::NotSent { reason } => {
                // Nothing reached Innopay: no money moved, and the shopper may simply try again.
                // (The reconciler never gets here: an inquiry that was not sent is inconclusive.)
                let update = failure(FailureCode::InnopayUnreachable, &reason);
                self.apply_or_reload(
                    &row,
                    PaymentStatus::Ready,
                    update,
                    event(EventKind::ApprovalNotSent, cause, json!({"reason": reason})),
                )
                .await
            }
        }
    }

    /// Cancels in full a payment Innopay approved but paydesk must not keep (망취소).
    pub(super) async fn net_cancel(
        &self,
        storefront: &Storefront,
        row: PaymentRow,
        why: &str,
        approval: Option<Approval>,
    ) -> Result<PaymentRow, CheckoutError> {
        let mut reserve = approval.as_ref().map(approval_update).unwrap_or_default();
        // A virtual account is taken back by closing it: keep the account to close.
        if let Some(account) = approval
            .as_ref()
            .and_then(|a| a.virtual_account.as_ref())
            .and_then(|info| super::deposit::account_update(&row, info))
        {
            reserve.method_details = Some(Some(MethodDetails::VirtualAccount(account)));
        }
        reserve.pending_cancel_amount = Some(Some(total(&row)));
        reserve.reconcile_after = Some(Some(self.call_deadline()));
        reserve.flag_reason = Some(why.to_string());
        let Some(row) = self
            .store
            .transition(
                &row,
                PaymentStatus::Unknown,
                reserve,
                event(
                    EventKind::NetCancelStarted,
                    Cause::Gateway,
                    json!({"reason": why}),
                ),
            )
            .await?
        else {
            return self
                .store
                .payment(&row.id)
                .await?
                .ok_or(CheckoutError::NotFound);
        };
        let Some(tid) = row.tid.as_deref().and_then(|t| t.parse::<Tid>().ok()) else {
            return Ok(row);
        };
        let account = super::deposit::account_of(&row);
        if let (Some(approval), true) = (&approval, account.is_some_and(|a| a.deposit.is_some())) {
            // Money is in the account already: closing is refused and a refund needs an account
            // only a person can get.
            return self.deposit_while_taking_back(row, approval).await;
        }
        let undeposited_account = account.is_some_and(|a| a.issued.is_some());
        let outcome = if undeposited_account {
            self.close_account(storefront, &row).await
        } else {
            let request = gateway::CancelRequest {
                tid,
                pay_method: row.pay_method,
                partial: false,
                cancel_amt: row.total_price().unwrap_or(Price::Krw(Amount::ZERO)),
                cancel_msg: "paydesk: approval could not be honoured".into(),
                refund: None,
            };
            self.gateway
                .cancel(&merchant(storefront), &request)
                .await
                .map(|_| ())
        };
        self.apply_net_cancel_outcome(row, outcome).await
    }

    async fn apply_net_cancel_outcome(
        &self,
        row: PaymentRow,
        outcome: Outcome<()>,
    ) -> Result<PaymentRow, CheckoutError> {
        self.metrics.cancel("net_cancel", outcome.label());
        match outcome {
            Outcome::Done(_) => {
                let update = PaymentUpdate {
                    cancelled_amount: Some(total(&row)),
                    pending_cancel_amount: Some(None),
                    reconcile_after: Some(None),
                    ..Default::default()
                };
                self.apply_or_reload(
                    &row,
                    PaymentStatus::Cancelled,
                    update,
                    event(
                        EventKind::NetCancelled,
                        Cause::Gateway,
                        json!({"amount": total(&row)}),
                    ),
                )
                .await
            }
            other => {
                // Still pending: the reconciler confirms by inquiry and retries the cancel.
                let detail = match &other {
                    Outcome::Declined { code, message } => {
                        json!({"code": code, "message": message})
                    }
                    Outcome::Unknown { reason } | Outcome::NotSent { reason } => {
                        json!({"reason": reason})
                    }
                    Outcome::Done(_) => json!({}),
                };
                let update = PaymentUpdate {
                    reconcile_after: Some(Some(self.store.now() + Duration::seconds(5))),
                    ..Default::default()
                };
                self.apply_or_reload(
                    &row,
                    PaymentStatus::Unknown,
                    update,
                    event(EventKind::NetCancelUnconfirmed, Cause::Gateway, detail),
                )
                .await
            }
        }
    }

    /// Where the shopper goes after the return: the storefront's success or fail URL with a signed
    /// query, or `None` for paydesk's own result page. A fail URL also gets the failure's code and
    /// paydesk's page of help for it (`failureCode`, `helpUrl`), signed apart (`helpSignature`) so
    /// the `signature` of every redirect keeps its one documented form.
    pub fn storefront_redirect(&self, row: &PaymentRow, storefront: &Storefront) -> Option<String> {
        let fail = row.fail_url.as_deref();
        let target = match row.status {
            // The redirect's `status` tells the storefront which: an account issued is not paid.
            PaymentStatus::Paid | PaymentStatus::AwaitingDeposit => row.success_url.as_deref(),
            PaymentStatus::Failed | PaymentStatus::Expired | PaymentStatus::Cancelled => fail,
            // Declined, and payable again: `status=ready` with the decline's code.
            PaymentStatus::Ready
                if row
                    .failure_code
                    .as_ref()
                    .is_some_and(FailureCode::is_decline) =>
            {
                fail
            }
            _ => None,
        }?;
        self.signed_outcome(target, row, storefront, fail == Some(target))
    }

    /// Where the return page hands a shopper paying inside the storefront's own app back to it: the
    /// checkout's `appScheme` with the same signed outcome as a redirect (and the failure's fields
    /// whenever it has one), so the app can show its own result page.
    pub fn app_handoff(&self, row: &PaymentRow, storefront: &Storefront) -> Option<String> {
        let scheme = row.app_scheme.as_deref()?;
        let failed = row.status != PaymentStatus::Paid && row.failure_code.is_some();
        self.signed_outcome(scheme, row, storefront, failed)
    }

    /// `target` with the outcome's signed query appended (`None` if it is not a URL).
    fn signed_outcome(
        &self,
        target: &str,
        row: &PaymentRow,
        storefront: &Storefront,
        with_failure: bool,
    ) -> Option<String> {
        let timestamp = self.store.now().unix_timestamp();
        let total = total(row);
        let signed = format!(
            "{}.{}.{}.{}.{}",
            row.id, row.order_id, row.status, total, timestamp
        );
        let mut url = url::Url::parse(target).ok()?;
        url.query_pairs_mut()
            .append_pair("checkoutId", &row.id)
            .append_pair("orderId", &row.order_id)
            .append_pair("status", row.status.as_str())
            .append_pair("amount", &total.to_string())
            .append_pair("timestamp", &timestamp.to_string())
            .append_pair("signature", &storefront.signature(&signed));
        if with_failure && let Some(code) = &row.failure_code {
            let help = self.help_url(&row.id);
            let signed = format!("{}.{}.{}.{}", row.id, code.code(), help, timestamp);
            url.query_pairs_mut()
                .append_pair("failureCode", code.code())
                .append_pair("helpUrl", &help)
                .append_pair("helpSignature", &storefront.signature(&signed));
        }
        Some(url.into())
    }

    /// "Back to the shop" on paydesk's pages: the storefront's signed redirect for the outcome, else
    /// the shop's own address, else nothing (the page then names the shop's order history instead).
    pub fn back_to_shop(&self, row: &PaymentRow, storefront: &Storefront) -> Option<String> {
        self.storefront_redirect(row, storefront)
            .or_else(|| storefront.shop_url.as_ref().map(|u| u.to_string()))
    }
}
