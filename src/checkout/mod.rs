//! Checkout and approval: a storefront's order becomes a checkout (status `ready`), the shopper
//! authenticates in Innopay's window, and the return to paydesk drives the approval: one conditional
//! update moves the payment to `approving` (exactly one request in one instance wins), order and amount
//! are verified, Innopay approves, and the answer is verified again. Unknown outcomes are resolved by
//! inquiry and, when the money cannot be honoured, by a full cancel. Every change is a recorded event.
//!
//! A checkout and its payment share one id (`pay_...`): the checkout is the shopper-facing session of
//! the payment, like a Toss Payments payment object.

mod api;
mod failure;
mod input;
mod pages;
mod reconciler;
mod service;

pub use api::{CheckoutApi, Payment};
pub(crate) use input::NewCancel;
pub use pages::{home as home_page, routes as page_routes};
pub use reconciler::spawn_reconciler;
pub use service::CheckoutService;
pub(crate) use service::{CancelResult, DepositOutcome, ReportedCancel};

pub use crate::domain::PaymentStatus;

use crate::api::{ApiError, NextAction};
use crate::store::StoreError;
use crate::storefronts::StorefrontError;

/// Everything that can go wrong in this module, mapped to the API envelope once below.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("{message}")]
    InvalidField {
        code: &'static str,
        field: &'static str,
        message: String,
    },
    #[error(
        "order id {0} is already used under this Innopay MID (by this storefront, or another \
         storefront sharing the MID); Innopay tells orders apart by MID and order id alone"
    )]
    OrderIdTaken(String),
    #[error("no such checkout or payment")]
    NotFound,
    #[error("the Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyInProgress,
    #[error("the payment cannot be cancelled in status {0}")]
    NotCancellable(&'static str),
    #[error("the cancel amount {requested} exceeds the remaining amount {remaining}")]
    CancelExceedsRemaining { requested: i64, remaining: i64 },
    #[error("expectedRemainingAmount is {expected} but the remaining amount is {actual}")]
    StaleRemainingAmount { expected: i64, actual: i64 },
    #[error("another cancel of this payment is in progress")]
    CancelInProgress,
    #[error(
        "a {0} payment is refunded to a bank account: give refundAccount (bankCode, \
         accountNumber, holderName)"
    )]
    RefundAccountRequired(crate::domain::PayMethod),
    #[error("Innopay refused: {code} {message}")]
    Declined { code: String, message: String },
    #[error("Innopay could not be reached: {0}")]
    GatewayUnavailable(String),
    #[error(transparent)]
    Storefront(#[from] StorefrontError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CheckoutError {
    pub(crate) fn invalid(
        code: &'static str,
        field: &'static str,
        message: impl Into<String>,
    ) -> Self {
        CheckoutError::InvalidField {
            code,
            field,
            message: message.into(),
        }
    }
}

impl From<CheckoutError> for ApiError {
    fn from(err: CheckoutError) -> Self {
        let message = err.to_string();
        match err {
            CheckoutError::InvalidField { code, field, .. } => {
                ApiError::invalid(code, field, message)
            }
            CheckoutError::OrderIdTaken(_) => {
                ApiError::conflict("order_id_taken", message).with_param("orderId")
            }
            CheckoutError::NotFound => ApiError::not_found("resource_not_found", message),
            CheckoutError::IdempotencyKeyReused => {
                ApiError::conflict("idempotency_key_reused", message).with_param("Idempotency-Key")
            }
            CheckoutError::IdempotencyInProgress => {
                ApiError::conflict("idempotency_request_in_progress", message)
                    .with_param("Idempotency-Key")
                    .with_retry(true, NextAction::Retry)
            }
            CheckoutError::NotCancellable(_) => {
                ApiError::conflict("payment_not_cancellable", message)
            }
            CheckoutError::CancelExceedsRemaining { .. } => {
                ApiError::invalid("cancel_amount_exceeds_remaining", "amount", message)
            }
            CheckoutError::StaleRemainingAmount { .. } => {
                ApiError::conflict("stale_remaining_amount", message)
                    .with_param("expectedRemainingAmount")
            }
            CheckoutError::CancelInProgress => ApiError::conflict("cancel_in_progress", message)
                .with_retry(true, NextAction::WaitForOutcome),
            CheckoutError::RefundAccountRequired(_) => {
                ApiError::invalid("refund_account_required", "refundAccount", message)
            }
            CheckoutError::Declined {
                code,
                message: innopay_message,
            } => ApiError::new(
                poem::http::StatusCode::PAYMENT_REQUIRED,
                crate::api::ErrorType::Payment,
                "innopay_declined",
                message,
            )
            .with_shopper_message(format!("이노페이가 요청을 거절했습니다: {innopay_message}"))
            .with_innopay(&code, &innopay_message)
            .with_retry(false, NextAction::ContactSupport),
            CheckoutError::GatewayUnavailable(_) => {
                ApiError::unavailable("innopay_unavailable", message, 30)
            }
            CheckoutError::Storefront(e) => e.into(),
            CheckoutError::Store(e) => e.into(),
        }
    }
}
