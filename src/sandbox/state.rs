//! What the sandbox remembers, in memory, and the rules of Innopay it enforces on it: merchants and
//! their keys, payment-window authentications (tokens), approved transactions with their cancels
//! (virtual accounts with their deposits, cash receipt, closing and refunds), the call log and the
//! Noti log. Everything here is synchronous and runs under one lock; HTTP, delays and
//! Noti delivery live in the callers. Every store is bounded (the `MAX_*` numbers, in
//! `docs/SANDBOX.md`): whoever can reach the window can add to them, so the least recently used
//! entry is forgotten once a store is full.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::{format_description, offset};

use crate::domain::{
    Amount, Bank, BankCode, CardCompany, ISP_CERTIFICATE_THRESHOLD, PayMethod, Price, Wallet,
    mask_digits,
};
use crate::gateway::{amount_field, text_field};

use super::faults::Faults;
use super::params::{CashReceiptRequest, PayParams};

/// The always-present test merchant.
pub const TEST_MID: &str = "testpay01m";
/// The name merchants' virtual accounts are held in unless the control API names another.
pub const DEFAULT_DISPLAY_NAME: &str = "이노페이테스트";

/// Window authentications kept for their approval; the oldest token is forgotten (then `A002`).
pub const MAX_AUTHENTICATIONS: usize = 1_000;
/// Approved transactions kept for cancels, inquiries and receipts.
pub const MAX_TRANSACTIONS: usize = 5_000;
/// Lines of the call log (`GET /_control/calls`).
pub const MAX_CALLS: usize = 1_000;
/// Noti kept in the Noti log (`GET /_control/notis`); a forgotten one is no longer resent.
pub const MAX_NOTIS: usize = 500;
/// Characters kept of a merchant's answer to a Noti, of a call log value, and of a cancel message.
pub const MAX_ANSWER_CHARS: usize = 200;
pub const MAX_CANCEL_MSG_CHARS: usize = 100;

/// At most `max` characters of `s`.
pub fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// How the sandbox behaves where Innopay's behaviour is not documented (graded B or C).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// HTTP status of every v1 refusal; when absent each refusal has its own (400, 401, 404, 409).
    pub error_status: Option<u16>,
    /// How long a payment token may wait for its approval.
    pub token_ttl_secs: u64,
    /// Delay before the second Noti attempt; it doubles after each failed attempt (at most 60 s).
    pub noti_backoff_ms: u64,
    /// Attempts per Noti before the sandbox gives up.
    pub noti_max_attempts: u32,
    /// Whether `cancelApi` refunds deposited virtual accounts; one merchant UI says Innopay only
    /// does it in the merchant admin (C).
    pub vbank_refund_by_api: bool,
    /// Whether `cancelApi` takes partial cancels of easy-pay payments; reported unsupported (C).
    pub epay_partial_cancel: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            error_status: None,
            token_ttl_secs: 600,
            noti_backoff_ms: 1_000,
            noti_max_attempts: 8,
            vbank_refund_by_api: true,
            epay_partial_cancel: false,
        }
    }
}

/// A merchant the sandbox knows. Not `Debug`: its key and password must not reach a log line.
#[derive(Clone)]
pub struct MerchantAccount {
    pub merchant_key: String,
    pub cancel_password: String,
    /// The name virtual accounts are held in (`accountHolder`).
    pub display_name: String,
    /// Where this merchant's Noti go; the sandbox default when absent.
    pub noti_url: Option<String>,
    /// Where the window may send this merchant's shoppers back to, besides the sandbox's own
    /// origins (registered through the control API).
    pub return_origins: Vec<url::Origin>,
}

/// A refusal of a v1 call: `{"success": false, "error": {code, message}}` with an HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: String,
    pub message: String,
}

fn refuse(status: u16, code: &str, message: &str) -> Refusal {
    Refusal {
        status,
        code: code.to_string(),
        message: message.to_string(),
    }
}

/// How the shopper pays, as the window authenticated it.
#[derive(Clone)]
pub enum Instrument {
    Card {
        card: &'static CardCompany,
        quota: String,
    },
    /// A virtual account at `bank`, to be paid in by `depositor` (the window's 입금자명).
    Vbank {
        bank: &'static Bank,
        depositor: String,
    },
    /// A transfer from the shopper's account at `bank` (BANK, EBANK).
    Bank { bank: &'static Bank },
    /// An easy-pay wallet (EPAY).
    Epay { wallet: Wallet },
}

/// An authentication the window completed; its token may be approved once.
struct Authentication {
    tid: String,
    params: PayParams,
    instrument: Instrument,
    issued: Instant,
    used: bool,
}

/// What an approval produced besides the common fields.
enum Paid {
    Card {
        card: &'static CardCompany,
        quota: String,
        card_num: String,
        auth_num: String,
    },
    Vbank(VirtualAccount),
    Bank {
        bank: &'static Bank,
        /// Masked, as the approval shows it.
        account_num: String,
        auth_num: String,
    },
    Epay {
        wallet: Wallet,
        auth_num: String,
    },
}

/// An issued virtual account: no money until deposits arrive (`POST /_control/deposits`).
struct VirtualAccount {
    bank: &'static Bank,
    number: String,
    holder: String,
    due: OffsetDateTime,
    /// The window's 입금자명, the default depositor of a deposit.
    depositor: String,
    receipt: Option<CashReceiptRequest>,
    /// Every deposit so far, summed: the state is bounded however often a test deposits.
    deposited: Amount,
    first_deposit: Option<(OffsetDateTime, String)>,
    /// The cash receipt's own tid and time, issued with the first deposit.
    receipt_issued: Option<(String, OffsetDateTime)>,
    closed_at: Option<OffsetDateTime>,
}

/// An approved payment (for VBANK: an issued account).
struct Transaction {
    tid: String,
    params: PayParams,
    paid: Paid,
    approved_at: OffsetDateTime,
    /// In the transaction's currency, like every amount of it.
    cancelled: Price,
}

/// `supplyAmt` and `vat` of a cash receipt for `deposited` won of which `tax_free` is tax-free:
/// VAT is a tenth of the taxable supply, so the taxable part includes 1/11 VAT (rounded).
pub fn receipt_split(deposited: Amount, tax_free: Amount) -> (i64, i64) {
    let taxable = (deposited.won() - tax_free.won()).max(0);
    let vat = (taxable + 5) / 11;
    (deposited.won() - vat, vat)
}

impl Transaction {
    fn total(&self) -> Price {
        self.params.total()
    }

