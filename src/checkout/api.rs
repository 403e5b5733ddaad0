//! The storefront-facing REST API: checkouts, payments, cancels. One response enum per operation; the
//! doc comments here are the OpenAPI description storefront developers read.

use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::{Example, ParseFromJSON, ToJSON};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::failure;
use super::input::{NewCancel, NewCheckout};
use super::service::{CancelResult, CheckoutService};
use super::{CheckoutError, PaymentStatus};
use crate::api::{
    ApiError, ErrorDocs, Errors, Fault, FieldCodes, HelpLink, JsonBody, Timestamp, docs, top_level,
};
use crate::app::AppState;
use crate::domain::{self, CashReceipt, CashReceiptPurpose, MethodDetails, VirtualAccount, Wallet};
use crate::help::HelpCenter;
use crate::store::idempotency::IdempotencyBegin;
use crate::store::payments::{PaymentEventRow, PaymentFilter, PaymentRow};
use crate::storefronts::{ApiKeyAuth, Mode, Storefront};

#[derive(Tags)]
enum CheckoutTags {
    /// Create a checkout, send the shopper to it, read its outcome.
    Checkouts,
    /// Payments: the outcome of checkouts, their history, and cancels.
    Payments,
}

/// The buyer, as Innopay's window shows and records it.
#[derive(Object, Clone, Debug)]
pub struct Buyer {
    /// 1 to 30 characters.
    #[oai(validator(min_length = 1, max_length = 30))]
    pub name: String,
    /// 9 to 12 digits starting with 0; hyphens and spaces are removed.
    #[oai(validator(max_length = 30, pattern = r"^[ -]*0([ -]*[0-9]){8,11}[ -]*$"))]
    pub tel: String,
    /// An e-mail address, at most 100 characters.
    #[oai(validator(min_length = 3, max_length = 100))]
    pub email: String,
}

/// A new checkout.
///
/// `payMethod`: `CARD` (default); `BANK` (계좌이체), `EBANK` (계좌간편결제) and `EPAY` (간편결제),
/// paid at approval like cards; or `VBANK` (가상계좌: an account is issued in the payment window
/// and the payment is `awaiting_deposit` until the shopper deposits); or `OPCARD` (해외카드, an
/// overseas card, in `KRW` or `USD`). What each method allows is the table under `PayMethodView`.
///
/// `payMethod` names one method; `payMethods` instead offers several for the shopper to choose
/// from (a storefront may limit which: `pay_method_not_allowed`). Every method offered must take
/// the checkout as asked (its currency, its tax-free part); VBANK's fields apply when VBANK is
/// among them.
///
/// `currency`: the currency of the amounts (Innopay `currency`), default `KRW`; a method whose
/// rules do not list it refuses it with `currency_not_allowed`. Amounts count the currency's
/// smallest unit: whole won for `KRW`, US cents for `USD` (`1234` is 12.34 USD; Innopay's unit for
/// USD is not documented, so paydesk assumes cents). A `USD` checkout totals 100 to 10,000,000
/// cents (1.00 to 100,000.00 USD) and has no `taxFreeAmount`.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase", example)]
pub struct CreateCheckoutRequest {
    /// Your order number, sent to Innopay as `moid`: 1 to 40 of `[A-Za-z0-9_-]`, unique per Innopay MID
    /// (storefronts sharing a MID share its order numbers).
    /// Generated when absent.
    #[oai(validator(min_length = 1, max_length = 40, pattern = r"^[A-Za-z0-9_-]+$"))]
    pub order_id: Option<String>,
    /// Product name shown in the payment window (1 to 100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub goods_name: String,
    /// The taxable part (Innopay `amt`) in the currency's unit: whole won, or US cents for `USD`.
    /// The shopper pays `amount + taxFreeAmount`, which must be between 100 and 1,000,000,000 won
    /// (or 100 and 10,000,000 cents).
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000000")))]
    pub amount: i64,
    /// The tax-free part in whole won (Innopay `taxFreeAmt`), default 0.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000")))]
    pub tax_free_amount: Option<i64>,
    // Documented on the struct: a described enum field becomes an `allOf`, which
    // openapi-python-client refuses for anything but objects.
    pub pay_method: Option<PayMethodView>,
    /// Methods the shopper chooses from on the hosted page, in the order shown (instead of
    /// `payMethod`; at most six, each the storefront allows). The payment's `payMethod` is the one
    /// the shopper paid with.
    #[oai(validator(min_items = 1, max_items = 6))]
    pub pay_methods: Option<Vec<PayMethodView>>,
    pub currency: Option<CurrencyView>,
    pub buyer: Buyer,
    /// Where the shopper goes after a successful payment (signed query added). Without it paydesk shows
    /// its own receipt page. An absolute `https://` or `http://` URL of at most 2000 characters.
    #[oai(validator(max_length = 2000))]
    pub success_url: Option<String>,
    /// Where the shopper goes after a failed payment (signed query added). Without it paydesk shows its
    /// own failure page with help articles. An absolute `https://` or `http://` URL of at most 2000
    /// characters.
    #[oai(validator(max_length = 2000))]
    pub fail_url: Option<String>,
    /// Echoed back by Innopay and in webhooks (at most 200 characters).
    #[oai(validator(max_length = 200))]
    pub mall_reserved: Option<String>,
    /// For a shopper paying inside your own app: the URL that opens your app again after a card,
    /// bank or wallet app (Innopay `appScheme`), e.g. `myshop://payments/return`. `scheme://...`
    /// of at most 200 characters; `javascript`, `vbscript`, `data`, `blob`, `file`, `about`,
    /// `http` and `https` are refused with `invalid_app_scheme` (a web page is `successUrl`'s).
    #[oai(validator(max_length = 200))]
    pub app_scheme: Option<String>,
    /// How long the shopper has to pay: 60 to 604800 seconds, default 1800. For `VBANK` this is the
    /// time to choose a bank in the payment window, and it ends 30 minutes before the deposit
    /// deadline at the latest.
    #[oai(validator(minimum(value = "60"), maximum(value = "604800")))]
    pub expires_in_seconds: Option<i64>,
    /// `VBANK` only: the deposit deadline, at least one hour and at most 30 days ahead. Give this or
    /// `depositDueInHours`, not both; default 72 hours.
    pub deposit_due_at: Option<OffsetDateTime>,
    /// `VBANK` only: the deposit deadline in hours from now, 1 to 720.
    #[oai(validator(minimum(value = "1"), maximum(value = "720")))]
    pub deposit_due_in_hours: Option<i64>,
    /// `VBANK` only: a cash receipt (현금영수증) to issue once the deposit arrives. The shopper can
    /// still change it in the payment window.
    pub cash_receipt: Option<CashReceiptRequest>,
}

