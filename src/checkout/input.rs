//! Parsing of storefront input into domain values, field by field, each with its own error code, so a
//! storefront developer sees exactly which field is wrong and why.

use time::Duration;
use url::Url;

use super::CheckoutError;
use super::api::{CancelRequest, CreateCheckoutRequest};
use time::OffsetDateTime;

use crate::domain::{
    Amount, BankCode, CashReceipt, CashReceiptPurpose, Currency, OrderId, PayMethod, PayMethods,
    Price, app_url, is_bidi_control, is_invisible, web_url,
};

/// Smallest total paydesk accepts; Korean card payments below 100 won are refused by card companies.
pub const MIN_TOTAL_WON: i64 = 100;
/// Largest total accepted through the API (1 billion won); larger orders are almost surely mistakes.
pub const MAX_TOTAL_WON: i64 = 1_000_000_000;
/// Smallest USD checkout, 1.00 USD in cents (paydesk's choice; Innopay's is unknown).
pub const MIN_TOTAL_US_CENTS: i64 = 100;
/// Largest USD checkout, 100,000.00 USD in cents (`UsCent::MAX`).
pub const MAX_TOTAL_US_CENTS: i64 = <crate::domain::UsCent as crate::domain::Unit>::MAX;
pub const DEFAULT_EXPIRY: Duration = Duration::minutes(30);
const MIN_EXPIRY_SECS: i64 = 60;
const MAX_EXPIRY_SECS: i64 = 7 * 24 * 3600;
/// A virtual account's deposit deadline: three days unless asked, from one hour to 30 days.
pub const DEFAULT_DEPOSIT_DUE: Duration = Duration::hours(72);
const MIN_DEPOSIT_DUE_HOURS: i64 = 1;
const MAX_DEPOSIT_DUE_HOURS: i64 = 30 * 24;
/// How long before the deposit deadline a VBANK checkout's window closes at the latest.
const WINDOW_BEFORE_DEADLINE: Duration = Duration::minutes(30);

/// A validated checkout request.
#[derive(Debug, Clone)]
pub struct NewCheckout {
    pub order_id: Option<OrderId>,
    pub goods_name: String,
    /// The taxable part in the checkout's currency and its unit (won, US cents).
    pub amount: Price,
    /// Won only: no method that takes another currency has a tax-free part, so a USD checkout's is
    /// zero.
    pub tax_free_amount: Amount,
    /// The method, or the first of those offered.
    pub pay_method: PayMethod,
    /// The methods the shopper chooses from, when the checkout offers several.
    pub offered: Option<PayMethods>,
    /// The field that named the methods (`payMethod` or `payMethods`), for errors about them.
    pub methods_param: &'static str,
    pub buyer_name: String,
    pub buyer_tel: String,
    pub buyer_email: String,
    pub success_url: Option<Url>,
    pub fail_url: Option<Url>,
    pub mall_reserved: Option<String>,
    pub app_scheme: Option<Url>,
    pub expires_in: Duration,
    /// `VBANK`: until when the shopper may deposit.
    pub deposit_due_at: Option<OffsetDateTime>,
    pub cash_receipt: Option<CashReceipt>,
}

/// Where a refund of a bank payment goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundAccount {
    pub bank_code: BankCode,
    /// Digits only.
    pub account_number: String,
    pub holder_name: String,
}

/// A validated cancel request.
#[derive(Debug, Clone)]
pub struct NewCancel {
    /// `None` cancels whatever remains. Like `expected_remaining`, a count of the payment's own
    /// currency unit (won, US cents): the service types both once it has read the payment.
    pub amount: Option<i64>,
    pub reason: String,
    pub expected_remaining: Option<i64>,
    pub refund_account: Option<RefundAccount>,
}

