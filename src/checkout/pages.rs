//! The shopper's pages (Korean): the hosted checkout page that opens Innopay's window, the returnUrl
//! that drives the approval, the result page (receipt, failure with help, or "confirming" while the
//! outcome is unknown), and the demo shop of the embedded default.

use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query, Redirect};
use poem::{IntoResponse, Response, Route, get, handler, post};
use serde::Deserialize;

use super::service::{LastAttempt, ReturnQuery};
use super::{PaymentStatus, failure};
use crate::app::AppState;
use crate::config::ExposeSecret;
use crate::domain::{FailureCode, MethodDetails, PayMethod, kst_text};
use crate::pages::{Page, escape, format_money, format_won, script_json};
use crate::store::payments::PaymentRow;

/// Adds the shopper-facing pages to `route`; the demo shop's order endpoint only when `demo` is on.
pub fn routes(route: Route, demo: bool) -> Route {
    let route = route
        .at("/checkout/:id", get(checkout_page))
        .at("/checkout/:id/return", get(return_page))
        .at("/checkout/:id/result", get(result_page))
        .at("/checkout/:id/status", get(status_json));
    if demo {
        route.at("/demo/buy", post(demo_buy))
    } else {
        route
    }
}

/// The page at `/`: the demo shop on the embedded default, else a pointer to the API reference.
pub fn home(demo: bool) -> poem::endpoint::BoxEndpoint<'static> {
    use poem::EndpointExt;
    if demo {
        get(demo_shop).boxed()
    } else {
        get(landing).boxed()
    }
}

#[handler]
fn landing() -> Response {
    Page::new(
        "paydesk",
        "<h1>paydesk</h1><p>Innopay 결제 연동 서비스입니다. 개발자는 <a href=\"/docs\">API 문서</a>를, 결제에 문제가 있는 고객은 <a href=\"/help\">도움말</a>을 확인해 주세요.</p>".into(),
    )
    .into_response(StatusCode::OK)
}

fn status_of(row: &PaymentRow) -> PaymentStatus {
    row.status
}