/// What a cash receipt is for.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum CashReceiptPurposeView {
    /// 소득공제: the shopper's income deduction, identified by a phone number.
    IncomeDeduction,
    /// 지출증빙: a business's expense proof, identified by its business registration number.
    ExpenseProof,
}

/// A cash receipt asked for at checkout.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct CashReceiptRequest {
    pub purpose: CashReceiptPurposeView,
    /// Phone number (10 to 11 digits, starting with 01) for `income_deduction`, business
    /// registration number (10 digits) for `expense_proof`; hyphens and spaces are removed.
    #[oai(validator(max_length = 30, pattern = r"^[ -]*([0-9][ -]*){10,11}$"))]
    pub identifier: String,
}

impl Example for CreateCheckoutRequest {
    fn example() -> Self {
        CreateCheckoutRequest {
            order_id: Some("order-1001".into()),
            goods_name: "이노페이 화장품".into(),
            amount: 20000,
            tax_free_amount: None,
            pay_method: Some(PayMethodView::Card),
            pay_methods: None,
            currency: None,
            buyer: Buyer {
                name: "홍길동".into(),
                tel: "01012345678".into(),
                email: "test@test.com".into(),
            },
            success_url: Some("https://shop.example/paid".into()),
            fail_url: Some("https://shop.example/failed".into()),
            mall_reserved: None,
            app_scheme: None,
            expires_in_seconds: Some(1800),
            deposit_due_at: None,
            deposit_due_in_hours: None,
            cash_receipt: None,
        }
    }
}

/// Everything a storefront needs to call `innopay.goPay(...)` on its own page instead of using the
/// hosted checkout page. `returnUrl` points at paydesk, which approves the payment.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct GoPayParams {
    pub pay_method: String,
    pub mid: String,
    pub moid: String,
    pub goods_name: String,
    pub amt: i64,
    pub tax_free_amt: i64,
    pub buyer_name: String,
    pub buyer_tel: String,
    pub buyer_email: String,
    pub return_url: String,
    #[oai(skip_serializing_if_is_none)]
    pub mall_reserved: Option<String>,
    /// Where the payment window sends a shopper paying in your app back to.
    #[oai(skip_serializing_if_is_none)]
    pub app_scheme: Option<String>,
    pub currency: String,
    /// `VBANK`: the deposit deadline's date in KST, `YYYYMMDD`.
    #[oai(rename = "vBankExpDate", skip_serializing_if_is_none)]
    pub v_bank_exp_date: Option<String>,
    /// `VBANK`: the deposit deadline's time in KST, `HHmmss`.
    #[oai(rename = "vBankExpTime", skip_serializing_if_is_none)]
    pub v_bank_exp_time: Option<String>,
    /// A cash receipt asked for: `1` income deduction, `2` expense proof.
    #[oai(skip_serializing_if_is_none)]
    pub receipt_type: Option<String>,
    /// The cash receipt's phone or business number, digits.
    #[oai(skip_serializing_if_is_none)]
    pub receipt_type_no: Option<String>,
}

/// Status of a checkout's payment.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum PaymentStatusView {
    Ready,
    Approving,
    Paid,
    Failed,
    Unknown,
    Cancelled,
    PartiallyCancelled,
    Expired,
    /// A virtual account was issued; paid when the shopper's deposit is confirmed.
    AwaitingDeposit,
}

impl From<PaymentStatus> for PaymentStatusView {
    fn from(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Ready => Self::Ready,
            PaymentStatus::Approving => Self::Approving,
            PaymentStatus::Paid => Self::Paid,
            PaymentStatus::Failed => Self::Failed,
            PaymentStatus::Unknown => Self::Unknown,
            PaymentStatus::Cancelled => Self::Cancelled,
            PaymentStatus::PartiallyCancelled => Self::PartiallyCancelled,
            PaymentStatus::Expired => Self::Expired,
            PaymentStatus::AwaitingDeposit => Self::AwaitingDeposit,
        }
    }
}

/// A payment method, as `payMethod` names it. What each allows (`domain::PayMethod::rules`, the
/// one table paydesk reads); a checkout or cancel a method does not allow is refused with the
/// rule's code: `unsupported_pay_method` (not enabled), `partial_cancel_not_allowed`,
/// `refund_account_required`, `tax_free_not_allowed`, `currency_not_allowed`.
///
/// | method | enabled | paid later | refund account needed | partial cancel | tax-free part | currencies |
/// | --- | --- | --- | --- | --- | --- | --- |
/// | `CARD` | yes | no | no | yes | yes | KRW |
/// | `BANK` | yes | no | yes | yes | yes | KRW |
/// | `VBANK` | yes | yes | yes | yes | yes | KRW |
/// | `EPAY` | yes | no | no | no | yes | KRW |
/// | `OPCARD` | yes | no | no | yes | no | KRW, USD |
/// | `EBANK` | yes | no | yes | yes | yes | KRW |
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "UPPERCASE")]
pub enum PayMethodView {
    /// 신용카드
    Card,
    /// 계좌이체
    Bank,
    /// 가상계좌
    Vbank,
    /// 간편결제
    Epay,
    /// 해외카드
    Opcard,
    /// 계좌간편결제
    Ebank,
}

/// A currency, by its ISO 4217 code.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "UPPERCASE")]
pub enum CurrencyView {
    Krw,
    Usd,
}

impl From<domain::Currency> for CurrencyView {
    fn from(currency: domain::Currency) -> Self {
        match currency {
            domain::Currency::Krw => Self::Krw,
            domain::Currency::Usd => Self::Usd,
        }
    }
}

impl From<CurrencyView> for domain::Currency {
    fn from(view: CurrencyView) -> Self {
        match view {
            CurrencyView::Krw => Self::Krw,
            CurrencyView::Usd => Self::Usd,
        }
    }
}

impl From<PayMethodView> for domain::PayMethod {
    fn from(view: PayMethodView) -> Self {
        match view {
            PayMethodView::Card => Self::Card,
            PayMethodView::Bank => Self::Bank,
            PayMethodView::Vbank => Self::Vbank,
            PayMethodView::Epay => Self::Epay,
            PayMethodView::Opcard => Self::Opcard,
            PayMethodView::Ebank => Self::Ebank,
        }
    }
}

impl From<PaymentStatusView> for PaymentStatus {
    fn from(view: PaymentStatusView) -> Self {
        match view {
            PaymentStatusView::Ready => Self::Ready,
            PaymentStatusView::Approving => Self::Approving,
            PaymentStatusView::Paid => Self::Paid,
            PaymentStatusView::Failed => Self::Failed,
            PaymentStatusView::Unknown => Self::Unknown,
            PaymentStatusView::Cancelled => Self::Cancelled,
            PaymentStatusView::PartiallyCancelled => Self::PartiallyCancelled,
            PaymentStatusView::Expired => Self::Expired,
            PaymentStatusView::AwaitingDeposit => Self::AwaitingDeposit,
        }
    }
}

