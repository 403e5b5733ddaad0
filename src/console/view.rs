//! How the console writes things: the page frame with its navigation, Korean labels, KST times,
//! masked buyer details. Every interpolated value goes through `pages::escape`.

use poem::Response;
use poem::http::StatusCode;
use time::OffsetDateTime;
use time::macros::{format_description, offset};

use crate::domain::PaymentStatus;
use crate::pages::{Page, escape};
use crate::store::StoreError;
use crate::store::console::AuditAction;

use super::Permission;
use super::auth::Viewer;

/// The console's own styles on top of the shared stylesheet: wider on a laptop, cards on a phone.
const STYLE: &str = "<style>\
main{max-width:1100px}\
.console-nav{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;margin:4px 0 12px}\
.console-nav form{margin:0}.console-nav button{min-height:36px;padding:6px 12px;font-size:.9rem}\
.rows{list-style:none;padding:0;margin:8px 0}\
.rows>li{background:#fff;border:1px solid #e3e6ea;border-radius:12px;padding:12px 16px;margin:8px 0}\
.badge{display:inline-block;padding:0 8px;border-radius:8px;background:#e8eaed;font-size:.9rem}\
.badge.flag{background:#fdecea;color:#7a1c12}\
.filters{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px;align-items:end}\
.filters label{display:block;font-size:.9rem;color:#59636e}\
.search{display:flex;gap:8px}.search input{flex:1;min-width:0}\
.bar{display:block;height:12px;background:#0b57d0;border-radius:4px}\
pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:.9rem;margin:4px 0}\
form.inline{display:inline}\
@media(min-width:900px){.columns{display:grid;grid-template-columns:1fr 1fr;gap:0 16px}}\
</style>";

/// A console page for a signed-in user.
pub(super) fn page<'a>(viewer: &Viewer, title: &'a str, body: String) -> Page<'a> {
    let audit = if viewer.may(Permission::ViewAudit) {
        "<a href=\"/console/audit\">감사 기록</a>"
    } else {
        ""
    };
    let csrf = escape(viewer.csrf());
    let nav = format!(
        "<nav class=\"console-nav\" aria-label=\"콘솔 메뉴\"><strong>paydesk 상담 콘솔</strong>\
         <a href=\"/console/payments\">결제 찾기</a><a href=\"/console/flags\">확인 필요</a>\
         <a href=\"/console/analytics\">도움말 분석</a>{audit}\
         <span class=\"muted\">{user} ({role})</span>\
         <form method=\"post\" action=\"/console/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button class=\"secondary\" type=\"submit\">로그아웃</button></form>\
         <form method=\"post\" action=\"/console/logout-everywhere\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button class=\"secondary\" type=\"submit\">모든 기기에서 로그아웃</button></form></nav>",
        user = escape(&viewer.user.username),
        role = role_label(viewer),
    );
    Page::new(title, format!("{nav}{body}")).with_head(STYLE.to_string())
}

/// A page without the signed-in navigation (login).
pub(super) fn bare_page(title: &'static str, body: String) -> Page<'static> {
    Page::new(title, body).with_head(STYLE.to_string())
}

fn role_label(viewer: &Viewer) -> &'static str {
    if viewer.may(Permission::Cancel) {
        "관리자"
    } else {
        "상담원"
    }
}

/// `2026-12-03 17:51:30` in Korean time, as agents and shoppers read it.
pub(super) fn kst(at: OffsetDateTime) -> String {
    at.to_offset(offset!(+9))
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .map(|t| format!("{t} KST"))
        .unwrap_or_default()
}

pub(super) fn status_label(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Ready => "결제 대기",
        PaymentStatus::Approving => "승인 중",
        PaymentStatus::Paid => "결제 완료",
        PaymentStatus::Failed => "결제 실패",
        PaymentStatus::Unknown => "결과 확인 중",
        PaymentStatus::Cancelled => "취소됨",
        PaymentStatus::PartiallyCancelled => "부분 취소",
        PaymentStatus::Expired => "만료",
        PaymentStatus::AwaitingDeposit => "입금 대기",
    }
}