fn user_agent(req: &poem::Request) -> Option<&str> {
    req.headers()
        .get(poem::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

fn not_found() -> Response {
    Page::new(
        "결제 정보를 찾을 수 없습니다",
        format!(
            "<h1>결제 정보를 찾을 수 없습니다</h1><p>주소가 정확한지 확인해 주세요. 결제 화면을 연 쇼핑몰로 돌아가 주문 내역을 확인하시거나, 다시 주문해 주세요.</p>{}",
            next_steps(vec![("help-centre", "도움말 센터 바로 가기", "/help".into())])
        ),
    )
    .into_response(StatusCode::NOT_FOUND)
}

/// The links a shopper page ends with, the first the main one: where to go from here.
fn next_steps(steps: Vec<(&str, &str, String)>) -> String {
    let links: String = steps
        .iter()
        .enumerate()
        .map(|(i, (id, label, href))| {
            format!(
                "<a class=\"button{}\" id=\"{id}\" href=\"{}\">{label}</a>",
                if i == 0 { "" } else { " secondary" },
                escape(href)
            )
        })
        .collect();
    format!("<nav class=\"next\" aria-label=\"다음 단계\">{links}</nav>")
}

/// "쇼핑몰로 돌아가기" when paydesk knows where the shop is; else the last steps say where the
/// order can be seen.
fn back_to_shop(back: Option<String>, mut steps: Vec<(&str, &str, String)>) -> String {
    let known = back.is_some();
    if let Some(href) = back {
        steps.push(("back-to-shop", "쇼핑몰로 돌아가기", href));
    }
    let note = if known {
        ""
    } else {
        "<p class=\"muted\">주문 내역은 주문하신 쇼핑몰에서 확인할 수 있습니다.</p>"
    };
    format!("{}{note}", next_steps(steps))
}

/// What a shopper waiting for an outcome sees: a spinner, the steps so far, and a status line the
/// page's script updates while it asks `/checkout/{id}/status`.
fn progress(row: &PaymentRow, doing: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"progress\" role=\"status\" aria-live=\"polite\"><span class=\"spinner\" aria-hidden=\"true\"></span>\
         <div><strong>{doing}</strong><br><span class=\"muted\" id=\"progress-note\">이 화면을 닫지 말고 잠시만 기다려 주세요.</span></div></div>\
         <ol class=\"steps\"><li class=\"done\">결제창 인증 완료</li><li class=\"now\">{checking}</li><li>결제 완료</li></ol></div>",
        checking = if row.pay_method == PayMethod::Vbank {
            "계좌 발급 확인 중"
        } else {
            "승인 결과 확인 중"
        },
    )
}

/// Asks for the status every two seconds and shows the result as soon as it is known; after a
/// while it says the wait is longer than usual (the reconciler may take minutes).
const PROGRESS_JS: &str = r#"
document.addEventListener('DOMContentLoaded', function () {
  const started = Date.now();
  const note = document.getElementById('progress-note');
  function ask() {
    fetch(STATUS_URL, {cache: 'no-store'}).then(function (r) { return r.json(); }).then(function (s) {
      if (s.status !== 'approving' && s.status !== 'unknown') { window.location.replace(RESULT_URL); return; }
      if (Date.now() - started > 20000) { note.textContent = '확인이 평소보다 오래 걸리고 있습니다. 결과가 확인되면 이 화면이 자동으로 바뀝니다. 같은 주문으로 두 번 결제되지 않습니다.'; }
      setTimeout(ask, 2000);
    }).catch(function () { setTimeout(ask, 4000); });
  }
  setTimeout(ask, 2000);
});
"#;

/// The script constants a page's polling needs.
fn status_urls(row: &PaymentRow) -> String {
    format!(
        "const STATUS_URL = \"/checkout/{id}/status\";\nconst RESULT_URL = \"/checkout/{id}/result\";\n",
        id = escape(&row.id)
    )
}

fn server_error(err: impl std::fmt::Display) -> Response {
    tracing::error!(error = %err, "shopper page failed");
    Page::new(
        "잠시 후 다시 시도해 주세요",
        "<h1>잠시 후 다시 시도해 주세요</h1><p>일시적인 오류가 발생했습니다. 결제가 진행되었는지는 잠시 후 상점의 주문 내역에서 확인해 주세요. 같은 주문으로 두 번 결제되지 않습니다.</p>".into(),
    )
    .into_response(StatusCode::SERVICE_UNAVAILABLE)
}

fn order_summary(row: &PaymentRow) -> String {
    format!(
        "<div class=\"card\"><dl><dt>상품</dt><dd>{goods}</dd><dt>주문번호</dt><dd>{order}</dd><dt>구매자</dt><dd>{buyer}</dd></dl>\
         <p class=\"muted\" style=\"margin-bottom:0\">총 주문금액</p><p class=\"amount\" style=\"margin-top:0\">{amount}</p></div>",
        goods = escape(&row.goods_name),
        order = escape(&row.order_id),
        buyer = escape(&row.buyer_name),
        amount = escape(&format_money(
            row.currency,
            row.amount + row.tax_free_amount
        )),
    )
}

/// What the receipt lists of a paid payment, by method.
fn paid_details(row: &PaymentRow) -> Vec<(&'static str, String)> {
    let mut details = Vec::new();
    match &row.method_details {
        Some(MethodDetails::Card(card)) => {
            let quota = card.quota.as_deref().map(|q| {
                if q == "00" {
                    "일시불".to_string()
                } else {
                    format!("{}개월", q.trim_start_matches('0'))
                }
            });
            details.extend(
                [
                    (
                        "카드",
                        card.company_name.as_ref().map(|n| format!("{n}카드")),
                    ),
                    ("카드번호", card.number.clone()),
                    ("할부", quota),
                ]
                .into_iter()
                .filter_map(|(label, value)| Some((label, value?))),
            );
        }
        Some(MethodDetails::VirtualAccount(account)) => {
            let deposit = account.deposit.as_ref();
            details.extend(
                [
                    (
                        "은행",
                        account
                            .issued
                            .as_ref()
                            .map(|a| a.bank_code.name().to_string()),
                    ),
                    (
                        "계좌번호",
                        account.issued.as_ref().map(|a| a.account_number.clone()),
                    ),
                    ("입금액", deposit.map(|d| format_won(d.amount))),
                    ("입금자명", deposit.and_then(|d| d.depositor_name.clone())),
                    (
                        "입금일시",
                        deposit.and_then(|d| d.deposited_at).map(korean_datetime),
                    ),
                ]
                .into_iter()
                .filter_map(|(label, value)| Some((label, value?))),
            );
        }
        Some(MethodDetails::BankTransfer(paid)) => details.extend(
            [
                ("은행", paid.bank_name.clone()),
                ("계좌번호", paid.account_number.clone()),
            ]
            .into_iter()
            .filter_map(|(label, value)| Some((label, value?))),
        ),
        Some(MethodDetails::Epay(paid)) => {
            details.push(("간편결제", paid.wallet.korean().to_string()));
        }
        None => {}
    }
    if let Some(receipt) = row.cash_receipt.as_ref().and_then(|r| r.issued.as_ref()) {
        details.push((
            "현금영수증",
            format!(
                "{} {} (공급가액 {}, 부가세 {})",
                receipt.purpose.korean(),
                receipt.identifier.clone().unwrap_or_default(),
                format_won(receipt.supply_amount),
                format_won(receipt.vat)
            ),
        ));
    }
    details.extend(row.approval_number.clone().map(|n| ("승인번호", n)));
    // A virtual account's approval is the account's issue, not the payment (the deposit is).
    details.extend(row.approved_at.map(|t| match row.pay_method {
        PayMethod::Vbank => ("계좌 발급일시", korean_datetime(t)),
        _ => ("승인일시", kst_text(t)),
    }));
    details
}

/// A KST moment as Korean shoppers read dates: `2026년 12월 5일 (토) 23:59`. Seconds are dropped
/// (a deadline of 23:59:59 reads 23:59, never later than the real one).
fn korean_datetime(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(crate::domain::KST);
    let weekday = match t.weekday() {
        time::Weekday::Monday => "월",
        time::Weekday::Tuesday => "화",
        time::Weekday::Wednesday => "수",
        time::Weekday::Thursday => "목",
        time::Weekday::Friday => "금",
        time::Weekday::Saturday => "토",
        time::Weekday::Sunday => "일",
    };
    format!(
        "{}년 {}월 {}일 ({weekday}) {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// The account number in groups of four for the eye. The groups are separate elements with no
/// characters between them, so selecting the number by hand still copies the exact digits.
fn grouped_account_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    chars
        .chunks(4)
        .map(|group| {
            format!(
                "<span class=\"digits\">{}</span>",
                escape(&group.iter().collect::<String>())
            )
        })
        .collect()
}

/// The issued account and how to pay into it, phone first: the bank, the account number (large,
/// with a copy button whose data is the exact digits), the amount and the deadline, then what
/// happens when the amount, the depositor or the time differ.
fn account_instructions(row: &PaymentRow) -> String {
    let Some(account) = row
        .method_details
        .as_ref()
        .and_then(MethodDetails::virtual_account)
    else {
        return String::new();
    };
    let Some(issued) = &account.issued else {
        return String::new();
    };
    let total = row.amount + row.tax_free_amount;
    let amount = escape(&format_won(total));
    let due = escape(&format!("{}까지", korean_datetime(account.due_at)));
    let holder = issued
        .holder_name
        .as_deref()
        .map(|h| {
            format!(
                "<div class=\"va-row\"><span class=\"va-label\">예금주</span><span class=\"va-value\">{}</span></div>",
                escape(h)
            )
        })
        .unwrap_or_default();
    let receipt = row
        .cash_receipt
        .as_ref()
        .map(|r| {
            format!(
                "<li><strong>현금영수증</strong>: 입금이 확인되면 현금영수증({})이 자동으로 발급됩니다.</li>",
                r.purpose.korean()
            )
        })
        .unwrap_or_default();
    format!(
        "<h1>가상계좌가 발급되었습니다</h1>\
         <p class=\"ok\" role=\"status\"><strong>{due}</strong> 아래 계좌로 <strong>{amount}</strong>을 입금해 주세요. 입금이 확인되면 결제가 완료됩니다.</p>\
         <section class=\"card va\" id=\"account\" aria-label=\"입금할 계좌\">\
         <div class=\"va-row\"><span class=\"va-label\">은행</span><span class=\"va-value va-bank\" id=\"bank-name\">{bank}</span></div>\
         <div class=\"va-number-block\"><span class=\"va-label\">계좌번호</span>\
         <span id=\"account-number\" class=\"va-number\">{grouped}</span>\
         <button id=\"copy-account\" class=\"va-copy\" type=\"button\" data-copy=\"{number}\" data-copied=\"계좌번호를 복사했습니다\">계좌번호 복사</button></div>\
         {holder}\
         <div class=\"va-row\"><span class=\"va-label\">입금할 금액</span><span class=\"va-value va-amount\" id=\"deposit-amount\">{amount}</span></div>\
         <div class=\"va-row\"><span class=\"va-label\">입금 기한</span><span class=\"va-value va-due\" id=\"deposit-due\">{due}</span></div>\
         <p id=\"copy-status\" class=\"va-status\" role=\"status\" aria-live=\"polite\"></p>\
         </section>\
         <h2>입금 전에 확인해 주세요</h2><ul class=\"va-notes\">\
         <li><strong>금액</strong>: 꼭 {amount}을 한 번에 입금해 주세요. 금액이 다르거나 나누어 입금하면 결제가 자동으로 완료되지 않으며, 쇼핑몰에서 확인한 뒤 연락드립니다.</li>\
         <li><strong>입금자명</strong>: 이 계좌는 이 주문에만 쓰이므로, 입금자명이 주문자 이름과 달라도 금액이 맞으면 결제가 완료됩니다.</li>\
         <li><strong>입금 기한</strong>: {due} 입금해 주세요. 기한이 지나면 계좌가 닫혀 입금할 수 없고 주문은 취소됩니다.</li>\
         {receipt}\
         <li>입금 후 결제 완료까지 몇 분 걸릴 수 있습니다. 이 화면을 새로 고치면 결제 상태를 다시 확인할 수 있습니다.</li></ul>",
        bank = escape(issued.bank_code.name()),
        number = escape(&issued.account_number),
        grouped = grouped_account_number(&issued.account_number),
    )
}

/// The account page's own styles: a large account number with tabular digits, a full-width copy
/// button a thumb finds, the amount and the deadline stand out; nothing wider than a 360 px phone.
const ACCOUNT_STYLE: &str = "\
.va{padding:18px 16px}\
.va-row{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:baseline;gap:4px 12px;padding:10px 0;border-top:1px solid #eef0f2}\
.va-row:first-child{border-top:0;padding-top:0}\
.va-label{color:#59636e;font-size:.95rem}\
.va-value{font-size:1.05rem;font-weight:600;text-align:right;margin-left:auto}\
.va-bank{font-size:1.2rem}\
.va-number-block{padding:12px 0 14px;border-top:1px solid #eef0f2}\
.va-number{display:block;margin:4px 0 12px;font-size:1.75rem;font-weight:700;letter-spacing:.02em;font-variant-numeric:tabular-nums;line-height:1.3;color:#111}\
.va-number .digits{display:inline-block;margin-right:.35em}.va-number .digits:last-child{margin-right:0}\
.va-copy{display:block;width:100%;font-size:1.05rem;font-weight:600}\
.va-amount{font-size:1.5rem;font-weight:700;color:#0b57d0}\
.va-due{color:#a3330b}\
.va-status{margin:8px 0 0;min-height:1.6em;color:#185c2e;font-weight:600}\
.va-notes{padding-left:1.2em}.va-notes li{margin:6px 0}\
.va-actions{display:flex;flex-direction:column;gap:8px;margin:16px 0}.va-actions .button{text-align:center}\
";

/// Every `[data-copy]` button: the clipboard API where the page is a secure context, else (or when
/// the API refuses) a selection copy; the status line and the button say what happened.
const COPY_JS: &str = r#"
document.addEventListener('DOMContentLoaded', function () {
  var status = document.getElementById('copy-status');
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    var label = button.textContent;
    button.addEventListener('click', function () {
      var text = button.dataset.copy;
      function done() {
        status.textContent = button.dataset.copied + ': ' + text;
        button.textContent = '복사됨';
        setTimeout(function () { button.textContent = label; }, 3000);
      }
      function failed() { status.textContent = '복사하지 못했습니다. 계좌번호를 길게 눌러 복사해 주세요.'; }
      function fallback() {
        var area = document.createElement('textarea');
        area.value = text; area.setAttribute('readonly', ''); area.style.position = 'fixed'; area.style.top = '0'; area.style.opacity = '0';
        document.body.appendChild(area); area.select();
        var ok = false;
        try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
        document.body.removeChild(area);
        if (ok) { done(); } else { failed(); }
      }
      if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done, fallback); } else { fallback(); }
    });
  });
});
"#;