fn status_of(row: &PaymentRow) -> PaymentStatusView {
    row.status.into()
}

/// A checkout: the shopper-facing session of a payment (same id). Its amounts count `currency`'s
/// unit: whole won, or US cents for `USD`.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct Checkout {
    /// `pay_...`; also the id of its payment.
    pub id: String,
    pub status: PaymentStatusView,
    pub order_id: String,
    pub goods_name: String,
    pub currency: CurrencyView,
    pub amount: i64,
    pub tax_free_amount: i64,
    /// What the shopper pays: `amount + taxFreeAmount`.
    pub total_amount: i64,
    /// The method, or the first of `payMethods` until the shopper chose.
    pub pay_method: String,
    /// The methods the shopper may choose from (`payMethod` alone for a checkout of one method).
    pub pay_methods: Vec<String>,
    pub buyer: Buyer,
    #[oai(skip_serializing_if_is_none)]
    pub success_url: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub fail_url: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub mall_reserved: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub app_scheme: Option<String>,
    /// The hosted checkout page (Korean) to send the shopper to.
    pub checkout_url: String,
    /// Parameters for calling `innopay.goPay` on your own page.
    pub go_pay: GoPayParams,
    /// Innopay's payment window SDK to load before calling `goPay`.
    pub sdk_url: String,
    /// `false` for test storefronts (Innopay test MID, no money moves).
    pub livemode: bool,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// The card used.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct CardDetails {
    /// Innopay card company code (`fnCd`), e.g. `07`.
    #[oai(skip_serializing_if_is_none)]
    pub company_code: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub company_name: Option<String>,
    /// Masked, as Innopay returns it: `12345678****1234`.
    #[oai(skip_serializing_if_is_none)]
    pub number: Option<String>,
    /// Installment months, `00` for a single payment.
    #[oai(skip_serializing_if_is_none)]
    pub quota: Option<String>,
}

/// The virtual account of a `VBANK` payment: the deadline from the start, the account once Innopay
/// issued it, the deposit once Innopay confirmed it.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct VirtualAccountDetails {
    /// The shopper must deposit before this.
    pub due_at: Timestamp,
    /// Three-digit bank code (see `GET /v1/banks`).
    #[oai(skip_serializing_if_is_none)]
    pub bank_code: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub bank_name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub account_number: Option<String>,
    /// The account holder the bank shows the depositor.
    #[oai(skip_serializing_if_is_none)]
    pub holder_name: Option<String>,
    /// What Innopay shows deposited in all.
    #[oai(skip_serializing_if_is_none)]
    pub deposited_amount: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub depositor_name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub deposited_at: Option<Timestamp>,
}

/// A cash receipt: what was asked for and, once Innopay issued it, its amounts.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct CashReceiptDetails {
    pub purpose: CashReceiptPurposeView,
    /// Masked: `010****5678`.
    pub identifier: String,
    /// `requested` until Innopay issued it, then `issued`.
    pub status: String,
    #[oai(skip_serializing_if_is_none)]
    pub supply_amount: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub vat: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub service_amount: Option<i64>,
    /// The receipt's own Innopay transaction id.
    #[oai(skip_serializing_if_is_none)]
    pub tid: Option<String>,
}

/// The bank account a `BANK` (계좌이체) or `EBANK` (계좌간편결제) payment was paid from.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct BankTransferDetails {
    /// Three-digit bank code (see `GET /v1/banks`), when Innopay sent one paydesk knows.
    #[oai(skip_serializing_if_is_none)]
    pub bank_code: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub bank_name: Option<String>,
    /// Masked: `110****5678`.
    #[oai(skip_serializing_if_is_none)]
    pub account_number: Option<String>,
}

/// An easy-pay wallet. `other` is one paydesk does not know: `walletCode` has Innopay's value.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum WalletView {
    KakaoPay,
    NaverPay,
    Payco,
    SamsungPay,
    TossPay,
    SsgPay,
    LPay,
    Other,
}

/// The wallet an `EPAY` (간편결제) payment was made with. `wallet` is `other` for a value paydesk
/// does not know (Innopay sets which wallets a MID offers and does not publish its codes); such a
/// value is kept, not refused.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct EpayPaymentDetails {
    pub wallet: WalletView,
    /// Innopay's value (`epay.epayCl`) as paydesk stores it: `KAKAOPAY` for a known wallet, the
    /// value verbatim for `other`.
    pub wallet_code: String,
    /// The Korean name shoppers know it by (an unknown wallet's own value).
    pub wallet_name: String,
}

/// Why a payment failed; on a `ready` checkout, why its last attempt was declined (the shopper may
/// try again until `expiresAt`).
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct PaymentFailure {
    /// Innopay's code verbatim, or paydesk's own (`amount_mismatch`, `order_mismatch`, `expired`,
    /// `deposit_expired`, `innopay_unreachable`).
    pub code: String,
    /// Innopay's message verbatim, or paydesk's explanation.
    pub message: String,
    /// A short Korean message that is safe to show the shopper.
    pub shopper_message: String,
    /// Help articles most likely to fix it, best first (only in `GET /v1/payments/{id}`; absent,
    /// not required, elsewhere).
    #[oai(default, skip_serializing_if_is_empty)]
    pub help: Vec<HelpLink>,
}

/// One recorded state change.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct PaymentEvent {
    /// 1, 2, 3... per payment; webhooks carry the same number.
    pub sequence: i32,
    /// What happened, e.g. `created`, `approval_started`, `paid`, `amount_mismatch`.
    #[oai(rename = "type")]
    pub kind: String,
    #[oai(skip_serializing_if_is_none)]
    pub from_status: Option<String>,
    pub to_status: String,
    /// Who caused it: `api`, `shopper_return`, `gateway`, `reconciler`, `innopay_noti`.
    pub cause: String,
    /// Details (codes, amounts, Innopay's answer summary).
    pub detail: serde_json::Value,
    pub created_at: Timestamp,
}

