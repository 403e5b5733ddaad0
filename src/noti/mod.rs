//! Innopay's server-to-server notifications ("Noti") in, at `POST /innopay/noti`. Innopay posts a
//! form for every approval and cancel (also those made in its merchant admin) and resends until the
//! answer body is exactly `0000`. A Noti carries no signature, so it is believed only as far as it
//! agrees with the stored payment (MID, tid, order, amount), and nothing it reports changes money
//! state until Innopay's inquiry API (by tid, with the merchant's key) shows it: an approval paydesk
//! has not settled yet, or a cancel made outside paydesk.
//!
//! Before a Noti is read, the sender's address is checked against `PAYDESK_INNOPAY_NOTI_ALLOW` and a
//! per-address rate limit (per instance: it protects storage, it decides nothing), and the body
//! against a size limit far above any real Noti; what fails these is answered and not stored.
//!
//! Every Noti let in is stored (its fields bounded) before anything else happens and then settled
//! with an outcome; `0000` is answered only for what is safely recorded (applied, already recorded,
//! or kept for a person), never for anything unmatched or contradicting the record, so Innopay
//! keeps resending those while they wait, flagged, for someone to look. Changes go through
//! `CheckoutService` and so `Store::transition`: the payment's history records them with cause
//! `innopay_noti` and webhooks publish them.
//!
//! Its own module, not part of `webhooks` (outbound, to storefronts, signed) or `gateway` (paydesk
//! calling Innopay): it is Innopay calling paydesk, with its own trust rules and its own record.
//! Not in the OpenAPI document: it imitates Innopay's contract, not paydesk's; `docs/ARCHITECTURE.md`
//! documents it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use poem::error::ReadBodyError;
use poem::http::StatusCode;
use poem::web::{Data, RemoteAddr};
use poem::{Body, EndpointExt, IntoResponse, Response, Route, handler, post};
use serde_json::json;

use crate::app::AppState;
use crate::checkout::{CheckoutError, DepositOutcome, PaymentStatus, ReportedCancel};
use crate::config::NotiConfig;
use crate::domain::Cause;
use crate::domain::MethodDetails;
use crate::store::notis::{NotiVerdict, ReceivedNoti};
use crate::store::payments::PaymentRow;
use crate::store::{Store, StoreError};

/// Adds the Noti receiver to `route`.
pub fn routes(route: Route, config: &NotiConfig) -> Route {
    route.at(
        "/innopay/noti",
        post(receive).data(Arc::new(Gate::new(config))),
    )
}

/// The largest Noti body read. Innopay's Noti are about 1 KB (some 30 short fields; Korean text
/// percent-encoded triples), so 16 KB refuses nothing real and bounds what one request costs.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// What is stored of one Noti's fields, as JSON; a real one takes under 2 KB.
const MAX_FIELDS_BYTES: usize = 4 * 1024;
/// What is stored of one field's value (and of its name).
const MAX_VALUE_BYTES: usize = 512;
/// What is stored of an identifying column (MID, tid, order, status, method): real ones are < 50.
const MAX_COLUMN_BYTES: usize = 100;
/// What is stored of a verdict's note (it quotes fields).
const MAX_NOTE_BYTES: usize = 1000;
/// How many rate-limit checks between two sweeps of addresses not seen lately.
const SWEEP_EVERY: u64 = 1024;

/// Who may post Noti and how often, checked before a body is read.
struct Gate {
    allow: Option<Vec<IpNet>>,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
}

/// Why a Noti was not read.
enum Refusal {
    Forbidden,
    RateLimited,
}

impl Gate {
    fn new(config: &NotiConfig) -> Self {
        Self {
            allow: config.allow.clone(),
            limiter: RateLimiter::keyed(Quota::per_minute(config.rate_per_min)),
            checks: AtomicU64::new(0),
        }
    }

    /// The rate limit comes first, so refusals of any kind (and their log lines) are bounded per
    /// address.
    fn admit(&self, ip: Option<IpAddr>) -> Result<(), Refusal> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        let key = ip.map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), rate_key);
        if self.limiter.check_key(&key).is_err() {
            return Err(Refusal::RateLimited);
        }
        match (&self.allow, ip) {
            (None, _) => Ok(()),
            (Some(allow), Some(ip)) if allow.iter().any(|net| net.contains(&ip)) => Ok(()),
            (Some(_), _) => Err(Refusal::Forbidden),
        }
    }
}