fn text(
    value: &str,
    max_chars: usize,
    code: &'static str,
    field: &'static str,
    what: &str,
) -> Result<String, CheckoutError> {
    let trimmed = value.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > max_chars {
        return Err(CheckoutError::invalid(
            code,
            field,
            format!("{field} must be {what}: 1 to {max_chars} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(CheckoutError::invalid(
            code,
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    if trimmed.chars().any(is_bidi_control) {
        return Err(CheckoutError::invalid(
            code,
            field,
            format!(
                "{field} must not contain bidirectional override characters (U+202A to U+202E, \
                 U+2066 to U+2069): they make the text read differently than it is stored"
            ),
        ));
    }
    if trimmed.chars().all(is_invisible) {
        return Err(CheckoutError::invalid(
            code,
            field,
            format!("{field} must contain visible characters, not only blank or zero-width ones"),
        ));
    }
    Ok(trimmed.to_string())
}

fn to_amount(won: i64, code: &'static str, field: &'static str) -> Result<Amount, CheckoutError> {
    Amount::new(won)
        .map_err(|e| CheckoutError::invalid(code, field, format!("{field}: expected {e}")))
}

fn redirect_url(
    value: Option<&str>,
    code: &'static str,
    field: &'static str,
) -> Result<Option<Url>, CheckoutError> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    web_url(value, 2000)
        .map(Some)
        .map_err(|e| CheckoutError::invalid(code, field, format!("{field} must be {e}")))
}

/// Korean phone numbers as Innopay wants them: digits only. Hyphens and spaces are dropped.
fn phone(value: &str) -> Result<String, CheckoutError> {
    let digits: String = value.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    if (9..=12).contains(&digits.len())
        && digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        Ok(digits)
    } else {
        Err(CheckoutError::invalid(
            "invalid_buyer_tel",
            "buyer.tel",
            "buyer.tel must be a Korean phone number of 9 to 12 digits starting with 0, e.g. 01012345678",
        ))
    }
}

fn email(value: &str) -> Result<String, CheckoutError> {
    let value = value.trim();
    let valid = value.len() <= 100
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(value.to_string())
    } else {
        Err(CheckoutError::invalid(
            "invalid_buyer_email",
            "buyer.email",
            "buyer.email must be an e-mail address of at most 100 characters",
        ))
    }
}

impl NewCheckout {
    /// Checks a create request; `now` is when it arrived (deadlines are judged against it).
    pub fn parse(req: &CreateCheckoutRequest, now: OffsetDateTime) -> Result<Self, CheckoutError> {
        let order_id = match req.order_id.as_deref() {
            None => None,
            Some(raw) => Some(raw.parse::<OrderId>().map_err(|e| {
                CheckoutError::invalid(
                    "invalid_order_id",
                    "orderId",
                    format!("orderId: expected {e}"),
                )
            })?),
        };
        let goods_name = text(
            &req.goods_name,
            100,
            "invalid_goods_name",
            "goodsName",
            "the product name shoppers see",
        )?;
        let currency = req.currency.map_or(Currency::Krw, Currency::from);
        let amount = Price::new(currency, req.amount).map_err(|e| {
            CheckoutError::invalid("invalid_amount", "amount", format!("amount: expected {e}"))
        })?;
        let (unit, min, max) = match currency {
            Currency::Krw => ("won", MIN_TOTAL_WON, MAX_TOTAL_WON),
            Currency::Usd => ("US cents", MIN_TOTAL_US_CENTS, MAX_TOTAL_US_CENTS),
        };
        if amount.minor() == 0 {
            return Err(CheckoutError::invalid(
                "invalid_amount",
                "amount",
                format!(
                    "amount (Innopay amt, the taxable part) must be at least 1 {unit}: the payment \
                     window refuses amt 0, so such a checkout could never be paid"
                ),
            ));
        }
        let tax_free_amount = amount_or_zero(req.tax_free_amount)?;
        let total = amount.minor() + tax_free_amount.won();
        if !(min..=max).contains(&total) {
            return Err(CheckoutError::invalid(
                "invalid_amount",
                "amount",
                format!(
                    "amount + taxFreeAmount must be between {min} and {max} {unit}, got {total}"
                ),
            ));
        }
        let (methods, methods_param) = match (req.pay_method, &req.pay_methods) {
            (Some(_), Some(_)) => {
                return Err(CheckoutError::invalid(
                    "invalid_pay_methods",
                    "payMethods",
                    "give payMethod or payMethods, not both",
                ));
            }
            (None, Some(list)) => (
                PayMethods::new(list.iter().copied().map(PayMethod::from)).ok_or_else(|| {
                    CheckoutError::invalid(
                        "invalid_pay_methods",
                        "payMethods",
                        "payMethods must name at least one method",
                    )
                })?,
                "payMethods",
            ),
            (one, None) => (
                PayMethods::new([one.map_or(PayMethod::Card, PayMethod::from)])
                    .expect("one method"),
                "payMethod",
            ),
        };
        let enabled: Vec<&str> = PayMethod::ALL
            .into_iter()
            .filter(|m| m.rules().enabled)
            .map(PayMethod::code)
            .collect();
        if let Some(off) = methods.iter().find(|m| !m.rules().enabled) {
            return Err(CheckoutError::invalid(
                "unsupported_pay_method",
                methods_param,
                format!(
                    "payMethod {off} is not enabled yet; supported: {}",
                    enabled.join(", ")
                ),
            ));
        }
        // Every method offered must take what the checkout asks: the shopper may choose any.
        for method in methods.iter() {
            let rules = method.rules();
            if tax_free_amount > Amount::ZERO && !rules.tax_free_part {
                return Err(CheckoutError::invalid(
                    "tax_free_not_allowed",
                    "taxFreeAmount",
                    format!("a {method} payment has no tax-free part: omit taxFreeAmount"),
                ));
            }
            if !rules.currencies.contains(&currency) {
                let taken: Vec<&str> = rules.currencies.iter().map(|c| c.code()).collect();
                return Err(CheckoutError::invalid(
                    "currency_not_allowed",
                    "currency",
                    format!(
                        "a {method} payment is not made in {currency}; it takes {}",
                        taken.join(", ")
                    ),
                ));
            }
        }
        let pay_method = methods.first();
        let paid_later = methods.iter().find(|m| m.rules().paid_later);
        let deposit_due_at = deposit_due(req, paid_later.unwrap_or(pay_method), now)?;
        let cash_receipt = match &req.cash_receipt {
            None => None,
            Some(_) if paid_later.is_none() => {
                return Err(CheckoutError::invalid(
                    "invalid_cash_receipt",
                    "cashReceipt",
                    format!(
                        "cashReceipt is for VBANK payments; a {pay_method} payment's receipt comes \
                         from its card company or bank"
                    ),
                ));
            }
            Some(asked) => Some(cash_receipt(asked.purpose.into(), &asked.identifier)?),
        };
        let buyer_name = text(
            &req.buyer.name,
            30,
            "invalid_buyer_name",
            "buyer.name",
            "the buyer's name",
        )?;
        let buyer_tel = phone(&req.buyer.tel)?;
        let buyer_email = email(&req.buyer.email)?;
        let success_url = redirect_url(
            req.success_url.as_deref(),
            "invalid_success_url",
            "successUrl",
        )?;
        let fail_url = redirect_url(req.fail_url.as_deref(), "invalid_fail_url", "failUrl")?;
        let mall_reserved = match req.mall_reserved.as_deref() {
            None | Some("") => None,
            Some(value) => {
                if value.chars().count() > 200 || value.chars().any(char::is_control) {
                    return Err(CheckoutError::invalid(
                        "invalid_mall_reserved",
                        "mallReserved",
                        "mallReserved must be at most 200 characters without control characters",
                    ));
                }
                Some(value.to_string())
            }
        };
        let app_scheme = match req.app_scheme.as_deref().filter(|v| !v.is_empty()) {
            None => None,
            Some(raw) => Some(app_url(raw, 200).map_err(|e| {
                CheckoutError::invalid(
                    "invalid_app_scheme",
                    "appScheme",
                    format!("appScheme must be {e}"),
                )
            })?),
        };
        let expires_in = match req.expires_in_seconds {
            None => DEFAULT_EXPIRY,
            Some(secs) if (MIN_EXPIRY_SECS..=MAX_EXPIRY_SECS).contains(&secs) => {
                Duration::seconds(secs)
            }
            Some(_) => {
                return Err(CheckoutError::invalid(
                    "invalid_expires_in_seconds",
                    "expiresInSeconds",
                    format!(
                        "expiresInSeconds must be between {MIN_EXPIRY_SECS} and {MAX_EXPIRY_SECS}"
                    ),
                ));
            }
        };
        // The window must close before the deposit deadline: an account issued after it would
        // be due already. It closes half an hour before at the latest (the deadline is at least an
        // hour away).
        let expires_in = match deposit_due_at {
            Some(due) => expires_in.min(due - now - WINDOW_BEFORE_DEADLINE),
            None => expires_in,
        };
        Ok(Self {
            order_id,
            goods_name,
            amount,
            tax_free_amount,
            pay_method,
            offered: (methods.len() > 1).then_some(methods),
            methods_param,
            buyer_name,
            buyer_tel,
            buyer_email,
            success_url,
            fail_url,
            mall_reserved,
            app_scheme,
            expires_in,
            deposit_due_at,
            cash_receipt,
        })
    }
}

/// The deposit deadline of a `VBANK` checkout, from `depositDueAt` or `depositDueInHours`.
fn deposit_due(
    req: &CreateCheckoutRequest,
    method: PayMethod,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, CheckoutError> {
    let invalid =
        |field, message: String| CheckoutError::invalid("invalid_deposit_due", field, message);
    let hours = || format!("{MIN_DEPOSIT_DUE_HOURS} hour to {MAX_DEPOSIT_DUE_HOURS} hours");
    if !method.rules().paid_later {
        return match (req.deposit_due_at, req.deposit_due_in_hours) {
            (None, None) => Ok(None),
            (Some(_), _) => Err(invalid(
                "depositDueAt",
                format!("depositDueAt is for VBANK payments, not {method}"),
            )),
            (None, Some(_)) => Err(invalid(
                "depositDueInHours",
                format!("depositDueInHours is for VBANK payments, not {method}"),
            )),
        };
    }
    let due = match (req.deposit_due_at, req.deposit_due_in_hours) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "depositDueAt",
                "give depositDueAt or depositDueInHours, not both".into(),
            ));
        }
        (None, None) => now + DEFAULT_DEPOSIT_DUE,
        (None, Some(h)) if (MIN_DEPOSIT_DUE_HOURS..=MAX_DEPOSIT_DUE_HOURS).contains(&h) => {
            now + Duration::hours(h)
        }
        (None, Some(_)) => {
            return Err(invalid(
                "depositDueInHours",
                format!("depositDueInHours must be {}", hours()),
            ));
        }
        (Some(at), None) => {
            let ahead = at - now;
            if ahead < Duration::hours(MIN_DEPOSIT_DUE_HOURS)
                || ahead > Duration::hours(MAX_DEPOSIT_DUE_HOURS)
            {
                return Err(invalid(
                    "depositDueAt",
                    format!("depositDueAt must be {} from now", hours()),
                ));
            }
            // In UTC, as times are stored: SQLite compares them as text.
            at.to_offset(time::UtcOffset::UTC)
        }
    };
    // Innopay takes the deadline to the second (vBankExpTime).
    Ok(Some(due.replace_nanosecond(0).unwrap_or(due)))
}