/// A payment with its outcome and full history. Its amounts (`amount`, `totalAmount`,
/// `cancelledAmount`, `remainingAmount`, `pendingCancelAmount`) count `currency`'s unit: whole won,
/// or US cents for `USD`; so do a cancel's `amount` and `expectedRemainingAmount`.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct Payment {
    pub id: String,
    pub status: PaymentStatusView,
    pub order_id: String,
    pub mid: String,
    pub goods_name: String,
    pub currency: CurrencyView,
    pub amount: i64,
    pub tax_free_amount: i64,
    pub total_amount: i64,
    pub cancelled_amount: i64,
    /// `totalAmount - cancelledAmount`: what a further cancel may take at most.
    pub remaining_amount: i64,
    /// Set while a cancel's outcome at Innopay is being confirmed.
    #[oai(skip_serializing_if_is_none)]
    pub pending_cancel_amount: Option<i64>,
    pub pay_method: String,
    /// Innopay transaction id, once the shopper authenticated.
    #[oai(skip_serializing_if_is_none)]
    pub tid: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub approval_number: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub approved_at: Option<Timestamp>,
    #[oai(skip_serializing_if_is_none)]
    pub card: Option<CardDetails>,
    /// `VBANK` payments.
    #[oai(skip_serializing_if_is_none)]
    pub virtual_account: Option<VirtualAccountDetails>,
    /// `BANK` and `EBANK` payments.
    #[oai(skip_serializing_if_is_none)]
    pub bank: Option<BankTransferDetails>,
    /// `EPAY` payments.
    #[oai(skip_serializing_if_is_none)]
    pub epay: Option<EpayPaymentDetails>,
    #[oai(skip_serializing_if_is_none)]
    pub cash_receipt: Option<CashReceiptDetails>,
    #[oai(skip_serializing_if_is_none)]
    pub receipt_url: Option<String>,
    // No doc comment here: a described `$ref` becomes an `allOf`, which standard generators
    // (openapi-python-client) turn into a second `PaymentFailure` model. `PaymentFailure` says it.
    #[oai(skip_serializing_if_is_none)]
    pub failure: Option<PaymentFailure>,
    /// paydesk found something that needs a person (tampered amount, unexpected answer).
    pub flagged: bool,
    #[oai(skip_serializing_if_is_none)]
    pub flag_reason: Option<String>,
    pub livemode: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Every state change, oldest first (empty in lists and webhook events).
    pub events: Vec<PaymentEvent>,
}

/// A page of payments, newest first.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct PaymentList {
    pub data: Vec<Payment>,
    pub has_more: bool,
    /// Pass as `startingAfter` for the next page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// A full or partial cancel.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase", example)]
pub struct CancelRequest {
    /// Won to cancel; omit to cancel everything that remains.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000000")))]
    pub amount: Option<i64>,
    /// Shown in Innopay's records (1 to 100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub reason: String,
    /// The remaining amount you believe the payment has; refused with `stale_remaining_amount` when it
    /// differs, so two operators cannot cancel the same money twice.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000")))]
    pub expected_remaining_amount: Option<i64>,
    /// Where the money goes back to, for a paid payment of a method refunded to an account
    /// (`VBANK`, `BANK`, `EBANK`: required there, refused with `refund_account_required` when
    /// missing); ignored for cards and easy pay. Not needed to cancel a
    /// virtual account that was never paid: that only closes the account.
    pub refund_account: Option<RefundAccountRequest>,
}

/// A bank account a refund is sent to.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct RefundAccountRequest {
    /// Three-digit KFTC bank code; `GET /v1/banks` lists them with their Korean names.
    #[oai(validator(pattern = r"^[0-9]{2,3}$"))]
    pub bank_code: String,
    /// 10 to 16 digits; hyphens and spaces are removed.
    #[oai(validator(max_length = 40, pattern = r"^[ -]*([0-9][ -]*){10,16}$"))]
    pub account_number: String,
    /// The holder's name as the bank has it (1 to 30 characters); banks refuse a refund whose name
    /// differs.
    #[oai(validator(min_length = 1, max_length = 30))]
    pub holder_name: String,
}

/// Each field's own error code (documented on the operation's 400), whatever is wrong with it.
impl FieldCodes for CreateCheckoutRequest {
    fn field_code(path: &str, fault: Fault) -> Option<&'static str> {
        Some(match (top_level(path), path) {
            ("orderId", _) => "invalid_order_id",
            ("goodsName", _) => "invalid_goods_name",
            ("amount", _) => "invalid_amount",
            ("taxFreeAmount", _) => "invalid_tax_free_amount",
            ("payMethod", _) if fault == Fault::NotAllowed => "unsupported_pay_method",
            ("payMethods", _) if fault == Fault::NotAllowed => "unsupported_pay_method",
            ("payMethods", _) => "invalid_pay_methods",
            ("currency", _) if fault == Fault::NotAllowed => "currency_not_allowed",
            ("buyer", "buyer.name") => "invalid_buyer_name",
            ("buyer", "buyer.tel") => "invalid_buyer_tel",
            ("buyer", "buyer.email") => "invalid_buyer_email",
            ("successUrl", _) => "invalid_success_url",
            ("failUrl", _) => "invalid_fail_url",
            ("mallReserved", _) => "invalid_mall_reserved",
            ("appScheme", _) => "invalid_app_scheme",
            ("expiresInSeconds", _) => "invalid_expires_in_seconds",
            ("depositDueAt" | "depositDueInHours", _) => "invalid_deposit_due",
            ("cashReceipt", _) => "invalid_cash_receipt",
            _ => return None,
        })
    }
}

impl FieldCodes for CancelRequest {
    fn field_code(path: &str, _: Fault) -> Option<&'static str> {
        Some(match top_level(path) {
            "amount" => "invalid_cancel_amount",
            "reason" => "invalid_cancel_reason",
            "expectedRemainingAmount" => "invalid_expected_remaining_amount",
            "refundAccount" => "invalid_refund_account",
            _ => return None,
        })
    }
}

impl Example for CancelRequest {
    fn example() -> Self {
        CancelRequest {
            amount: Some(5000),
            reason: "부분 반품".into(),
            expected_remaining_amount: None,
            refund_account: None,
        }
    }
}

#[derive(ApiResponse)]
enum CreateCheckoutResponse {
    /// The checkout was created (or, with a replayed `Idempotency-Key`, created earlier).
    #[oai(status = 201)]
    Created(
        Json<Checkout>,
        /// `true` when this answer is a replay of an earlier request with the same key.
        #[oai(header = "Idempotent-Replayed")]
        Option<bool>,
        /// `/v1/checkouts/{id}`: where the checkout can be read.
        #[oai(header = "Location")]
        String,
    ),
}

#[derive(ApiResponse)]
enum GetCheckoutResponse {
    #[oai(status = 200)]
    Ok(Json<Checkout>),
}

#[derive(ApiResponse)]
enum ListPaymentsResponse {
    #[oai(status = 200)]
    Ok(Json<PaymentList>),
}

/// A bank, by its KFTC code.
#[derive(Object, Clone, Debug)]
pub struct BankView {
    /// Three digits, e.g. `004`.
    pub code: String,
    /// Korean name, e.g. `KB국민은행`.
    pub name: String,
}