    /// What the shopper has paid: a card's total at once, a virtual account's deposits (won).
    fn paid_amount(&self) -> Price {
        match &self.paid {
            Paid::Vbank(account) => Price::Krw(account.deposited),
            Paid::Card { .. } | Paid::Bank { .. } | Paid::Epay { .. } => self.total(),
        }
    }

    fn remaining(&self) -> Price {
        self.paid_amount()
            .checked_sub(self.cancelled)
            .expect("cancels never exceed what was paid, in its currency")
    }

    /// The tid of the cash receipt a deposit issued, if any.
    fn receipt_tid(&self) -> Option<&str> {
        match &self.paid {
            Paid::Vbank(account) => account.receipt_issued.as_ref().map(|(tid, _)| tid.as_str()),
            Paid::Card { .. } | Paid::Bank { .. } | Paid::Epay { .. } => None,
        }
    }

    /// Inquiry `status`: `1` once cancelled or refunded in full, or closed unpaid.
    fn status(&self) -> u8 {
        match &self.paid {
            Paid::Vbank(account) if account.closed_at.is_some() => 1,
            Paid::Vbank(account) if account.deposited == Amount::ZERO => 0,
            _ => u8::from(self.remaining().minor() == 0),
        }
    }

    /// The approval answer's `data` (the seed's shape; VBANK: `virtualAccount` instead of `card`).
    /// Inquiries add the payment's state.
    fn data(&self, base_url: &str) -> Value {
        let p = &self.params;
        let mut data = json!({
            "mid": p.mid.as_str(),
            "tid": self.tid,
            "moid": p.moid.as_str(),
            "aid": format!("{}a", &p.mid.as_str()[..9]),
            "gid": "GID000001g",
            "payMethod": p.pay_method.code(),
            "amt": p.amt.minor(),
            "taxFreeAmt": p.tax_free_amt.won(),
            "status": 0,
            "approvedAt": self.approved_at.format(APPROVED_AT).expect("formats"),
            "etc": {
                "mallUserId": p.mall_user_id,
                "userId": p.mall_user_id,
                "userIp": p.user_ip,
                "mallReserved": p.mall_reserved,
            },
            "buyer": {"name": p.buyer_name, "tel": p.buyer_tel, "email": p.buyer_email},
            "goods": {"name": p.goods_name, "cnt": p.goods_cnt},
        });
        match &self.paid {
            Paid::Card {
                card,
                quota,
                card_num,
                auth_num,
            } => {
                data["authNum"] = json!(auth_num);
                data["receiptUrl"] = json!(format!(
                    "{base_url}/pay/issue/CardIssue.jsp?TID={}",
                    self.tid
                ));
                data["card"] = json!({
                    // The sandbox's cards are acquired by their issuer.
                    "acquCardCode": card.code,
                    "acquCardName": card.name,
                    "cardQuota": quota,
                    "cardNum": card_num,
                    "fnCd": card.code,
                    "fnName": card.name,
                    "currency": p.amt.currency().code(),
                });
            }
            Paid::Bank {
                bank,
                account_num,
                auth_num,
            } => {
                data["authNum"] = json!(auth_num);
                // `bank` for BANK, `easyBank` for EBANK (B); the fields are the sandbox's guess.
                let key = if p.pay_method == PayMethod::Ebank {
                    "easyBank"
                } else {
                    "bank"
                };
                data[key] = json!({
                    "bankCode": bank.code,
                    "bankName": bank.name,
                    "accountNumber": account_num,
                });
            }
            Paid::Epay { wallet, auth_num } => {
                data["authNum"] = json!(auth_num);
                // `epayCl` seen (C); its codes and `epayName` are the sandbox's guess.
                data["epay"] = json!({"epayCl": wallet.code(), "epayName": wallet.korean()});
            }
            Paid::Vbank(account) => {
                // Innopay's legacy code for "account issued" (A).
                data["resultCode"] = json!(VBANK_ISSUED);
                data["virtualAccount"] = json!({
                    "bankCode": account.bank.code,
                    "bankName": account.bank.name,
                    "accountNumber": account.number,
                    "accountHolder": account.holder,
                    "dueDate": account.due.format(APP_DATE).expect("formats"),
                    "dueTime": account.due.format(APP_TIME).expect("formats"),
                });
            }
        }
        data
    }

    /// The deposit, cash-receipt and closing state a VBANK inquiry adds to `data`.
    fn vbank_state(&self, data: &mut Value) {
        let Paid::Vbank(account) = &self.paid else {
            return;
        };
        let va = &mut data["virtualAccount"];
        if let Some((at, depositor)) = &account.first_deposit {
            va["depositAmt"] = json!(account.deposited.won());
            va["depositedAt"] = json!(at.format(APPROVED_AT).expect("formats"));
            va["depositorName"] = json!(depositor);
        }
        if let Some(at) = account.closed_at {
            va["closedAt"] = json!(at.format(APPROVED_AT).expect("formats"));
        }
        if let (Some(receipt), Some((tid, at))) = (&account.receipt, &account.receipt_issued) {
            let (supply, vat) = receipt_split(account.deposited, self.params.tax_free_amt);
            data["cashReceipt"] = json!({
                "receiptType": receipt.receipt_type,
                "receiptTypeNo": receipt.masked(),
                "supplyAmt": supply,
                "vat": vat,
                "serviceAmt": 0,
                "tid": tid,
                "issuedAt": at.format(APPROVED_AT).expect("formats"),
            });
        }
    }
}

/// The approval's `resultCode` of a virtual account (legacy "가상계좌 발급 성공", A), also the success
/// code of `vbankCancel` (B).
pub const VBANK_ISSUED: &str = "4100";
/// `pgResultCode` of a deposit Noti: unknown (C), the sandbox's choice.
const VBANK_DEPOSITED: (&str, &str) = ("4110", "가상계좌 입금 완료");

/// The shopper's account a bank payment is refunded to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundAccount {
    bank: &'static Bank,
    number: String,
    holder: String,
}

/// The longest depositor or account holder name the sandbox keeps (paydesk's buyer name limit).
pub const MAX_HOLDER_CHARS: usize = 30;

