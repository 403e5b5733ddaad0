//! The checkout service: creating checkouts, driving approvals from the shopper's return, cancels, and
//! resolving unknown outcomes. Every change goes through `Store::transition`, which only applies when
//! the payment is still in the state this code read, so concurrent requests and instances cannot both
//! act on one payment.

use std::sync::Arc;

use serde_json::json;
use time::{Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::input::{NewCancel, NewCheckout};
use super::{CheckoutError, PaymentStatus};
use crate::config::SecretString;
use crate::domain::{Amount, OrderId, PayMethod, Tid};
use crate::gateway::{self, Approval, InnopayClient, Merchant, Outcome};
use crate::store::payments::{NewEvent, PaymentEventRow, PaymentFilter, PaymentRow, PaymentUpdate};
use crate::store::{Store, StoreError};
use crate::storefronts::{self, Storefront};

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

/// What a payment window's return without a token said, for the checkout page.
pub struct WindowReport {
    /// The shopper closed or cancelled the window.
    pub shopper_cancelled: bool,
    pub code: String,
    pub message: String,
}

/// The history kinds of a window that returned without a token: shopper cancel, anything else.
const WINDOW_EVENTS: [&str; 2] = ["window_cancelled", "window_not_completed"];
/// How many such returns a payment's history keeps; later ones change nothing and are not recorded.
const WINDOW_EVENTS_KEPT: usize = 20;
/// Longest code and text kept from the window's query (Innopay's codes are 4 to 12 characters, its
/// messages a sentence).
const WINDOW_CODE_MAX: usize = 40;
const WINDOW_TEXT_MAX: usize = 200;
/// Longest failure message kept from Innopay's authenticated answers.
const FAILURE_TEXT_MAX: usize = 500;

/// `text` without control or bidirectional-override characters, cut to `max` characters.
fn bounded(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !crate::domain::is_bidi_control(*c))
        .take(max)
        .collect::<String>()
        .trim()
        .to_string()
}

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

/// How long an instance may hold a payment it is reconciling before another may take over.
const RECONCILE_LEASE: Duration = Duration::seconds(30);

#[derive(Clone)]
pub struct CheckoutService {
    store: Store,
    gateway: InnopayClient,
    public_url: Arc<str>,
    sdk_url: Arc<str>,
    /// After this long an Innopay call in flight (an approval in `approving`, a cancel being made) is
    /// presumed orphaned: its instance died, and the reconciler takes over.
    call_stale_after: Duration,
    /// See `Config::inquiry_grace`.
    inquiry_grace: Duration,
}

fn merchant(storefront: &Storefront) -> Merchant {
    Merchant {
        mid: storefront.mid.clone(),
        merchant_key: storefront.merchant_key.clone(),
        cancel_password: storefront.cancel_password.clone(),
    }
}

fn event(kind: &'static str, cause: &'static str, detail: serde_json::Value) -> NewEvent {
    NewEvent {
        kind,
        cause,
        detail,
    }
}

fn total(row: &PaymentRow) -> i64 {
    row.amount + row.tax_free_amount
}

/// How much of `row` an inquiry shows cancelled. An answer without the amount only tells whether
/// the payment is still approved (status 0) or cancelled in full.
fn cancelled_at_innopay(approval: &Approval, row: &PaymentRow) -> i64 {
    approval
        .cancelled_amt
        .map(Amount::won)
        .unwrap_or(if approval.status == 0 { 0 } else { total(row) })
}

/// Innopay's `approvedAt` is KST wall time.
fn parse_kst(text: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let kst = UtcOffset::from_hms(9, 0, 0).ok()?;
    PrimitiveDateTime::parse(text, &format)
        .ok()
        .map(|t| t.assume_offset(kst))
}

fn new_payment_id() -> String {
    format!("pay_{}", uuid::Uuid::now_v7().simple())
}

fn generated_order_id() -> OrderId {
    format!("pd{}", uuid::Uuid::now_v7().simple())
        .parse()
        .expect("generated order ids are valid")
}