/// Every bank paydesk knows, in the order the payment window lists them.
#[derive(Object, Clone, Debug)]
pub struct BankList {
    pub data: Vec<BankView>,
}

#[derive(ApiResponse)]
enum ListBanksResponse {
    #[oai(status = 200)]
    Ok(Json<BankList>),
}

#[derive(ApiResponse)]
enum GetPaymentResponse {
    #[oai(status = 200)]
    Ok(Json<Payment>),
}

#[derive(ApiResponse)]
enum CancelPaymentResponse {
    /// Innopay confirmed the cancel.
    #[oai(status = 200)]
    Cancelled(
        Json<Payment>,
        #[oai(header = "Idempotent-Replayed")] Option<bool>,
    ),
    /// Innopay's answer was lost; paydesk is confirming the cancel (see `pendingCancelAmount`) and will
    /// send a webhook when it knows.
    #[oai(status = 202)]
    Pending(
        Json<Payment>,
        #[oai(header = "Idempotent-Replayed")] Option<bool>,
    ),
}

impl Checkout {
    pub(super) fn from_row(row: &PaymentRow, service: &CheckoutService) -> Self {
        Checkout {
            id: row.id.clone(),
            status: status_of(row),
            order_id: row.order_id.clone(),
            goods_name: row.goods_name.clone(),
            currency: row.currency.into(),
            amount: row.amount,
            tax_free_amount: row.tax_free_amount,
            total_amount: row.amount + row.tax_free_amount,
            pay_method: row.pay_method.code().to_string(),
            pay_methods: offered_methods(row)
                .iter()
                .map(|m| m.code().to_string())
                .collect(),
            buyer: Buyer {
                name: row.buyer_name.clone(),
                tel: row.buyer_tel.clone(),
                email: row.buyer_email.clone(),
            },
            success_url: row.success_url.clone(),
            fail_url: row.fail_url.clone(),
            mall_reserved: row.mall_reserved.clone(),
            app_scheme: row.app_scheme.clone(),
            checkout_url: service.checkout_url(&row.id),
            go_pay: GoPayParams::from_row(row, service),
            sdk_url: service.sdk_url().to_string(),
            livemode: row.mode == Mode::Live,
            expires_at: row.expires_at.into(),
            created_at: row.created_at.into(),
        }
    }
}

/// The methods a checkout lets the shopper choose from, in order.
pub(crate) fn offered_methods(row: &PaymentRow) -> Vec<domain::PayMethod> {
    row.offered_pay_methods
        .as_ref()
        .map_or_else(|| vec![row.pay_method], |m| m.iter().collect())
}

impl GoPayParams {
    /// What `innopay.goPay` is called with for this checkout, on the hosted page or a storefront's:
    /// for its method, or the first of those it offers.
    pub(crate) fn from_row(row: &PaymentRow, service: &CheckoutService) -> Self {
        Self::for_method(row, service, row.pay_method)
    }

    /// What `innopay.goPay` is called with once the shopper chose `method` among those offered
    /// (the hosted page's choice): the deposit deadline only for a method paid later.
    pub(crate) fn for_method(
        row: &PaymentRow,
        service: &CheckoutService,
        method: domain::PayMethod,
    ) -> Self {
        let due = row
            .method_details
            .as_ref()
            .and_then(MethodDetails::virtual_account)
            .filter(|_| method.rules().paid_later)
            .map(|account| account.due_at.to_offset(domain::KST));
        let receipt = row
            .cash_receipt
            .as_ref()
            .filter(|_| method.rules().paid_later);
        let format = |f: &[time::format_description::BorrowedFormatItem<'_>]| {
            due.and_then(|t| t.format(f).ok())
        };
        GoPayParams {
            pay_method: method.code().to_string(),
            mid: row.mid.clone(),
            moid: row.order_id.clone(),
            goods_name: row.goods_name.clone(),
            amt: row.amount,
            tax_free_amt: row.tax_free_amount,
            buyer_name: row.buyer_name.clone(),
            buyer_tel: row.buyer_tel.clone(),
            buyer_email: row.buyer_email.clone(),
            return_url: service.return_url(&row.id),
            mall_reserved: row.mall_reserved.clone(),
            app_scheme: row.app_scheme.clone(),
            currency: row.currency.code().into(),
            v_bank_exp_date: format(time::macros::format_description!("[year][month][day]")),
            v_bank_exp_time: format(time::macros::format_description!("[hour][minute][second]")),
            receipt_type: receipt.map(|r| r.purpose.innopay_code().to_string()),
            receipt_type_no: receipt.map(|r| r.identifier.clone()),
        }
    }
}

impl From<CashReceiptPurpose> for CashReceiptPurposeView {
    fn from(purpose: CashReceiptPurpose) -> Self {
        match purpose {
            CashReceiptPurpose::IncomeDeduction => Self::IncomeDeduction,
            CashReceiptPurpose::ExpenseProof => Self::ExpenseProof,
        }
    }
}

impl From<CashReceiptPurposeView> for CashReceiptPurpose {
    fn from(view: CashReceiptPurposeView) -> Self {
        match view {
            CashReceiptPurposeView::IncomeDeduction => Self::IncomeDeduction,
            CashReceiptPurposeView::ExpenseProof => Self::ExpenseProof,
        }
    }
}

impl From<&domain::CardDetails> for CardDetails {
    fn from(card: &domain::CardDetails) -> Self {
        CardDetails {
            company_code: card.company_code.clone(),
            company_name: card.company_name.clone(),
            number: card.number.clone(),
            quota: card.quota.clone(),
        }
    }
}

impl From<&VirtualAccount> for VirtualAccountDetails {
    fn from(account: &VirtualAccount) -> Self {
        let issued = account.issued.as_ref();
        let deposit = account.deposit.as_ref();
        VirtualAccountDetails {
            due_at: account.due_at.into(),
            bank_code: issued.map(|a| a.bank_code.to_string()),
            bank_name: issued.map(|a| a.bank_code.name().to_string()),
            account_number: issued.map(|a| a.account_number.clone()),
            holder_name: issued.and_then(|a| a.holder_name.clone()),
            deposited_amount: deposit.map(|d| d.amount),
            depositor_name: deposit.and_then(|d| d.depositor_name.clone()),
            deposited_at: deposit.and_then(|d| d.deposited_at).map(Into::into),
        }
    }
}

impl From<&domain::BankTransfer> for BankTransferDetails {
    fn from(paid: &domain::BankTransfer) -> Self {
        BankTransferDetails {
            bank_code: paid.bank_code.map(|c| c.to_string()),
            bank_name: paid.bank_name.clone(),
            account_number: paid.account_number.clone(),
        }
    }
}