#[handler]
async fn checkout_page(
    state: Data<&AppState>,
    Path(id): Path<String>,
    req: &poem::Request,
) -> Response {
    let (row, storefront) = match state.checkout.for_shopper(&id).await {
        Ok(found) => found,
        Err(super::CheckoutError::NotFound) => return not_found(),
        Err(e) => return server_error(e),
    };
    if status_of(&row) != PaymentStatus::Ready {
        return Redirect::see_other(format!("/checkout/{}/result", row.id)).into_response();
    }
    // goPay's parameters for each method the shopper may choose; the page calls it with the chosen.
    let offered = super::api::offered_methods(&row);
    let params: serde_json::Map<String, serde_json::Value> = offered
        .iter()
        .map(|&method| {
            let params = super::api::GoPayParams::for_method(&row, &state.checkout, method);
            (
                method.code().to_string(),
                poem_openapi::types::ToJSON::to_json(&params).unwrap_or_default(),
            )
        })
        .collect();
    let last = match state.checkout.last_attempt(&row).await {
        Ok(last) => last,
        Err(e) => return server_error(e),
    };
    let declined = matches!(last, Some(LastAttempt::Declined));
    // After a card's decline the main action is another card; both open the same window, where the
    // shopper picks the card.
    let buttons = if declined && offered == [PayMethod::Card] {
        "<div class=\"next\"><button id=\"btn_pay_other\" type=\"button\" data-pay>다른 카드로 결제</button>\
         <button id=\"btn_pay\" class=\"secondary\" type=\"button\" data-pay>다시 결제하기</button></div>"
    } else {
        "<button id=\"btn_pay\" type=\"button\" data-pay>결제하기</button>"
    };
    let retry_note = match (&last, row.failure_code.as_ref()) {
        (Some(LastAttempt::Declined), _) => {
            let message = failure::shopper_message(
                row.failure_code.as_ref(),
                row.failure_message.as_deref().unwrap_or_default(),
            );
            let hits = failure::help_for(&state.help.current(), &row, user_agent(req));
            format!(
                "<div class=\"error\" role=\"alert\" id=\"declined\"><p>{message}</p><p>요금은 청구되지 않았습니다. 다른 카드로 결제하거나, 아래 도움말을 확인한 뒤 다시 결제해 주세요.</p>{code}</div>{buttons}{help}",
                message = escape(&message),
                code = innopay_code_line(&row),
                help = crate::help::render_suggestions(&hits),
            )
        }
        (Some(LastAttempt::Window(report)), _) if report.shopper_cancelled => {
            "<p class=\"notice\" role=\"status\" id=\"window-cancelled\">결제창에서 결제를 취소하셨습니다. 요금은 청구되지 않았습니다. 다시 결제하려면 ‘결제하기’를 눌러 주세요.</p>".to_string()
        }
        (Some(LastAttempt::Window(report)), _) => {
            let hits = failure::help_for_window(
                &state.help.current(),
                &row,
                report,
                user_agent(req),
            );
            format!(
                "<div class=\"error\" role=\"alert\"><p>결제가 완료되지 않았습니다. 요금은 청구되지 않았습니다. 다시 ‘결제하기’를 누르거나 아래 도움말을 확인해 주세요.</p></div>{}",
                crate::help::render_suggestions(&hits)
            )
        }
        (None, Some(FailureCode::InnopayUnreachable)) => {
            "<p class=\"error\" role=\"alert\">결제 서버에 연결하지 못해 결제가 진행되지 않았습니다. 요금은 청구되지 않았습니다. 다시 시도해 주세요.</p>".to_string()
        }
        _ => String::new(),
    };
    let body = format!(
        "<h1>{title}</h1>{retry_note}{summary}{choice}<p class=\"muted\" id=\"expires\">결제 가능 시간: <strong>{expiry}까지</strong></p>\
         <div id=\"notice\" role=\"alert\" hidden></div>\
         {main_button}\
         <p class=\"muted\">결제창(팝업)에서 약관에 동의하고 {choose} 뒤 ‘다음’을 누르세요. 결제창이 보이지 않으면 브라우저의 팝업 차단을 해제해 주세요.</p>\
         <noscript><p class=\"error\">결제창을 열려면 브라우저에서 자바스크립트를 켜 주세요.</p></noscript>{back}",
        title = if declined {
            "결제에 실패했습니다"
        } else {
            "결제하기"
        },
        // After a decline the buttons follow its explanation, above the help.
        main_button = if declined { "" } else { buttons },
        summary = order_summary(&row),
        expiry = escape(&korean_datetime(row.expires_at)),
        choice = method_choice(&offered, row.pay_method),
        choose = match offered.as_slice() {
            [only] => method_text(*only).1,
            _ => "결제수단에 맞게 카드사나 은행 등을 선택한",
        },
        back = back_to_shop(state.checkout.back_to_shop(&row, &storefront), Vec::new()),
    );
    let script = format!(
        "\nconst PARAMS = {params};\nconst DEFAULT_METHOD = \"{default}\";\n{urls}{CHECKOUT_JS}",
        params = script_json(&serde_json::Value::Object(params)),
        default = row.pay_method.code(),
        urls = status_urls(&row),
    );
    Page::new(
        if declined {
            "결제 실패"
        } else {
            "결제하기"
        },
        body,
    )
    .with_head(format!(
        "<script src=\"{}\"></script>\n",
        escape(state.checkout.sdk_url())
    ))
    .with_script(script)
    .into_response(StatusCode::OK)
}

