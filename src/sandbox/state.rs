//! What the sandbox remembers, in memory, and the rules of Innopay it enforces on it: merchants and
//! their keys, payment-window authentications (tokens), approved transactions with their cancels, the
//! call log and the Noti log. Everything here is synchronous and runs under one lock; HTTP, delays and
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

use crate::domain::{Amount, CardCompany, ISP_CERTIFICATE_THRESHOLD};
use crate::gateway::{amount_field, text_field};

use super::faults::Faults;
use super::params::PayParams;

/// The always-present test merchant.
pub const TEST_MID: &str = "testpay01m";

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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            error_status: None,
            token_ttl_secs: 600,
            noti_backoff_ms: 1_000,
            noti_max_attempts: 8,
        }
    }
}

/// A merchant the sandbox knows. Not `Debug`: its key and password must not reach a log line.
#[derive(Clone)]
pub struct MerchantAccount {
    pub merchant_key: String,
    pub cancel_password: String,
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

/// A card authentication the window completed; its token may be approved once.
struct Authentication {
    tid: String,
    params: PayParams,
    card: &'static CardCompany,
    quota: String,
    issued: Instant,
    used: bool,
}

/// An approved payment.
struct Transaction {
    tid: String,
    params: PayParams,
    card: &'static CardCompany,
    quota: String,
    card_num: String,
    auth_num: String,
    approved_at: OffsetDateTime,
    cancelled: Amount,
}

impl Transaction {
    fn total(&self) -> Amount {
        self.params.total()
    }

    fn remaining(&self) -> Amount {
        self.total()
            .checked_sub(self.cancelled)
            .expect("cancels never exceed the total")
    }

    /// The approval answer's `data` (the seed's shape). Inquiries add the cancel state.
    fn data(&self, base_url: &str) -> Value {
        let p = &self.params;
        json!({
            "mid": p.mid.as_str(),
            "tid": self.tid,
            "moid": p.moid.as_str(),
            "aid": format!("{}a", &p.mid.as_str()[..9]),
            "gid": "GID000001g",
            "payMethod": p.pay_method.code(),
            "amt": p.amt.won(),
            "taxFreeAmt": p.tax_free_amt.won(),
            "status": 0,
            "authNum": self.auth_num,
            "approvedAt": self.approved_at.format(APPROVED_AT).expect("formats"),
            "receiptUrl": format!("{base_url}/pay/issue/CardIssue.jsp?TID={}", self.tid),
            "card": {
                // The sandbox's cards are acquired by their issuer.
                "acquCardCode": self.card.code,
                "acquCardName": self.card.name,
                "cardQuota": self.quota,
                "cardNum": self.card_num,
                "fnCd": self.card.code,
                "fnName": self.card.name,
                "currency": p.currency,
            },
            "etc": {
                "mallUserId": p.mall_user_id,
                "userId": p.mall_user_id,
                "userIp": p.user_ip,
                "mallReserved": p.mall_reserved,
            },
            "buyer": {"name": p.buyer_name, "tel": p.buyer_tel, "email": p.buyer_email},
            "goods": {"name": p.goods_name, "cnt": p.goods_cnt},
        })
    }
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

    /// A new TID in Innopay's layout: MID(10) + svcCd(2) + svcPrdtCd(2, `08` = card window) +
    /// yyMMddHHmmss(12) + 4 digits.
    fn new_tid(&self, params: &PayParams) -> String {
        let stamp = now_kst().format(TID_TIME).expect("formats");
        loop {
            let tid = format!(
                "{}{}08{stamp}{}",
                params.mid,
                params.pay_method.service_code(),
                digits(4)
            );
            if !self.auths.iter().any(|(_, a)| a.tid == tid) && !self.transactions.contains(&tid) {
                return tid;
            }
        }
    }

