//! The typed Innopay client: approval, cancel and the two inquiries, each ending in one `Outcome` the
//! caller must handle. The one rule that matters most here: an answer that may have reached Innopay but
//! did not come back readable is `Unknown`, never `Declined`, because money may have moved. Merchant
//! keys, cancel passwords and payment tokens travel only in requests; they never reach a log line or an
//! outcome's text.

mod answer;

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use url::Url;

use crate::config::{ExposeSecret, InnopayConfig, SecretString};
use crate::domain::{Amount, BankCode, Currency, Mid, OrderId, PayMethod, Price, Tid};

pub use answer::{Approval, Cancellation, CardInfo, CashReceiptInfo, VirtualAccountInfo};
use answer::{CancelAnswer, refusal};
/// Lenient readers of Innopay's JSON, shared with the sandbox, which reads requests the same way.
pub(crate) use answer::{amount as amount_field, text as text_field};

/// One merchant's credentials at Innopay.
#[derive(Clone, Debug)]
pub struct Merchant {
    pub mid: Mid,
    /// Sent as the `Merchant-Key` header of approvals and inquiries.
    pub merchant_key: SecretString,
    /// `cancelPwd` of cancels, set in Innopay's merchant admin (not the Merchant-Key).
    pub cancel_password: SecretString,
}

/// What the browser brought back from the payment window, to be approved server-side.
#[derive(Clone, Debug)]
pub struct ApprovalRequest {
    pub tid: Tid,
    pub moid: OrderId,
    /// The taxable part, in the payment's currency and its unit (won, US cents); the shopper pays
    /// `amt + tax_free_amt`.
    pub amt: Price,
    /// Won: only KRW payments have a tax-free part.
    pub tax_free_amt: Amount,
    pub payment_token: SecretString,
}

/// A full or partial cancel of an approved payment.
#[derive(Clone, Debug)]
pub struct CancelRequest {
    pub tid: Tid,
    /// Sent as `svcCd`.
    pub pay_method: PayMethod,
    pub partial: bool,
    /// In the payment's currency and its unit.
    pub cancel_amt: Price,
    pub cancel_msg: String,
    /// For payments paid from a bank account: where the money goes back.
    pub refund: Option<RefundTo>,
}

/// A bank account a refund goes to (`refundBankCd`, `refundAcctNo`, `refundAcctNm`).
#[derive(Clone, Debug)]
pub struct RefundTo {
    pub bank_code: BankCode,
    pub account_number: String,
    pub holder_name: String,
}

/// Closing a virtual account nobody paid into (legacy `vbankCancel`, B).
#[derive(Clone, Debug)]
pub struct CloseAccountRequest {
    pub tid: Tid,
    pub moid: OrderId,
    /// The amount the account was issued for.
    pub amt: Amount,
    pub bank_code: BankCode,
    pub account_number: String,
}

/// Result codes of `vbankCancel` that mean the account is closed (4100 per one integration, B;
/// 0000 is Innopay's generic success).
const CLOSE_SUCCESS_CODES: [&str; 2] = ["4100", "0000"];

/// How a call to Innopay ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome<T> {
    /// Innopay did it (approved, cancelled, or found the transaction).
    Done(T),
    /// Innopay said no; its code and message are kept verbatim. For an inquiry this means Innopay
    /// does not know the transaction (or order) as approved.
    Declined { code: String, message: String },
    /// The request may have reached Innopay and its effect is not known: read timeout, connection
    /// lost after sending, 5XX, an unreadable answer, or an answer that does not match the request.
    /// Resolve by inquiry; never treat as declined.
    Unknown { reason: String },
    /// The request certainly did not reach Innopay: connection refused, DNS failure, connect timeout,
    /// invalid configuration. Safe to retry.
    NotSent { reason: String },
}

impl<T> Outcome<T> {
    /// A short word for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Done(_) => "done",
            Outcome::Declined { .. } => "declined",
            Outcome::Unknown { .. } => "unknown",
            Outcome::NotSent { .. } => "not_sent",
        }
    }
}

/// Why a call produced no answer to interpret; becomes `Unknown` or `NotSent`.
enum Failure {
    NotSent(String),
    Unknown(String),
}

impl<T> From<Failure> for Outcome<T> {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::NotSent(reason) => Outcome::NotSent { reason },
            Failure::Unknown(reason) => Outcome::Unknown { reason },
        }
    }
}