/// Innopay's (or the card company's) code, which support and card companies recognise; paydesk's
/// own codes are English words and stay off shopper pages.
fn innopay_code_line(row: &PaymentRow) -> String {
    match &row.failure_code {
        Some(FailureCode::Innopay(code)) => {
            format!("<p class=\"muted\">오류 코드: {}</p>", escape(code))
        }
        _ => String::new(),
    }
}

/// A method as the shopper reads it, and what they choose in its window.
fn method_text(method: PayMethod) -> (&'static str, &'static str) {
    match method {
        PayMethod::Card => ("신용·체크카드", "카드사를 선택한"),
        PayMethod::Bank => ("계좌이체", "출금할 은행을 선택한"),
        PayMethod::Vbank => ("가상계좌 (무통장입금)", "입금할 은행을 선택한"),
        PayMethod::Epay => (
            "간편결제 (카카오페이·네이버페이·페이코 등)",
            "간편결제 서비스를 선택한",
        ),
        PayMethod::Opcard => ("해외발급 카드", "카드 정보를 입력한"),
        PayMethod::Ebank => ("계좌간편결제", "출금할 은행을 선택한"),
    }
}

/// The radio list of the methods a checkout offers (none for a single method): big rows a thumb
/// finds, the last one tried (or the first) chosen.
fn method_choice(offered: &[PayMethod], current: PayMethod) -> String {
    if offered.len() < 2 {
        return String::new();
    }
    let rows: String = offered
        .iter()
        .map(|&method| {
            format!(
                "<label class=\"method\"><input type=\"radio\" name=\"payMethod\" value=\"{code}\" id=\"method-{code}\"{checked}> <span>{label}</span></label>",
                code = method.code(),
                checked = if method == current { " checked" } else { "" },
                label = escape(method_text(method).0),
            )
        })
        .collect();
    format!(
        "<fieldset class=\"card methods\" id=\"methods\"><legend>결제수단 선택</legend>{rows}</fieldset>"
    )
}