pub(super) fn action_label(action: AuditAction) -> &'static str {
    match action {
        AuditAction::Login => "로그인",
        AuditAction::LoginFailed => "로그인 실패",
        AuditAction::Logout => "로그아웃",
        AuditAction::LogoutEverywhere => "모든 기기에서 로그아웃",
        AuditAction::ViewBuyer => "구매자 정보 열람",
        AuditAction::Note => "메모",
        AuditAction::Cancel => "취소",
        AuditAction::ResolvePayment => "결제 확인 완료",
        AuditAction::ResolveNoti => "Noti 확인 완료",
        AuditAction::Redeliver => "웹훅 재전송",
        AuditAction::UserAdded => "사용자 추가",
        AuditAction::UserDisabled => "사용자 비활성화",
        AuditAction::PasswordReset => "비밀번호 재설정",
        AuditAction::AuditExported => "감사 기록 내보내기",
    }
}

/// A phone number with the middle hidden, grouped as Koreans write it: `010-****-5678`.
pub(super) fn mask_phone(digits: &str) -> String {
    let d: Vec<char> = digits.chars().filter(char::is_ascii_digit).collect();
    if d.len() < 8 {
        return "*".repeat(d.len());
    }
    let head: String = d[..3].iter().collect();
    let tail: String = d[d.len() - 4..].iter().collect();
    format!("{head}-{}-{tail}", "*".repeat(d.len() - 7))
}

/// A phone number grouped for reading: `010-1234-5678`.
pub(super) fn format_phone(digits: &str) -> String {
    match digits.len() {
        11 => format!("{}-{}-{}", &digits[..3], &digits[3..7], &digits[7..]),
        10 => format!("{}-{}-{}", &digits[..3], &digits[3..6], &digits[6..]),
        _ => digits.to_string(),
    }
}

/// A name with all but its first and last letters hidden: `홍*동`, `홍*`.
pub(super) fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

/// An e-mail address with the local part hidden but its first letter: `t***@test.com`.
pub(super) fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// A message on an error page.
pub(super) fn message_page(status: StatusCode, title: &'static str, text: &str) -> Response {
    bare_page(
        title,
        format!(
            "<h1>{}</h1><p class=\"error\">{}</p><p><a href=\"/console/payments\">콘솔로 돌아가기</a></p>",
            escape(title),
            escape(text)
        ),
    )
    .into_response(status)
}

pub(super) fn forbidden() -> Response {
    message_page(
        StatusCode::FORBIDDEN,
        "허용되지 않은 요청",
        "이 작업을 할 권한이 없거나, 페이지가 오래되어 보안 토큰이 맞지 않습니다. 페이지를 새로 고친 뒤 다시 시도해 주세요.",
    )
}

pub(super) fn not_found() -> Response {
    message_page(
        StatusCode::NOT_FOUND,
        "찾을 수 없음",
        "이 결제가 없거나 볼 수 있는 상점의 결제가 아닙니다.",
    )
}

pub(super) fn store_error(err: &StoreError) -> Response {
    tracing::error!(error = %err, "console: database error");
    message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "잠시 후 다시 시도해 주세요",
        "데이터베이스에 연결할 수 없습니다.",
    )
}

/// A `303 See Other` to `location` (after a form, so reloading does not post again).
pub(super) fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", location)
        .header("cache-control", "no-store")
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buyer_details_are_masked_for_lists() {
        assert_eq!(mask_phone("01012345678"), "010-****-5678");
        assert_eq!(mask_phone("0212345678"), "021-***-5678");
        assert_eq!(mask_name("홍길동"), "홍*동");
        assert_eq!(mask_name("홍길"), "홍*");
        assert_eq!(mask_email("test@test.com"), "t***@test.com");
        assert_eq!(format_phone("01012345678"), "010-1234-5678");
    }

    #[test]
    fn times_are_shown_in_korea() {
        let at = time::macros::datetime!(2026-12-03 08:51:30 UTC);
        assert_eq!(kst(at), "2026-12-03 17:51:30 KST");
    }
}