/// A cash receipt's identifier: a phone number for income deduction, a business registration
/// number for expense proof; hyphens and spaces are dropped.
fn cash_receipt(purpose: CashReceiptPurpose, raw: &str) -> Result<CashReceipt, CheckoutError> {
    let digits: String = raw.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let valid = all_digits
        && match purpose {
            CashReceiptPurpose::IncomeDeduction => {
                (10..=11).contains(&digits.len()) && digits.starts_with("01")
            }
            CashReceiptPurpose::ExpenseProof => digits.len() == 10,
        };
    if !valid {
        return Err(CheckoutError::invalid(
            "invalid_cash_receipt",
            "cashReceipt.identifier",
            match purpose {
                CashReceiptPurpose::IncomeDeduction => {
                    "cashReceipt.identifier must be a mobile phone number of 10 or 11 digits \
                     starting with 01 for income_deduction"
                }
                CashReceiptPurpose::ExpenseProof => {
                    "cashReceipt.identifier must be a 10-digit business registration number for \
                     expense_proof"
                }
            },
        ));
    }
    Ok(CashReceipt {
        purpose,
        identifier: digits,
        issued: None,
    })
}

fn refund_account(req: &super::api::RefundAccountRequest) -> Result<RefundAccount, CheckoutError> {
    let bank_code = req.bank_code.parse::<BankCode>().map_err(|e| {
        CheckoutError::invalid(
            "invalid_refund_account",
            "refundAccount.bankCode",
            format!("refundAccount.bankCode must be {e}"),
        )
    })?;
    let account_number: String = req
        .account_number
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .collect();
    if !(10..=16).contains(&account_number.len())
        || !account_number.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(CheckoutError::invalid(
            "invalid_refund_account",
            "refundAccount.accountNumber",
            "refundAccount.accountNumber must be 10 to 16 digits (hyphens are removed)",
        ));
    }
    let holder_name = text(
        &req.holder_name,
        30,
        "invalid_refund_account",
        "refundAccount.holderName",
        "the account holder's name as the bank has it",
    )?;
    Ok(RefundAccount {
        bank_code,
        account_number,
        holder_name,
    })
}

