//! The console's handlers: each reads the signed-in user, checks the CSRF token of a form and the
//! user's permission, calls a service or store function, writes what the person did to the audit log,
//! and renders or redirects. `now` is read once per request and handed down.

use poem::http::StatusCode;
use poem::http::header::SET_COOKIE;
use poem::web::{Data, Form, Path, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::macros::{format_description, offset};
use time::{Duration, OffsetDateTime};

use crate::app::AppState;
use crate::checkout::{CancelResult, CheckoutError, NewCancel};
use crate::domain::{PayMethod, PaymentStatus};
use crate::help::{Audience, SuggestRequest};
use crate::pages::{escape, format_money};
use crate::store::console::{AuditAction, AuditRow, NewAudit, PaymentSearch};
use crate::store::idempotency::IdempotencyBegin;
use crate::store::payments::PaymentRow;
use crate::storefronts::{self, Storefront};

use super::Permission;
use super::auth::{
    self, ACCOUNT_RULE, ADDRESS_RULE, LOGIN_COOKIE, SESSION_COOKIE, Viewer, client_address, cookie,
    same_token, session_hash, set_cookie, signed_in,
};
use super::view::{
    self, action_label, format_phone, kst, mask_email, mask_name, mask_phone, see_other,
    status_label,
};

/// A submitted form, as pairs: read field by field so that a missing CSRF token is a 403, not a
/// 400 from a typed extractor.
type Fields = Vec<(String, String)>;

/// How long the console's cancel keys replay, as the API's.
const IDEMPOTENCY_TTL: Duration = Duration::hours(72);
/// Rows a list shows at most.
const LIST_LIMIT: u64 = 50;
/// Longest note or resolution text kept.
const NOTE_MAX: usize = 1000;

fn field<'a>(form: &'a Fields, name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Trimmed text of 1 to `max` characters.
fn text_field<'a>(form: &'a Fields, name: &str, max: usize) -> Option<&'a str> {
    field(form, name)
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.chars().count() <= max)
}

fn csrf_input(viewer: &Viewer) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(viewer.csrf())
    )
}

/// Appends one row to the audit log; a failure to record fails the request (an action that cannot
/// be audited is not done silently).
async fn record(
    state: &AppState,
    req: &Request,
    // The signed-in user, or what was typed as a user name (a failed login).
    who: Result<&Viewer, &str>,
    action: AuditAction,
    target: (Option<&str>, Option<i64>),
    detail: serde_json::Value,
    now: OffsetDateTime,
) -> Result<(), Response> {
    let address = client_address(req);
    state
        .store
        .append_audit(NewAudit {
            at: now,
            user: who.ok().map(|v| &v.user),
            username: who.err().unwrap_or_default(),
            action,
            payment_id: target.0,
            noti_id: target.1,
            detail,
            remote_addr: Some(&address),
        })
        .await
        .map_err(|e| view::store_error(&e))
}

/// The viewer, when the form carries their CSRF token and they may do `permission`; else the
/// answer (login, or 403).
async fn acting(
    req: &Request,
    state: &AppState,
    form: &Fields,
    permission: Permission,
    now: OffsetDateTime,
) -> Result<Viewer, Response> {
    let viewer = signed_in(req, state, now).await?;
    if !viewer.csrf_ok(field(form, "csrf")) || !viewer.may(permission) {
        return Err(view::forbidden());
    }
    Ok(viewer)
}

/// A payment the viewer may see, or 404 (another storefront's payment is not found, not forbidden:
/// its existence is not told).
async fn visible_payment(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
) -> Result<PaymentRow, Response> {
    match state.store.payment(id).await {
        Ok(Some(row)) if viewer.user.may_see_storefront(&row.storefront_id) => Ok(row),
        Ok(_) => Err(view::not_found()),
        Err(e) => Err(view::store_error(&e)),
    }
}

async fn storefront_of(state: &AppState, row: &PaymentRow) -> Result<Storefront, Response> {
    storefronts::find(&state.store, &row.storefront_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "console: storefront of a payment");
            view::not_found()
        })
}

macro_rules! try_page {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}

macro_rules! try_store {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(err) => return view::store_error(&err),
        }
    };
}

#[handler]
pub(super) async fn home() -> Response {
    see_other("/console/payments")
}