/// Opens Innopay's window and watches it. `window.open` is wrapped while `goPay` runs, so a popup the
/// browser blocked is noticed whatever the SDK does, and a window closed without paying is reported.
const CHECKOUT_JS: &str = r#"
function notice(html) { const n = document.getElementById('notice'); n.innerHTML = html; n.hidden = false; n.className = 'error'; }
const POPUP_HELP = '결제창(팝업)이 차단되었습니다. 브라우저 주소창 옆의 팝업 차단 아이콘을 눌러 이 사이트의 팝업을 허용한 뒤 다시 ‘결제하기’를 눌러 주세요. <a href="/help/popup-blocked">팝업 차단 해제 방법 보기</a>';
const CLOSED_HELP = '결제창을 닫아 결제가 완료되지 않았습니다. 다시 ‘결제하기’를 눌러 주세요. 결제창이 계속 열리지 않으면 <a href="/help/popup-blocked">도움말</a>을 확인해 주세요.';
let payWindow = null;
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('[data-pay]').forEach(function (button) { button.addEventListener('click', pay); });
});
function pay() {
  if (typeof innopay === 'undefined' || typeof innopay.goPay !== 'function') {
    notice('결제 모듈을 불러오지 못했습니다. 네트워크를 확인하고 새로 고침한 뒤 다시 시도해 주세요. <a href="/help/clear-cache-cookies">도움말</a>');
    return;
  }
  const originalOpen = window.open;
  let asked = false;
  payWindow = null;
  window.open = function () { asked = true; payWindow = originalOpen.apply(window, arguments); return payWindow; };
  innopay.closeHandler = function () { setTimeout(checkClosed, 300); };
  const chosen = document.querySelector('input[name="payMethod"]:checked');
  try { innopay.goPay(PARAMS[chosen ? chosen.value : DEFAULT_METHOD]); } finally { window.open = originalOpen; }
  if (asked && (!payWindow || payWindow.closed)) { document.body.dataset.popup = 'blocked'; notice(POPUP_HELP); return; }
  document.body.dataset.popup = 'open';
  const timer = setInterval(function () {
    if (payWindow && payWindow.closed) { clearInterval(timer); setTimeout(checkClosed, 500); }
  }, 500);
}
function checkClosed() {
  fetch(STATUS_URL, {cache: 'no-store'}).then(function (r) { return r.json(); }).then(function (s) {
    if (s.status === 'ready') { document.body.dataset.popup = 'closed'; notice(CLOSED_HELP); }
    else { window.location.href = RESULT_URL; }
  }).catch(function () {});
}
"#;