fn amount_or_zero(value: Option<i64>) -> Result<Amount, CheckoutError> {
    value.map_or(Ok(Amount::ZERO), |won| {
        to_amount(won, "invalid_tax_free_amount", "taxFreeAmount")
    })
}

impl NewCancel {
    pub fn parse(req: &CancelRequest) -> Result<Self, CheckoutError> {
        let amount = match req.amount {
            None => None,
            Some(units) if units >= 1 => Some(units),
            Some(_) => {
                return Err(CheckoutError::invalid(
                    "invalid_cancel_amount",
                    "amount",
                    "amount must be at least 1 won, or 1 cent of a USD payment (omit it to cancel \
                     everything that remains)",
                ));
            }
        };
        let reason = text(
            &req.reason,
            100,
            "invalid_cancel_reason",
            "reason",
            "why the payment is cancelled",
        )?;
        let expected_remaining = match req.expected_remaining_amount {
            None => None,
            Some(units) if units >= 0 => Some(units),
            Some(units) => {
                return Err(CheckoutError::invalid(
                    "invalid_expected_remaining_amount",
                    "expectedRemainingAmount",
                    format!("expectedRemainingAmount: expected 0 or more, got {units}"),
                ));
            }
        };
        let refund_account = req
            .refund_account
            .as_ref()
            .map(refund_account)
            .transpose()?;
        Ok(Self {
            amount,
            reason,
            expected_remaining,
            refund_account,
        })
    }
}