/// Where paydesk's Innopay API calls go: the configured URL, else this server's own sandbox.
pub fn api_base(config: &InnopayConfig, public_url: &str) -> Url {
    config.api_url.clone().unwrap_or_else(|| {
        Url::parse(&format!("{public_url}/sandbox")).expect("the public URL is an absolute URL")
    })
}

/// The payment window SDK shoppers' browsers load: the configured URL, else the sandbox's stand-in.
pub fn js_url(config: &InnopayConfig, public_url: &str) -> Url {
    config.js_url.clone().unwrap_or_else(|| {
        Url::parse(&format!("{public_url}/sandbox/tpay/js/innopay.js"))
            .expect("the public URL is an absolute URL")
    })
}

/// The Innopay API client. Cheap to clone (one connection pool).
#[derive(Clone, Debug)]
pub struct InnopayClient {
    /// `Err` holds why the HTTP client could not be built; every call then ends `NotSent`.
    http: Result<reqwest::Client, String>,
    /// Without trailing slash, e.g. `https://api.innopay.co.kr`.
    base: String,
}

impl InnopayClient {
    pub fn new(api_base: Url, connect_timeout: Duration, read_timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            // Bounds a trickling answer too: nothing waits longer than connect + read.
            .timeout(connect_timeout + read_timeout)
            // A redirect is not an answer; it must not be followed with the Merchant-Key.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("paydesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("invalid configuration of the Innopay client: {e}"));
        Self {
            http,
            base: api_base.as_str().trim_end_matches('/').to_string(),
        }
    }

    /// Built from the configuration; `public_url` locates the built-in sandbox.
    pub fn from_config(config: &InnopayConfig, public_url: &str) -> Self {
        Self::new(
            api_base(config, public_url),
            config.connect_timeout,
            config.read_timeout,
        )
    }

    /// The API base this client talks to.
    pub fn api_base(&self) -> &str {
        &self.base
    }

    /// Approves an authenticated payment (`POST /v1/transactions/pay`). An answer about another tid
    /// or MID is `Unknown` (it does not say what happened to ours). An answer about our tid with
    /// another amount, order or status is `Done`: Innopay did approve something for this tid, and the
    /// caller must compare it with its order and cancel what it cannot honour.
    pub async fn approve(&self, merchant: &Merchant, req: &ApprovalRequest) -> Outcome<Approval> {
        let body = json!({
            "tid": req.tid.as_str(),
            "mid": merchant.mid.as_str(),
            "moid": req.moid.as_str(),
            "amt": req.amt.minor(),
            "taxFreeAmt": req.tax_free_amt.won(),
        });
        let sent = self
            .send("/v1/transactions/pay", |http, url| {
                http.post(url)
                    .header("Payment-Token", req.payment_token.expose_secret())
                    .header("Merchant-Key", merchant.merchant_key.expose_secret())
                    .header(CONTENT_TYPE, "application/json; charset=UTF-8")
                    .body(body.to_string())
            })
            .await;
        let outcome = match sent {
            Err(failure) => failure.into(),
            Ok(answer) => read_v1(answer, req.amt.currency()).and_then(|approval| {
                approval_mismatch(&approval, merchant, req)
                    .map_or(Outcome::Done(approval), |reason| Outcome::Unknown {
                        reason,
                    })
            }),
        };
        log("approve", &merchant.mid, req.tid.as_str(), &outcome);
        outcome
    }

    /// Cancels all or part of a payment (`POST /api/cancelApi`).
    pub async fn cancel(&self, merchant: &Merchant, req: &CancelRequest) -> Outcome<Cancellation> {
        let mut body = json!({
            "mid": merchant.mid.as_str(),
            "tid": req.tid.as_str(),
            "svcCd": req.pay_method.service_code(),
            "partialCancelCode": if req.partial { "1" } else { "0" },
            "cancelAmt": req.cancel_amt.minor().to_string(),
            "cancelMsg": req.cancel_msg,
            "cancelPwd": merchant.cancel_password.expose_secret(),
        });
        if let Some(refund) = &req.refund {
            body["refundBankCd"] = json!(refund.bank_code.as_str());
            body["refundAcctNo"] = json!(refund.account_number);
            body["refundAcctNm"] = json!(refund.holder_name);
        }
        let sent = self
            .send("/api/cancelApi", |http, url| {
                http.post(url)
                    .header(CONTENT_TYPE, "application/json; charset=UTF-8")
                    .body(body.to_string())
            })
            .await;
        let outcome = match sent {
            Err(failure) => failure.into(),
            Ok(answer) => match Cancellation::from_answer(answer, req.cancel_amt) {
                Ok(CancelAnswer::Cancelled(cancellation)) => Outcome::Done(cancellation),
                Ok(CancelAnswer::Refused { code, message }) => Outcome::Declined { code, message },
                Err(why) => Outcome::Unknown {
                    reason: format!("unreadable cancel answer: {why}"),
                },
            },
        };
        log("cancel", &merchant.mid, req.tid.as_str(), &outcome);
        outcome
    }