/// One IPv6 holder usually has a whole /64, so it is limited as one sender.
fn rate_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
    }
}

/// An identifying field as stored and logged.
fn column(value: Option<&str>) -> Option<String> {
    value.map(|v| clip(v, MAX_COLUMN_BYTES))
}

/// `text` cut to at most `max` bytes at a character boundary, marked with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// What became of a Noti.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotiOutcome {
    /// The payment changed as the Noti says.
    Applied,
    /// The payment already showed it; nothing changed.
    Duplicate,
    /// Kept for a person, nothing to apply: money arrived that paydesk cannot take as the payment
    /// (a virtual-account deposit of another amount, after the deadline, or beyond what was owed).
    /// Resending would change nothing, so Innopay is told to stop.
    Recorded,
    /// paydesk's own call for this payment is in flight and will settle it; the resend will match.
    Deferred,
    /// No payment has this MID and tid (or order).
    Unmatched,
    /// The payment exists but the Noti disagrees with it (amount, order, state).
    Contradiction,
    /// Not a Noti paydesk understands (no MID, unknown status).
    Invalid,
}

impl NotiOutcome {
    /// Every outcome (the metrics show each from the start).
    pub const ALL: [NotiOutcome; 7] = [
        NotiOutcome::Applied,
        NotiOutcome::Duplicate,
        NotiOutcome::Recorded,
        NotiOutcome::Deferred,
        NotiOutcome::Unmatched,
        NotiOutcome::Contradiction,
        NotiOutcome::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotiOutcome::Applied => "applied",
            NotiOutcome::Duplicate => "duplicate",
            NotiOutcome::Recorded => "recorded",
            NotiOutcome::Deferred => "deferred",
            NotiOutcome::Unmatched => "unmatched",
            NotiOutcome::Contradiction => "contradiction",
            NotiOutcome::Invalid => "invalid",
        }
    }

    /// Whether Innopay may stop resending (`0000`).
    fn acknowledged(self) -> bool {
        matches!(
            self,
            NotiOutcome::Applied | NotiOutcome::Duplicate | NotiOutcome::Recorded
        )
    }

    /// Whether a person must look at it.
    fn flagged(self) -> bool {
        matches!(
            self,
            NotiOutcome::Recorded
                | NotiOutcome::Unmatched
                | NotiOutcome::Contradiction
                | NotiOutcome::Invalid
        )
    }

    /// The answer's status; Innopay reads only the body, the status is for paydesk's own metrics.
    fn http_status(self) -> StatusCode {
        match self {
            NotiOutcome::Applied | NotiOutcome::Duplicate | NotiOutcome::Recorded => StatusCode::OK,
            NotiOutcome::Deferred => StatusCode::SERVICE_UNAVAILABLE,
            NotiOutcome::Unmatched => StatusCode::NOT_FOUND,
            NotiOutcome::Contradiction => StatusCode::CONFLICT,
            NotiOutcome::Invalid => StatusCode::BAD_REQUEST,
        }
    }
}

/// Why a Noti could not be judged (it stays stored as `received`; Innopay resends).
#[derive(Debug, thiserror::Error)]
pub enum NotiError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
}

/// The outcome with its explanation.
struct Verdict {
    outcome: NotiOutcome,
    note: String,
    payment_id: Option<String>,
}

impl Verdict {
    fn new(outcome: NotiOutcome, note: impl Into<String>, payment: Option<&PaymentRow>) -> Self {
        Self {
            outcome,
            note: note.into(),
            payment_id: payment.map(|p| p.id.clone()),
        }
    }
}

/// The form fields of one Noti.
struct Noti {
    fields: BTreeMap<String, String>,
}

/// What a Noti reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reported {
    Paid,
    Cancelled,
}