    /// Records a successful card authentication; returns `(paymentToken, tid)`.
    pub fn authenticate(
        &mut self,
        params: PayParams,
        card: &'static CardCompany,
        quota: String,
    ) -> (String, String) {
        let tid = self.new_tid(&params);
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
                card,
                quota,
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
    ) -> Result<(Value, NotiJob), Refusal> {
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
        let amounts = (amount_field(body, "amt"), amount_field(body, "taxFreeAmt"));
        let (amt, tax_free) = match amounts {
            (Ok(Some(amt)), Ok(tax_free)) => (amt, tax_free.unwrap_or(Amount::ZERO)),
            _ => {
                return Err(refuse(
                    400,
                    "A007",
                    "amt, taxFreeAmt는 금액(숫자)이어야 합니다.",
                ));
            }
        };
        let p = &auth.params;
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
        let transaction = Transaction {
            tid: auth.tid.clone(),
            params: auth.params.clone(),
            card: auth.card,
            quota: auth.quota.clone(),
            card_num: format!("{}****{}", digits(8), digits(4)),
            auth_num: digits(8),
            approved_at: now_kst(),
            cancelled: Amount::ZERO,
        };
        let answer = transaction.data(&self.base_url);
        let noti = self.noti(&transaction, NotiEvent::Paid);
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
        let remaining = transaction.remaining();
        if remaining == Amount::ZERO {
            return refused("2012", "이미 취소된 거래입니다.");
        }
        let partial = text_field(body, "partialCancelCode").as_deref() == Some("1");
        let amount = if partial {
            match amount_field(body, "cancelAmt") {
                Ok(Some(a)) if a.won() > 0 => a,
                _ => return refused("2015", "취소금액(cancelAmt)을 확인해 주세요."),
            }
        } else {
            remaining
        };
        if amount > remaining {
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
            "pgApprovalAmt": amount.won().to_string(),
            "cancelAmt": amount.won().to_string(),
            "remainAmt": transaction.remaining().won().to_string(),
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
        let fully_cancelled = found.remaining() == Amount::ZERO;
        data["status"] = json!(if fully_cancelled { 1 } else { 0 });
        data["cancelAmt"] = json!(found.cancelled.won());
        data["remainAmt"] = json!(found.remaining().won());
        Ok(data)
    }

    /// What the receipt page shows of a transaction.
    pub fn receipt(&self, tid: &str) -> Option<Receipt> {
        self.transactions.peek(tid).map(|t| Receipt {
            params: t.params.clone(),
            card_name: t.card.name,
            card_num: t.card_num.clone(),
            auth_num: t.auth_num.clone(),
            approved_at: t.approved_at.format(APPROVED_AT).expect("formats"),
            cancelled: t.cancelled,
        })
    }

    fn noti(&self, t: &Transaction, event: NotiEvent) -> NotiJob {
        let p = &t.params;
        let approved = (
            t.approved_at.format(APP_DATE).expect("formats"),
            t.approved_at.format(APP_TIME).expect("formats"),
        );
        let mut fields: Vec<(&str, String)> = vec![
            ("shopCode", p.mid.to_string()),
            ("tid", t.tid.clone()),
            ("transSeq", t.tid.clone()),
            ("moid", p.moid.to_string()),
            ("goodsName", p.goods_name.clone()),
            ("goodsAmt", t.total().to_string()),
            ("payMethod", p.pay_method.code().to_string()),
            ("approvalAmt", t.total().to_string()),
            ("approvalNo", t.auth_num.clone()),
            ("cardNo", t.card_num.clone()),
            ("cardQuota", t.quota.clone()),
            ("cardIssueCode", t.card.code.to_string()),
            ("cardName", t.card.name.to_string()),
            ("buyerName", p.buyer_name.clone()),
            ("buyerTel", p.buyer_tel.clone()),
            ("buyerEmail", p.buyer_email.clone()),
            ("mallReserved", p.mall_reserved.clone()),
        ];
        match event {
            NotiEvent::Paid => fields.extend([
                ("status", "25".to_string()),
                ("stateCd", "0".to_string()),
                ("pgResultCode", "3001".to_string()),
                ("pgResultMsg", "카드 결제 성공".to_string()),
                ("pgAppDate", approved.0),
                ("pgAppTime", approved.1),
            ]),
            NotiEvent::Cancelled { amount, message } => {
                let now = now_kst();
                fields.extend([
                    ("status", "85".to_string()),
                    ("stateCd", "1".to_string()),
                    ("pgResultCode", "2001".to_string()),
                    ("pgResultMsg", "취소 성공".to_string()),
                    ("pgAppDate", approved.0),
                    ("pgAppTime", approved.1),
                    ("cancelAmt", amount.to_string()),
                    ("cancelMsg", message),
                    ("cancelDate", now.format(APP_DATE).expect("formats")),
                    ("cancelTime", now.format(APP_TIME).expect("formats")),
                    ("remainAmt", t.remaining().to_string()),
                ])
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
    Cancelled { amount: Amount, message: String },
}

/// What the receipt page shows.
pub struct Receipt {
    pub params: PayParams,
    pub card_name: &'static str,
    pub card_num: String,
    pub auth_num: String,
    pub approved_at: String,
    pub cancelled: Amount,
}

/// Whether this card and amount need the ISP certificate step (guide: ISP at 300,000 won or more).
pub fn needs_certificate(card: &CardCompany, total: Amount) -> bool {
    card.isp && total.won() >= ISP_CERTIFICATE_THRESHOLD
}