    /// Closes an unpaid virtual account (`POST /api/vbankCancel`, form-encoded as Innopay's legacy
    /// APIs are). `Declined` carries Innopay's reason, e.g. that the account has a deposit.
    pub async fn close_virtual_account(
        &self,
        merchant: &Merchant,
        req: &CloseAccountRequest,
    ) -> Outcome<()> {
        let amt = req.amt.won().to_string();
        let form = [
            ("mid", merchant.mid.as_str()),
            ("licenseKey", merchant.merchant_key.expose_secret()),
            ("tid", req.tid.as_str()),
            ("moid", req.moid.as_str()),
            ("amt", &amt),
            ("vbankBankCode", req.bank_code.as_str()),
            ("vbankNum", &req.account_number),
        ];
        let body = serde_urlencoded::to_string(form).unwrap_or_default();
        let sent = self
            .send("/api/vbankCancel", |http, url| {
                http.post(url)
                    .header(
                        CONTENT_TYPE,
                        "application/x-www-form-urlencoded; charset=UTF-8",
                    )
                    .body(body)
            })
            .await;
        let outcome = match sent {
            Err(failure) => failure.into(),
            Ok(answer) => match refusal(&answer) {
                Some((code, _)) if CLOSE_SUCCESS_CODES.contains(&code.as_str()) => {
                    Outcome::Done(())
                }
                Some((code, message)) => Outcome::Declined { code, message },
                None => Outcome::Unknown {
                    reason: "unreadable vbankCancel answer: no resultCode".into(),
                },
            },
        };
        log("close_account", &merchant.mid, req.tid.as_str(), &outcome);
        outcome
    }

    /// Looks a transaction up by tid (`GET /v1/transactions/{tid}`); `currency` is the payment's,
    /// for an answer that names none. `Declined` means Innopay does not have it.
    pub async fn transaction(
        &self,
        merchant: &Merchant,
        tid: &Tid,
        currency: Currency,
    ) -> Outcome<Approval> {
        let path = format!("/v1/transactions/{tid}");
        self.inquire(merchant, &path, "tid", tid.as_str(), currency, |a| &a.tid)
            .await
    }

    /// Looks the approved transaction of an order up (`GET /v1/transactions/orders/{moid}`).
    /// `Declined` means Innopay has no approval for that order.
    pub async fn transaction_by_order(
        &self,
        merchant: &Merchant,
        moid: &OrderId,
        currency: Currency,
    ) -> Outcome<Approval> {
        let path = format!("/v1/transactions/orders/{moid}");
        self.inquire(merchant, &path, "order", moid.as_str(), currency, |a| {
            &a.moid
        })
        .await
    }

    /// An inquiry by `what` (tid or order) = `key`; an answer about another one is unknown.
    async fn inquire(
        &self,
        merchant: &Merchant,
        path: &str,
        what: &str,
        key: &str,
        currency: Currency,
        answered: fn(&Approval) -> &str,
    ) -> Outcome<Approval> {
        let sent = self
            .send(path, |http, url| {
                http.get(url)
                    .header("MID", merchant.mid.as_str())
                    .header("Merchant-Key", merchant.merchant_key.expose_secret())
            })
            .await;
        let outcome = match sent {
            Err(failure) => failure.into(),
            Ok(answer) => read_v1(answer, currency),
        }
        .and_then(|approval| {
            if answered(&approval) == key {
                Outcome::Done(approval)
            } else {
                Outcome::Unknown {
                    reason: format!(
                        "inquiry for {what} {key} answered {what} {}",
                        answered(&approval)
                    ),
                }
            }
        });
        log(&format!("inquire_{what}"), &merchant.mid, key, &outcome);
        outcome
    }