impl Noti {
    /// Innopay's text fields may arrive in another encoding than UTF-8; they are read lossily (the
    /// fields that identify a payment are ASCII).
    fn parse(body: &[u8]) -> Self {
        Self {
            fields: url::form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn first(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.get(k))
    }

    fn mid(&self) -> Option<&str> {
        self.first(&["shopCode", "mid"])
    }

    fn tid(&self) -> Option<&str> {
        self.first(&["tid", "transSeq"])
    }

    /// `Err` carries the field's text when it is not a whole number.
    fn amount(&self, key: &str) -> Option<Result<i64, String>> {
        self.get(key).map(|v| {
            v.replace(',', "")
                .parse()
                .map_err(|_| format!("{key}={v:?}"))
        })
    }

    /// `status` 25 paid, 85 cancelled; without it, `stateCd` 0 approved, 1 or 2 cancelled.
    fn reported(&self) -> Option<Reported> {
        match (self.get("status"), self.get("stateCd")) {
            (Some("25"), _) | (None, Some("0")) => Some(Reported::Paid),
            (Some("85"), _) | (None, Some("1" | "2")) => Some(Reported::Cancelled),
            _ => None,
        }
    }

    /// A virtual-account Noti: Noti number their methods (`08` = 가상계좌, A), some integrations
    /// send the goPay name.
    fn is_virtual_account(&self) -> bool {
        matches!(self.get("payMethod"), Some("VBANK" | "08")) || self.get("vacctNo").is_some()
    }

    fn received(&self, remote_addr: Option<String>) -> ReceivedNoti {
        ReceivedNoti {
            remote_addr,
            mid: column(self.mid()),
            tid: column(self.tid()),
            moid: column(self.get("moid")),
            status: column(self.first(&["status", "stateCd"])),
            pay_method: column(self.get("payMethod")),
            fields: self.kept_fields(),
        }
    }

    /// The fields as JSON, bounded: each name and value clipped, the fields paydesk reads first,
    /// then the others while they fit, and a `_truncated` note of what was left out.
    fn kept_fields(&self) -> String {
        let whole = json!(self.fields).to_string();
        if whole.len() <= MAX_FIELDS_BYTES {
            return whole;
        }
        let (read, others): (Vec<_>, Vec<_>) = self
            .fields
            .iter()
            .partition(|(k, _)| READ_FIELDS.contains(&k.as_str()));
        // Room for the marker itself.
        let mut budget = MAX_FIELDS_BYTES - 120;
        let mut kept = serde_json::Map::new();
        for (key, value) in read.into_iter().chain(others) {
            let (key, value) = (clip(key, MAX_VALUE_BYTES), clip(value, MAX_VALUE_BYTES));
            let cost = json!(key).to_string().len() + json!(value).to_string().len() + 2;
            if cost <= budget {
                budget -= cost;
                kept.insert(key, value.into());
            }
        }
        let left_out = self.fields.len() - kept.len();
        kept.insert(
            "_truncated".into(),
            format!(
                "{left_out} of {} fields left out, values cut to {MAX_VALUE_BYTES} bytes; \
                 {} bytes of JSON received",
                self.fields.len(),
                whole.len()
            )
            .into(),
        );
        serde_json::Value::Object(kept).to_string()
    }
}

/// The fields paydesk reads, kept first when a Noti is too large to keep whole.
const READ_FIELDS: &[&str] = &[
    "shopCode",
    "mid",
    "tid",
    "transSeq",
    "moid",
    "status",
    "stateCd",
    "payMethod",
    "goodsAmt",
    "approvalAmt",
    "cancelAmt",
    "remainAmt",
    "cancelMsg",
    "cancelDate",
    "cancelTime",
    "vacctNo",
];

#[handler]
async fn receive(
    body: Body,
    remote: &RemoteAddr,
    Data(state): Data<&AppState>,
    Data(gate): Data<&Arc<Gate>>,
) -> Response {
    // An IPv4 peer of a dual-stack listener arrives as ::ffff:a.b.c.d; ranges name it as a.b.c.d.
    let ip = remote.as_socket_addr().map(|a| a.ip().to_canonical());
    let (label, response) = answer_noti(body, ip, state, gate).await;
    state.metrics.noti(label);
    response
}

/// The answer to a Noti, with its outcome for the metrics (`NotiOutcome::as_str`, `refused` or
/// `error`).
async fn answer_noti(
    body: Body,
    ip: Option<IpAddr>,
    state: &AppState,
    gate: &Gate,
) -> (&'static str, Response) {
    let refused = |status, text| ("refused", answer(status, text));
    match gate.admit(ip) {
        Ok(()) => {}
        Err(Refusal::RateLimited) => {
            tracing::debug!(remote = ?ip, "Noti refused: rate limit of its address");
            return refused(StatusCode::TOO_MANY_REQUESTS, "FAIL rate limited");
        }
        Err(Refusal::Forbidden) => {
            tracing::warn!(remote = ?ip, "Noti refused: address not in PAYDESK_INNOPAY_NOTI_ALLOW");
            return refused(StatusCode::FORBIDDEN, "FAIL forbidden");
        }
    }
    let bytes = match body.into_bytes_limit(MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(ReadBodyError::PayloadTooLarge) => {
            tracing::warn!(remote = ?ip, "Noti refused: body over {MAX_BODY_BYTES} bytes");
            return refused(StatusCode::PAYLOAD_TOO_LARGE, "FAIL too large");
        }
        Err(e) => {
            return (
                "refused",
                answer(StatusCode::BAD_REQUEST, &format!("FAIL unreadable: {e}")),
            );
        }
    };
    let remote = ip.map(|ip| ip.to_string());
    match handle(state, Noti::parse(&bytes), remote).await {
        Ok(outcome) if outcome.acknowledged() => (outcome.as_str(), answer(StatusCode::OK, "0000")),
        Ok(outcome) => (
            outcome.as_str(),
            answer(outcome.http_status(), &format!("FAIL {}", outcome.as_str())),
        ),
        Err(e) => {
            tracing::error!(error = %e, "Noti could not be processed; Innopay will resend it");
            (
                "error",
                answer(StatusCode::INTERNAL_SERVER_ERROR, "FAIL error"),
            )
        }
    }
}

fn answer(status: StatusCode, body: &str) -> Response {
    body.to_string()
        .with_status(status)
        .with_content_type("text/plain; charset=utf-8")
        .into_response()
}

/// Stores the Noti, judges it, and records the verdict.
async fn handle(
    state: &AppState,
    noti: Noti,
    remote_addr: Option<String>,
) -> Result<NotiOutcome, NotiError> {
    let id = state.store.insert_noti(noti.received(remote_addr)).await?;
    let verdict = judge(state, &noti).await?;
    let outcome = verdict.outcome;
    let note = clip(&verdict.note, MAX_NOTE_BYTES);
    state
        .store
        .settle_noti(
            id,
            NotiVerdict {
                outcome: outcome.as_str(),
                note: &note,
                flagged: outcome.flagged(),
                payment_id: verdict.payment_id.as_deref(),
            },
        )
        .await?;
    if outcome.flagged() {
        tracing::error!(noti = id, mid = column(noti.mid()), tid = column(noti.tid()), outcome = outcome.as_str(), %note, "Noti flagged for a person");
    } else {
        tracing::info!(noti = id, tid = column(noti.tid()), outcome = outcome.as_str(), %note, "Noti");
    }
    Ok(outcome)
}

/// How many times a Noti is judged again when its payment changed while it was being applied.
const RACES: usize = 3;

async fn judge(state: &AppState, noti: &Noti) -> Result<Verdict, NotiError> {
    let Some(reported) = noti.reported() else {
        return Ok(Verdict::new(
            NotiOutcome::Invalid,
            format!(
                "status {:?} / stateCd {:?} is neither paid (25) nor cancelled (85)",
                noti.get("status"),
                noti.get("stateCd")
            ),
            None,
        ));
    };
    let Some(mid) = noti.mid() else {
        return Ok(Verdict::new(
            NotiOutcome::Invalid,
            "no shopCode (MID)",
            None,
        ));
    };
    for _ in 0..RACES {
        let row = match find_payment(&state.store, mid, noti).await? {
            Ok(row) => row,
            Err(why) if reported == Reported::Paid && noti.is_virtual_account() => {
                let why = format!(
                    "a virtual-account deposit into account {:?} for no payment paydesk knows: {why}",
                    noti.get("vacctNo").unwrap_or_default()
                );
                return Ok(Verdict::new(NotiOutcome::Unmatched, why, None));
            }
            Err(why) => return Ok(Verdict::new(NotiOutcome::Unmatched, why, None)),
        };
        let deposit = reported == Reported::Paid && noti.is_virtual_account();
        if deposit {
            match judge_deposit(state, row, noti).await? {
                Some(verdict) => return Ok(verdict),
                None => continue,
            }
        }
        if let Some(problem) = disagreement(&row, noti, reported) {
            return Ok(Verdict::new(
                NotiOutcome::Contradiction,
                problem,
                Some(&row),
            ));
        }
        let verdict = match reported {
            Reported::Paid => judge_paid(state, row).await?,
            Reported::Cancelled => judge_cancelled(state, row, noti).await?,
        };
        if let Some(verdict) = verdict {
            return Ok(verdict);
        }
    }
    Ok(Verdict::new(
        NotiOutcome::Deferred,
        "the payment kept changing while this Noti was applied; the resend is judged again",
        None,
    ))
}

/// The payment the Noti is about: by MID and tid, else by MID and order id when that is unique.
async fn find_payment(
    store: &Store,
    mid: &str,
    noti: &Noti,
) -> Result<Result<PaymentRow, String>, StoreError> {
    if let Some(tid) = noti.tid()
        && let Some(row) = store.payment_by_tid(mid, tid).await?
    {
        return Ok(Ok(row));
    }
    let Some(moid) = noti.get("moid") else {
        return Ok(Err(format!(
            "no payment with MID {mid} and tid {:?}, and no moid",
            noti.tid()
        )));
    };
    let mut rows = store.payments_by_mid_order(mid, moid).await?;
    Ok(match rows.len() {
        1 => Ok(rows.remove(0)),
        0 => Err(format!(
            "no payment with MID {mid} and tid {:?} or moid {moid:?}",
            noti.tid()
        )),
        _ => Err(format!(
            "several payments of MID {mid} have moid {moid:?} and none has tid {:?}",
            noti.tid()
        )),
    })
}

fn total(row: &PaymentRow) -> i64 {
    row.amount + row.tax_free_amount
}

/// Where the Noti contradicts the stored payment's identity or amount.
fn disagreement(row: &PaymentRow, noti: &Noti, reported: Reported) -> Option<String> {
    if let Some(moid) = noti.get("moid")
        && moid != row.order_id
    {
        return Some(format!("moid {moid:?} is not the payment's order"));
    }
    if let (Some(tid), Some(stored)) = (noti.tid(), row.tid.as_deref())
        && tid != stored
    {
        return Some(format!("tid {tid} is not the payment's tid {stored}"));
    }
    // A cancel's approvalAmt may be the cancelled amount; goodsAmt is always the order total.
    let amount_keys: &[&str] = match reported {
        Reported::Paid => &["goodsAmt", "approvalAmt"],
        Reported::Cancelled => &["goodsAmt"],
    };
    let amount = amount_keys.iter().find_map(|k| noti.amount(k));
    match amount {
        Some(Err(field)) => Some(format!("{field} is not a whole number of won")),
        Some(Ok(won)) if won != total(row) => Some(format!(
            "amount {won} differs from the payment's {}",
            total(row)
        )),
        _ => None,
    }
}

/// A deposit into a virtual account. Its amount is what the depositor sent, which may differ from
/// the order's; Innopay's inquiry decides what is recorded. `None`: the payment changed meanwhile,
/// judge again.
async fn judge_deposit(
    state: &AppState,
    row: PaymentRow,
    noti: &Noti,
) -> Result<Option<Verdict>, NotiError> {
    if let Some(moid) = noti.get("moid")
        && moid != row.order_id
    {
        return Ok(Some(Verdict::new(
            NotiOutcome::Contradiction,
            format!("moid {moid:?} is not the payment's order"),
            Some(&row),
        )));
    }
    if let (Some(tid), Some(stored)) = (noti.tid(), row.tid.as_deref())
        && tid != stored
    {
        return Ok(Some(Verdict::new(
            NotiOutcome::Contradiction,
            format!("tid {tid} is not the payment's tid {stored}"),
            Some(&row),
        )));
    }
    let issued = row
        .method_details
        .as_ref()
        .and_then(MethodDetails::virtual_account)
        .and_then(|a| a.issued.as_ref());
    if let (Some(number), Some(issued)) = (noti.get("vacctNo"), issued)
        && number != issued.account_number
    {
        return Ok(Some(Verdict::new(
            NotiOutcome::Unmatched,
            format!(
                "a deposit into account {number}, which paydesk did not issue for this payment"
            ),
            Some(&row),
        )));
    }
    let status = row.status;
    let verdict = match status {
        PaymentStatus::Approving => Verdict::new(
            NotiOutcome::Deferred,
            "paydesk's own approval call is in flight and records the account first",
            Some(&row),
        ),
        PaymentStatus::Unknown if row.pending_cancel_amount.is_some() => Verdict::new(
            NotiOutcome::Deferred,
            "paydesk is taking this account back; the reconciler settles it with the deposit",
            Some(&row),
        ),
        // An issued account paydesk had not settled: the inquiry records it (and its deposit).
        PaymentStatus::Unknown => settle_by_inquiry(state, row).await?,
        PaymentStatus::Ready | PaymentStatus::Failed if row.pay_method.rules().paid_later => {
            Verdict::new(
                NotiOutcome::Contradiction,
                format!("Innopay reports a deposit for a payment paydesk recorded as {status}"),
                Some(&row),
            )
        }
        _ if !row.pay_method.rules().paid_later => Verdict::new(
            NotiOutcome::Contradiction,
            format!("a virtual-account deposit for a {} payment", row.pay_method),
            Some(&row),
        ),
        _ => match state
            .checkout
            .confirm_deposit(row.clone(), Cause::InnopayNoti)
            .await?
        {
            DepositOutcome::Paid(paid) => Verdict::new(
                NotiOutcome::Applied,
                "deposit confirmed by inquiry and recorded as paid",
                Some(&paid),
            ),
            DepositOutcome::AlreadyRecorded(current) => Verdict::new(
                NotiOutcome::Duplicate,
                format!("already recorded (now {})", current.status),
                Some(&current),
            ),
            DepositOutcome::Flagged(current, why) => {
                Verdict::new(NotiOutcome::Recorded, why, Some(&current))
            }
            DepositOutcome::NotDeposited(current) => Verdict::new(
                NotiOutcome::Contradiction,
                "Innopay's inquiry shows no deposit into this account",
                Some(&current),
            ),
            DepositOutcome::Closed(current) => Verdict::new(
                NotiOutcome::Contradiction,
                "Innopay's inquiry shows this account closed without a deposit",
                Some(&current),
            ),
            DepositOutcome::Inconclusive(why) => Verdict::new(
                NotiOutcome::Deferred,
                format!("Innopay's inquiry was inconclusive ({why}); not applied"),
                Some(&row),
            ),
            DepositOutcome::Raced => return Ok(None),
        },
    };
    Ok(Some(verdict))
}

/// A payment whose approval paydesk has not settled, which a Noti says is paid: Innopay's inquiry
/// settles it now (as the reconciler would, with cause `innopay_noti`).
async fn settle_by_inquiry(state: &AppState, row: PaymentRow) -> Result<Verdict, NotiError> {
    let settled = state
        .checkout
        .reconcile_one(row, Cause::InnopayNoti)
        .await?;
    Ok(match settled.status {
        PaymentStatus::Paid => Verdict::new(
            NotiOutcome::Applied,
            "confirmed by inquiry and recorded as paid",
            Some(&settled),
        ),
        PaymentStatus::Unknown | PaymentStatus::AwaitingDeposit => Verdict::new(
            NotiOutcome::Deferred,
            format!(
                "the payment is {} after Innopay's inquiry; the resend is judged again",
                settled.status
            ),
            Some(&settled),
        ),
        other => Verdict::new(
            NotiOutcome::Contradiction,
            format!(
                "Innopay's inquiry does not confirm the approval; the payment is {}",
                other.as_str()
            ),
            Some(&settled),
        ),
    })
}

/// A paid Noti. `None`: the payment changed meanwhile, judge again.
async fn judge_paid(state: &AppState, row: PaymentRow) -> Result<Option<Verdict>, NotiError> {
    let current = row.status;
    let verdict = match current {
        PaymentStatus::Paid | PaymentStatus::PartiallyCancelled | PaymentStatus::Cancelled => {
            Verdict::new(
                NotiOutcome::Duplicate,
                format!("already recorded (now {})", current.as_str()),
                Some(&row),
            )
        }
        PaymentStatus::Approving => Verdict::new(
            NotiOutcome::Deferred,
            "paydesk's own approval call is in flight and records its answer",
            Some(&row),
        ),
        PaymentStatus::Unknown if row.pending_cancel_amount.is_some() => Verdict::new(
            NotiOutcome::Deferred,
            "paydesk is confirming a cancel of this payment",
            Some(&row),
        ),
        // An unsigned Noti alone never marks a payment paid: Innopay's inquiry confirms it.
        PaymentStatus::Unknown => settle_by_inquiry(state, row).await?,
        PaymentStatus::Ready
        | PaymentStatus::Failed
        | PaymentStatus::Expired
        | PaymentStatus::AwaitingDeposit => Verdict::new(
            NotiOutcome::Contradiction,
            format!(
                "Innopay reports an approval of a payment paydesk recorded as {}",
                current.as_str()
            ),
            Some(&row),
        ),
    };
    Ok(Some(verdict))
}

/// A cancel Noti. `None`: the payment changed meanwhile, judge again.
async fn judge_cancelled(
    state: &AppState,
    row: PaymentRow,
    noti: &Noti,
) -> Result<Option<Verdict>, NotiError> {
    let total = total(&row);
    let remaining_here = total - row.cancelled_amount;
    // What Innopay has cancelled in all, so a resend or an overtaken Noti is recognised as recorded.
    let cancelled_there = match (noti.amount("remainAmt"), noti.amount("cancelAmt")) {
        (Some(Ok(remain)), _) => total - remain,
        (None, Some(Ok(amount))) if amount >= remaining_here => total,
        (None, Some(Ok(_))) => {
            return Ok(Some(Verdict::new(
                NotiOutcome::Contradiction,
                "a partial cancel without remainAmt: cannot tell whether it is already recorded",
                Some(&row),
            )));
        }
        (Some(Err(field)), _) | (None, Some(Err(field))) => {
            return Ok(Some(Verdict::new(
                NotiOutcome::Contradiction,
                format!("{field} is not a whole number of won"),
                Some(&row),
            )));
        }
        (None, None) => {
            return Ok(Some(Verdict::new(
                NotiOutcome::Invalid,
                "a cancel without cancelAmt or remainAmt",
                Some(&row),
            )));
        }
    };
    if !(1..=total).contains(&cancelled_there) {
        return Ok(Some(Verdict::new(
            NotiOutcome::Contradiction,
            format!("cancelled in all {cancelled_there} of a payment of {total}"),
            Some(&row),
        )));
    }
    let current = row.status;
    let verdict = match current {
        // An unpaid account is only ever closed whole; a refund of money it was not owed (a
        // flagged deposit) is for a person.
        PaymentStatus::AwaitingDeposit if cancelled_there < total => Verdict::new(
            NotiOutcome::Contradiction,
            format!(
                "a cancel of {cancelled_there} of {total} for a virtual account still awaiting \
                 its deposit"
            ),
            Some(&row),
        ),
        PaymentStatus::Paid
        | PaymentStatus::PartiallyCancelled
        | PaymentStatus::Cancelled
        | PaymentStatus::AwaitingDeposit => {
            if cancelled_there <= row.cancelled_amount {
                Verdict::new(
                    NotiOutcome::Duplicate,
                    format!(
                        "already recorded ({} of {total} cancelled)",
                        row.cancelled_amount
                    ),
                    Some(&row),
                )
            } else if row.pending_cancel_amount.is_some() {
                Verdict::new(
                    NotiOutcome::Deferred,
                    "paydesk's own cancel of this payment is in flight and records its answer",
                    Some(&row),
                )
            } else {
                let field = |key| noti.get(key).map(|v| clip(v, MAX_VALUE_BYTES));
                let detail = json!({
                    "cancelAmt": field("cancelAmt"),
                    "remainAmt": field("remainAmt"),
                    "cancelMsg": field("cancelMsg"),
                    "cancelDate": field("cancelDate"),
                    "cancelTime": field("cancelTime"),
                    "stateCd": field("stateCd"),
                });
                // Unsigned: only what Innopay's inquiry shows is recorded.
                match state
                    .checkout
                    .record_reported_cancel(&row, cancelled_there, detail)
                    .await?
                {
                    ReportedCancel::Recorded(recorded, amount) => Verdict::new(
                        NotiOutcome::Applied,
                        format!(
                            "cancel of {amount} confirmed by inquiry and recorded (now {})",
                            recorded.status
                        ),
                        Some(&recorded),
                    ),
                    ReportedCancel::Raced => return Ok(None),
                    ReportedCancel::NotShown(why) => Verdict::new(
                        NotiOutcome::Contradiction,
                        format!("Innopay's inquiry does not confirm this cancel: {why}"),
                        Some(&row),
                    ),
                    ReportedCancel::Inconclusive(why) => Verdict::new(
                        NotiOutcome::Deferred,
                        format!("Innopay's inquiry was inconclusive ({why}); not applied"),
                        Some(&row),
                    ),
                }
            }
        }
        PaymentStatus::Approving | PaymentStatus::Unknown => Verdict::new(
            NotiOutcome::Deferred,
            format!(
                "the payment is {}; paydesk settles its approval first",
                current.as_str()
            ),
            Some(&row),
        ),
        PaymentStatus::Ready | PaymentStatus::Failed | PaymentStatus::Expired => Verdict::new(
            NotiOutcome::Contradiction,
            format!(
                "Innopay reports a cancel of a payment paydesk recorded as {}",
                current.as_str()
            ),
            Some(&row),
        ),
    };
    Ok(Some(verdict))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The purge removes Noti with these outcomes (spelled in the store, which cannot see this
    /// module): each must be one of ours and none may ever be flagged for a person.
    #[test]
    fn the_outcomes_the_purge_removes_are_never_flagged() {
        use NotiOutcome::*;
        let all = [
            Applied,
            Duplicate,
            Recorded,
            Deferred,
            Unmatched,
            Contradiction,
            Invalid,
        ];
        for name in crate::store::retention::SETTLED_NOTI_OUTCOMES {
            let outcome = all.iter().find(|o| o.as_str() == name);
            assert!(outcome.is_some_and(|o| !o.flagged()), "{name}");
        }
    }

    #[test]
    fn status_or_state_code_says_what_is_reported() {
        let reported = |body: &str| Noti::parse(body.as_bytes()).reported();
        assert_eq!(reported("status=25&stateCd=0"), Some(Reported::Paid));
        assert_eq!(reported("status=85&stateCd=1"), Some(Reported::Cancelled));
        assert_eq!(reported("stateCd=2"), Some(Reported::Cancelled));
        assert_eq!(reported("status=99"), None);
        assert_eq!(reported(""), None);
    }

    #[test]
    fn the_gate_limits_each_address_or_v6_network_and_admits_only_allowed_ones() {
        let gate = Gate::new(&NotiConfig {
            allow: Some(vec![
                "10.0.0.0/8".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ]),
            rate_per_min: std::num::NonZeroU32::new(2).unwrap(),
        });
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(gate.admit(ip("10.1.2.3")).is_ok());
        assert!(matches!(
            gate.admit(ip("127.0.0.1")),
            Err(Refusal::Forbidden)
        ));
        assert!(matches!(gate.admit(None), Err(Refusal::Forbidden)));
        assert!(gate.admit(ip("10.1.2.3")).is_ok());
        assert!(matches!(
            gate.admit(ip("10.1.2.3")),
            Err(Refusal::RateLimited)
        ));
        assert!(
            gate.admit(ip("10.1.2.4")).is_ok(),
            "another address, its own limit"
        );
        // One /64 is one sender.
        assert!(gate.admit(ip("2001:db8::1")).is_ok());
        assert!(gate.admit(ip("2001:db8::ffff:1")).is_ok());
        assert!(matches!(
            gate.admit(ip("2001:db8::2")),
            Err(Refusal::RateLimited)
        ));
        assert!(gate.admit(ip("2001:db8:0:1::1")).is_ok());
    }

    #[test]
    fn clipping_keeps_whole_characters_and_marks_the_cut() {
        assert_eq!(clip("가나다", 9), "가나다");
        assert_eq!(clip("가나다", 8), "가…");
        assert_eq!(clip("abcdef", 5), "ab…");
    }

    #[test]
    fn fields_are_read_leniently() {
        let noti =
            Noti::parse("shopCode=testpay01m&transSeq=T1&goodsAmt=20%2C000&x=%B0%A1".as_bytes());
        assert_eq!(noti.mid(), Some("testpay01m"));
        assert_eq!(noti.tid(), Some("T1"));
        assert_eq!(noti.amount("goodsAmt"), Some(Ok(20_000)));
        assert!(noti.get("x").is_some(), "EUC-KR bytes are kept, lossily");
    }
}