impl From<&Wallet> for EpayPaymentDetails {
    fn from(wallet: &Wallet) -> Self {
        EpayPaymentDetails {
            wallet: match wallet {
                Wallet::KakaoPay => WalletView::KakaoPay,
                Wallet::NaverPay => WalletView::NaverPay,
                Wallet::Payco => WalletView::Payco,
                Wallet::SamsungPay => WalletView::SamsungPay,
                Wallet::TossPay => WalletView::TossPay,
                Wallet::SsgPay => WalletView::SsgPay,
                Wallet::LPay => WalletView::LPay,
                Wallet::Other(_) => WalletView::Other,
            },
            wallet_code: wallet.code().to_string(),
            wallet_name: wallet.korean().to_string(),
        }
    }
}

impl From<&CashReceipt> for CashReceiptDetails {
    fn from(receipt: &CashReceipt) -> Self {
        let issued = receipt.issued.as_ref();
        CashReceiptDetails {
            purpose: issued.map_or(receipt.purpose, |i| i.purpose).into(),
            identifier: issued
                .and_then(|i| i.identifier.clone())
                .unwrap_or_else(|| domain::mask_digits(&receipt.identifier)),
            status: if issued.is_some() {
                "issued"
            } else {
                "requested"
            }
            .into(),
            supply_amount: issued.map(|i| i.supply_amount),
            vat: issued.map(|i| i.vat),
            service_amount: issued.map(|i| i.service_amount),
            tid: issued.and_then(|i| i.tid.clone()),
        }
    }
}

impl Payment {
    /// The payment as the API shows it; with `help`, a failure carries its help articles.
    pub(crate) fn from_row(
        row: &PaymentRow,
        events: &[PaymentEventRow],
        help: Option<&HelpCenter>,
    ) -> Self {
        let total = row.amount + row.tax_free_amount;
        let details = row.method_details.as_ref();
        let card = details.and_then(MethodDetails::card).map(CardDetails::from);
        // A checkout offering VBANK among others keeps its deadline whatever was chosen: only a
        // payment made by a method paid later shows it, and its cash receipt.
        let paid_later = row.pay_method.rules().paid_later;
        let virtual_account = details
            .and_then(MethodDetails::virtual_account)
            .filter(|_| paid_later)
            .map(VirtualAccountDetails::from);
        let (bank, epay) = match details {
            Some(MethodDetails::BankTransfer(paid)) => {
                (Some(BankTransferDetails::from(paid)), None)
            }
            Some(MethodDetails::Epay(paid)) => (None, Some(EpayPaymentDetails::from(&paid.wallet))),
            _ => (None, None),
        };
        Payment {
            id: row.id.clone(),
            status: status_of(row),
            order_id: row.order_id.clone(),
            mid: row.mid.clone(),
            goods_name: row.goods_name.clone(),
            currency: row.currency.into(),
            amount: row.amount,
            tax_free_amount: row.tax_free_amount,
            total_amount: total,
            cancelled_amount: row.cancelled_amount,
            remaining_amount: total - row.cancelled_amount,
            pending_cancel_amount: row.pending_cancel_amount,
            pay_method: row.pay_method.code().to_string(),
            tid: row.tid.clone(),
            approval_number: row.approval_number.clone(),
            approved_at: row.approved_at.map(Into::into),
            card,
            virtual_account,
            bank,
            epay,
            cash_receipt: row
                .cash_receipt
                .as_ref()
                .filter(|_| paid_later)
                .map(CashReceiptDetails::from),
            receipt_url: row.receipt_url.clone(),
            failure: row.failure_code.as_ref().map(|code| {
                let message = row.failure_message.clone().unwrap_or_default();
                PaymentFailure {
                    shopper_message: failure::shopper_message(Some(code), &message),
                    help: help
                        .map(|h| failure::help_for(h, row, None))
                        .unwrap_or_default()
                        .iter()
                        .map(HelpLink::from)
                        .collect(),
                    code: code.code().to_string(),
                    message,
                }
            }),
            flagged: row.flagged,
            flag_reason: row.flag_reason.clone(),
            livemode: row.mode == Mode::Live,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
            events: events
                .iter()
                .map(|e| PaymentEvent {
                    sequence: e.sequence,
                    kind: e.kind.clone(),
                    from_status: e.from_status.clone(),
                    to_status: e.to_status.clone(),
                    cause: e.cause.clone(),
                    detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
                    created_at: e.created_at.into(),
                })
                .collect(),
        }
    }
}

/// The error answers of each operation (see `ErrorDocs`); `tests/it/contract.rs` reaches every one.
struct CreateCheckoutErrors;
struct GetErrors;
struct ListPaymentsErrors;
struct CancelErrors;
struct BankErrors;

impl ErrorDocs for BankErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        docs::UNAUTHORIZED,
        docs::FORBIDDEN,
        docs::INTERNAL,
        docs::DATABASE_UNAVAILABLE,
    ];
}

impl ErrorDocs for CreateCheckoutErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        (
            400,
            "A field is invalid; `error.param` is its JSON path (`buyer.tel`). A field that is \
             missing, of the wrong type, not one of its enum values or outside its schema's limits \
             answers with its own code. Codes: `invalid_body` (not JSON, a key given twice, or a \
             field without a code of its own), `invalid_order_id`, `invalid_goods_name`, `invalid_amount`, \
             `invalid_tax_free_amount`, `unsupported_pay_method`, `invalid_pay_methods` (an empty \
             list, or both `payMethod` and `payMethods`), `pay_method_not_allowed` (a method the \
             storefront does not allow; `param` is the field that named it), \
             `tax_free_not_allowed` (a \
             `taxFreeAmount` for a method without a tax-free part), `currency_not_allowed` (a \
             currency the method does not take), `invalid_buyer_name`, \
             `invalid_buyer_tel`, `invalid_buyer_email`, `invalid_success_url`, `invalid_fail_url`, \
             `invalid_mall_reserved`, `invalid_app_scheme` (not an app URL, or a refused scheme \
             such as `javascript`, `data` or `https`), `invalid_expires_in_seconds`, `invalid_deposit_due` (`VBANK` \
             deadline out of bounds, both forms given, or given for another method), \
             `invalid_cash_receipt`, `invalid_idempotency_key`.",
        ),
        docs::UNAUTHORIZED,
        docs::FORBIDDEN,
        (
            409,
            "`order_id_taken` (a checkout with this `orderId` exists under the same Innopay MID: \
             this storefront's, or another storefront's sharing the MID), \
             `idempotency_key_reused`, `idempotency_request_in_progress` (retryable).",
        ),
        docs::PAYLOAD_TOO_LARGE,
        docs::UNSUPPORTED_MEDIA_TYPE,
        docs::INTERNAL,
        docs::DATABASE_UNAVAILABLE,
    ];
}