/// The login page, with a fresh login CSRF token in its cookie and form.
fn login_page(
    state: &AppState,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let token = auth::random_token();
    let error = error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>상담 콘솔 로그인</h1>{error}<form class=\"card\" method=\"post\" action=\"/console/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
         <p><label for=\"username\">아이디</label><input id=\"username\" name=\"username\" autocomplete=\"username\" value=\"{username}\" required></p>\
         <p><label for=\"password\">비밀번호</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></p>\
         <button type=\"submit\" id=\"login\">로그인</button></form>",
        username = escape(username),
    );
    let mut response = view::bare_page("상담 콘솔 로그인", body).into_response(status);
    if let Ok(value) = set_cookie(state, LOGIN_COOKIE, Some(&token)).parse() {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

#[handler]
pub(super) async fn login_form(req: &Request, Data(state): Data<&AppState>) -> Response {
    if signed_in(req, state, state.store.now()).await.is_ok() {
        return see_other("/console/payments");
    }
    login_page(state, "", None, StatusCode::OK)
}

fn locked_message(until: OffsetDateTime, now: OffsetDateTime) -> String {
    let minutes = ((until - now).whole_seconds() + 59) / 60;
    format!(
        "로그인에 여러 번 실패해 잠시 잠겼습니다. {}분 뒤에 다시 시도해 주세요. 비밀번호가 기억나지 않으면 관리자에게 재설정을 요청해 주세요.",
        minutes.max(1)
    )
}

#[handler]
pub(super) async fn login(
    req: &Request,
    Data(state): Data<&AppState>,
    Form(form): Form<Fields>,
) -> Response {
    let now = state.store.now();
    let expected = cookie(req, LOGIN_COOKIE);
    let token_ok = matches!(
        (field(&form, "csrf"), expected.as_deref()),
        (Some(sent), Some(expected)) if same_token(sent, expected)
    );
    if !token_ok {
        return view::forbidden();
    }
    let username: String = field(&form, "username")
        .unwrap_or_default()
        .trim()
        .chars()
        .take(64)
        .collect();
    let password = field(&form, "password").unwrap_or_default().to_string();
    let address = client_address(req);
    let (user_key, address_key) = auth::throttle_keys(&username, &address);
    let keys = [user_key.clone(), address_key.clone()];
    // A locked account or address is refused before its password is even checked.
    if let Some(until) = try_store!(state.store.login_locked_until(&keys, now).await) {
        return login_page(
            state,
            &username,
            Some(&locked_message(until, now)),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let user = try_store!(state.store.console_user_named(&username).await).filter(|u| !u.disabled);
    let matches =
        auth::verify_password(password, user.as_ref().map(|u| u.password_hash.clone())).await;
    let Some(user) = user.filter(|_| matches) else {
        try_store!(
            state
                .store
                .record_login_failure(&user_key, ACCOUNT_RULE, now)
                .await
        );
        try_store!(
            state
                .store
                .record_login_failure(&address_key, ADDRESS_RULE, now)
                .await
        );
        try_page!(
            record(
                state,
                req,
                Err(&username),
                AuditAction::LoginFailed,
                (None, None),
                json!({}),
                now
            )
            .await
        );
        if let Some(until) = try_store!(state.store.login_locked_until(&keys, now).await) {
            return login_page(
                state,
                &username,
                Some(&locked_message(until, now)),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        return login_page(
            state,
            &username,
            Some("아이디 또는 비밀번호가 올바르지 않습니다."),
            StatusCode::UNAUTHORIZED,
        );
    };
    try_store!(state.store.clear_login_failures(&user_key).await);
    // Always a new session id (no fixation): a session the browser already had is ended.
    if let Some(old) = cookie(req, SESSION_COOKIE) {
        try_store!(state.store.end_console_session(&session_hash(&old)).await);
    }
    let token = auth::random_token();
    let csrf = auth::random_token();
    try_store!(
        state
            .store
            .insert_console_session(&session_hash(&token), &user.id, &csrf, now)
            .await
    );
    try_store!(
        state
            .store
            .append_audit(NewAudit {
                at: now,
                user: Some(&user),
                username: &user.username,
                action: AuditAction::Login,
                payment_id: None,
                noti_id: None,
                detail: json!({}),
                remote_addr: Some(&address),
            })
            .await
    );
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", "/console/payments")
        .header("cache-control", "no-store")
        .header(SET_COOKIE, set_cookie(state, SESSION_COOKIE, Some(&token)))
        .header(SET_COOKIE, set_cookie(state, LOGIN_COOKIE, None))
        .finish()
}

fn signed_out(state: &AppState) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", "/console/login")
        .header("cache-control", "no-store")
        .header(SET_COOKIE, set_cookie(state, SESSION_COOKIE, None))
        .finish()
}

#[handler]
pub(super) async fn logout(
    req: &Request,
    Data(state): Data<&AppState>,
    Form(form): Form<Fields>,
) -> Response {
    let now = state.store.now();
    let viewer = try_page!(acting(req, state, &form, Permission::LookUp, now).await);
    try_store!(
        state
            .store
            .end_console_session(&viewer.session.id_hash)
            .await
    );
    try_page!(
        record(
            state,
            req,
            Ok(&viewer),
            AuditAction::Logout,
            (None, None),
            json!({}),
            now
        )
        .await
    );
    signed_out(state)
}

#[handler]
pub(super) async fn logout_everywhere(
    req: &Request,
    Data(state): Data<&AppState>,
    Form(form): Form<Fields>,
) -> Response {
    let now = state.store.now();
    let viewer = try_page!(acting(req, state, &form, Permission::LookUp, now).await);
    let ended = try_store!(state.store.end_console_sessions_of(&viewer.user.id).await);
    try_page!(
        record(
            state,
            req,
            Ok(&viewer),
            AuditAction::LogoutEverywhere,
            (None, None),
            json!({"sessions": ended}),
            now
        )
        .await
    );
    signed_out(state)
}

#[derive(Deserialize, Default)]
pub(super) struct SearchParams {
    q: Option<String>,
    status: Option<String>,
    method: Option<String>,
    storefront: Option<String>,
    from: Option<String>,
    to: Option<String>,
    flagged: Option<String>,
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The start of a KST day (`YYYY-MM-DD`), in UTC: times are stored and compared in UTC.
fn kst_day(text: &str) -> Option<OffsetDateTime> {
    time::Date::parse(text, format_description!("[year]-[month]-[day]"))
        .ok()
        .map(|d| {
            d.midnight()
                .assume_offset(offset!(+9))
                .to_offset(time::UtcOffset::UTC)
        })
}

fn option(value: &str, label: &str, selected: bool) -> String {
    format!(
        "<option value=\"{}\"{}>{}</option>",
        escape(value),
        if selected { " selected" } else { "" },
        escape(label)
    )
}

#[handler]
pub(super) async fn search(
    req: &Request,
    Data(state): Data<&AppState>,
    Query(params): Query<SearchParams>,
) -> Response {
    let now = state.store.now();
    let viewer = try_page!(signed_in(req, state, now).await);
    let status = non_empty(&params.status).and_then(PaymentStatus::parse);
    let method =
        non_empty(&params.method).and_then(|m| PayMethod::ALL.into_iter().find(|p| p.code() == m));
    let filter = PaymentSearch {
        text: non_empty(&params.q).map(str::to_string),
        status,
        pay_method: method,
        storefront_id: non_empty(&params.storefront).map(str::to_string),
        created_from: non_empty(&params.from).and_then(kst_day),
        created_to: non_empty(&params.to)
            .and_then(kst_day)
            .map(|d| d + Duration::days(1)),
        flagged: non_empty(&params.flagged).map(|_| true),
        allowed_storefronts: viewer.user.storefront_limit(),
        limit: LIST_LIMIT,
    };
    let rows = try_store!(state.store.search_payments(&filter).await);
    let shops: Vec<Storefront> = storefronts::list(&state.store)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|s| viewer.user.may_see_storefront(&s.id))
        .collect();
    let statuses: String = std::iter::once(option("", "모든 상태", status.is_none()))
        .chain(
            PaymentStatus::ALL
                .iter()
                .map(|s| option(s.as_str(), status_label(*s), Some(*s) == status)),
        )
        .collect();
    let methods: String = std::iter::once(option("", "모든 결제수단", method.is_none()))
        .chain(
            PayMethod::ALL
                .iter()
                .map(|m| option(m.code(), m.code(), Some(*m) == method)),
        )
        .collect();
    let chosen_shop = non_empty(&params.storefront);
    let shop_options: String = std::iter::once(option("", "모든 상점", chosen_shop.is_none()))
        .chain(
            shops
                .iter()
                .map(|s| option(&s.id, &s.name, Some(s.id.as_str()) == chosen_shop)),
        )
        .collect();
    let list: String = rows
        .iter()
        .map(|row| {
            let shop = shops
                .iter()
                .find(|s| s.id == row.storefront_id)
                .map_or(row.storefront_id.as_str(), |s| s.name.as_str());
            let flag = if row.flagged {
                " <span class=\"badge flag\">확인 필요</span>"
            } else {
                ""
            };
            format!(
                "<li class=\"payment-row\"><a href=\"/console/payments/{id}\"><strong>{goods}</strong></a> \
                 <span class=\"badge\">{status}</span>{flag}<br>{amount} · {method} · 주문번호 {order} · {shop}<br>\
                 <span class=\"buyer\">{name} · {phone} · {email}</span><br><span class=\"muted\">{at} · {id}</span></li>",
                id = escape(&row.id),
                goods = escape(&row.goods_name),
                status = status_label(row.status),
                amount = format_money(row.currency, row.amount),
                method = row.pay_method.code(),
                order = escape(&row.order_id),
                shop = escape(shop),
                name = escape(&mask_name(&row.buyer_name)),
                phone = escape(&mask_phone(&row.buyer_tel)),
                email = escape(&mask_email(&row.buyer_email)),
                at = kst(row.created_at),
            )
        })
        .collect();
    let results = if rows.is_empty() {
        "<p class=\"notice\" id=\"no-results\">찾은 결제가 없습니다. 주문번호, 전화번호, 이메일 등을 다시 확인해 주세요.</p>".to_string()
    } else {
        format!("<ul class=\"rows\" id=\"results\">{list}</ul>")
    };
    let body = format!(
        "<h1>결제 찾기</h1><form method=\"get\" action=\"/console/payments\" class=\"card\">\
         <div class=\"search\"><input id=\"q\" name=\"q\" value=\"{q}\" placeholder=\"주문번호, tid, 결제 id, 전화번호, 이메일, 이름\" aria-label=\"검색어\">\
         <button type=\"submit\" id=\"search\">찾기</button></div>\
         <div class=\"filters\" style=\"margin-top:8px\">\
         <label>상태<select name=\"status\">{statuses}</select></label>\
         <label>결제수단<select name=\"method\">{methods}</select></label>\
         <label>상점<select name=\"storefront\">{shop_options}</select></label>\
         <label>시작일<input type=\"date\" name=\"from\" value=\"{from}\"></label>\
         <label>종료일<input type=\"date\" name=\"to\" value=\"{to}\"></label>\
         <label><input type=\"checkbox\" name=\"flagged\" value=\"1\"{flagged} style=\"width:auto;min-height:0\"> 확인 필요만</label>\
         </div></form>{results}",
        q = escape(non_empty(&params.q).unwrap_or_default()),
        from = escape(non_empty(&params.from).unwrap_or_default()),
        to = escape(non_empty(&params.to).unwrap_or_default()),
        flagged = if filter.flagged.is_some() {
            " checked"
        } else {
            ""
        },
    );
    view::page(&viewer, "결제 찾기", body).into_response(StatusCode::OK)
}

/// What the page says after an action (`?msg=`): a fixed list, so no text travels in the URL.
#[derive(Clone, Copy)]
enum Notice {
    Cancelled,
    CancelPending,
    AlreadyDone,
    Busy,
    CancelRefused,
    InvalidCancel,
    Noted,
    Resolved,
    Redelivered,
    RedeliverFailed,
    InvalidNote,
}

impl Notice {
    const ALL: [Notice; 11] = [
        Notice::Cancelled,
        Notice::CancelPending,
        Notice::AlreadyDone,
        Notice::Busy,
        Notice::CancelRefused,
        Notice::InvalidCancel,
        Notice::Noted,
        Notice::Resolved,
        Notice::Redelivered,
        Notice::RedeliverFailed,
        Notice::InvalidNote,
    ];

    fn code(self) -> &'static str {
        match self {
            Notice::Cancelled => "cancelled",
            Notice::CancelPending => "cancel_pending",
            Notice::AlreadyDone => "already_done",
            Notice::Busy => "busy",
            Notice::CancelRefused => "cancel_refused",
            Notice::InvalidCancel => "invalid_cancel",
            Notice::Noted => "noted",
            Notice::Resolved => "resolved",
            Notice::Redelivered => "redelivered",
            Notice::RedeliverFailed => "redeliver_failed",
            Notice::InvalidNote => "invalid_note",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.code() == code)
    }

    /// The text and whether it reports a problem.
    fn text(self) -> (&'static str, bool) {
        match self {
            Notice::Cancelled => ("취소했습니다. 상점에 웹훅으로 알립니다.", false),
            Notice::CancelPending => (
                "이노페이의 답을 받지 못해 취소 결과를 확인하고 있습니다. 잠시 뒤 다시 확인해 주세요.",
                false,
            ),
            Notice::AlreadyDone => (
                "이 취소는 이미 처리되었습니다. 다시 취소하지 않았습니다.",
                false,
            ),
            Notice::Busy => (
                "다른 사람이 이 결제를 먼저 취소하고 있거나 취소했습니다. 페이지를 새로 고쳐 남은 금액을 확인해 주세요.",
                true,
            ),
            Notice::CancelRefused => (
                "취소하지 못했습니다. 아래 감사 기록의 사유를 확인해 주세요.",
                true,
            ),
            Notice::InvalidCancel => (
                "취소 금액(1원 이상, 남은 금액 이하)과 사유(100자 이내)를 확인해 주세요.",
                true,
            ),
            Notice::Noted => ("메모를 남겼습니다.", false),
            Notice::Resolved => ("확인 완료로 기록했습니다.", false),
            Notice::Redelivered => ("웹훅을 다시 보냈습니다.", false),
            Notice::RedeliverFailed => (
                "웹훅을 다시 보내지 못했습니다. 상점의 웹훅 주소를 확인해 주세요.",
                true,
            ),
            Notice::InvalidNote => ("메모를 1자 이상 1000자 이내로 적어 주세요.", true),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct NoticeParams {
    msg: Option<String>,
}

fn notice_html(params: &NoticeParams) -> String {
    params
        .msg
        .as_deref()
        .and_then(Notice::parse)
        .map(|n| {
            let (text, problem) = n.text();
            format!(
                "<p class=\"{}\" role=\"status\" id=\"notice\">{}</p>",
                if problem { "error" } else { "ok" },
                escape(text)
            )
        })
        .unwrap_or_default()
}

/// Copies `data-copy` of a clicked button to the clipboard and says so on the button.
const COPY_SCRIPT: &str = "document.addEventListener('click',function(e){\
var b=e.target.closest('[data-copy]');if(!b)return;var t=b.getAttribute('data-copy');\
var done=function(){b.textContent='복사됨';};\
var old=function(){var a=document.createElement('textarea');a.value=t;document.body.appendChild(a);a.select();document.execCommand('copy');a.remove();done();};\
if(navigator.clipboard&&navigator.clipboard.writeText){navigator.clipboard.writeText(t).then(done,old);}else{old();}});";

/// What an agent pastes into a chat or SMS with a help link.
fn message_template(link: &str) -> String {
    format!("고객님, 아래 안내를 확인해 주세요: {link}")
}

fn help_section(state: &AppState, row: &PaymentRow) -> String {
    if row.status != PaymentStatus::Failed && row.failure_code.is_none() {
        return String::new();
    }
    let hits = state.help.current().suggest(&SuggestRequest {
        message: row.failure_message.clone(),
        code: row.failure_code.as_ref().map(|c| c.code().to_string()),
        pay_method: Some(row.pay_method.code().to_string()),
        card_company: None,
        amount: Some(row.amount),
        user_agent: None,
        // What the agent sends on is for the shopper.
        reader: Audience::Shopper,
        limit: 0,
    });
    let items: String = hits
        .iter()
        .map(|hit| {
            let link = format!("{}{}", state.public_url, hit.url);
            let template = message_template(&link);
            let section = hit
                .section
                .as_deref()
                .map(|s| format!(" · {}", escape(s)))
                .unwrap_or_default();
            format!(
                "<li class=\"help-hit\"><a href=\"{link}\" target=\"_blank\" rel=\"noopener\">{title}</a>{section}\
                 <pre class=\"template\">{template_text}</pre><div class=\"actions\">\
                 <button type=\"button\" class=\"copy-link secondary\" data-copy=\"{link}\">링크 복사</button>\
                 <button type=\"button\" class=\"copy-template copy-link\" data-copy=\"{template_attr}\">안내 문구 복사</button></div></li>",
                link = escape(&link),
                title = escape(&hit.title),
                template_text = escape(&template),
                template_attr = escape(&template),
            )
        })
        .collect();
    format!(
        "<section class=\"card\" id=\"help\"><h2>고객에게 보낼 도움말</h2>\
         <p class=\"muted\">결제 실패 사유에 맞춰 paydesk가 고른 글입니다. 링크나 안내 문구를 복사해 채팅·문자로 보내세요.</p>\
         <ul class=\"rows\">{items}</ul></section>"
    )
}

/// One line of the timeline: the payment's events and what people did, in time order.
struct Moment {
    at: OffsetDateTime,
    what: String,
    detail: String,
}

fn detail_text(detail: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(detail) {
        Ok(serde_json::Value::Object(map)) if map.is_empty() => String::new(),
        Ok(value) => value.to_string(),
        Err(_) => detail.to_string(),
    }
}

#[handler]
pub(super) async fn payment(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
    Query(params): Query<NoticeParams>,
) -> Response {
    let now = state.store.now();
    let viewer = try_page!(signed_in(req, state, now).await);
    let row = try_page!(visible_payment(state, &viewer, &id).await);
    // The page shows the buyer in full: who looked is recorded before it is shown.
    try_page!(
        record(
            state,
            req,
            Ok(&viewer),
            AuditAction::ViewBuyer,
            (Some(&row.id), None),
            json!({}),
            now
        )
        .await
    );
    let events = try_store!(state.store.payment_events(&row.id).await);
    let actions = try_store!(state.store.audit_log(Some(&row.id), 500).await);
    let notis = try_store!(state.store.notis_of_payment(&row.id).await);
    let deliveries = try_store!(state.store.deliveries_of_payment(&row.id).await);
    let delivery_ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
    let attempts = try_store!(state.store.webhook_attempts(&delivery_ids).await);
    let shop = storefronts::find(&state.store, &row.storefront_id)
        .await
        .map(|s| s.name)
        .unwrap_or_else(|_| row.storefront_id.clone());

    let mut moments: Vec<Moment> = events
        .iter()
        .map(|e| Moment {
            at: e.created_at,
            what: format!(
                "{} → {} (원인: {})",
                e.kind,
                PaymentStatus::parse(&e.to_status)
                    .map_or(e.to_status.clone(), |s| status_label(s).to_string()),
                e.cause
            ),
            detail: detail_text(&e.detail),
        })
        .collect();
    moments.extend(
        actions
            .iter()
            .filter(|a| a.action != AuditAction::ViewBuyer)
            .map(|a| Moment {
                at: a.at,
                what: format!("{} (담당: {})", action_label(a.action), a.username),
                detail: detail_text(&a.detail),
            }),
    );
    moments.sort_by_key(|m| m.at);
    let timeline: String = moments
        .iter()
        .map(|m| {
            format!(
                "<li><span class=\"muted\">{}</span><br>{}{}</li>",
                kst(m.at),
                escape(&m.what),
                if m.detail.is_empty() {
                    String::new()
                } else {
                    format!("<pre>{}</pre>", escape(&m.detail))
                }
            )
        })
        .collect();

    let resolved = actions
        .iter()
        .any(|a| a.action == AuditAction::ResolvePayment);
    let csrf = csrf_input(&viewer);
    let flag = match (&row.flag_reason, row.flagged, resolved) {
        (reason, true, false) => {
            let form = if viewer.may(Permission::Resolve) {
                format!(
                    "<form method=\"post\" action=\"/console/payments/{id}/resolve\">{csrf}\
                     <label for=\"resolve-note\">처리 내용</label><textarea id=\"resolve-note\" name=\"note\" required maxlength=\"1000\"></textarea>\
                     <button type=\"submit\" id=\"resolve\">확인 완료로 기록</button></form>",
                    id = escape(&row.id)
                )
            } else {
                "<p class=\"muted\">관리자가 확인 완료로 기록할 수 있습니다.</p>".into()
            };
            format!(
                "<section class=\"error\" id=\"flag\"><strong>확인 필요:</strong> {}{form}</section>",
                escape(reason.as_deref().unwrap_or("사유 없음"))
            )
        }
        (_, true, true) => {
            "<p class=\"ok\">확인 필요였던 결제이며, 확인 완료로 기록되었습니다.</p>".into()
        }
        _ => String::new(),
    };
    let failure = row
        .failure_code
        .as_ref()
        .map(|code| {
            format!(
                "<dt>실패 코드</dt><dd id=\"failure-code\">{}</dd><dt>실패 메시지</dt><dd>{}</dd>",
                escape(code.code()),
                escape(row.failure_message.as_deref().unwrap_or_default())
            )
        })
        .unwrap_or_default();
    let remaining = row.amount - row.cancelled_amount;
    let cancellable = matches!(
        row.status,
        PaymentStatus::Paid | PaymentStatus::PartiallyCancelled
    ) && remaining > 0;
    let cancel_form = if cancellable && viewer.may(Permission::Cancel) {
        format!(
            "<section class=\"card\" id=\"cancel\"><h2>취소·환불</h2><p>남은 금액 {rest}</p>\
             <form method=\"post\" action=\"/console/payments/{id}/cancel\">{csrf}\
             <input type=\"hidden\" name=\"version\" value=\"{version}\"><input type=\"hidden\" name=\"remaining\" value=\"{remaining}\">\
             <p><label for=\"cancel-amount\">취소 금액 (비우면 남은 금액 전부)</label><input id=\"cancel-amount\" name=\"amount\" inputmode=\"numeric\" pattern=\"[0-9]*\"></p>\
             <p><label for=\"cancel-reason\">사유</label><input id=\"cancel-reason\" name=\"reason\" required maxlength=\"100\"></p>\
             <button type=\"submit\" id=\"cancel-submit\">취소하기</button></form></section>",
            id = escape(&row.id),
            rest = format_money(row.currency, remaining),
            version = row.version,
        )
    } else {
        String::new()
    };
    let note_form = format!(
        "<section class=\"card\" id=\"notes\"><h2>메모</h2><form method=\"post\" action=\"/console/payments/{id}/note\">{csrf}\
         <textarea name=\"note\" id=\"note-text\" required maxlength=\"1000\"></textarea>\
         <button type=\"submit\" id=\"note-submit\">메모 남기기</button></form></section>",
        id = escape(&row.id)
    );
    let delivery_list: String = deliveries
        .iter()
        .map(|d| {
            let tries: String = attempts
                .iter()
                .filter(|a| a.delivery_id == d.id)
                .map(|a| {
                    format!(
                        "<li>{} · {} · {} ms{}</li>",
                        kst(a.attempted_at),
                        a.status_code.map_or("응답 없음".to_string(), |s| s.to_string()),
                        a.duration_ms,
                        a.error
                            .as_deref()
                            .map(|e| format!(" · {}", escape(e)))
                            .unwrap_or_default()
                    )
                })
                .collect();
            let button = if viewer.may(Permission::Redeliver) {
                format!(
                    "<form method=\"post\" action=\"/console/payments/{pid}/redeliver\" class=\"inline\">{csrf}\
                     <input type=\"hidden\" name=\"delivery\" value=\"{did}\"><button type=\"submit\" class=\"secondary copy-link\">다시 보내기</button></form>",
                    pid = escape(&row.id),
                    did = escape(&d.id)
                )
            } else {
                String::new()
            };
            format!(
                "<li class=\"delivery\">{} · {} · 시도 {}회 {button}<ul>{tries}</ul></li>",
                escape(&d.id),
                escape(&d.status),
                d.attempts
            )
        })
        .collect();
    let noti_list: String = notis
        .iter()
        .map(|n| {
            format!(
                "<li>{} · 상태 {} · {}{} <pre>{}</pre></li>",
                kst(n.received_at),
                escape(n.status.as_deref().unwrap_or("-")),
                escape(&n.outcome),
                if n.flagged {
                    " <span class=\"badge flag\">확인 필요</span>"
                } else {
                    ""
                },
                escape(&n.note)
            )
        })
        .collect();
    let body = format!(
        "{notice}<h1 id=\"goods\">{goods}</h1><p class=\"amount\">{amount}</p>\
         <p><span class=\"badge\" id=\"status\">{status}</span> {method}</p>{flag}\
         <div class=\"columns\"><section class=\"card\"><h2>결제 정보</h2><dl>\
         <dt>결제 id</dt><dd>{id}</dd><dt>주문번호</dt><dd>{order}</dd><dt>tid</dt><dd>{tid}</dd>\
         <dt>상점</dt><dd>{shop}</dd><dt>만든 때</dt><dd>{created}</dd><dt>승인번호</dt><dd>{approval}</dd>\
         <dt>취소된 금액</dt><dd>{cancelled}</dd>{failure}</dl></section>\
         <section class=\"card\" id=\"buyer\"><h2>구매자 (열람 기록됨)</h2><dl>\
         <dt>이름</dt><dd id=\"buyer-name\">{buyer}</dd><dt>전화</dt><dd>{tel}</dd><dt>이메일</dt><dd>{email}</dd></dl></section></div>\
         {help}{cancel_form}<section class=\"card\"><h2>타임라인</h2><ul class=\"timeline\">{timeline}</ul></section>\
         {note_form}<section class=\"card\" id=\"webhooks\"><h2>웹훅 전송</h2><ul>{delivery_list}</ul></section>\
         <section class=\"card\"><h2>받은 Noti</h2><ul>{noti_list}</ul></section>",
        notice = notice_html(&params),
        goods = escape(&row.goods_name),
        amount = format_money(row.currency, row.amount),
        status = status_label(row.status),
        method = row.pay_method.code(),
        id = escape(&row.id),
        order = escape(&row.order_id),
        tid = escape(row.tid.as_deref().unwrap_or("-")),
        shop = escape(&shop),
        created = kst(row.created_at),
        approval = escape(row.approval_number.as_deref().unwrap_or("-")),
        cancelled = format_money(row.currency, row.cancelled_amount),
        buyer = escape(&row.buyer_name),
        tel = escape(&format_phone(&row.buyer_tel)),
        email = escape(&row.buyer_email),
        help = help_section(state, &row),
    );
    view::page(&viewer, "결제 상세", body)
        .with_script(COPY_SCRIPT.to_string())
        .into_response(StatusCode::OK)
}

fn back_to(row_id: &str, notice: Notice) -> Response {
    see_other(&format!(
        "/console/payments/{}?msg={}",
        percent_encoding::utf8_percent_encode(row_id, percent_encoding::NON_ALPHANUMERIC),
        notice.code()
    ))
}

/// The notice for a cancel the service refused.
fn refused(err: &CheckoutError) -> Notice {
    match err {
        CheckoutError::CancelInProgress | CheckoutError::StaleRemainingAmount { .. } => {
            Notice::Busy
        }
        CheckoutError::CancelExceedsRemaining { .. } | CheckoutError::InvalidField { .. } => {
            Notice::InvalidCancel
        }
        _ => Notice::CancelRefused,
    }
}

/// A cancel from the console: the API's service, checks and idempotency. The key is the payment
/// and the version the admin saw, so the same form sent twice (a double click, two consoles
/// showing the same version) cancels once, and `remaining` refuses a form older than a cancel made
/// since.
#[handler]
pub(super) async fn cancel(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    let now = state.store.now();
    let viewer = try_page!(acting(req, state, &form, Permission::Cancel, now).await);
    let row = try_page!(visible_payment(state, &viewer, &id).await);
    let amount = match field(&form, "amount")
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        None => None,
        // In the payment's own unit (won, US cents): the service types it against the payment.
        Some(text) => match text.parse::<i64>().ok().filter(|a| *a >= 1) {
            Some(amount) => Some(amount),
            None => return back_to(&row.id, Notice::InvalidCancel),
        },
    };
    let Some(reason) = text_field(&form, "reason", 100) else {
        return back_to(&row.id, Notice::InvalidCancel);
    };
    let Some(expected) = field(&form, "remaining")
        .and_then(|r| r.trim().parse::<i64>().ok())
        .filter(|r| *r >= 0)
    else {
        return back_to(&row.id, Notice::InvalidCancel);
    };
    let version = field(&form, "version").unwrap_or_default();
    let storefront = try_page!(storefront_of(state, &row).await);
    let key = format!("console:{}:v{}", row.id, version);
    let route = format!("POST /console/payments/{}/cancel", row.id);
    let fingerprint = hex::encode(Sha256::digest(format!("{amount:?}|{expected}").as_bytes()));
    let mut detail = json!({
        "amount": amount,
        "expectedRemaining": expected,
        "reason": reason,
    });
    let begin = try_store!(
        state
            .store
            .idempotency_begin(&storefront.id, &key, &route, &fingerprint, IDEMPOTENCY_TTL)
            .await
    );
    let notice = match begin {
        IdempotencyBegin::New => {
            let request = NewCancel {
                amount,
                reason: reason.to_string(),
                expected_remaining: Some(expected),
                refund_account: None,
            };
            match state.checkout.cancel(&storefront, &row.id, request).await {
                Ok(result) => {
                    let (status, notice) = match &result {
                        CancelResult::Done(_) => (200, Notice::Cancelled),
                        CancelResult::Pending(_) => (202, Notice::CancelPending),
                    };
                    let (CancelResult::Done(after) | CancelResult::Pending(after)) = &result;
                    detail["result"] = json!(after.status.as_str());
                    let answer = json!({"id": after.id, "status": after.status.as_str()});
                    try_store!(
                        state
                            .store
                            .idempotency_finish(&storefront.id, &key, status, &answer.to_string())
                            .await
                    );
                    notice
                }
                Err(err) => {
                    try_store!(state.store.idempotency_abandon(&storefront.id, &key).await);
                    detail["error"] = json!(err.to_string());
                    refused(&err)
                }
            }
        }
        IdempotencyBegin::Replay { .. } => {
            detail["result"] = json!("replayed: already cancelled by this form");
            Notice::AlreadyDone
        }
        IdempotencyBegin::Mismatch | IdempotencyBegin::InProgress => {
            detail["error"] = json!("another cancel of this payment was started from the console");
            Notice::Busy
        }
    };
    try_page!(
        record(
            state,
            req,
            Ok(&viewer),
            AuditAction::Cancel,
            (Some(&row.id), None),
            detail,
            now
        )
        .await
    );
    back_to(&row.id, notice)
}

/// A note an agent writes on a payment: a plain note (anyone who may look the payment up), or the
/// resolution of a flagged payment (the flag's reason kept beside it).
struct NoteKind {
    permission: Permission,
    action: AuditAction,
    flagged_only: bool,
    notice: Notice,
}

const NOTE: NoteKind = NoteKind {
    permission: Permission::LookUp,
    action: AuditAction::Note,
    flagged_only: false,
    notice: Notice::Noted,
};

const RESOLUTION: NoteKind = NoteKind {
    permission: Permission::Resolve,
    action: AuditAction::ResolvePayment,
    flagged_only: true,
    notice: Notice::Resolved,
};

async fn write_note(
    req: &Request,
    state: &AppState,
    id: &str,
    form: &Fields,
    kind: &NoteKind,
) -> Response {
    let now = state.store.now();
    let viewer = try_page!(acting(req, state, form, kind.permission, now).await);
    let row = try_page!(visible_payment(state, &viewer, id).await);
    let Some(text) =
        text_field(form, "note", NOTE_MAX).filter(|_| !kind.flagged_only || row.flagged)
    else {
        return back_to(&row.id, Notice::InvalidNote);
    };
    let mut detail = json!({"note": text});
    if kind.flagged_only {
        detail["flagReason"] = json!(row.flag_reason);
    }
    try_page!(
        record(
            state,
            req,
            Ok(&viewer),
            kind.action,
            (Some(&row.id), None),
            detail,
            now
        )
        .await
    );
    back_to(&row.id, kind.notice)
}

#[handler]
pub(super) async fn note(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    write_note(req, state, &id, &form, &NOTE).await
}

#[handler]
pub(super) async fn resolve_payment(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    write_note(req, state, &id, &form, &RESOLUTION).await
}

#[handler]
pub(super) async fn redeliver(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    let now = state.store.now();
    let viewer = try_page!(acting(req, state, &form, Permission::Redeliver, now).await);
    let row = try_page!(visible_payment(state, &viewer, &id).await);
    let deliveries = try_store!(state.store.deliveries_of_payment(&row.id).await);
    let Some(delivery) =
        field(&form, "delivery").and_then(|d| deliveries.iter().find(|x| x.id == d))
    else {
        return view::not_found();
    };
    let storefront = try_page!(storefront_of(state, &row).await);
    let (notice, detail) = match state.webhooks.redeliver(&storefront, &delivery.id).await {
        Ok(again) => (
            Notice::Redelivered,
            json!({"delivery": delivery.id, "newDelivery": again.delivery.id}),
        ),
        Err(err) => (
            Notice::RedeliverFailed,
            json!({"delivery": delivery.id, "error": err.to_string()}),
        ),
    };
    try_page!(
        record(
            state,
            req,
            Ok(&viewer),
            AuditAction::Redeliver,
            (Some(&row.id), None),
            detail,
            now
        )
        .await
    );
    back_to(&row.id, notice)
}

/// What a person can do about a flagged Noti, by what paydesk made of it.
fn noti_advice(outcome: &str) -> &'static str {
    match outcome {
        "unmatched" => {
            "paydesk의 어느 결제와도 맞지 않습니다. 이노페이 가맹점 관리자에서 이 tid를 찾아 어느 주문인지 확인하고, 필요하면 그곳에서 취소해 주세요."
        }
        "contradiction" => {
            "저장된 결제와 내용이 다릅니다(금액, 주문, 상태). 이노페이 가맹점 관리자의 거래 내역과 결제 페이지를 비교해 주세요."
        }
        _ => {
            "받은 내용과 이노페이 거래 내역을 비교하고, 처리한 내용을 적어 확인 완료로 기록해 주세요."
        }
    }
}

#[handler]
pub(super) async fn flags(
    req: &Request,
    Data(state): Data<&AppState>,
    Query(params): Query<NoticeParams>,
) -> Response {
    let now = state.store.now();
    let viewer = try_page!(signed_in(req, state, now).await);
    let limit = viewer.user.storefront_limit();
    let payments = try_store!(
        state
            .store
            .unresolved_flagged_payments(limit.as_deref(), 100)
            .await
    );
    // A Noti may belong to no payment (unmatched), hence to no storefront: only users limited to
    // none see them.
    let notis = if limit.is_none() {
        try_store!(state.store.unresolved_flagged_notis(100).await)
    } else {
        Vec::new()
    };
    let csrf = csrf_input(&viewer);
    let payment_items: String = payments
        .iter()
        .map(|p| {
            format!(
                "<li class=\"flagged-payment\"><a href=\"/console/payments/{id}\">{goods}</a> · {amount} · {status}<br>\
                 <strong>왜:</strong> {reason}<br><span class=\"muted\">{at}</span><br>\
                 할 일: 결제 페이지에서 타임라인과 이노페이 코드를 확인하고, 필요하면 취소한 뒤 처리 내용을 적어 확인 완료로 기록하세요.</li>",
                id = escape(&p.id),
                goods = escape(&p.goods_name),
                amount = format_money(p.currency, p.amount),
                status = status_label(p.status),
                reason = escape(p.flag_reason.as_deref().unwrap_or("사유 없음")),
                at = kst(p.updated_at),
            )
        })
        .collect();
    let noti_items: String = notis
        .iter()
        .map(|n| {
            let resolve = if viewer.may(Permission::Resolve) {
                format!(
                    "<form method=\"post\" action=\"/console/notis/{id}/resolve\">{csrf}\
                     <label for=\"noti-note-{id}\">처리 내용</label><textarea id=\"noti-note-{id}\" name=\"note\" required maxlength=\"1000\"></textarea>\
                     <button type=\"submit\" id=\"resolve-noti-{id}\">확인 완료로 기록</button></form>",
                    id = n.id
                )
            } else {
                String::new()
            };
            let payment_link = n
                .payment_id
                .as_deref()
                .map(|p| format!(" · <a href=\"/console/payments/{0}\">{0}</a>", escape(p)))
                .unwrap_or_default();
            format!(
                "<li class=\"flagged-noti\" id=\"noti-{id}\">Noti #{id} · {at} · tid {tid} · 주문 {moid}{payment_link}<br>\
                 <strong>왜:</strong> {outcome} — {note}<br>할 일: {advice}<pre>{fields}</pre>{resolve}</li>",
                id = n.id,
                at = kst(n.received_at),
                tid = escape(n.tid.as_deref().unwrap_or("-")),
                moid = escape(n.moid.as_deref().unwrap_or("-")),
                outcome = escape(&n.outcome),
                note = escape(&n.note),
                advice = noti_advice(&n.outcome),
                fields = escape(&n.fields),
            )
        })
        .collect();
    let empty = "<p class=\"muted\">없습니다.</p>";
    let body = format!(
        "{notice}<h1>확인 필요</h1><p class=\"muted\">paydesk가 사람의 확인이 필요하다고 표시한 것들입니다. 오래된 것부터 보여 줍니다.</p>\
         <section class=\"card\"><h2>결제 ({pc})</h2>{payments}</section>\
         <section class=\"card\"><h2>Noti ({nc})</h2>{notis}</section>",
        notice = notice_html(&params),
        pc = payments.len(),
        nc = notis.len(),
        payments = if payments.is_empty() {
            empty.to_string()
        } else {
            format!("<ul class=\"rows\">{payment_items}</ul>")
        },
        notis = if notis.is_empty() {
            empty.to_string()
        } else {
            format!("<ul class=\"rows\">{noti_items}</ul>")
        },
    );
    view::page(&viewer, "확인 필요", body).into_response(StatusCode::OK)
}

#[handler]
pub(super) async fn resolve_noti(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<i64>,
    Form(form): Form<Fields>,
) -> Response {
    let now = state.store.now();
    let viewer = try_page!(acting(req, state, &form, Permission::Resolve, now).await);
    if viewer.user.storefront_limit().is_some() {
        return view::forbidden();
    }
    let Some(noti) = try_store!(state.store.noti(id).await).filter(|n| n.flagged) else {
        return view::not_found();
    };
    let Some(text) = text_field(&form, "note", NOTE_MAX) else {
        return see_other(&format!(
            "/console/flags?msg={}",
            Notice::InvalidNote.code()
        ));
    };
    try_page!(
        record(
            state,
            req,
            Ok(&viewer),
            AuditAction::ResolveNoti,
            (noti.payment_id.as_deref(), Some(noti.id)),
            json!({"note": text, "outcome": noti.outcome}),
            now
        )
        .await
    );
    see_other(&format!("/console/flags?msg={}", Notice::Resolved.code()))
}

#[derive(Deserialize)]
pub(super) struct AnalyticsParams {
    days: Option<u32>,
}

/// A list of counts with a bar each (inline SVG: no script, no asset).
fn bars(rows: &[(String, i64)], id: &str) -> String {
    if rows.is_empty() {
        return "<p class=\"muted\">아직 없습니다.</p>".into();
    }
    let max = rows.iter().map(|(_, c)| *c).max().unwrap_or(1).max(1);
    let items: String = rows
        .iter()
        .map(|(label, count)| {
            let width = (count * 100 / max).max(1);
            format!(
                "<li>{label} <strong>{count}</strong>\
                 <svg width=\"100%\" height=\"12\" viewBox=\"0 0 100 12\" preserveAspectRatio=\"none\" aria-hidden=\"true\">\
                 <rect width=\"{width}\" height=\"12\" rx=\"2\" fill=\"#0b57d0\"/></svg></li>",
                label = escape(label),
            )
        })
        .collect();
    format!("<ul class=\"rows chart\" id=\"{id}\">{items}</ul>")
}

#[handler]
pub(super) async fn analytics(
    req: &Request,
    Data(state): Data<&AppState>,
    Query(params): Query<AnalyticsParams>,
) -> Response {
    let now = state.store.now();
    let viewer = try_page!(signed_in(req, state, now).await);
    let days = params.days.unwrap_or(30).clamp(1, 365);
    let report = try_store!(
        state
            .store
            .help_analytics()
            .report(now - Duration::days(i64::from(days)), 20)
            .await
    );
    let help = state.help.current();
    let title = |slug: &str| {
        help.article(slug)
            .map_or_else(|| slug.to_string(), |a| a.title.clone())
    };
    let top: Vec<(String, i64)> = report
        .top_queries
        .iter()
        .map(|c| (c.key.clone(), c.count))
        .collect();
    let zero: Vec<(String, i64)> = report
        .zero_result_queries
        .iter()
        .map(|c| (c.key.clone(), c.count))
        .collect();
    let mut unhelpful: Vec<(String, i64)> = report
        .feedback
        .iter()
        .filter(|f| f.not_helpful > 0)
        .map(|f| {
            (
                format!("{} (도움됨 {})", title(&f.slug), f.helpful),
                f.not_helpful,
            )
        })
        .collect();
    unhelpful.sort_by_key(|u| std::cmp::Reverse(u.1));
    let periods: String = [7u32, 30, 90, 365]
        .iter()
        .map(|d| format!("<a href=\"/console/analytics?days={d}\">{d}일</a>"))
        .collect::<Vec<_>>()
        .join(" · ");
    let body = format!(
        "<h1>도움말 분석</h1><p>최근 {days}일 · 검색 {searches}회, 결과 없음 {fallback}회 · {periods}</p>\
         <div class=\"columns\"><section class=\"card\"><h2>많이 찾은 검색어</h2>{top}</section>\
         <section class=\"card\"><h2>결과가 없던 검색어</h2><p class=\"muted\">새 글이나 동의어가 필요한 곳입니다.</p>{zero}</section></div>\
         <section class=\"card\"><h2>도움이 안 됐다는 글</h2>{unhelpful}</section>",
        searches = report.searches,
        fallback = report.fallback_searches,
        top = bars(&top, "top-queries"),
        zero = bars(&zero, "zero-result-queries"),
        unhelpful = bars(&unhelpful, "unhelpful-articles"),
    );
    view::page(&viewer, "도움말 분석", body).into_response(StatusCode::OK)
}

/// Rows the audit page shows; the CSV has them all.
const AUDIT_PAGE_ROWS: u64 = 500;
const AUDIT_EXPORT_ROWS: u64 = 1_000_000;

#[handler]
pub(super) async fn audit(req: &Request, Data(state): Data<&AppState>) -> Response {
    let now = state.store.now();
    let viewer = try_page!(signed_in(req, state, now).await);
    if !viewer.may(Permission::ViewAudit) {
        return view::forbidden();
    }
    let rows = try_store!(state.store.audit_log(None, AUDIT_PAGE_ROWS).await);
    let items: String = rows
        .iter()
        .map(|r| {
            let target = r
                .payment_id
                .as_deref()
                .map(|p| format!(" · <a href=\"/console/payments/{0}\">{0}</a>", escape(p)))
                .unwrap_or_default();
            let noti = r.noti_id.map(|n| format!(" · Noti #{n}")).unwrap_or_default();
            format!(
                "<li class=\"audit-row\" data-action=\"{code}\">{at} · <strong>{who}</strong> · {what}{target}{noti}<pre>{detail}</pre></li>",
                code = r.action.as_str(),
                at = kst(r.at),
                who = escape(&r.username),
                what = action_label(r.action),
                detail = escape(&detail_text(&r.detail)),
            )
        })
        .collect();
    let body = format!(
        "<h1>감사 기록</h1><p>누가 언제 무엇을 했는지, 고칠 수 없게 쌓입니다. \
         <a href=\"/console/audit.csv\" id=\"export\">CSV로 내려받기</a></p><ul class=\"rows\">{items}</ul>"
    );
    view::page(&viewer, "감사 기록", body).into_response(StatusCode::OK)
}

/// One CSV field: quoted, and a leading `= + - @` neutralised so a spreadsheet does not run it
/// as a formula (text in notes comes from people and shoppers).
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn csv_line(r: &AuditRow) -> String {
    [
        r.id.to_string(),
        r.at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        r.username.clone(),
        r.action.as_str().to_string(),
        r.payment_id.clone().unwrap_or_default(),
        r.noti_id.map(|n| n.to_string()).unwrap_or_default(),
        r.detail.clone(),
        r.remote_addr.clone().unwrap_or_default(),
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
}

#[handler]
pub(super) async fn audit_csv(req: &Request, Data(state): Data<&AppState>) -> Response {
    let now = state.store.now();
    let viewer = try_page!(signed_in(req, state, now).await);
    if !viewer.may(Permission::ViewAudit) {
        return view::forbidden();
    }
    try_page!(
        record(
            state,
            req,
            Ok(&viewer),
            AuditAction::AuditExported,
            (None, None),
            json!({}),
            now
        )
        .await
    );
    let rows = try_store!(state.store.audit_log(None, AUDIT_EXPORT_ROWS).await);
    let mut csv = String::from("id,at,user,action,payment_id,noti_id,detail,remote_addr\r\n");
    for row in rows.iter().rev() {
        csv.push_str(&csv_line(row));
        csv.push_str("\r\n");
    }
    Response::builder()
        .status(StatusCode::OK)
        .content_type("text/csv; charset=utf-8")
        .header(
            "content-disposition",
            "attachment; filename=\"paydesk-audit.csv\"",
        )
        .header("cache-control", "no-store")
        .body(csv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_cannot_become_formulas() {
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("메모"), "\"메모\"");
    }

    #[test]
    fn every_notice_round_trips() {
        for n in Notice::ALL {
            assert!(Notice::parse(n.code()).is_some_and(|p| p.code() == n.code()));
        }
    }
}