/// The returnUrl. Runs the approval, then sends the shopper on: to the storefront's signed success or
/// fail URL, or to paydesk's result page. In Innopay's popup the page moves the opener and closes.
#[handler]
async fn return_page(
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(query): Query<ReturnQuery>,
) -> Response {
    let (row, storefront) = match state.checkout.handle_return(&id, &query).await {
        Ok(found) => found,
        Err(super::CheckoutError::NotFound) => return not_found(),
        Err(e) => return server_error(e),
    };
    let declined = match state.checkout.last_attempt(&row).await {
        Ok(last) => matches!(last, Some(LastAttempt::Declined)),
        Err(e) => return server_error(e),
    };
    // Where an outcome goes outside paydesk: back into the storefront's app when the checkout came
    // from one (appScheme), else its signed success or fail URL.
    let outward = || {
        state
            .checkout
            .app_handoff(&row, &storefront)
            .or_else(|| state.checkout.storefront_redirect(&row, &storefront))
    };
    let destination = match status_of(&row) {
        // Declined: outward with the code and help if the storefront said where; the checkout page
        // (the decline explained, another try) otherwise, as after any window return.
        PaymentStatus::Ready if declined => {
            outward().unwrap_or_else(|| format!("/checkout/{}", row.id))
        }
        PaymentStatus::Ready => format!("/checkout/{}", row.id),
        // The shopper must see the account first; its page links on to the storefront.
        PaymentStatus::AwaitingDeposit => format!("/checkout/{}/result", row.id),
        // Still being confirmed: paydesk's page shows the progress.
        PaymentStatus::Approving | PaymentStatus::Unknown => {
            format!("/checkout/{}/result", row.id)
        }
        _ => outward().unwrap_or_else(|| format!("/checkout/{}/result", row.id)),
    };
    let target = script_json(&serde_json::Value::String(destination.clone()));
    let body = format!(
        "<h1>결제를 처리하고 있습니다</h1>{progress}<p><a id=\"next\" href=\"{href}\">{label}</a></p>",
        // A window that came back without paying has no approval to show the steps of.
        progress = if row.status == PaymentStatus::Ready && !declined {
            String::new()
        } else {
            progress(&row, "결제 결과로 이동하고 있습니다.")
        },
        href = escape(&destination),
        label = if destination.starts_with("http") || destination.starts_with('/') {
            "다음 화면으로 이동"
        } else {
            "앱으로 돌아가기"
        },
    );
    Page::new("결제 처리 중", body)
        // Without JavaScript the page moves on by itself a moment later.
        .with_head(format!(
            "<noscript><meta http-equiv=\"refresh\" content=\"2;url={}\"></noscript>",
            escape(&destination)
        ))
        .with_script(format!("const target = {target};\n{RETURN_JS}"))
        .into_response(StatusCode::OK)
}