impl ErrorDocs for GetErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        docs::BAD_ID,
        docs::UNAUTHORIZED,
        docs::FORBIDDEN,
        docs::NOT_FOUND,
        docs::INTERNAL,
        docs::DATABASE_UNAVAILABLE,
    ];
}

impl ErrorDocs for ListPaymentsErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        (
            400,
            "`invalid_parameter`: a query parameter is invalid (`error.param` names it), e.g. \
             `limit` outside 1 to 100, an unknown `status` or `payMethod`, `flagged` other than \
             `true` or `false`, an `orderId` not of 1 to 40 characters, a time that is not RFC 3339.",
        ),
        docs::UNAUTHORIZED,
        docs::FORBIDDEN,
        docs::INTERNAL,
        docs::DATABASE_UNAVAILABLE,
    ];
}

impl ErrorDocs for CancelErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        (
            400,
            "A field is invalid; `error.param` is its JSON path (`refundAccount.bankCode`). Codes: \
             `invalid_body` (not JSON, a key given twice), `invalid_cancel_amount`, `invalid_cancel_reason`, `invalid_expected_remaining_amount`, \
             `cancel_amount_exceeds_remaining`, `refund_account_required` (a paid payment of a \
             method refunded to an account, e.g. `VBANK`, without `refundAccount`), \
             `partial_cancel_not_allowed` (`amount` less than the whole payment, for a method that \
             is only cancelled whole, e.g. `EPAY`), `invalid_refund_account`, `invalid_idempotency_key`, `invalid_parameter` (the \
             id in the path is not valid percent-encoded UTF-8).",
        ),
        docs::UNAUTHORIZED,
        docs::FORBIDDEN,
        (
            402,
            "`innopay_declined`: Innopay refused the cancel; `error.innopay` has its code and \
             message verbatim. Nothing was cancelled.",
        ),
        docs::NOT_FOUND,
        (
            409,
            "`payment_not_cancellable` (not paid, or nothing remains), `stale_remaining_amount` \
             (`expectedRemainingAmount` differs), `cancel_in_progress` (another cancel of this \
             payment is being confirmed), `idempotency_key_reused`, \
             `idempotency_request_in_progress`.",
        ),
        docs::PAYLOAD_TOO_LARGE,
        docs::UNSUPPORTED_MEDIA_TYPE,
        docs::INTERNAL,
        (
            503,
            "`innopay_unavailable` (Innopay could not be reached; nothing was sent, so nothing was \
             cancelled), `database_unavailable`. Retry after `Retry-After` seconds.",
        ),
    ];
}

/// How long a key's answer is kept for replay.
const IDEMPOTENCY_TTL: time::Duration = time::Duration::hours(72);

fn fingerprint(body: &impl ToJSON) -> String {
    hex::encode(Sha256::digest(body.to_json_string().as_bytes()))
}

/// The `Idempotency-Key` header as sent. poem-openapi passes a value that is not visible ASCII as if
/// no header were there, and the request would run without its key (a retry then runs again); the
/// raw value is kept instead, so that `idempotent` refuses it.
fn sent_idempotency_key(parsed: Header<Option<String>>, req: &poem::Request) -> Option<String> {
    parsed.0.or_else(|| {
        req.headers()
            .get("idempotency-key")
            .map(|raw| String::from_utf8_lossy(raw.as_bytes()).into_owned())
    })
}

/// Runs `work` at most once per (storefront, key): a retry gets the stored answer, the same key with
/// another body is refused, and a concurrent duplicate is refused while the first runs. Only success
/// is stored; after an error the key is released so a corrected request can use it.
async fn idempotent<T, F>(
    state: &AppState,
    storefront: &Storefront,
    key: Option<String>,
    route: &str,
    body_fingerprint: String,
    work: F,
) -> Result<(T, u16, bool), ApiError>
where
    T: ToJSON + ParseFromJSON,
    F: Future<Output = Result<(T, u16), ApiError>>,
{
    let Some(key) = key else {
        let (value, status) = work.await?;
        return Ok((value, status, false));
    };
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ApiError::invalid(
            "invalid_idempotency_key",
            "Idempotency-Key",
            "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
        ));
    }
    let begin = state
        .store
        .idempotency_begin(
            &storefront.id,
            &key,
            route,
            &body_fingerprint,
            IDEMPOTENCY_TTL,
        )
        .await?;
    match begin {
        IdempotencyBegin::Replay { status, body } => {
            let value = T::parse_from_json_string(&body).map_err(|e| {
                ApiError::internal(format!(
                    "stored idempotent answer unreadable: {}",
                    e.into_message()
                ))
            })?;
            Ok((value, status, true))
        }
        IdempotencyBegin::Mismatch => Err(CheckoutError::IdempotencyKeyReused.into()),
        IdempotencyBegin::InProgress => Err(CheckoutError::IdempotencyInProgress.into()),
        IdempotencyBegin::New => match work.await {
            Ok((value, status)) => {
                state
                    .store
                    .idempotency_finish(&storefront.id, &key, status, &value.to_json_string())
                    .await?;
                Ok((value, status, false))
            }
            Err(err) => {
                state
                    .store
                    .idempotency_abandon(&storefront.id, &key)
                    .await?;
                Err(err)
            }
        },
    }
}

pub struct CheckoutApi;