/// Why an approved payment cannot be kept, if it cannot.
fn approval_problem(row: &PaymentRow, approval: &Approval) -> Option<String> {
    let mut problems = Vec::new();
    if approval.amt.won() != row.amount {
        problems.push(format!(
            "approved amt {} differs from {}",
            approval.amt, row.amount
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
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// A failure's code and message, as shown to the storefront and (translated) to the shopper.
fn failure(code: &str, message: &str) -> PaymentUpdate {
    PaymentUpdate {
        failure_code: Some(Some(bounded(code, WINDOW_CODE_MAX))),
        failure_message: Some(Some(bounded(message, FAILURE_TEXT_MAX))),
        ..Default::default()
    }
}

/// The columns an approval fills.
fn approval_update(approval: &Approval) -> PaymentUpdate {
    let card = approval.card.as_ref();
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    PaymentUpdate {
        tid: Some(approval.tid.clone()),
        approval_number: Some(approval.auth_num.clone()),
        approved_at: Some(approval.approved_at.as_deref().and_then(parse_kst)),
        card_company_code: Some(card.and_then(|c| non_empty(&c.fn_cd))),
        card_company_name: Some(card.and_then(|c| non_empty(&c.fn_name))),
        card_number: Some(card.and_then(|c| non_empty(&c.card_num))),
        card_quota: Some(card.and_then(|c| non_empty(&c.card_quota))),
        receipt_url: Some(approval.receipt_url.clone()),
        gateway_answer: Some(approval.raw.to_string()),
        failure_code: Some(None),
        failure_message: Some(None),
        reconcile_after: Some(None),
        ..Default::default()
    }
}

impl CheckoutService {
    pub fn new(
        store: Store,
        gateway: InnopayClient,
        public_url: Arc<str>,
        sdk_url: &str,
        config: &crate::config::Config,
    ) -> Self {
        let duration =
            |d: std::time::Duration| Duration::try_from(d).unwrap_or(Duration::seconds(60));
        Self {
            store,
            gateway,
            public_url,
            sdk_url: sdk_url.into(),
            call_stale_after: duration(config.innopay.read_timeout) + Duration::seconds(15),
            inquiry_grace: duration(config.inquiry_grace),
        }
    }

    /// Until when the reconciler leaves alone a cancel this request is making: an inquiry in the
    /// meantime could see it not yet applied and release it while Innopay carries it out.
    fn call_deadline(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.call_stale_after
    }

    pub fn checkout_url(&self, id: &str) -> String {
        format!("{}/checkout/{id}", self.public_url)
    }

    pub fn return_url(&self, id: &str) -> String {
        format!("{}/checkout/{id}/return", self.public_url)
    }

    pub fn sdk_url(&self) -> &str {
        &self.sdk_url
    }

    pub async fn create(
        &self,
        storefront: &Storefront,
        new: NewCheckout,
    ) -> Result<PaymentRow, CheckoutError> {
        let now = OffsetDateTime::now_utc();
        let order_id = new.order_id.unwrap_or_else(generated_order_id);
        let row = PaymentRow {
            id: new_payment_id(),
            storefront_id: storefront.id.clone(),
            order_id: order_id.to_string(),
            mode: storefront.mode.as_str().to_string(),
            mid: storefront.mid.to_string(),
            goods_name: new.goods_name,
            amount: new.amount.won(),
            tax_free_amount: new.tax_free_amount.won(),
            pay_method: new.pay_method.code().to_string(),
            buyer_name: new.buyer_name,
            buyer_tel: new.buyer_tel,
            buyer_email: new.buyer_email,
            success_url: new.success_url.map(String::from),
            fail_url: new.fail_url.map(String::from),
            mall_reserved: new.mall_reserved,
            status: PaymentStatus::Ready,
            version: 1,
            expires_at: now + new.expires_in,
            tid: None,
            approval_number: None,
            approved_at: None,
            card_company_code: None,
            card_company_name: None,
            card_number: None,
            card_quota: None,
            receipt_url: None,
            cancelled_amount: 0,
            pending_cancel_amount: None,
            failure_code: None,
            failure_message: None,
            flagged: false,
            flag_reason: None,
            gateway_answer: None,
            reconcile_after: None,
            reconcile_attempts: 0,
            created_at: now,
            updated_at: now,
        };
        let created = event(
            "created",
            "api",
            json!({"amount": row.amount, "taxFreeAmount": row.tax_free_amount, "orderId": row.order_id}),
        );
        match self.store.insert_payment(row.clone(), created).await {
            Ok(()) => Ok(row),
            Err(StoreError::Duplicate(_)) => Err(CheckoutError::OrderIdTaken(order_id.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get(
        &self,
        storefront: &Storefront,
        id: &str,
    ) -> Result<PaymentRow, CheckoutError> {
        self.store
            .payment_of(&storefront.id, id)
            .await?
            .ok_or(CheckoutError::NotFound)
    }

    pub async fn get_with_events(
        &self,
        storefront: &Storefront,
        id: &str,
    ) -> Result<(PaymentRow, Vec<PaymentEventRow>), CheckoutError> {
        let row = self.get(storefront, id).await?;
        let events = self.store.payment_events(&row.id).await?;
        Ok((row, events))
    }

    pub async fn list(
        &self,
        storefront: &Storefront,
        filter: &PaymentFilter,
    ) -> Result<Vec<PaymentRow>, CheckoutError> {
        Ok(self.store.payments(&storefront.id, filter).await?)
    }

    /// A payment for the shopper-facing pages, with its storefront. A `ready` checkout past its expiry
    /// is expired on the way.
    pub async fn for_shopper(&self, id: &str) -> Result<(PaymentRow, Storefront), CheckoutError> {
        let row = self
            .store
            .payment(id)
            .await?
            .ok_or(CheckoutError::NotFound)?;
        let storefront = storefronts::find(&self.store, &row.storefront_id).await?;
        let row = self.expire_if_due(row, "shopper").await?;
        Ok((row, storefront))
    }

    async fn expire_if_due(
        &self,
        row: PaymentRow,
        cause: &'static str,
    ) -> Result<PaymentRow, CheckoutError> {
        if row.status != PaymentStatus::Ready || row.expires_at > OffsetDateTime::now_utc() {
            return Ok(row);
        }
        let update = failure(
            "expired",
            "the shopper did not pay before the checkout expired",
        );
        self.apply_or_reload(
            &row,
            PaymentStatus::Expired,
            update,
            event(
                "expired",
                cause,
                json!({"expiresAt": row.expires_at.to_string()}),
            ),
        )
        .await
    }

    /// Applies a transition; if another request changed the payment first, returns the current row.
    async fn apply_or_reload(
        &self,
        row: &PaymentRow,
        to: PaymentStatus,
        update: PaymentUpdate,
        ev: NewEvent,
    ) -> Result<PaymentRow, CheckoutError> {
        match self.store.transition(row, to, update, ev).await? {
            Some(updated) => Ok(updated),
            None => self
                .store
                .payment(&row.id)
                .await?
                .ok_or(CheckoutError::NotFound),
        }
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
        if let Some((code, problem)) = return_mismatch(&row, storefront, query) {
            tracing::warn!(payment = %row.id, %problem, "return query does not match the checkout; not approving");
            let update = PaymentUpdate {
                flag_reason: Some(format!("return query mismatch: {problem}")),
                ..failure(
                    code,
                    &format!("the payment window's answer does not match the checkout: {problem}"),
                )
            };
            return self
                .apply_or_reload(
                    &row,
                    PaymentStatus::Failed,
                    update,
                    event(code, "shopper_return", json!({"problem": problem})),
                )
                .await;
        }
        let tid: Tid = query
            .tid
            .as_deref()
            .unwrap_or_default()
            .parse()
            .expect("return_mismatch checked the tid");
        // The tid is not stored yet: the browser's word proves nothing until Innopay approves it for
        // this order. Until then the event carries it, and an inquiry goes by order id.
        let Some(approving) = self
            .store
            .transition(
                &row,
                PaymentStatus::Approving,
                PaymentUpdate::default(),
                event(
                    "approval_started",
                    "shopper_return",
                    json!({"tid": tid.as_str()}),
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
            amt: Amount::new(row.amount).map_err(|_| CheckoutError::NotFound)?,
            tax_free_amt: Amount::new(row.tax_free_amount).map_err(|_| CheckoutError::NotFound)?,
            payment_token: SecretString::from(token.to_string()),
        };
        let outcome = self.gateway.approve(&merchant(storefront), &request).await;
        tracing::info!(payment = %row.id, outcome = outcome.label(), "approval answered");
        self.apply_approval_outcome(storefront, approving, outcome, "gateway")
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
            .filter(|e| WINDOW_EVENTS.contains(&e.kind.as_str()))
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
                "shopper_return",
                json!({"code": code, "message": message}),
            ),
        )
        .await
    }

    /// What the payment window last reported for a checkout that is still payable, if the latest
    /// change of the payment was such a report: the checkout page explains it and suggests help.
    pub async fn window_report(
        &self,
        row: &PaymentRow,
    ) -> Result<Option<WindowReport>, CheckoutError> {
        if row.status != PaymentStatus::Ready {
            return Ok(None);
        }
        let events = self.store.payment_events(&row.id).await?;
        let Some(last) = events.last().filter(|e| e.sequence == row.version) else {
            return Ok(None);
        };
        if !WINDOW_EVENTS.contains(&last.kind.as_str()) {
            return Ok(None);
        }
        let detail: serde_json::Value = serde_json::from_str(&last.detail).unwrap_or_default();
        let text = |key: &str| detail[key].as_str().unwrap_or_default().to_string();
        Ok(Some(WindowReport {
            shopper_cancelled: last.kind == WINDOW_EVENTS[0],
            code: text("code"),
            message: text("message"),
        }))
    }

    /// Turns Innopay's answer to an approval (or an inquiry about one) into the payment's next state.
    async fn apply_approval_outcome(
        &self,
        storefront: &Storefront,
        row: PaymentRow,
        outcome: Outcome<Approval>,
        cause: &'static str,
    ) -> Result<PaymentRow, CheckoutError> {
        match outcome {
            Outcome::Done(approval) if approval.status == 0 => {
                if let Some(problem) = approval_problem(&row, &approval) {
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
                // Confirmed late (by inquiry, not by the approval's own answer): too late to keep.
                if row.expires_at <= OffsetDateTime::now_utc() && cause != "gateway" {
                    return self
                        .net_cancel(
                            storefront,
                            row,
                            "approval confirmed only after the checkout expired",
                            Some(approval),
                        )
                        .await;
                }
                let detail = json!({"tid": approval.tid, "authNum": approval.auth_num, "amt": approval.amt.won()});
                self.apply_or_reload(
                    &row,
                    PaymentStatus::Paid,
                    approval_update(&approval),
                    event("paid", cause, detail),
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
                        "cancelled_at_innopay",
                        cause,
                        json!({"innopayStatus": approval.status}),
                    ),
                )
                .await
            }
            Outcome::Declined { code, message } => {
                let update = PaymentUpdate {
                    reconcile_after: Some(None),
                    ..failure(&code, &message)
                };
                self.apply_or_reload(
                    &row,
                    PaymentStatus::Failed,
                    update,
                    event("declined", cause, json!({"code": code, "message": message})),
                )
                .await
            }
            Outcome::Unknown { reason } => {
                let update = PaymentUpdate {
                    reconcile_after: Some(Some(OffsetDateTime::now_utc() + Duration::seconds(1))),
                    ..Default::default()
                };
                self.apply_or_reload(
                    &row,
                    PaymentStatus::Unknown,
                    update,
                    event("outcome_unknown", cause, json!({"reason": reason})),
                )
                .await
            }
            Outcome::NotSent { reason } => {
                // Nothing reached Innopay: no money moved, and the shopper may simply try again.
                // (The reconciler never gets here: an inquiry that was not sent is inconclusive.)
                let update = failure("innopay_unreachable", &reason);
                self.apply_or_reload(
                    &row,
                    PaymentStatus::Ready,
                    update,
                    event("approval_not_sent", cause, json!({"reason": reason})),
                )
                .await
            }
        }
    }

    /// Cancels in full a payment Innopay approved but paydesk must not keep (망취소).
    async fn net_cancel(
        &self,
        storefront: &Storefront,
        row: PaymentRow,
        why: &str,
        approval: Option<Approval>,
    ) -> Result<PaymentRow, CheckoutError> {
        let mut reserve = approval.as_ref().map(approval_update).unwrap_or_default();
        reserve.pending_cancel_amount = Some(Some(total(&row)));
        reserve.reconcile_after = Some(Some(self.call_deadline()));
        reserve.flag_reason = Some(why.to_string());
        let Some(row) = self
            .store
            .transition(
                &row,
                PaymentStatus::Unknown,
                reserve,
                event("net_cancel_started", "gateway", json!({"reason": why})),
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
        let request = gateway::CancelRequest {
            tid,
            pay_method: row.pay_method.parse().unwrap_or(PayMethod::Card),
            partial: false,
            cancel_amt: Amount::new(total(&row)).unwrap_or(Amount::ZERO),
            cancel_msg: "paydesk: approval could not be honoured".into(),
        };
        let outcome = self.gateway.cancel(&merchant(storefront), &request).await;
        self.apply_net_cancel_outcome(row, outcome).await
    }

    async fn apply_net_cancel_outcome(
        &self,
        row: PaymentRow,
        outcome: Outcome<gateway::Cancellation>,
    ) -> Result<PaymentRow, CheckoutError> {
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
                    event("net_cancelled", "gateway", json!({"amount": total(&row)})),
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
                    reconcile_after: Some(Some(OffsetDateTime::now_utc() + Duration::seconds(5))),
                    ..Default::default()
                };
                self.apply_or_reload(
                    &row,
                    PaymentStatus::Unknown,
                    update,
                    event("net_cancel_unconfirmed", "gateway", detail),
                )
                .await
            }
        }
    }

    /// Cancels part or all of a paid payment.
    pub async fn cancel(
        &self,
        storefront: &Storefront,
        id: &str,
        cancel: NewCancel,
    ) -> Result<CancelResult, CheckoutError> {
        let row = self.get(storefront, id).await?;
        let current = row.status;
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
        let remaining = total(&row) - row.cancelled_amount;
        if let Some(expected) = cancel.expected_remaining
            && expected.won() != remaining
        {
            return Err(CheckoutError::StaleRemainingAmount {
                expected: expected.won(),
                actual: remaining,
            });
        }
        let amount = cancel.amount.map_or(remaining, Amount::won);
        if amount > remaining || remaining == 0 {
            return Err(CheckoutError::CancelExceedsRemaining {
                requested: amount,
                remaining,
            });
        }
        let reserve = PaymentUpdate {
            pending_cancel_amount: Some(Some(amount)),
            reconcile_after: Some(Some(self.call_deadline())),
            ..Default::default()
        };
        let Some(reserved) = self
            .store
            .transition(
                &row,
                current,
                reserve,
                event(
                    "cancel_requested",
                    "api",
                    json!({"amount": amount, "reason": cancel.reason}),
                ),
            )
            .await?
        else {
            return Err(CheckoutError::CancelInProgress);
        };
        let request = gateway::CancelRequest {
            tid: row
                .tid
                .as_deref()
                .unwrap_or_default()
                .parse()
                .map_err(|_| CheckoutError::NotCancellable(current.as_str()))?,
            pay_method: row.pay_method.parse().unwrap_or(PayMethod::Card),
            partial: amount < total(&row),
            cancel_amt: Amount::new(amount).expect("amount was bounded by the remaining amount"),
            cancel_msg: cancel.reason,
        };
        let outcome = self.gateway.cancel(&merchant(storefront), &request).await;
        tracing::info!(payment = %row.id, outcome = outcome.label(), "cancel answered");
        match outcome {
            Outcome::Done(done) => Ok(CancelResult::Done(
                self.apply_cancel(
                    &reserved,
                    amount,
                    "api",
                    json!({"resultCode": done.result_code, "amount": amount}),
                )
                .await?,
            )),
            Outcome::Unknown { reason } => {
                let update = PaymentUpdate {
                    reconcile_after: Some(Some(OffsetDateTime::now_utc() + Duration::seconds(2))),
                    ..Default::default()
                };
                let row = self
                    .apply_or_reload(
                        &reserved,
                        current,
                        update,
                        event(
                            "cancel_outcome_unknown",
                            "gateway",
                            json!({"reason": reason, "amount": amount}),
                        ),
                    )
                    .await?;
                Ok(CancelResult::Pending(row))
            }
            Outcome::Declined { code, message } => {
                self.release_cancel(
                    &reserved,
                    current,
                    "cancel_declined",
                    json!({"code": code, "message": message}),
                )
                .await?;
                Err(CheckoutError::Declined { code, message })
            }
            Outcome::NotSent { reason } => {
                self.release_cancel(
                    &reserved,
                    current,
                    "cancel_not_sent",
                    json!({"reason": reason}),
                )
                .await?;
                Err(CheckoutError::GatewayUnavailable(reason))
            }
        }
    }

    /// Records a cancel Innopay carried out.
    async fn apply_cancel(
        &self,
        row: &PaymentRow,
        amount: i64,
        cause: &'static str,
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
        let shown = match self.gateway.transaction(&merchant(&storefront), &tid).await {
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
        let (to, update, ev) = cancel_change(row, amount, "innopay_noti", detail);
        Ok(match self.store.transition(row, to, update, ev).await? {
            Some(recorded) => ReportedCancel::Recorded(Box::new(recorded), amount),
            None => ReportedCancel::Raced,
        })
    }

    async fn release_cancel(
        &self,
        row: &PaymentRow,
        back_to: PaymentStatus,
        kind: &'static str,
        detail: serde_json::Value,
    ) -> Result<PaymentRow, CheckoutError> {
        let update = PaymentUpdate {
            pending_cancel_amount: Some(None),
            reconcile_after: Some(None),
            ..Default::default()
        };
        self.apply_or_reload(row, back_to, update, event(kind, "gateway", detail))
            .await
    }

    /// One pass of the reconciler: expire abandoned checkouts, resolve `unknown` and orphaned
    /// `approving` payments and unconfirmed cancels by inquiry. Returns how many payments it touched.
    pub async fn reconcile_due(&self, batch: u64) -> Result<usize, CheckoutError> {
        let now = OffsetDateTime::now_utc();
        let mut touched = 0;
        for row in self.store.expired_ready_payments(now, batch).await? {
            self.expire_if_due(row, "reconciler").await?;
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
            if let Err(e) = self.reconcile_one(row, "reconciler").await {
                tracing::warn!(error = %e, "reconciling a payment failed; will retry");
            }
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
        cause: &'static str,
    ) -> Result<PaymentRow, CheckoutError> {
        let storefront = storefronts::find(&self.store, &row.storefront_id).await?;
        let merchant = merchant(&storefront);
        let inquiry = match row.tid.as_deref().and_then(|t| t.parse::<Tid>().ok()) {
            Some(tid) => self.gateway.transaction(&merchant, &tid).await,
            None => match row.order_id.parse::<OrderId>() {
                Ok(moid) => self.gateway.transaction_by_order(&merchant, &moid).await,
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
            let backoff = Duration::seconds(1 << row.reconcile_attempts.clamp(0, 6));
            self.store
                .schedule_reconcile(&row.id, OffsetDateTime::now_utc() + backoff)
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
            .find(|e| e.kind == "approval_started")
            .map_or(row.updated_at, |e| e.created_at);
        Ok(OffsetDateTime::now_utc() - started)
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
            Outcome::Done(approval) => {
                let cancelled_there = cancelled_at_innopay(&approval, &row);
                if cancelled_there >= row.cancelled_amount + pending {
                    self.apply_cancel(
                        &row,
                        pending,
                        "reconciler",
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
                        "cancel_not_applied",
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
                    ..failure(&code, &message)
                };
                self.apply_or_reload(
                    &row,
                    PaymentStatus::Failed,
                    update,
                    event(
                        "not_approved_at_innopay",
                        "reconciler",
                        json!({"code": code, "message": message}),
                    ),
                )
                .await
            }
            _ => Ok(row),
        }
    }

    /// Where the shopper goes after the return: the storefront's success or fail URL with a signed
    /// query, or `None` for paydesk's own result page.
    pub fn storefront_redirect(&self, row: &PaymentRow, storefront: &Storefront) -> Option<String> {
        let target = match row.status {
            PaymentStatus::Paid => row.success_url.as_deref(),
            PaymentStatus::Failed | PaymentStatus::Expired | PaymentStatus::Cancelled => {
                row.fail_url.as_deref()
            }
            _ => None,
        }?;
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let total = total(row);
        let signed = format!(
            "{}.{}.{}.{}.{}",
            row.id, row.order_id, row.status, total, timestamp
        );
        let signature = storefront.signature(&signed);
        let mut url = url::Url::parse(target).ok()?;
        url.query_pairs_mut()
            .append_pair("checkoutId", &row.id)
            .append_pair("orderId", &row.order_id)
            .append_pair("status", row.status.as_str())
            .append_pair("amount", &total.to_string())
            .append_pair("timestamp", &timestamp.to_string())
            .append_pair("signature", &signature);
        Some(url.into())
    }
}

/// The change a cancel of `amount` makes: `cancelled` once nothing remains, else
/// `partially_cancelled`; any cancel paydesk was waiting to confirm is settled by it.
fn cancel_change(
    row: &PaymentRow,
    amount: i64,
    cause: &'static str,
    detail: serde_json::Value,
) -> (PaymentStatus, PaymentUpdate, NewEvent) {
    let cancelled = row.cancelled_amount + amount;
    let (to, kind) = if cancelled >= total(row) {
        (PaymentStatus::Cancelled, "cancelled")
    } else {
        (PaymentStatus::PartiallyCancelled, "partially_cancelled")
    };
    let update = PaymentUpdate {
        cancelled_amount: Some(cancelled),
        pending_cancel_amount: Some(None),
        reconcile_after: Some(None),
        ..Default::default()
    };
    (to, update, event(kind, cause, detail))
}

/// Innopay's window reports a shopper's own cancel this way (sandbox and legacy codes).
fn is_shopper_cancel(code: &str, message: &str) -> bool {
    matches!(code, "USER_CANCEL" | "9998" | "CANCEL") || message.contains("취소")
}

/// Compares what the browser brought back (and the storefront as it is now) with the stored checkout.
/// Missing `taxFreeAmt` means the stored one (Innopay sometimes leaves it out).
/// Returns the failure code (`amount_mismatch` or `order_mismatch`) and what differs.
fn return_mismatch(
    row: &PaymentRow,
    storefront: &Storefront,
    query: &ReturnQuery,
) -> Option<(&'static str, String)> {
    const AMOUNT: &str = "amount_mismatch";
    const ORDER: &str = "order_mismatch";
    // The approval is sent with the storefront's MID and key: they must be the ones the checkout
    // (and so the shopper's authentication) was made for.
    if storefront.mid.as_str() != row.mid {
        return Some((
            ORDER,
            "the storefront's MID changed after the checkout was created".into(),
        ));
    }
    match query.amt.as_deref().map(|a| a.parse::<Amount>()) {
        Some(Ok(amt)) if amt.won() == row.amount => {}
        Some(Ok(amt)) => {
            return Some((
                AMOUNT,
                format!("amt {amt} differs from the checkout's {}", row.amount),
            ));
        }
        _ => return Some((AMOUNT, "amt is missing or not a whole number of won".into())),
    }
    if let Some(raw) = query.tax_free_amt.as_deref().filter(|t| !t.is_empty()) {
        match raw.parse::<Amount>() {
            Ok(t) if t.won() == row.tax_free_amount => {}
            _ => {
                return Some((
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
        return Some((
            ORDER,
            format!(
                "moid {:?} differs from the checkout's order id",
                query.moid.as_deref().unwrap_or("")
            ),
        ));
    }
    if query.mid.as_deref() != Some(row.mid.as_str()) {
        return Some((
            ORDER,
            format!(
                "mid {:?} differs from the storefront's",
                query.mid.as_deref().unwrap_or("")
            ),
        ));
    }
    match query.tid.as_deref().map(|t| t.parse::<Tid>()) {
        Some(Ok(tid)) if tid.as_str().starts_with(row.mid.as_str()) => None,
        Some(Ok(_)) => Some((ORDER, "tid does not belong to the storefront's mid".into())),
        _ => Some((ORDER, "tid is missing or malformed".into())),
    }
}