/// Sends the shopper on from the return page: in Innopay's popup by moving the page that opened it;
/// to an app (its scheme is not a web address) by following the page's link, as an app's web view
/// expects a tap; else by replacing the page, so Back does not return to it.
const RETURN_JS: &str = r#"
document.documentElement.dataset.target = target;
document.addEventListener('DOMContentLoaded', function () {
  if (window.opener && !window.opener.closed) {
    try { window.opener.location.href = target; window.close(); return; } catch (e) {}
  }
  if (/^https?:|^\//.test(target)) { window.location.replace(target); }
  else { document.getElementById('next').click(); }
});
"#;

#[handler]
async fn result_page(
    state: Data<&AppState>,
    Path(id): Path<String>,
    req: &poem::Request,
) -> Response {
    let (row, storefront) = match state.checkout.for_shopper(&id).await {
        Ok(found) => found,
        Err(super::CheckoutError::NotFound) => return not_found(),
        Err(e) => return server_error(e),
    };
    let summary = order_summary(&row);
    let back = state.checkout.back_to_shop(&row, &storefront);
    let (title, body, head) = match status_of(&row) {
        PaymentStatus::Paid => {
            let details = paid_details(&row)
                .into_iter()
                .map(|(label, value)| format!("<dt>{label}</dt><dd>{}</dd>", escape(&value)))
                .collect::<String>();
            let receipt = row
                .receipt_url
                .as_deref()
                .map(|u| ("receipt", "영수증 보기", u.to_string()));
            let message = if row.pay_method == PayMethod::Vbank {
                "입금이 확인되어 결제가 완료되었습니다."
            } else {
                "결제가 정상적으로 승인되었습니다."
            };
            (
                "결제 완료",
                format!(
                    "<h1>결제가 완료되었습니다</h1><p class=\"ok\" role=\"status\">{message}</p>{summary}<div class=\"card\"><dl>{details}</dl></div>{next}",
                    next = back_to_shop(back, receipt.into_iter().collect()),
                ),
                String::new(),
            )
        }
        PaymentStatus::AwaitingDeposit => {
            // Card articles (popups, ISP, 안심클릭) do not help someone paying into an account: only
            // articles about accounts or deposits are suggested; without any, the shop and the help
            // centre are named.
            let mut hits = failure::help_for_waiting(&state.help.current(), &row, user_agent(req));
            hits.retain(|h| h.title.contains("가상계좌") || h.title.contains("입금"));
            let help = if hits.is_empty() {
                "<section class=\"card\" aria-labelledby=\"va-help\"><h2 id=\"va-help\">도움이 필요하신가요?</h2>\
                 <p>입금 금액이나 주문에 대해 궁금한 점은 주문하신 쇼핑몰의 고객센터에 문의해 주세요. 문의할 때 아래 주문번호를 알려 주시면 빠르게 확인할 수 있습니다.</p>\
                 <p><a href=\"/help\">도움말 센터 바로 가기</a></p></section>"
                    .to_string()
            } else {
                crate::help::render_suggestions(&hits)
            };
            let back = back
                .map(|url| {
                    format!(
                        "<a class=\"button\" id=\"back-to-shop\" href=\"{}\">쇼핑몰로 돌아가기</a>",
                        escape(&url)
                    )
                })
                .unwrap_or_default();
            let body = format!(
                "{account}<div class=\"va-actions\"><a class=\"button secondary\" href=\"/checkout/{id}/result\">입금 확인하기 (새로 고침)</a>{back}</div>{help}{summary}",
                account = account_instructions(&row),
                id = escape(&row.id),
            );
            return Page::new("가상계좌 입금 안내", body)
                .with_head(format!("<style>{ACCOUNT_STYLE}</style>\n"))
                .with_script(COPY_JS.to_string())
                .into_response(StatusCode::OK);
        }
        PaymentStatus::Approving | PaymentStatus::Unknown => {
            let doing = if row.pay_method == PayMethod::Vbank {
                "가상계좌 발급 결과를 확인하고 있습니다."
            } else {
                "카드사의 승인 결과를 확인하고 있습니다."
            };
            return Page::new(
                "결제 확인 중",
                format!(
                    "<h1>결제를 확인하고 있습니다</h1>{progress}<p class=\"muted\">같은 주문으로 두 번 결제되지 않으며, 승인되지 않은 결제는 자동으로 취소됩니다.</p>{summary}",
                    progress = progress(&row, doing),
                ),
            )
            // Without JavaScript the page reloads itself instead.
            .with_head("<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>".into())
            .with_script(format!("{}{PROGRESS_JS}", status_urls(&row)))
            .into_response(StatusCode::OK);
        }
        PaymentStatus::Cancelled | PaymentStatus::PartiallyCancelled => {
            let unpaid_account = row
                .method_details
                .as_ref()
                .and_then(MethodDetails::virtual_account)
                .is_some_and(|a| a.deposit.is_none());
            let what = if unpaid_account {
                "가상계좌가 닫혀 주문이 취소되었습니다. 입금된 금액이 없어 환불할 금액도 없습니다."
                    .to_string()
            } else {
                format!(
                    "취소된 금액: {}",
                    format_money(row.currency, row.cancelled_amount)
                )
            };
            (
                "결제 취소",
                format!(
                    "<h1>결제가 취소되었습니다</h1><p class=\"card\">{}</p>{summary}{next}",
                    escape(&what),
                    next = back_to_shop(back, Vec::new()),
                ),
                String::new(),
            )
        }
        PaymentStatus::Ready => {
            return Redirect::see_other(format!("/checkout/{}", row.id)).into_response();
        }
        PaymentStatus::Expired => {
            let message = failure::shopper_message(row.failure_code.as_ref(), "");
            let hits = failure::help_for(&state.help.current(), &row, user_agent(req));
            (
                "결제 시간 만료",
                format!(
                    "<h1>결제 가능 시간이 지났습니다</h1><div class=\"notice\" role=\"status\" id=\"expired\"><p>{message}</p><p>요금은 청구되지 않았습니다.</p></div>{help}{summary}{next}",
                    message = escape(&message),
                    help = crate::help::render_suggestions(&hits),
                    next = back_to_shop(back, Vec::new()),
                ),
                String::new(),
            )
        }
        PaymentStatus::Failed => {
            let innopay_message = row.failure_message.clone().unwrap_or_default();
            let message = failure::shopper_message(row.failure_code.as_ref(), &innopay_message);
            let hits = failure::help_for(&state.help.current(), &row, user_agent(req));
            (
                "결제 실패",
                format!(
                    "<h1>결제에 실패했습니다</h1><div class=\"error\" role=\"alert\"><p>{message}</p>{code}<p>이 주문은 더 이상 결제할 수 없습니다. 다시 구매하시려면 쇼핑몰에서 새로 주문해 주세요.</p></div>{help}{summary}{next}",
                    message = escape(&message),
                    code = innopay_code_line(&row),
                    help = crate::help::render_suggestions(&hits),
                    next = back_to_shop(back, vec![("help-centre", "도움말 센터", "/help".into())]),
                ),
                String::new(),
            )
        }
    };
    Page::new(title, body)
        .with_head(head)
        .into_response(StatusCode::OK)
}

#[handler]
async fn status_json(state: Data<&AppState>, Path(id): Path<String>) -> Response {
    match state.checkout.for_shopper(&id).await {
        Ok((row, _)) => Response::builder()
            .content_type("application/json")
            .header("cache-control", "no-store")
            .body(serde_json::json!({"status": row.status.as_str()}).to_string()),
        Err(super::CheckoutError::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => server_error(e),
    }
}

/// The demo product of the embedded default.
const DEMO_GOODS: &str = "이노페이 화장품";
const DEMO_PRICE: i64 = 20_000;

#[handler]
async fn demo_shop() -> Response {
    let body = format!(
        "<h1>paydesk 데모 상점</h1><p class=\"muted\">이 상점은 paydesk의 결제 흐름을 보여 주는 데모입니다. 샌드박스에서 결제되므로 실제 돈은 오가지 않습니다.</p>\
         <form class=\"card\" method=\"post\" action=\"/demo/buy\"><h2>{goods}</h2><p class=\"amount\">{price}</p>\
         <label for=\"quantity\">수량</label> <select id=\"quantity\" name=\"quantity\">{options}</select>\
         <p><button type=\"submit\">구매하기</button></p></form>",
        goods = escape(DEMO_GOODS),
        price = escape(&format_won(DEMO_PRICE)),
        options = (1..=20)
            .map(|n| format!("<option value=\"{n}\">{n}개</option>"))
            .collect::<String>(),
    );
    Page::new("paydesk 데모 상점", body)
        .with_banner("샌드박스 데모: 실제 결제가 이루어지지 않습니다")
        .into_response(StatusCode::OK)
}

#[derive(Deserialize)]
struct DemoOrder {
    quantity: u32,
}

/// Creates the checkout through the public API with the demo key, exactly as a storefront would.
#[handler]
async fn demo_buy(state: Data<&AppState>, Form(order): Form<DemoOrder>) -> Response {
    let Some(key) = state.demo_api_key.as_ref() else {
        return not_found();
    };
    let quantity = order.quantity.clamp(1, 20);
    let body = serde_json::json!({
        "goodsName": format!("{DEMO_GOODS} x{quantity}"),
        "amount": DEMO_PRICE * i64::from(quantity),
        "buyer": {"name": "홍길동", "tel": "01012345678", "email": "test@test.com"},
    });
    let response = reqwest::Client::new()
        .post(format!("{}/v1/checkouts", state.public_url))
        .bearer_auth(key.expose_secret())
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await;
    let checkout: serde_json::Value = match response {
        Ok(r) if r.status().is_success() => match r.json().await {
            Ok(v) => v,
            Err(e) => return server_error(e),
        },
        Ok(r) => return server_error(format!("demo checkout refused: {}", r.status())),
        Err(e) => return server_error(e),
    };
    match checkout["checkoutUrl"].as_str() {
        Some(url) => Redirect::see_other(url).into_response(),
        None => server_error("demo checkout answer has no checkoutUrl"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_read_as_korean_dates_in_kst() {
        // 14:59:59 UTC is 23:59:59 KST on a Saturday.
        let due = time::macros::datetime!(2026-12-05 14:59:59 UTC);
        assert_eq!(korean_datetime(due), "2026년 12월 5일 (토) 23:59");
        let next_day = time::macros::datetime!(2026-12-05 15:00:00 UTC);
        assert_eq!(korean_datetime(next_day), "2026년 12월 6일 (일) 00:00");
    }

    #[test]
    fn grouped_account_numbers_keep_only_the_digits_as_text() {
        let html = grouped_account_number("58201938475610");
        assert_eq!(
            html,
            "<span class=\"digits\">5820</span><span class=\"digits\">1938</span>\
             <span class=\"digits\">4756</span><span class=\"digits\">10</span>"
        );
        let text: String = html
            .split(['<', '>'])
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect();
        assert_eq!(text, "58201938475610");
    }
}