#[OpenApi]
impl CheckoutApi {
    /// Create a checkout
    ///
    /// Creates a payment in status `ready` and answers where to send the shopper (`checkoutUrl`) or,
    /// for a storefront that opens Innopay's window itself, the `goPay` parameters. Send an
    /// `Idempotency-Key` to make retries safe: the same key and body within 72 hours returns the first
    /// answer; the same key with another body is `409 idempotency_key_reused`.
    #[oai(
        path = "/v1/checkouts",
        method = "post",
        operation_id = "createCheckout",
        tag = "CheckoutTags::Checkouts"
    )]
    async fn create_checkout(
        &self,
        req: &poem::Request,
        state: Data<&AppState>,
        auth: ApiKeyAuth,
        /// Any unique string (a UUID is fine), at most 255 printable ASCII characters.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: JsonBody<CreateCheckoutRequest>,
    ) -> Result<CreateCheckoutResponse, Errors<CreateCheckoutErrors>> {
        let key = sent_idempotency_key(idempotency_key, req);
        let storefront = auth.storefront(&state).await?;
        let body = body.parse()?;
        let (checkout, _, replayed) = idempotent(
            &state,
            &storefront,
            key,
            "POST /v1/checkouts",
            fingerprint(&body),
            async {
                let new = NewCheckout::parse(&body, state.store.now())?;
                let row = state.checkout.create(&storefront, new).await?;
                Ok((Checkout::from_row(&row, &state.checkout), 201))
            },
        )
        .await?;
        let location = format!("/v1/checkouts/{}", checkout.id);
        Ok(CreateCheckoutResponse::Created(
            Json(checkout),
            replayed.then_some(true),
            location,
        ))
    }

    /// Get a checkout
    #[oai(
        path = "/v1/checkouts/:id",
        method = "get",
        operation_id = "getCheckout",
        tag = "CheckoutTags::Checkouts"
    )]
    async fn get_checkout(
        &self,
        state: Data<&AppState>,
        auth: ApiKeyAuth,
        id: Path<String>,
    ) -> Result<GetCheckoutResponse, Errors<GetErrors>> {
        let storefront = auth.storefront(&state).await?;
        let row = state.checkout.get(&storefront, &id.0).await?;
        Ok(GetCheckoutResponse::Ok(Json(Checkout::from_row(
            &row,
            &state.checkout,
        ))))
    }

    /// List banks
    ///
    /// The banks of virtual accounts and refund accounts: each `bankCode` paydesk takes or shows is
    /// one of these three-digit KFTC codes, with the Korean name shoppers know the bank by.
    #[oai(
        path = "/v1/banks",
        method = "get",
        operation_id = "listBanks",
        tag = "CheckoutTags::Payments"
    )]
    async fn list_banks(
        &self,
        state: Data<&AppState>,
        auth: ApiKeyAuth,
    ) -> Result<ListBanksResponse, Errors<BankErrors>> {
        auth.storefront(&state).await?;
        Ok(ListBanksResponse::Ok(Json(BankList {
            data: domain::BANKS
                .iter()
                .map(|bank| BankView {
                    code: bank.code.to_string(),
                    name: bank.name.to_string(),
                })
                .collect(),
        })))
    }

    /// List payments
    ///
    /// Newest first, `limit` (1 to 100, default 20) at a time; pass `nextCursor` as `startingAfter` for
    /// the next page.
    #[oai(
        path = "/v1/payments",
        method = "get",
        operation_id = "listPayments",
        tag = "CheckoutTags::Payments"
    )]
    // poem-openapi takes each query parameter as its own argument.
    #[allow(clippy::too_many_arguments)]
    async fn list_payments(
        &self,
        state: Data<&AppState>,
        auth: ApiKeyAuth,
        /// Only payments in this status.
        status: Query<Option<PaymentStatusView>>,
        /// Only payments created at or after this time (RFC 3339).
        #[oai(name = "createdFrom")]
        created_from: Query<Option<OffsetDateTime>>,
        /// Only payments created before this time (RFC 3339).
        #[oai(name = "createdTo")]
        created_to: Query<Option<OffsetDateTime>>,
        /// Only the payment of this order: the checkout's `orderId` (1 to 40 characters).
        #[oai(name = "orderId", validator(min_length = 1, max_length = 40))]
        order_id: Query<Option<String>>,
        /// `true`: only payments flagged for a person to look at (see `flagReason`); `false`: only
        /// the others.
        flagged: Query<Option<bool>>,
        /// Only payments with this method.
        #[oai(name = "payMethod")]
        pay_method: Query<Option<PayMethodView>>,
        /// The `nextCursor` of the previous page.
        #[oai(name = "startingAfter")]
        starting_after: Query<Option<String>>,
        /// Payments per page, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<ListPaymentsResponse, Errors<ListPaymentsErrors>> {
        let storefront = auth.storefront(&state).await?;
        let limit = limit.0.unwrap_or(20);
        let filter = PaymentFilter {
            statuses: status
                .0
                .map(|s| vec![PaymentStatus::from(s)])
                .unwrap_or_default(),
            // In UTC, as times are stored: SQLite compares them as text.
            created_from: created_from.0.map(|t| t.to_offset(time::UtcOffset::UTC)),
            created_to: created_to.0.map(|t| t.to_offset(time::UtcOffset::UTC)),
            order_id: order_id.0,
            flagged: flagged.0,
            pay_method: pay_method.0.map(domain::PayMethod::from),
            before_id: starting_after.0,
            limit: u64::from(limit) + 1,
        };
        let mut rows = state.checkout.list(&storefront, &filter).await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok(ListPaymentsResponse::Ok(Json(PaymentList {
            next_cursor: has_more
                .then(|| rows.last().map(|r| r.id.clone()))
                .flatten(),
            has_more,
            data: rows
                .iter()
                .map(|r| Payment::from_row(r, &[], None))
                .collect(),
        })))
    }

    /// Get a payment with its history
    #[oai(
        path = "/v1/payments/:id",
        method = "get",
        operation_id = "getPayment",
        tag = "CheckoutTags::Payments"
    )]
    async fn get_payment(
        &self,
        state: Data<&AppState>,
        auth: ApiKeyAuth,
        id: Path<String>,
    ) -> Result<GetPaymentResponse, Errors<GetErrors>> {
        let storefront = auth.storefront(&state).await?;
        let (row, events) = state.checkout.get_with_events(&storefront, &id.0).await?;
        Ok(GetPaymentResponse::Ok(Json(Payment::from_row(
            &row,
            &events,
            Some(&state.help.current()),
        ))))
    }

    /// Cancel a payment, fully or partly
    ///
    /// Cancels through Innopay's cancel API. Omit `amount` to cancel everything that remains. Never
    /// cancels more than remains; send `expectedRemainingAmount` to be refused when someone else
    /// cancelled in between, and an `Idempotency-Key` to retry safely.
    #[oai(
        path = "/v1/payments/:id/cancel",
        method = "post",
        operation_id = "cancelPayment",
        tag = "CheckoutTags::Payments"
    )]
    async fn cancel_payment(
        &self,
        req: &poem::Request,
        state: Data<&AppState>,
        auth: ApiKeyAuth,
        id: Path<String>,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        body: JsonBody<CancelRequest>,
    ) -> Result<CancelPaymentResponse, Errors<CancelErrors>> {
        let key = sent_idempotency_key(idempotency_key, req);
        let storefront = auth.storefront(&state).await?;
        let body = body.parse()?;
        let route = format!("POST /v1/payments/{}/cancel", id.0);
        let (payment, status, replayed) = idempotent(
            &state,
            &storefront,
            key,
            &route,
            fingerprint(&body),
            async {
                let cancel = NewCancel::parse(&body)?;
                let result = state.checkout.cancel(&storefront, &id.0, cancel).await?;
                let (row, status) = match result {
                    CancelResult::Done(row) => (row, 200),
                    CancelResult::Pending(row) => (row, 202),
                };
                let events = state.store.payment_events(&row.id).await?;
                Ok((Payment::from_row(&row, &events, None), status))
            },
        )
        .await?;
        let replayed = replayed.then_some(true);
        Ok(if status == 202 {
            CancelPaymentResponse::Pending(Json(payment), replayed)
        } else {
            CancelPaymentResponse::Cancelled(Json(payment), replayed)
        })
    }
}