impl RefundAccount {
    /// The refund fields of a `cancelApi` body, or its refusal code and message (R003–R006).
    fn parse(body: &Value) -> Result<Self, (&'static str, &'static str)> {
        let (Some(bank), Some(number), Some(holder)) = (
            text_field(body, "refundBankCd"),
            text_field(body, "refundAcctNo"),
            text_field(body, "refundAcctNm").filter(|h| !h.trim().is_empty()),
        ) else {
            return Err((
                "R003",
                "환불계좌 정보(refundBankCd, refundAcctNo, refundAcctNm)를 입력해 주세요.",
            ));
        };
        let bank = bank
            .parse::<BankCode>()
            .map_err(|_| ("R004", "환불 은행코드 오류"))?
            .bank();
        if !(10..=16).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(("R005", "환불 계좌번호 오류: 숫자 10~16자리여야 합니다."));
        }
        let holder = holder.trim().to_string();
        if holder.chars().count() > MAX_HOLDER_CHARS {
            return Err(("R006", "환불 예금주명은 30자 이내여야 합니다."));
        }
        Ok(Self {
            bank,
            number,
            holder,
        })
    }
}

/// Why `POST /_control/deposits` refused a deposit.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DepositError {
    #[error("no transaction with this tid")]
    UnknownTid,
    #[error("the transaction is not a virtual account (payMethod VBANK)")]
    NotVirtualAccount,
    #[error("the virtual account is closed: the bank refuses deposits")]
    Closed,
    #[error(
        "the virtual account's due time has passed: the bank refuses deposits (send \"late\": true \
         to deposit anyway)"
    )]
    Expired,
    #[error("amount: {0}")]
    Amount(String),
}

/// A deposit the control API asks for.
pub struct DepositRequest {
    pub tid: String,
    pub amount: Option<Amount>,
    pub depositor: Option<String>,
    pub late: bool,
}

/// A recorded deposit: what the control API answers, and the Noti to send.
pub struct Deposited {
    pub amount: Amount,
    pub at: String,
    pub noti: NotiJob,
}

/// A Noti to deliver: the merchant's URL (if any) and the form fields.
#[derive(Clone, Debug)]
pub struct NotiJob {
    pub mid: String,
    pub tid: String,
    pub url: Option<String>,
    pub fields: Vec<(String, String)>,
}

/// One line of `GET /sandbox/_control/calls`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    pub at: String,
    pub method: String,
    pub path: String,
    pub mid: Option<String>,
    pub tid: Option<String>,
    pub outcome: String,
}

/// One Noti and how its delivery went (`GET /sandbox/_control/notis`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotiRecord {
    pub id: u64,
    pub mid: String,
    pub tid: String,
    pub url: Option<String>,
    /// `25` paid, `85` cancelled.
    pub status: String,
    pub attempts: u32,
    pub delivered: bool,
    /// The last answer body (or error) the merchant gave.
    pub last_answer: Option<String>,
    pub fields: Vec<(String, String)>,
}

/// Everything the sandbox remembers.
pub struct State {
    pub merchants: HashMap<String, MerchantAccount>,
    auths: LruCache<String, Authentication>,
    transactions: LruCache<String, Transaction>,
    pub faults: Faults,
    pub calls: VecDeque<CallRecord>,
    pub notis: VecDeque<NotiRecord>,
    pub settings: Settings,
    /// Base URL of the sandbox as browsers reach it (receipt links).
    base_url: String,
}