    fn url(&self, path: &str) -> Result<Url, Failure> {
        Url::parse(&format!("{}{path}", self.base)).map_err(|e| {
            Failure::NotSent(format!("invalid Innopay API URL {}{path}: {e}", self.base))
        })
    }

    /// Builds the request for `path`, sends it and reads a JSON answer. Only a failure before the
    /// request left (configuration, connect, DNS) is `NotSent`; everything after is `Unknown`.
    async fn send(
        &self,
        path: &str,
        build: impl FnOnce(&reqwest::Client, Url) -> reqwest::RequestBuilder,
    ) -> Result<Value, Failure> {
        let url = self.url(path)?;
        let http = self
            .http
            .as_ref()
            .map_err(|why| Failure::NotSent(why.clone()))?;
        let request = build(http, url);
        let response = request.send().await.map_err(|e| {
            if e.is_builder() || e.is_connect() {
                Failure::NotSent(format!("could not reach Innopay: {}", describe(&e)))
            } else {
                Failure::Unknown(format!("no answer from Innopay: {}", describe(&e)))
            }
        })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| Failure::Unknown(format!("answer cut off: {}", describe(&e))))?;
        if status.is_server_error() {
            return Err(Failure::Unknown(format!(
                "Innopay answered HTTP {}",
                status.as_u16()
            )));
        }
        serde_json::from_slice(&body).map_err(|_| {
            let start: String = String::from_utf8_lossy(&body).chars().take(120).collect();
            Failure::Unknown(format!(
                "unreadable answer (HTTP {}): {start:?}",
                status.as_u16()
            ))
        })
    }
}

impl<T> Outcome<T> {
    /// The same outcome with what `Done` carries turned into something else.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        self.and_then(|value| Outcome::Done(f(value)))
    }

    fn and_then<U>(self, next: impl FnOnce(T) -> Outcome<U>) -> Outcome<U> {
        match self {
            Outcome::Done(value) => next(value),
            Outcome::Declined { code, message } => Outcome::Declined { code, message },
            Outcome::Unknown { reason } => Outcome::Unknown { reason },
            Outcome::NotSent { reason } => Outcome::NotSent { reason },
        }
    }
}

/// Interprets a v1 answer (`{"success", "data" | "error"}`), whatever its 2XX–4XX status: Innopay's
/// failure statuses are undocumented, so the body decides. `success: false` without a code is unknown.
fn read_v1(answer: Value, currency: Currency) -> Outcome<Approval> {
    match answer.get("success").and_then(Value::as_bool) {
        Some(true) => Approval::from_answer(answer, currency).map_or_else(
            |why| Outcome::Unknown {
                reason: format!("unreadable approval answer: {why}"),
            },
            Outcome::Done,
        ),
        Some(false) => match refusal(&answer) {
            Some((code, message)) => Outcome::Declined { code, message },
            None => Outcome::Unknown {
                reason: "Innopay answered success=false without an error code".into(),
            },
        },
        None => Outcome::Unknown {
            reason: "the answer has no `success` flag".into(),
        },
    }
}

/// Why an approval answer is not about the transaction asked for, if it is not.
fn approval_mismatch(a: &Approval, merchant: &Merchant, req: &ApprovalRequest) -> Option<String> {
    let checks = [
        ("tid", req.tid.as_str().to_string(), a.tid.clone()),
        ("mid", merchant.mid.as_str().to_string(), a.mid.clone()),
    ];
    checks
        .into_iter()
        .find(|(_, asked, answered)| asked != answered)
        .map(|(field, asked, answered)| {
            format!("approval answer differs from the request: {field} {asked} asked, {answered} answered")
        })
}

/// The error and its causes on one line ("error sending request: connection refused"). Webhook
/// deliveries describe their failures the same way.
pub(crate) fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// One line per call; `subject` is the tid (or the order, for inquiries by order).
fn log<T>(call: &str, mid: &Mid, subject: &str, outcome: &Outcome<T>) {
    match outcome {
        Outcome::Done(_) => tracing::info!(call, %mid, subject, outcome = "done", "innopay call"),
        Outcome::Declined { code, message } => {
            tracing::info!(call, %mid, subject, outcome = "declined", code, message, "innopay call")
        }
        Outcome::Unknown { reason } | Outcome::NotSent { reason } => {
            tracing::warn!(call, %mid, subject, outcome = outcome.label(), reason, "innopay call")
        }
    }
}
