//! The checkout service: creating checkouts, driving approvals from the shopper's return, cancels, and
//! resolving unknown outcomes. Every change goes through `Store::transition`, which only applies when
//! the payment is still in the state this code read, so concurrent requests and instances cannot both
//! act on one payment.
//!
//! Split by job: `create` (new checkouts), `approval` (the return and Innopay's answer), `cancel`,
//! `reconcile`; this file holds the service itself and what they share.

mod approval;
mod cancel;
mod create;
mod deposit;
mod reconcile;

pub use approval::{LastAttempt, ReturnQuery, WindowReport};
pub use cancel::CancelResult;
pub(crate) use cancel::ReportedCancel;
pub(crate) use deposit::DepositOutcome;

use std::sync::Arc;

use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::{CheckoutError, PaymentStatus};
use crate::domain::{Cause, EventKind, FailureCode};
use crate::gateway::{InnopayClient, Merchant};
use crate::ops::Metrics;
use crate::store::Store;
use crate::store::payments::{NewEvent, PaymentEventRow, PaymentFilter, PaymentRow, PaymentUpdate};
use crate::storefronts::{self, Storefront};

/// The history kinds of a window that returned without a token: shopper cancel, anything else.
const WINDOW_EVENTS: [EventKind; 2] = [EventKind::WindowCancelled, EventKind::WindowNotCompleted];
/// How many such returns a payment's history keeps; later ones change nothing and are not recorded.
const WINDOW_EVENTS_KEPT: usize = 20;
/// Longest code and text kept from the window's query (Innopay's codes are 4 to 12 characters, its
/// messages a sentence).
const WINDOW_CODE_MAX: usize = 40;
const WINDOW_TEXT_MAX: usize = 200;
/// Longest failure message kept from Innopay's authenticated answers.
const FAILURE_TEXT_MAX: usize = 500;

/// How long the reconciler waits before asking about `row` again: doubling with each attempt, up
/// to `2^max_shift` seconds.
fn backoff(row: &PaymentRow, max_shift: i32) -> Duration {
    Duration::seconds(1 << row.reconcile_attempts.clamp(0, max_shift))
}

/// `text` without control or bidirectional-override characters, cut to `max` characters.
fn bounded(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !crate::domain::is_bidi_control(*c))
        .take(max)
        .collect::<String>()
        .trim()
        .to_string()
}

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
    /// See `Config::deposit_check_interval`.
    deposit_check_interval: Duration,
    /// The app's metrics (`with_metrics`).
    metrics: Metrics,
}

fn merchant(storefront: &Storefront) -> Merchant {
    Merchant {
        mid: storefront.mid.clone(),
        merchant_key: storefront.merchant_key.clone(),
        cancel_password: storefront.cancel_password.clone(),
    }
}

/// A time inside an event's `detail`, written as the API writes every time (`api::Timestamp`).
fn api_time(t: OffsetDateTime) -> String {
    crate::api::Timestamp::from(t).to_string()
}

fn event(kind: EventKind, cause: Cause, detail: serde_json::Value) -> NewEvent {
    NewEvent {
        kind,
        cause,
        detail,
    }
}

fn total(row: &PaymentRow) -> i64 {
    row.amount + row.tax_free_amount
}

/// A failure's code and message, as shown to the storefront and (translated) to the shopper.
fn failure(code: FailureCode, message: &str) -> PaymentUpdate {
    PaymentUpdate {
        failure_code: Some(Some(code)),
        failure_message: Some(Some(bounded(message, FAILURE_TEXT_MAX))),
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
            call_stale_after: duration(config.innopay.read_timeout)
                + duration(config.call_stale_margin),
            inquiry_grace: duration(config.inquiry_grace),
            deposit_check_interval: duration(config.deposit_check_interval),
            metrics: Metrics::default(),
        }
    }

    /// This service counting approvals, cancels and reconciler passes into `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Until when the reconciler leaves alone a cancel this request is making: an inquiry in the
    /// meantime could see it not yet applied and release it while Innopay carries it out.
    fn call_deadline(&self) -> OffsetDateTime {
        self.store.now() + self.call_stale_after
    }

    pub fn checkout_url(&self, id: &str) -> String {
        format!("{}/checkout/{id}", self.public_url)
    }

    pub fn return_url(&self, id: &str) -> String {
        format!("{}/checkout/{id}/return", self.public_url)
    }

    /// paydesk's page of the outcome with its help: the failure explained, the articles for it, and
    /// another try while the checkout can still be paid.
    pub fn help_url(&self, id: &str) -> String {
        format!("{}/checkout/{id}/result", self.public_url)
    }

    pub fn sdk_url(&self) -> &str {
        &self.sdk_url
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
        let row = self.expire_if_due(row, Cause::Shopper).await?;
        Ok((row, storefront))
    }

    async fn expire_if_due(
        &self,
        row: PaymentRow,
        cause: Cause,
    ) -> Result<PaymentRow, CheckoutError> {
        if row.status != PaymentStatus::Ready || row.expires_at > self.store.now() {
            return Ok(row);
        }
        let update = failure(
            FailureCode::Expired,
            "the shopper did not pay before the checkout expired",
        );
        self.apply_or_reload(
            &row,
            PaymentStatus::Expired,
            update,
            event(
                EventKind::Expired,
                cause,
                json!({"expiresAt": api_time(row.expires_at)}),
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
}