const APPROVED_AT: &[time::format_description::FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
const TID_TIME: &[time::format_description::FormatItem<'static>] =
    format_description!("[year repr:last_two][month][day][hour][minute][second]");
const APP_DATE: &[time::format_description::FormatItem<'static>] =
    format_description!("[year][month][day]");
const APP_TIME: &[time::format_description::FormatItem<'static>] =
    format_description!("[hour][minute][second]");

/// Innopay's clock is Korea's.
pub fn now_kst() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(offset!(+9))
}

fn digits(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

impl State {
    pub fn new(test_merchant: MerchantAccount, settings: Settings, base_url: String) -> Self {
        Self {
            merchants: HashMap::from([(TEST_MID.to_string(), test_merchant)]),
            auths: LruCache::new(capacity(MAX_AUTHENTICATIONS)),
            transactions: LruCache::new(capacity(MAX_TRANSACTIONS)),
            faults: Faults::default(),
            calls: VecDeque::new(),
            notis: VecDeque::new(),
            settings,
            base_url,
        }
    }

    pub fn record_call(
        &mut self,
        method: &str,
        path: &str,
        mid: Option<String>,
        tid: Option<String>,
        outcome: String,
    ) {
        // Path and tid come from the caller: only so much of them is kept.
        let clipped = |s: Option<String>| s.map(|s| clip(&s, MAX_ANSWER_CHARS));
        push_bounded(
            &mut self.calls,
            MAX_CALLS,
            CallRecord {
                at: now_kst().format(APPROVED_AT).expect("formats"),
                method: method.to_string(),
                path: clip(path, MAX_ANSWER_CHARS),
                mid: clipped(mid),
                tid: clipped(tid),
                outcome,
            },
        );
    }

    /// Adds a Noti to the log, forgetting the oldest beyond `MAX_NOTIS`.
    pub fn record_noti(&mut self, record: NotiRecord) {
        push_bounded(&mut self.notis, MAX_NOTIS, record);
    }

    /// A new TID in Innopay's layout: MID(10) + svcCd(2) + svcPrdtCd(2) + yyMMddHHmmss(12) + 4
    /// digits.
    /// svcPrdtCd is `08` (authenticated card window) for cards; the others' are unknown: `01` for
    /// virtual accounts and `81` for cash receipts are the sandbox's choice.
    fn new_tid(&self, mid: &str, service: &str, product: &str) -> String {
        let stamp = now_kst().format(TID_TIME).expect("formats");
        loop {
            let tid = format!("{mid}{service}{product}{stamp}{}", digits(4));
            let taken = self.auths.iter().any(|(_, a)| a.tid == tid)
                || self.transactions.contains(&tid)
                || self
                    .transactions
                    .iter()
                    .any(|(_, t)| t.receipt_tid() == Some(tid.as_str()));
            if !taken {
                return tid;
            }
        }
    }

    /// A 14-digit account number no other kept account has.
    fn new_account_number(&self) -> String {
        loop {
            let number = digits(14);
            let taken = self
                .transactions
                .iter()
                .any(|(_, t)| matches!(&t.paid, Paid::Vbank(account) if account.number == number));
            if !taken {
                return number;
            }
        }
    }

    /// Records a successful authentication; returns `(paymentToken, tid)`.
    pub fn authenticate(&mut self, params: PayParams, instrument: Instrument) -> (String, String) {
        let product = match instrument {
            Instrument::Card { .. } => "08",
            Instrument::Vbank { .. } | Instrument::Bank { .. } | Instrument::Epay { .. } => "01",
        };
        let tid = self.new_tid(
            params.mid.as_str(),
            params.pay_method.service_code(),
            product,
        );
        let token = uuid::Uuid::new_v4().simple().to_string();
        // The raw fields only carry the window from page to page.
        let params = PayParams {
            fields: Vec::new(),
            ..params
        };
        self.auths.put(
            token.clone(),
            Authentication {
                tid: tid.clone(),
                params,
                instrument,
                issued: Instant::now(),
                used: false,
            },
        );
        (token, tid)
    }

    fn merchant(&self, mid: &str, key: &str) -> Result<&MerchantAccount, Refusal> {
        let merchant = self
            .merchants
            .get(mid)
            .ok_or_else(|| refuse(401, "W003", "등록되지 않은 가맹점(MID)입니다."))?;
        if merchant.merchant_key != key {
            return Err(refuse(401, "A001", "Merchant-Key가 올바르지 않습니다."));
        }
        Ok(merchant)
    }

    /// `POST /v1/transactions/pay`: checks the key, the token and that the body repeats what was
    /// authenticated, then records the approval. Returns the answer's `data` and the Noti to send.
    pub fn approve(
        &mut self,
        key: &str,
        token: &str,
        body: &Value,
    ) -> Result<(Value, Option<NotiJob>), Refusal> {
        let mid = text_field(body, "mid").unwrap_or_default();
        self.merchant(&mid, key)?;
        let ttl = Duration::from_secs(self.settings.token_ttl_secs);
        let auth = self
            .auths
            .get_mut(token)
            .ok_or_else(|| refuse(401, "A002", "Payment-Token이 없거나 올바르지 않습니다."))?;
        let tid = text_field(body, "tid").unwrap_or_default();
        if auth.tid != tid {
            return Err(refuse(
                400,
                "A005",
                "Payment-Token이 이 거래(tid)의 것이 아닙니다.",
            ));
        }
        if auth.used {
            return Err(refuse(409, "A004", "이미 사용된 Payment-Token입니다."));
        }
        if auth.issued.elapsed() > ttl {
            return Err(refuse(
                400,
                "A003",
                "Payment-Token의 유효시간이 지났습니다.",
            ));
        }
        let p = &auth.params;
        // `amt` counts the authenticated payment's currency unit (won, US cents).
        let amt = body
            .get("amt")
            .map(|v| Price::from_json(p.amt.currency(), v));
        let amounts = (amt, amount_field(body, "taxFreeAmt"));
        let (amt, tax_free) = match amounts {
            (Some(Ok(amt)), Ok(tax_free)) => (amt, tax_free.unwrap_or(Amount::ZERO)),
            _ => {
                return Err(refuse(
                    400,
                    "A007",
                    "amt, taxFreeAmt는 금액(숫자)이어야 합니다.",
                ));
            }
        };
        if mid != p.mid.as_str() || text_field(body, "moid").as_deref() != Some(p.moid.as_str()) {
            return Err(refuse(
                400,
                "A006",
                "mid 또는 moid가 인증된 거래와 다릅니다.",
            ));
        }
        if amt != p.amt || tax_free != p.tax_free_amt {
            return Err(refuse(
                400,
                "A006",
                "amt 또는 taxFreeAmt가 인증된 금액과 다릅니다.",
            ));
        }
        auth.used = true;
        let (tid, params, instrument) = (
            auth.tid.clone(),
            auth.params.clone(),
            auth.instrument.clone(),
        );
        let paid = match instrument {
            Instrument::Card { card, quota } => Paid::Card {
                card,
                quota,
                card_num: format!("{}****{}", digits(8), digits(4)),
                auth_num: digits(8),
            },
            Instrument::Bank { bank } => Paid::Bank {
                bank,
                account_num: mask_digits(&format!("{}{}", bank.code, digits(9))),
                auth_num: digits(8),
            },
            Instrument::Epay { wallet } => Paid::Epay {
                wallet,
                auth_num: digits(8),
            },
            Instrument::Vbank { bank, depositor } => {
                let request = params
                    .vbank
                    .clone()
                    .expect("VBANK parameters carry a request");
                Paid::Vbank(VirtualAccount {
                    bank,
                    number: self.new_account_number(),
                    holder: self
                        .merchants
                        .get(params.mid.as_str())
                        .map(|m| m.display_name.clone())
                        .unwrap_or_default(),
                    due: request.due,
                    depositor,
                    receipt: request.receipt,
                    deposited: Amount::ZERO,
                    first_deposit: None,
                    receipt_issued: None,
                    closed_at: None,
                })
            }
        };
        let transaction = Transaction {
            tid,
            cancelled: Price::zero(params.amt.currency()),
            params,
            paid,
            approved_at: now_kst(),
        };
        let answer = transaction.data(&self.base_url);
        // An issued account is not paid: its Noti comes with each deposit.
        let noti = (!matches!(transaction.paid, Paid::Vbank(_)))
            .then(|| self.noti(&transaction, NotiEvent::Paid));
        self.transactions.put(transaction.tid.clone(), transaction);
        Ok((answer, noti))
    }

    /// `POST /api/cancelApi`: the answer (always a `resultCode`) and, when cancelled, the Noti.
    pub fn cancel(&mut self, body: &Value) -> (Value, Option<NotiJob>) {
        let refused =
            |code: &str, message: &str| (json!({"resultCode": code, "resultMsg": message}), None);
        let mid = text_field(body, "mid").unwrap_or_default();
        let Some(merchant) = self.merchants.get(&mid) else {
            return refused("W003", "등록되지 않은 가맹점(MID)입니다.");
        };
        if text_field(body, "cancelPwd").as_deref() != Some(merchant.cancel_password.as_str()) {
            return refused("2011", "취소 비밀번호가 일치하지 않습니다.");
        }
        // The message travels in every Noti the sandbox keeps.
        if text_field(body, "cancelMsg").is_some_and(|m| m.chars().count() > MAX_CANCEL_MSG_CHARS) {
            return refused("2016", "취소사유(cancelMsg)는 100자 이내여야 합니다.");
        }
        let tid = text_field(body, "tid").unwrap_or_default();
        let Some(transaction) = self
            .transactions
            .get_mut(&tid)
            .filter(|t| t.params.mid.as_str() == mid)
        else {
            return refused("2014", "취소할 거래가 없습니다.");
        };
        let mut refund = None;
        if let Paid::Vbank(account) = &transaction.paid {
            if !self.settings.vbank_refund_by_api {
                return refused(
                    "R001",
                    "가상계좌 입금 후 환불은 API로 할 수 없습니다. 가맹점 관리자 화면에서 환불해 주세요.",
                );
            }
            if account.closed_at.is_some() {
                return refused("2012", "이미 취소된 거래입니다.");
            }
            if account.deposited == Amount::ZERO {
                return refused(
                    "R002",
                    "입금 전인 가상계좌는 환불할 수 없습니다. vbankCancel로 가상계좌를 닫아 주세요.",
                );
            }
        }
        // Refunds of bank-paid methods name the account (`refundBankCd`, `refundAcctNo`,
        // `refundAcctNm`, B): paydesk's method table says which.
        if transaction.params.pay_method.rules().refunds_to_account {
            match RefundAccount::parse(body) {
                Ok(account) => refund = Some(account),
                Err((code, message)) => return refused(code, message),
            }
        }
        let remaining = transaction.remaining();
        if remaining.minor() == 0 {
            return refused("2012", "이미 취소된 거래입니다.");
        }
        let partial = text_field(body, "partialCancelCode").as_deref() == Some("1");
        if partial
            && matches!(transaction.paid, Paid::Epay { .. })
            && !self.settings.epay_partial_cancel
        {
            return refused("2017", "간편결제는 부분취소를 할 수 없습니다.");
        }
        // `cancelAmt` counts the payment's currency unit.
        let amount = if partial {
            match body
                .get("cancelAmt")
                .map(|v| Price::from_json(remaining.currency(), v))
            {
                Some(Ok(a)) if a.minor() > 0 => a,
                _ => return refused("2015", "취소금액(cancelAmt)을 확인해 주세요."),
            }
        } else {
            remaining
        };
        if remaining.checked_sub(amount).is_none() {
            return refused("2013", "취소금액이 취소 가능금액을 초과합니다.");
        }
        transaction.cancelled = transaction
            .cancelled
            .checked_add(amount)
            .expect("bounded by the total");
        let now = now_kst();
        let cancel_msg = text_field(body, "cancelMsg").unwrap_or_default();
        let answer = json!({
            "resultCode": "2001",
            "resultMsg": "취소 성공",
            "pgTid": tid,
            "pgApprovalAmt": amount.minor().to_string(),
            "cancelAmt": amount.minor().to_string(),
            "remainAmt": transaction.remaining().minor().to_string(),
            "pgAppDate": now.format(APP_DATE).expect("formats"),
            "pgAppTime": now.format(APP_TIME).expect("formats"),
            "stateCd": "1",
        });
        let transaction = self.transactions.peek(&tid).expect("found above");
        let noti = self.noti(
            transaction,
            NotiEvent::Cancelled {
                amount,
                message: cancel_msg,
                refund,
            },
        );
        (answer, Some(noti))
    }

    /// The inquiry GETs: `by_order` looks up the order's latest approval instead of a tid.
    pub fn inquire(
        &self,
        mid: &str,
        key: &str,
        tid: Option<&str>,
        moid: Option<&str>,
    ) -> Result<Value, Refusal> {
        self.merchant(mid, key)?;
        let found = self
            .transactions
            .iter()
            .map(|(_, t)| t)
            .filter(|t| t.params.mid.as_str() == mid)
            .filter(|t| tid.is_none_or(|tid| t.tid == tid))
            .filter(|t| moid.is_none_or(|moid| t.params.moid.as_str() == moid))
            .max_by_key(|t| t.approved_at)
            .ok_or_else(|| refuse(404, "N001", "거래를 찾을 수 없습니다."))?;
        let mut data = found.data(&self.base_url);
        data["status"] = json!(found.status());
        data["cancelAmt"] = json!(found.cancelled.minor());
        data["remainAmt"] = json!(found.remaining().minor());
        found.vbank_state(&mut data);
        Ok(data)
    }

    /// What the receipt page shows of a card transaction.
    pub fn receipt(&self, tid: &str) -> Option<Receipt> {
        let t = self.transactions.peek(tid)?;
        let Paid::Card {
            card,
            card_num,
            auth_num,
            ..
        } = &t.paid
        else {
            return None;
        };
        Some(Receipt {
            params: t.params.clone(),
            card_name: card.name,
            card_num: card_num.clone(),
            auth_num: auth_num.clone(),
            approved_at: t.approved_at.format(APPROVED_AT).expect("formats"),
            cancelled: t.cancelled,
        })
    }

    /// `POST /_control/deposits`: a deposit into an issued account, as its bank reports it.
    pub fn deposit(&mut self, request: DepositRequest) -> Result<Deposited, DepositError> {
        let (mid, needs_receipt) = match self.transactions.peek(&request.tid) {
            None => return Err(DepositError::UnknownTid),
            Some(Transaction {
                params,
                paid: Paid::Vbank(account),
                ..
            }) => (
                params.mid.to_string(),
                account.receipt.is_some() && account.receipt_issued.is_none(),
            ),
            Some(_) => return Err(DepositError::NotVirtualAccount),
        };
        // A cash receipt is issued with the first deposit, under its own tid.
        let receipt_tid =
            needs_receipt.then(|| self.new_tid(&mid, PayMethod::Vbank.service_code(), "81"));
        let transaction = self
            .transactions
            .get_mut(&request.tid)
            .expect("found above");
        // Virtual accounts are won only.
        let (Price::Krw(total), Paid::Vbank(account)) =
            (transaction.total(), &mut transaction.paid)
        else {
            return Err(DepositError::NotVirtualAccount);
        };
        if account.closed_at.is_some() {
            return Err(DepositError::Closed);
        }
        let now = now_kst();
        let at = match (now > account.due, request.late) {
            (true, false) => return Err(DepositError::Expired),
            // A deposit after a deadline the sandbox has not reached yet: dated just after it.
            (false, true) => account.due + time::Duration::minutes(1),
            _ => now,
        };
        let owed = total
            .checked_sub(account.deposited)
            .filter(|owed| owed.won() > 0)
            .unwrap_or(total);
        let amount = request.amount.unwrap_or(owed);
        if amount.won() <= 0 {
            return Err(DepositError::Amount(
                "must be a positive number of won".into(),
            ));
        }
        account.deposited = account
            .deposited
            .checked_add(amount)
            .ok_or_else(|| DepositError::Amount("the deposits' sum is too large".into()))?;
        let depositor = request
            .depositor
            .unwrap_or_else(|| account.depositor.clone());
        account
            .first_deposit
            .get_or_insert_with(|| (at, depositor.clone()));
        if let Some(receipt_tid) = receipt_tid {
            account.receipt_issued = Some((receipt_tid, at));
        }
        let transaction = self.transactions.peek(&request.tid).expect("found above");
        let noti = self.noti(
            transaction,
            NotiEvent::Deposited {
                amount,
                at,
                depositor,
            },
        );
        Ok(Deposited {
            amount,
            at: at.format(APPROVED_AT).expect("formats"),
            noti,
        })
    }

    /// `POST /api/vbankCancel`: closes an unpaid account. Always a `resultCode` answer; closing a
    /// closed account succeeds again, so a retry after a lost answer is harmless.
    pub fn close_vbank(&mut self, body: &Value) -> Value {
        let answer = |code: &str, message: &str| json!({"resultCode": code, "resultMsg": message});
        let field = |key: &str| text_field(body, key).unwrap_or_default();
        let mid = field("mid");
        let Some(merchant) = self.merchants.get(&mid) else {
            return answer("W003", "등록되지 않은 가맹점(MID)입니다.");
        };
        if field("licenseKey") != merchant.merchant_key {
            return answer("V001", "licenseKey(가맹점 키)가 올바르지 않습니다.");
        }
        let Some(transaction) = self
            .transactions
            .get_mut(&field("tid"))
            .filter(|t| t.params.mid.as_str() == mid)
        else {
            return answer("V002", "취소할 가상계좌 거래가 없습니다.");
        };
        let (moid, total) = (transaction.params.moid.to_string(), transaction.total());
        let Paid::Vbank(account) = &mut transaction.paid else {
            return answer("V002", "취소할 가상계좌 거래가 없습니다.");
        };
        let same_bank = field("vbankBankCode")
            .parse::<BankCode>()
            .is_ok_and(|code| code.as_str() == account.bank.code);
        let same_amount = amount_field(body, "amt").ok().flatten().map(Price::Krw) == Some(total);
        if field("moid") != moid
            || !same_amount
            || !same_bank
            || field("vbankNum") != account.number
        {
            return answer(
                "V003",
                "주문번호, 금액, 은행코드 또는 계좌번호가 발급된 가상계좌와 다릅니다.",
            );
        }
        if account.deposited.won() > 0 {
            return answer(
                "V004",
                "이미 입금된 가상계좌입니다. 환불은 cancelApi로 해 주세요.",
            );
        }
        account.closed_at.get_or_insert_with(now_kst);
        answer(VBANK_ISSUED, "가상계좌 취소 성공")
    }

    fn noti(&self, t: &Transaction, event: NotiEvent) -> NotiJob {
        let p = &t.params;
        let mut fields: Vec<(&str, String)> = vec![
            ("shopCode", p.mid.to_string()),
            ("tid", t.tid.clone()),
            ("transSeq", t.tid.clone()),
            ("moid", p.moid.to_string()),
            ("goodsName", p.goods_name.clone()),
            ("goodsAmt", t.total().minor().to_string()),
        ];
        // When the money moved: a card's approval, a virtual account's first deposit.
        let paid_at = match (&t.paid, &event) {
            (_, NotiEvent::Deposited { at, .. }) => *at,
            (Paid::Vbank(account), _) => account
                .first_deposit
                .as_ref()
                .map_or(t.approved_at, |d| d.0),
            (Paid::Card { .. } | Paid::Bank { .. } | Paid::Epay { .. }, _) => t.approved_at,
        };
        let paid_code = match &t.paid {
            Paid::Bank { .. } => ("4000", "계좌이체 성공"),
            Paid::Epay { .. } => ("0000", "간편결제 성공"),
            Paid::Card { .. } | Paid::Vbank(_) => ("3001", "카드 결제 성공"),
        };
        let paid_at = (
            paid_at.format(APP_DATE).expect("formats"),
            paid_at.format(APP_TIME).expect("formats"),
        );
        match &t.paid {
            Paid::Card {
                card,
                quota,
                card_num,
                auth_num,
            } => fields.extend([
                ("payMethod", p.pay_method.code().to_string()),
                ("approvalAmt", t.total().minor().to_string()),
                ("approvalNo", auth_num.clone()),
                ("cardNo", card_num.clone()),
                ("cardQuota", quota.clone()),
                ("cardIssueCode", card.code.to_string()),
                ("cardName", card.name.to_string()),
            ]),
            Paid::Bank {
                bank,
                account_num,
                auth_num,
            } => fields.extend([
                // Noti number their methods (A): 07 = 계좌이체; EBANK's number is unknown, so
                // its goPay name.
                (
                    "payMethod",
                    if p.pay_method == PayMethod::Bank {
                        "07".to_string()
                    } else {
                        p.pay_method.code().to_string()
                    },
                ),
                ("approvalAmt", t.total().minor().to_string()),
                ("approvalNo", auth_num.clone()),
                ("bankCd", bank.code.to_string()),
                ("accntNo", account_num.clone()),
            ]),
            Paid::Epay { wallet, auth_num } => fields.extend([
                // EPAY's Noti number is unknown: its goPay name.
                ("payMethod", p.pay_method.code().to_string()),
                ("approvalAmt", t.total().minor().to_string()),
                ("approvalNo", auth_num.clone()),
                ("epayCl", wallet.code().to_string()),
            ]),
            Paid::Vbank(account) => {
                let approval = match &event {
                    NotiEvent::Deposited { amount, .. } => *amount,
                    _ => account.deposited,
                };
                fields.extend([
                    // Noti number their methods (A): 08 = 가상계좌.
                    ("payMethod", "08".to_string()),
                    ("approvalAmt", approval.to_string()),
                    ("vacctNo", account.number.clone()),
                    ("vbankBankCd", account.bank.code.to_string()),
                ]);
            }
        }
        fields.extend([
            ("buyerName", p.buyer_name.clone()),
            ("buyerTel", p.buyer_tel.clone()),
            ("buyerEmail", p.buyer_email.clone()),
            ("mallReserved", p.mall_reserved.clone()),
        ]);
        match event {
            NotiEvent::Paid => fields.extend([
                ("status", "25".to_string()),
                ("stateCd", "0".to_string()),
                // Legacy success codes (A): 3001 card, 4000 account transfer; easy pay has none
                // known, so the generic 0000.
                ("pgResultCode", paid_code.0.to_string()),
                ("pgResultMsg", paid_code.1.to_string()),
                ("pgAppDate", paid_at.0),
                ("pgAppTime", paid_at.1),
            ]),
            NotiEvent::Deposited { depositor, .. } => {
                fields.extend([
                    ("vbankAcctNm", depositor),
                    ("status", "25".to_string()),
                    ("stateCd", "0".to_string()),
                    ("pgResultCode", VBANK_DEPOSITED.0.to_string()),
                    ("pgResultMsg", VBANK_DEPOSITED.1.to_string()),
                    ("pgAppDate", paid_at.0),
                    ("pgAppTime", paid_at.1),
                ]);
                if let Paid::Vbank(VirtualAccount {
                    receipt: Some(receipt),
                    receipt_issued: Some((receipt_tid, _)),
                    deposited,
                    ..
                }) = &t.paid
                {
                    let (supply, vat) = receipt_split(*deposited, p.tax_free_amt);
                    fields.extend([
                        ("receiptType", receipt.receipt_type.to_string()),
                        ("receiptTypeNo", receipt.masked()),
                        ("receiptSupplyAmt", supply.to_string()),
                        ("receiptVat", vat.to_string()),
                        ("receiptTid", receipt_tid.clone()),
                    ]);
                }
            }
            NotiEvent::Cancelled {
                amount,
                message,
                refund,
            } => {
                let now = now_kst();
                fields.extend([
                    ("status", "85".to_string()),
                    ("stateCd", "1".to_string()),
                    ("pgResultCode", "2001".to_string()),
                    ("pgResultMsg", "취소 성공".to_string()),
                    ("pgAppDate", paid_at.0),
                    ("pgAppTime", paid_at.1),
                    ("cancelAmt", amount.minor().to_string()),
                    ("cancelMsg", message),
                    ("cancelDate", now.format(APP_DATE).expect("formats")),
                    ("cancelTime", now.format(APP_TIME).expect("formats")),
                    ("remainAmt", t.remaining().minor().to_string()),
                ]);
                if let Some(refund) = refund {
                    fields.extend([
                        ("vbankRefundBankCd", refund.bank.code.to_string()),
                        ("vbankRefundAcctNo", refund.number),
                        ("vbankRefundAcctNm", refund.holder),
                    ]);
                }
            }
        }
        NotiJob {
            mid: p.mid.to_string(),
            tid: t.tid.clone(),
            url: self
                .merchants
                .get(p.mid.as_str())
                .and_then(|m| m.noti_url.clone()),
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }
}

fn capacity(max: usize) -> NonZeroUsize {
    NonZeroUsize::new(max).expect("a store holds something")
}

fn push_bounded<T>(log: &mut VecDeque<T>, max: usize, entry: T) {
    if log.len() == max {
        log.pop_front();
    }
    log.push_back(entry);
}

enum NotiEvent {
    Paid,
    Deposited {
        amount: Amount,
        at: OffsetDateTime,
        depositor: String,
    },
    Cancelled {
        amount: Price,
        message: String,
        refund: Option<RefundAccount>,
    },
}

/// What the receipt page shows.
pub struct Receipt {
    pub params: PayParams,
    pub card_name: &'static str,
    pub card_num: String,
    pub auth_num: String,
    pub approved_at: String,
    pub cancelled: Price,
}

/// Whether this card and amount need the ISP certificate step (guide: ISP at 300,000 won or more).
pub fn needs_certificate(card: &CardCompany, total: Price) -> bool {
    matches!(total, Price::Krw(won) if card.isp && won.won() >= ISP_CERTIFICATE_THRESHOLD)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn amount(won: i64) -> Amount {
        Amount::new(won).unwrap()
    }

    #[test]
    fn a_cash_receipt_splits_the_deposit_into_supply_and_a_vat_of_one_eleventh_of_the_taxable_part()
    {
        assert_eq!(receipt_split(amount(11_000), Amount::ZERO), (10_000, 1_000));
        // 20,000 / 11 = 1,818.18: rounded down; 17 / 11 = 1.55: rounded up.
        assert_eq!(receipt_split(amount(20_000), Amount::ZERO), (18_182, 1_818));
        assert_eq!(receipt_split(amount(17), Amount::ZERO), (15, 2));
        // The tax-free part is all supply.
        assert_eq!(
            receipt_split(amount(21_000), amount(10_000)),
            (20_000, 1_000)
        );
        assert_eq!(receipt_split(amount(5_000), amount(10_000)), (5_000, 0));
    }

    #[test]
    fn a_refund_account_needs_a_known_bank_digits_and_a_holder() {
        let parse = |bank: &str, number: &str, holder: &str| {
            RefundAccount::parse(
                &json!({"refundBankCd": bank, "refundAcctNo": number, "refundAcctNm": holder}),
            )
            .map_err(|(code, _)| code)
        };
        let ok = parse("04", "1234567890", " 홍길동 ").unwrap();
        assert_eq!((ok.bank.code, ok.holder.as_str()), ("004", "홍길동"));
        assert!(parse("088", "1234567890123456", "김").is_ok());
        assert_eq!(parse("", "1234567890", "홍길동"), Err("R003"));
        assert_eq!(parse("004", "1234567890", " "), Err("R003"));
        assert_eq!(parse("999", "1234567890", "홍길동"), Err("R004"));
        assert_eq!(parse("004", "123456789", "홍길동"), Err("R005"));
        assert_eq!(parse("004", "123-456-7890", "홍길동"), Err("R005"));
        assert_eq!(parse("004", "1234567890", &"김".repeat(31)), Err("R006"));
        assert_eq!(
            RefundAccount::parse(&json!({})).map_err(|e| e.0),
            Err("R003")
        );
    }

    fn state() -> State {
        let merchant = MerchantAccount {
            merchant_key: "key".into(),
            cancel_password: "pwd".into(),
            display_name: DEFAULT_DISPLAY_NAME.into(),
            noti_url: None,
            return_origins: Vec::new(),
        };
        State::new(merchant, Settings::default(), "http://sandbox".into())
    }

    /// Issues a virtual account (10,000 won, 1,000 of it tax-free) with a cash receipt.
    fn issue(state: &mut State, due: &str) -> (String, Value) {
        let form: HashMap<String, String> = [
            ("payMethod", "VBANK"),
            ("mid", TEST_MID),
            ("moid", "order-1"),
            ("goodsName", "상품"),
            ("amt", "9000"),
            ("taxFreeAmt", "1000"),
            ("buyerName", "홍길동"),
            ("buyerTel", "01012345678"),
            ("buyerEmail", "a@b.kr"),
            ("returnUrl", "https://shop.example/r"),
            ("vBankExpDate", due),
            ("receiptType", "1"),
            ("receiptTypeNo", "01012345678"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let params = PayParams::parse(&form, now_kst()).unwrap();
        let bank = "088".parse::<BankCode>().unwrap().bank();
        let depositor = "홍길동".to_string();
        let (token, tid) = state.authenticate(params, Instrument::Vbank { bank, depositor });
        let body = json!({
            "tid": tid, "mid": TEST_MID, "moid": "order-1", "amt": 9000, "taxFreeAmt": 1000,
        });
        let (data, noti) = state.approve("key", &token, &body).unwrap();
        assert!(noti.is_none(), "an issued account is not paid");
        (tid, data)
    }

    fn deposit(tid: &str, won: Option<i64>, late: bool) -> DepositRequest {
        DepositRequest {
            tid: tid.to_string(),
            amount: won.map(amount),
            depositor: None,
            late,
        }
    }

    fn inquire(state: &State, tid: &str) -> Value {
        state.inquire(TEST_MID, "key", Some(tid), None).unwrap()
    }

    #[test]
    fn deposits_add_up_and_issue_one_cash_receipt() {
        let mut state = state();
        let due = (now_kst() + time::Duration::days(2))
            .format(APP_DATE)
            .unwrap();
        let (tid, data) = issue(&mut state, &due);
        let va = &data["virtualAccount"];
        assert_eq!(
            (va["bankCode"].as_str(), va["bankName"].as_str()),
            (Some("088"), Some("신한은행"))
        );
        assert_eq!(va["accountNumber"].as_str().unwrap().len(), 14);
        assert_eq!(
            (va["dueDate"].as_str(), va["dueTime"].as_str()),
            (Some(due.as_str()), Some("235959"))
        );
        assert_eq!(data["resultCode"], "4100");
        assert!(data.get("card").is_none());
        let waiting = inquire(&state, &tid);
        assert_eq!(waiting["status"], 0);
        assert!(waiting["virtualAccount"].get("depositAmt").is_none());
        assert!(waiting.get("cashReceipt").is_none());

        let first = state.deposit(deposit(&tid, Some(4_000), false)).unwrap();
        assert_eq!(first.amount.won(), 4_000);
        let field = |noti: &NotiJob, key: &str| {
            noti.fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(field(&first.noti, "approvalAmt").as_deref(), Some("4000"));
        assert_eq!(field(&first.noti, "goodsAmt").as_deref(), Some("10000"));
        assert_eq!(field(&first.noti, "payMethod").as_deref(), Some("08"));
        // The rest of what is owed by default.
        let second = state.deposit(deposit(&tid, None, false)).unwrap();
        assert_eq!(second.amount.won(), 6_000);
        let paid = inquire(&state, &tid);
        assert_eq!(paid["virtualAccount"]["depositAmt"], 10_000);
        assert_eq!(paid["virtualAccount"]["depositedAt"], first.at);
        assert_eq!(paid["virtualAccount"]["depositorName"], "홍길동");
        let receipt = &paid["cashReceipt"];
        assert_eq!(
            (receipt["supplyAmt"].as_i64(), receipt["vat"].as_i64()),
            (Some(9_182), Some(818))
        );
        assert_eq!(receipt["receiptTypeNo"], "010****5678");
        assert_eq!(receipt["tid"].as_str().unwrap().len(), 30);
        assert_eq!(
            field(&second.noti, "receiptTid").as_deref(),
            receipt["tid"].as_str()
        );

        // A deposited account is refunded, never closed.
        let number = paid["virtualAccount"]["accountNumber"].clone();
        let close = json!({"mid": TEST_MID, "licenseKey": "key", "tid": tid, "moid": "order-1",
            "amt": 10000, "vbankBankCode": "88", "vbankNum": number});
        assert_eq!(state.close_vbank(&close)["resultCode"], "V004");
    }

    #[test]
    fn a_closed_or_expired_account_refuses_deposits() {
        let mut state = state();
        let due = (now_kst() + time::Duration::days(1))
            .format(APP_DATE)
            .unwrap();
        let (tid, data) = issue(&mut state, &due);
        // The sandbox's clock passes the deadline.
        if let Paid::Vbank(account) = &mut state.transactions.get_mut(&tid).unwrap().paid {
            account.due = now_kst() - time::Duration::minutes(5);
        }
        assert_eq!(
            state.deposit(deposit(&tid, None, false)).err(),
            Some(DepositError::Expired)
        );
        // Past due and never paid: still waiting; closing it is the merchant's job.
        assert_eq!(inquire(&state, &tid)["status"], 0);
        let mut close = json!({"mid": TEST_MID, "licenseKey": "key", "tid": tid, "moid": "order-1",
            "amt": 10000, "vbankBankCode": "088",
            "vbankNum": data["virtualAccount"]["accountNumber"]});
        for (key, wrong, code) in [
            ("licenseKey", json!("nope"), "V001"),
            ("tid", json!("x"), "V002"),
            ("amt", json!(9000), "V003"),
            ("vbankBankCode", json!("004"), "V003"),
            ("vbankNum", json!("1"), "V003"),
        ] {
            let mut body = close.clone();
            body[key] = wrong;
            assert_eq!(state.close_vbank(&body)["resultCode"], code, "{key}");
        }
        assert_eq!(state.close_vbank(&close)["resultCode"], "4100");
        close["vbankBankCode"] = json!("88");
        assert_eq!(
            state.close_vbank(&close)["resultCode"],
            "4100",
            "closing again succeeds"
        );
        let closed = inquire(&state, &tid);
        assert_eq!(closed["status"], 1);
        assert!(closed["virtualAccount"]["closedAt"].is_string());
        assert_eq!(
            state.deposit(deposit(&tid, None, true)).err(),
            Some(DepositError::Closed)
        );
        assert_eq!(
            state.deposit(deposit("nope", None, false)).err(),
            Some(DepositError::UnknownTid)
        );
    }
}
