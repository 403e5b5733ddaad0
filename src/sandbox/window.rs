//! The shopper's side of the sandbox: the stand-in `innopay.js`, the Korean payment window (cards:
//! terms, card company, installments, card authentication, the ISP certificate step; virtual
//! accounts: bank, depositor name, cash receipt; bank transfers: the bank; easy pay: the wallet;
//! each with the test scenario), the authentication
//! step without a browser (`POST /pay/authorize`), and the card receipt page. Every path
//! ends by sending the browser to the merchant's `returnUrl` with a GET query, as Innopay does.

use std::collections::HashMap;

use poem::http::{StatusCode, header};
use poem::web::{Data, Form, Query};
use poem::{Request, Response, Route, get, handler, post};

use crate::domain::{
    BANKS, BankCode, CARD_COMPANIES, CardCompany, PayMethod, Price, Wallet, card_company,
};
use crate::pages::{Page, escape};

use super::params::{GOPAY_FIELDS, LIMITS, ParamProblem, PayParams};
use super::state::{Instrument, MAX_HOLDER_CHARS, needs_certificate, now_kst};
use super::{BANNER, Sandbox};

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/", get(index))
        .at("/tpay/js/innopay.js", get(script))
        .at("/pay/window", post(window_start))
        .at("/pay/window/auth", post(window_auth))
        .at("/pay/window/certificate", post(window_certificate))
        .at("/pay/authorize", post(authorize))
        .at("/pay/issue/CardIssue.jsp", get(receipt))
}

/// Decline messages the window offers, with the sandbox's codes (Innopay's are not published).
pub const DECLINES: [(&str, &str); 7] = [
    ("C001", "3Factor 인증 필요 ISP 공인인증 오류"),
    ("C002", "잔액이 부족합니다."),
    ("C003", "카드 한도가 초과되었습니다."),
    ("C004", "분실 또는 도난 신고된 카드입니다."),
    ("C005", "카드 유효기간이 지났습니다."),
    ("C006", "비밀번호 오류 횟수를 초과했습니다."),
    ("C007", "할부가 불가능한 카드입니다."),
];

/// Declines of an overseas card (OPCARD), the sandbox's codes (Innopay's are not published): the
/// issuer abroad refuses, the 3-D Secure step fails, the card's overseas limit is reached.
pub const OPCARD_DECLINES: [(&str, &str); 3] = [
    (
        "O001",
        "해외카드 승인이 거절되었습니다. 카드를 발급한 해외 카드사에 문의해 주세요.",
    ),
    ("O002", "3D Secure 인증에 실패했습니다."),
    ("O003", "해외 결제 한도를 초과했습니다."),
];

/// The brands the overseas-card window offers (codes of `CARD_COMPANIES`), each with the first
/// and last digits of its test card: the window shows the card only masked.
const OVERSEAS_BRANDS: [(&str, &str, &str); 4] = [
    ("25", "4111", "1111"),
    ("26", "5555", "4444"),
    ("29", "3530", "0000"),
    ("28", "3782", "0005"),
];

/// Declines of a bank transfer (BANK, EBANK), the sandbox's codes: banks refuse transfers during
/// their nightly maintenance (점검 시간), which shoppers meet as a decline.
pub const BANK_DECLINES: [(&str, &str); 3] = [
    ("B001", "출금 계좌의 잔액이 부족합니다."),
    (
        "B002",
        "은행 점검 시간입니다. 점검 시간(23:30~00:30)에는 계좌이체를 이용할 수 없으니 잠시 후 다시 시도해 주세요.",
    ),
    ("B003", "계좌 비밀번호 오류 횟수를 초과했습니다."),
];

/// Declines of an easy-pay wallet (EPAY), the sandbox's codes.
pub const EPAY_DECLINES: [(&str, &str); 3] = [
    (
        "E001",
        "간편결제 잔액 또는 연결된 결제수단의 한도가 부족합니다.",
    ),
    ("E002", "간편결제 앱에서 고객이 결제를 취소했습니다."),
    (
        "E003",
        "간편결제 앱을 열 수 없습니다. 앱 설치 여부를 확인해 주세요.",
    ),
];

/// Wallet a headless easy-pay authentication uses when none is named.
const DEFAULT_WALLET: &str = "KAKAOPAY";

/// The longest wallet value a headless authentication may name (any value is taken, to stand in
/// for wallets paydesk does not know).
const MAX_WALLET_CHARS: usize = 20;

/// What the window reports when a virtual account cannot be issued (the sandbox's code).
const VBANK_DECLINE: (&str, &str) = (
    "V101",
    "가상계좌 발급에 실패했습니다. 잠시 후 다시 시도해 주세요.",
);

/// What the window reports when the shopper cancels (Innopay's code is not published).
const SHOPPER_CANCEL: (&str, &str) = ("USER_CANCEL", "고객이 결제를 취소했습니다.");

/// Where the window's forms post; the sandbox is at `/sandbox` whether mounted or alone.
const PAY: &str = "/sandbox/pay";

/// Card a headless authentication uses when none is named (the seed's 현대).
const DEFAULT_CARD: &str = "07";

/// Bank a headless virtual account is issued at when none is named (KB국민은행).
const DEFAULT_BANK: &str = "004";

/// The shopper's choices on the virtual-account page; the page draws them itself, so they are not
/// carried as hidden fields.
const VBANK_CHOICES: [&str; 4] = ["bankCode", "depositorName", "receiptType", "receiptTypeNo"];

fn page(title: &str, body: String) -> Page<'_> {
    Page::new(title, body).with_banner(BANNER)
}

fn html(page: Page<'_>, status: StatusCode) -> Response {
    page.into_response(status)
}

fn hidden(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect()
}

/// The window's error page: what a shopper sees when the shop sent bad parameters.
fn problem_page(problem: &ParamProblem) -> Response {
    let body = format!(
        "<h1>결제 요청 오류</h1><div class=\"error\" id=\"problem\" data-code=\"{code}\">[{code}] {message}</div>\
         <p class=\"muted\">가맹점의 결제 요청 값이 올바르지 않습니다.</p>\
         <p><button type=\"button\" class=\"secondary\" id=\"close\">닫기</button></p>",
        code = problem.code,
        message = escape(&problem.message),
    );
    let close = "document.addEventListener('DOMContentLoaded', function () { \
                 document.getElementById('close').addEventListener('click', function () { window.close(); }); });";
    html(
        page("결제 요청 오류", body).with_script(close.to_string()),
        StatusCode::BAD_REQUEST,
    )
}

/// Parses the goPay parameters and checks what only the server knows (the MID, the methods the
/// sandbox simulates, where the shopper may be sent back to).
fn checked_params(
    sandbox: &Sandbox,
    form: &HashMap<String, String>,
) -> Result<PayParams, ParamProblem> {
    let params = PayParams::parse(form, now_kst())?;
    let state = sandbox.lock();
    let Some(merchant) = state.merchants.get(params.mid.as_str()) else {
        return Err(ParamProblem {
            code: "W003",
            message: "등록되지 않은 가맹점(MID)입니다.".into(),
        });
    };
    // Sending shoppers anywhere would make the sandbox an open redirect on paydesk's domain; on a
    // developer's own machine nobody else can be sent through it.
    let origin = params.return_url.origin();
    if sandbox.exposed()
        && !sandbox.inner.own_origins.contains(&origin)
        && !merchant.return_origins.contains(&origin)
    {
        return Err(ParamProblem {
            code: "W016",
            message: format!(
                "등록되지 않은 주소로는 돌려보내지 않습니다(returnUrl: {}). 샌드박스 자신의 주소나 \
                 가맹점에 등록된 주소(returnOrigins)만 쓸 수 있습니다.",
                origin.ascii_serialization()
            ),
        });
    }
    Ok(params)
}

/// What the window does for a shopper paying in the storefront's app: after the card, bank or
/// wallet app, it opens the storefront's app again at `appScheme`. The sandbox has no other app
/// to leave for, so it shows the hand-off it would make.
fn app_handoff(params: &PayParams) -> String {
    params.app_scheme.as_ref().map_or_else(String::new, |scheme| {
        format!(
            "<section class=\"card\" id=\"app-handoff\"><h2>앱으로 돌아가기</h2>\
             <p>카드사·은행·간편결제 앱에서 결제를 마치면 가맹점 앱을 이 주소로 다시 엽니다.</p>\
             <p><a class=\"button secondary\" id=\"app-scheme\" href=\"{url}\">{url}</a></p></section>",
            url = escape(scheme.as_str())
        )
    })
}

fn summary(params: &PayParams) -> String {
    format!(
        "<section class=\"card\"><h2>주문 정보</h2><dl>\
         <dt>상품명</dt><dd>{goods}</dd><dt>결제금액</dt><dd class=\"amount\" id=\"total\">{total}</dd>\
         <dt>주문번호</dt><dd>{moid}</dd><dt>가맹점</dt><dd>{mid}</dd><dt>구매자</dt><dd>{buyer}</dd></dl></section>{handoff}",
        goods = escape(&params.goods_name),
        total = params.total().text(),
        moid = escape(params.moid.as_str()),
        mid = escape(params.mid.as_str()),
        buyer = escape(&params.buyer_name),
        handoff = app_handoff(params),
    )
}

/// The "결제 취소" button: tells the merchant the shopper gave up.
fn cancel_button(params: &PayParams) -> String {
    format!(
        "<form method=\"post\" action=\"{PAY}/authorize\">{}\
         <input type=\"hidden\" name=\"scenario\" value=\"cancel\"><input type=\"hidden\" name=\"window\" value=\"1\">\
         <button type=\"submit\" class=\"secondary\" id=\"cancel\">결제 취소</button></form>",
        hidden(&params.fields)
    )
}

fn quota_options(total: Price) -> String {
    let mut options = String::from("<option value=\"00\">일시불</option>");
    // Card companies allow installments from 50,000 won; overseas cards pay at once.
    if matches!(total, Price::Krw(won) if won.won() >= 50_000) {
        for months in 2..=12 {
            options.push_str(&format!(
                "<option value=\"{months:02}\">{months}개월</option>"
            ));
        }
    }
    options
}

fn valid_quota(raw: &str) -> bool {
    raw.len() == 2
        && raw
            .parse::<u8>()
            .is_ok_and(|m| m == 0 || (2..=36).contains(&m))
}

#[handler]
fn index(Data(sandbox): Data<&Sandbox>) -> Response {
    let body = format!(
        "<h1>이노페이 샌드박스</h1><p>paydesk에 내장된 이노페이 시뮬레이터입니다. 결제창(신용카드, 가상계좌, 계좌이체, 계좌간편결제, 간편결제), 승인, \
         취소·환불, 가상계좌 입금과 닫기, 조회, Noti를 흉내 내며 실제 결제는 일어나지 않습니다. 가상계좌 번호도 \
         실제 은행 계좌가 아닙니다.</p><section class=\"card\"><dl>\
         <dt>SDK</dt><dd><code>{base}/tpay/js/innopay.js</code></dd>\
         <dt>API</dt><dd><code>{base}</code></dd><dt>테스트 MID</dt><dd><code>testpay01m</code></dd></dl></section>\
         <p class=\"muted\">사용법은 docs/SANDBOX.md 를 보세요.</p>",
        base = escape(&sandbox.inner.base_url)
    );
    html(page("이노페이 샌드박스", body), StatusCode::OK)
}

#[handler]
fn script(Data(sandbox): Data<&Sandbox>) -> Response {
    let js = SCRIPT
        .replace(
            "__FALLBACK_BASE__",
            &serde_json::to_string(&sandbox.inner.base_url).expect("string"),
        )
        .replace(
            "__FIELDS__",
            &serde_json::to_string(&GOPAY_FIELDS).expect("strings"),
        )
        .replace(
            "__LIMITS__",
            &serde_json::to_string(&LIMITS).expect("strings and numbers"),
        );
    Response::builder()
        .content_type("application/javascript; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(js)
}

/// Step 1: order summary, terms, card company, installments, "다음".
#[handler]
fn window_start(
    Form(form): Form<HashMap<String, String>>,
    Data(sandbox): Data<&Sandbox>,
) -> Response {
    match checked_params(sandbox, &form) {
        Ok(params) => match params.pay_method {
            PayMethod::Vbank => vbank_choice(&params, &form, None),
            PayMethod::Bank | PayMethod::Ebank => bank_choice(&params, None),
            PayMethod::Epay => wallet_choice(&params, None),
            PayMethod::Card => card_choice(&params, None),
            PayMethod::Opcard => overseas_card_choice(&params, None),
        },
        Err(problem) => problem_page(&problem),
    }
}

/// `2026년 12월 05일 23:59:59`
fn korean_deadline(due: time::OffsetDateTime) -> String {
    format!(
        "{}년 {:02}월 {:02}일 {:02}:{:02}:{:02}",
        due.year(),
        u8::from(due.month()),
        due.day(),
        due.hour(),
        due.minute(),
        due.second()
    )
}

/// The virtual-account page, phone first: amount and deadline, bank, depositor name, cash receipt
/// and the test scenario. `form` prefills the choices: goPay's at first, the shopper's when the
/// page asks again with `error`.
fn vbank_choice(
    params: &PayParams,
    form: &HashMap<String, String>,
    error: Option<&str>,
) -> Response {
    let due = params
        .vbank
        .as_ref()
        .expect("VBANK parameters carry a request")
        .due;
    let chosen = |key: &str| form.get(key).map(|v| v.trim()).unwrap_or("");
    let banks = bank_options(chosen("bankCode"));
    let depositor = match chosen("depositorName") {
        "" => params.buyer_name.as_str(),
        name => name,
    };
    let receipt_type = match chosen("receiptType") {
        kind @ ("1" | "2") => kind,
        _ => "",
    };
    let receipts: String = [
        ("", "none", "신청 안 함"),
        ("1", "income", "소득공제(휴대폰 번호)"),
        ("2", "expense", "지출증빙(사업자번호)"),
    ]
    .iter()
    .map(|(value, id, label)| {
        format!(
            "<label><input type=\"radio\" name=\"receiptType\" value=\"{value}\" id=\"receipt-{id}\" \
             style=\"width:auto;min-height:0\"{checked}> {label}</label><br>",
            checked = if *value == receipt_type { " checked" } else { "" },
        )
    })
    .collect();
    let carried: Vec<(String, String)> = params
        .fields
        .iter()
        .filter(|(k, _)| !VBANK_CHOICES.contains(&k.as_str()))
        .cloned()
        .collect();
    let body = format!(
        "<h1>가상계좌 발급</h1>{error}{summary}\
         <section class=\"card\"><h2>입금 안내</h2><dl><dt>입금금액</dt><dd class=\"amount\" id=\"deposit-amount\">{total}</dd>\
         <dt>입금기한</dt><dd id=\"due\">{due}까지</dd></dl>\
         <p class=\"muted\">입금기한이 지나면 계좌가 닫혀 입금할 수 없습니다. 샌드박스의 가상계좌는 실제 은행 계좌가 \
         아니니 돈을 보내지 마세요.</p></section>\
         <form method=\"post\" action=\"{PAY}/authorize\">{hidden}<input type=\"hidden\" name=\"window\" value=\"1\">\
         <section class=\"card\"><h2>약관 동의</h2><label><input type=\"checkbox\" name=\"agree\" value=\"1\" \
         id=\"agree\" style=\"width:auto;min-height:0\" required> 전자금융거래 이용약관, 개인정보 수집 및 이용, \
         개인정보 제3자 제공에 모두 동의합니다.</label></section>\
         <section class=\"card\"><h2>입금 은행 선택</h2><select name=\"bankCode\" id=\"bankCode\" required>\
         <option value=\"\">은행을 선택해 주세요</option>{banks}</select></section>\
         <section class=\"card\"><h2>입금자명</h2><label for=\"depositorName\">입금하실 분의 이름</label>\
         <input type=\"text\" name=\"depositorName\" id=\"depositorName\" value=\"{depositor}\" \
         maxlength=\"{MAX_HOLDER_CHARS}\" autocomplete=\"name\" required></section>\
         <section class=\"card\"><h2>현금영수증</h2>{receipts}\
         <label for=\"receiptTypeNo\">휴대폰 번호 또는 사업자번호 (숫자만)</label>\
         <input type=\"text\" name=\"receiptTypeNo\" id=\"receiptTypeNo\" value=\"{receipt_no}\" \
         inputmode=\"numeric\" pattern=\"[0-9]{{10,11}}\" maxlength=\"11\" autocomplete=\"tel\"></section>\
         <section class=\"card\"><h2>테스트 시나리오</h2>\
         <label><input type=\"radio\" name=\"scenario\" value=\"approve\" id=\"scenario-approve\" \
         style=\"width:auto;min-height:0\" checked> 계좌 발급</label><br>\
         <label><input type=\"radio\" name=\"scenario\" value=\"decline\" id=\"scenario-decline\" \
         style=\"width:auto;min-height:0\"> 발급 실패: {decline}</label>\
         <input type=\"hidden\" name=\"declineCode\" value=\"{decline_code}\"><br>\
         <label><input type=\"radio\" name=\"scenario\" value=\"cancel\" id=\"scenario-cancel\" \
         style=\"width:auto;min-height:0\"> 고객 취소</label></section>\
         <p><button type=\"submit\" id=\"pay\">가상계좌 발급받기</button></p></form>{cancel}",
        error = error
            .map(|e| format!("<div class=\"error\">{}</div>", escape(e)))
            .unwrap_or_default(),
        summary = summary(params),
        total = params.total().text(),
        due = korean_deadline(due),
        hidden = hidden(&carried),
        depositor = escape(depositor),
        receipt_no = escape(chosen("receiptTypeNo")),
        decline = escape(VBANK_DECLINE.1),
        decline_code = VBANK_DECLINE.0,
        cancel = cancel_button(params),
    );
    html(page("이노페이 가상계좌", body), StatusCode::OK)
}

/// The account choice of the virtual-account page or a headless authorization: `bankCode` (default
/// 004, three- or two-digit form) and `depositorName` (default the buyer's name).
fn chosen_account(
    params: &PayParams,
    form: &HashMap<String, String>,
) -> Result<Instrument, &'static str> {
    let get = |key: &str| form.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let bank = get("bankCode")
        .unwrap_or(DEFAULT_BANK)
        .parse::<BankCode>()
        .map_err(|_| "입금 은행을 목록에서 선택해 주세요.")?
        .bank();
    let depositor = get("depositorName").unwrap_or(&params.buyer_name);
    if depositor.chars().count() > MAX_HOLDER_CHARS {
        return Err("입금자명은 30자 이내로 입력해 주세요.");
    }
    Ok(Instrument::Vbank {
        bank,
        depositor: depositor.to_string(),
    })
}

/// The bank (BANK, EBANK: `bankCode`, default 004) or wallet (EPAY: `wallet`, default KAKAOPAY,
/// any value taken) of a window page or headless authorization; `None` for the other methods. In
/// the window the terms must be agreed to.
fn chosen_bank_or_wallet(
    params: &PayParams,
    form: &HashMap<String, String>,
) -> Option<Result<Instrument, &'static str>> {
    let get = |key: &str| form.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let agreed = get("window") != Some("1") || get("agree") == Some("1");
    let chosen = match params.pay_method {
        PayMethod::Bank | PayMethod::Ebank => get("bankCode")
            .unwrap_or(DEFAULT_BANK)
            .parse::<BankCode>()
            .map(|code| Instrument::Bank { bank: code.bank() })
            .map_err(|_| "출금 은행(bankCode)을 목록에서 선택해 주세요."),
        PayMethod::Epay => {
            let wallet = get("wallet").unwrap_or(DEFAULT_WALLET);
            if wallet.chars().count() > MAX_WALLET_CHARS || wallet.chars().any(char::is_control) {
                Err("간편결제(wallet)를 목록에서 선택해 주세요.")
            } else {
                Ok(Instrument::Epay {
                    wallet: Wallet::from_innopay(wallet),
                })
            }
        }
        PayMethod::Card | PayMethod::Vbank | PayMethod::Opcard => return None,
    };
    Some(if agreed {
        chosen
    } else {
        Err("약관에 동의해 주세요.")
    })
}

/// A cash-receipt number the shopper mistyped on the virtual-account page: the page asks again
/// instead of showing the merchant's error page.
fn ask_receipt_again(
    sandbox: &Sandbox,
    form: &HashMap<String, String>,
    problem: &ParamProblem,
) -> Option<Response> {
    if problem.code != "W019" || form.get("window").map(String::as_str) != Some("1") {
        return None;
    }
    let mut without = form.clone();
    without.retain(|k, _| k != "receiptType" && k != "receiptTypeNo");
    let params = checked_params(sandbox, &without).ok()?;
    Some(vbank_choice(&params, form, Some(&problem.message)))
}

/// The banks of a page's bank list, `selected` chosen.
fn bank_options(selected: &str) -> String {
    BANKS
        .iter()
        .map(|b| {
            format!(
                "<option value=\"{code}\"{chosen}>{name}</option>",
                code = b.code,
                name = escape(b.name),
                chosen = if selected == b.code { " selected" } else { "" },
            )
        })
        .collect()
}

/// The test scenario of a bank or wallet page: approve, one of `declines`, or the shopper's cancel.
fn scenario_choice(approve: &str, declines: &[(&str, &str)]) -> String {
    let options: String = declines
        .iter()
        .map(|(code, message)| {
            format!(
                "<option value=\"{code}\">[{code}] {}</option>",
                escape(message)
            )
        })
        .collect();
    format!(
        "<section class=\"card\"><h2>테스트 시나리오</h2>\
         <label><input type=\"radio\" name=\"scenario\" value=\"approve\" id=\"scenario-approve\" \
         style=\"width:auto;min-height:0\" checked> {approve}</label><br>\
         <label><input type=\"radio\" name=\"scenario\" value=\"decline\" id=\"scenario-decline\" \
         style=\"width:auto;min-height:0\"> 실패:</label>\
         <select name=\"declineCode\" id=\"declineCode\">{options}</select><br>\
         <label><input type=\"radio\" name=\"scenario\" value=\"cancel\" id=\"scenario-cancel\" \
         style=\"width:auto;min-height:0\"> 고객 취소</label></section>"
    )
}

fn error_box(error: Option<&str>) -> String {
    error
        .map(|e| format!("<div class=\"error\">{}</div>", escape(e)))
        .unwrap_or_default()
}

/// The bank-transfer page (BANK 계좌이체, EBANK 계좌간편결제): the bank to pay from, the scenario.
fn bank_choice(params: &PayParams, error: Option<&str>) -> Response {
    let banks = bank_options("");
    let title = if params.pay_method == PayMethod::Ebank {
        "계좌간편결제"
    } else {
        "계좌이체"
    };
    let body = format!(
        "<h1>{title}</h1>{error}{summary}\
         <form method=\"post\" action=\"{PAY}/authorize\">{hidden}<input type=\"hidden\" name=\"window\" value=\"1\">\
         <section class=\"card\"><h2>약관 동의</h2><label><input type=\"checkbox\" name=\"agree\" value=\"1\" \
         id=\"agree\" style=\"width:auto;min-height:0\" required> 전자금융거래 이용약관, 개인정보 수집 및 이용, \
         개인정보 제3자 제공에 모두 동의합니다.</label></section>\
         <section class=\"card\"><h2>출금 은행 선택</h2><select name=\"bankCode\" id=\"bankCode\" required>\
         <option value=\"\">은행을 선택해 주세요</option>{banks}</select>\
         <p class=\"muted\">은행 점검 시간(매일 23:30~00:30 무렵)에는 이체가 되지 않을 수 있습니다.</p></section>\
         {scenario}<p><button type=\"submit\" id=\"pay\">결제하기</button></p></form>{cancel}",
        error = error_box(error),
        summary = summary(params),
        hidden = hidden(&params.fields),
        scenario = scenario_choice("이체 성공", &BANK_DECLINES),
        cancel = cancel_button(params),
    );
    html(page(title, body), StatusCode::OK)
}

/// The easy-pay page (EPAY 간편결제): the wallet, the scenario.
fn wallet_choice(params: &PayParams, error: Option<&str>) -> Response {
    let wallets: String = Wallet::KNOWN
        .iter()
        .map(|w| {
            format!(
                "<label style=\"display:inline-block;min-width:45%\"><input type=\"radio\" name=\"wallet\" \
                 value=\"{code}\" id=\"wallet-{code}\" style=\"width:auto;min-height:0\" required> {name}</label>",
                code = w.code(),
                name = escape(w.korean())
            )
        })
        .collect();
    let body = format!(
        "<h1>간편결제</h1>{error}{summary}\
         <form method=\"post\" action=\"{PAY}/authorize\">{hidden}<input type=\"hidden\" name=\"window\" value=\"1\">\
         <section class=\"card\"><h2>약관 동의</h2><label><input type=\"checkbox\" name=\"agree\" value=\"1\" \
         id=\"agree\" style=\"width:auto;min-height:0\" required> 전자금융거래 이용약관, 개인정보 수집 및 이용, \
         개인정보 제3자 제공에 모두 동의합니다.</label></section>\
         <section class=\"card\"><h2>간편결제 선택</h2>{wallets}</section>\
         {scenario}<p><button type=\"submit\" id=\"pay\">결제하기</button></p></form>{cancel}",
        error = error_box(error),
        summary = summary(params),
        hidden = hidden(&params.fields),
        scenario = scenario_choice("결제 성공", &EPAY_DECLINES),
        cancel = cancel_button(params),
    );
    html(page("간편결제", body), StatusCode::OK)
}

fn card_choice(params: &PayParams, error: Option<&str>) -> Response {
    let cards: String = CARD_COMPANIES
        .iter()
        .map(|c| {
            format!(
                "<label style=\"display:inline-block;min-width:30%\"><input type=\"radio\" name=\"cardCode\" \
                 value=\"{code}\" id=\"card-{code}\" style=\"width:auto;min-height:0\" required> {name}</label>",
                code = c.code,
                name = escape(c.name)
            )
        })
        .collect();
    let body = format!(
        "<h1>신용카드 결제</h1>{error}{summary}\
         <form method=\"post\" action=\"{PAY}/window/auth\">{hidden}\
         <section class=\"card\"><h2>약관 동의</h2><label><input type=\"checkbox\" name=\"agree\" value=\"1\" \
         id=\"agree\" style=\"width:auto;min-height:0\" required> 전자금융거래 이용약관, 개인정보 수집 및 이용, \
         개인정보 제3자 제공에 모두 동의합니다.</label></section>\
         <section class=\"card\"><h2>카드사 선택</h2>{cards}</section>\
         <section class=\"card\"><h2>할부 선택</h2><select name=\"cardQuota\" id=\"cardQuota\">{quota}</select></section>\
         <p><button type=\"submit\" id=\"next\">다음</button></p></form>{cancel}",
        error = error
            .map(|e| format!("<div class=\"error\">{}</div>", escape(e)))
            .unwrap_or_default(),
        summary = summary(params),
        hidden = hidden(&params.fields),
        quota = quota_options(params.total()),
        cancel = cancel_button(params),
    );
    html(page("이노페이 결제", body), StatusCode::OK)
}

/// The overseas-card window (OPCARD) in one step: the brand, the test card (masked), 3-D Secure and
/// the test scenario. Overseas cards pay at once, so there is no installment choice.
fn overseas_card_choice(params: &PayParams, error: Option<&str>) -> Response {
    let brands: String = OVERSEAS_BRANDS
        .iter()
        .filter_map(|(code, first, last)| card_company(code).map(|c| (c, first, last)))
        .enumerate()
        .map(|(i, (c, first, last))| {
            format!(
                "<label style=\"display:block\"><input type=\"radio\" name=\"cardCode\" value=\"{code}\" \
                 id=\"card-{code}\" style=\"width:auto;min-height:0\"{checked}> {name} \
                 <span class=\"muted\">{first} **** **** {last}</span></label>",
                code = c.code,
                name = escape(c.name),
                checked = if i == 0 { " checked" } else { "" },
            )
        })
        .collect();
    let body = format!(
        "<h1>해외카드 결제</h1>{error}{summary}\
         <form method=\"post\" action=\"{PAY}/authorize\">{hidden}\
         <input type=\"hidden\" name=\"window\" value=\"1\"><input type=\"hidden\" name=\"cardQuota\" value=\"00\">\
         <section class=\"card\"><h2>약관 동의</h2><label><input type=\"checkbox\" name=\"agree\" value=\"1\" \
         id=\"agree\" style=\"width:auto;min-height:0\" required> 해외카드 결제 이용약관에 동의합니다.</label></section>\
         <section class=\"card\"><h2>카드 브랜드</h2>{brands}\
         <p class=\"muted\">샌드박스의 테스트 카드입니다. 카드번호는 가려서 보여 줍니다.</p></section>\
         <section class=\"card\"><h2>3D Secure 인증</h2><label for=\"secureCode\">카드사 인증번호</label>\
         <input type=\"password\" id=\"secureCode\" autocomplete=\"off\" required>\
         <p class=\"muted\">샌드박스에서는 아무 값이나 입력하면 됩니다.</p></section>\
         {scenario}<p><button type=\"submit\" id=\"pay\">결제하기</button></p></form>{cancel}",
        error = error_box(error),
        summary = summary(params),
        hidden = hidden(&params.fields),
        scenario = scenario_choice("3D Secure 인증 성공", &OPCARD_DECLINES),
        cancel = cancel_button(params),
    );
    html(page("해외카드 결제", body), StatusCode::OK)
}

/// The choices of step 1, checked again on the server (a form can be sent without the browser).
fn chosen_card(
    form: &HashMap<String, String>,
) -> Result<(&'static CardCompany, String), &'static str> {
    if form.get("agree").map(String::as_str) != Some("1") {
        return Err("약관에 동의해 주세요.");
    }
    let card = form
        .get("cardCode")
        .and_then(|c| card_company(c))
        .ok_or("카드사를 선택해 주세요.")?;
    let quota = form
        .get("cardQuota")
        .cloned()
        .unwrap_or_else(|| "00".into());
    if !valid_quota(&quota) {
        return Err("할부 개월을 확인해 주세요.");
    }
    Ok((card, quota))
}

/// The parameters and card choice steps 2 and 3 start from, or the page to show instead.
fn card_step(
    sandbox: &Sandbox,
    form: &HashMap<String, String>,
) -> Result<(PayParams, &'static CardCompany, String), Box<Response>> {
    let params =
        checked_params(sandbox, form).map_err(|problem| Box::new(problem_page(&problem)))?;
    match chosen_card(form) {
        Ok((card, quota)) => Ok((params, card, quota)),
        Err(message) => Err(Box::new(card_choice(&params, Some(message)))),
    }
}

fn carried(params: &PayParams, card: &CardCompany, quota: &str) -> Vec<(String, String)> {
    let mut fields = params.fields.clone();
    fields.extend([
        ("agree".to_string(), "1".to_string()),
        ("cardCode".to_string(), card.code.to_string()),
        ("cardQuota".to_string(), quota.to_string()),
    ]);
    fields
}

/// Step 2: the card company's authentication (ISP or 안심클릭) and the test scenario.
#[handler]
fn window_auth(
    Form(form): Form<HashMap<String, String>>,
    Data(sandbox): Data<&Sandbox>,
) -> Response {
    let (params, card, quota) = match card_step(sandbox, &form) {
        Ok(step) => step,
        Err(page) => return *page,
    };
    let certificate = needs_certificate(card, params.total());
    let (kind, password) = if card.isp {
        ("일반결제(ISP)", "ISP 비밀번호")
    } else {
        ("일반결제(안심클릭)", "안심클릭 비밀번호")
    };
    let declines: String = DECLINES
        .iter()
        .map(|(code, message)| format!("<option value=\"{code}\">{}</option>", escape(message)))
        .collect();
    let body = format!(
        "<h1>{card} 카드 인증</h1>{summary}\
         <form method=\"post\" action=\"{action}\">{hidden}<input type=\"hidden\" name=\"window\" value=\"1\">\
         <section class=\"card\"><h2>{kind}</h2><label for=\"cardPassword\">{password}</label>\
         <input type=\"password\" id=\"cardPassword\" autocomplete=\"off\" required>\
         <p class=\"muted\">샌드박스에서는 아무 값이나 입력하면 됩니다.{certificate_note}</p></section>\
         <section class=\"card\"><h2>테스트 시나리오</h2>\
         <label><input type=\"radio\" name=\"scenario\" value=\"approve\" id=\"scenario-approve\" \
         style=\"width:auto;min-height:0\" checked> 인증 성공</label><br>\
         <label><input type=\"radio\" name=\"scenario\" value=\"decline\" id=\"scenario-decline\" \
         style=\"width:auto;min-height:0\"> 인증 실패:</label>\
         <select name=\"declineCode\" id=\"declineCode\">{declines}</select><br>\
         <label><input type=\"radio\" name=\"scenario\" value=\"cancel\" id=\"scenario-cancel\" \
         style=\"width:auto;min-height:0\"> 고객 취소</label></section>\
         <p><button type=\"submit\" id=\"pay\">{button}</button></p></form>{cancel}",
        card = escape(card.name),
        summary = summary(&params),
        action = if certificate {
            format!("{PAY}/window/certificate")
        } else {
            format!("{PAY}/authorize")
        },
        hidden = hidden(&carried(&params, card, &quota)),
        certificate_note = if certificate {
            " 30만원 이상 ISP 결제는 다음 단계에서 공인인증서 인증과 ARS 인증이 필요합니다."
        } else {
            ""
        },
        button = if certificate {
            "다음"
        } else {
            "결제하기"
        },
        cancel = cancel_button(&params),
    );
    html(page("카드 인증", body), StatusCode::OK)
}

/// Step 3, ISP at 300,000 won or more: the cardholder's certificate and ARS, as the guide describes.
#[handler]
fn window_certificate(
    Form(form): Form<HashMap<String, String>>,
    Data(sandbox): Data<&Sandbox>,
) -> Response {
    let (params, card, quota) = match card_step(sandbox, &form) {
        Ok(step) => step,
        Err(page) => return *page,
    };
    let mut fields = carried(&params, card, &quota);
    for key in ["scenario", "declineCode", "window"] {
        if let Some(value) = form.get(key) {
            fields.push((key.to_string(), value.clone()));
        }
    }
    let body = format!(
        "<h1>공인인증서 인증</h1>{summary}<form method=\"post\" action=\"{PAY}/authorize\">{hidden}\
         <section class=\"card\"><h2>공인인증서</h2><p>1회 30만원 이상 일반결제(ISP)는 카드 소지자 본인의 \
         공인인증서가 필요합니다.</p><label for=\"certPassword\">인증서 비밀번호</label>\
         <input type=\"password\" id=\"certPassword\" autocomplete=\"off\" required></section>\
         <section class=\"card\"><h2>ARS 인증</h2><label><input type=\"checkbox\" id=\"ars\" \
         style=\"width:auto;min-height:0\" required> ARS 인증을 완료했습니다.</label></section>\
         <p><button type=\"submit\" id=\"pay\">결제하기</button></p></form>{cancel}",
        summary = summary(&params),
        hidden = hidden(&fields),
        cancel = cancel_button(&params),
    );
    html(page("공인인증서 인증", body), StatusCode::OK)
}

/// The end of every authentication: the query Innopay sends to `returnUrl`.
#[handler]
fn authorize(
    req: &Request,
    Form(form): Form<HashMap<String, String>>,
    Data(sandbox): Data<&Sandbox>,
) -> Response {
    let path = req.original_uri().path().to_string();
    let record = |mid: Option<String>, tid: Option<String>, outcome: String| {
        sandbox.lock().record_call("POST", &path, mid, tid, outcome);
    };
    let params = match checked_params(sandbox, &form) {
        Ok(params) => params,
        Err(problem) => {
            if let Some(page) = ask_receipt_again(sandbox, &form, &problem) {
                return page;
            }
            record(
                form.get("mid").cloned(),
                None,
                format!("refused {}", problem.code),
            );
            return problem_page(&problem);
        }
    };
    let get = |key: &str| form.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let in_window = get("window") == Some("1");
    let vbank = params.pay_method == PayMethod::Vbank;
    let mut query: Vec<(&str, String)> = Vec::new();
    let (tid, outcome) = match get("scenario").unwrap_or("approve") {
        "approve" => {
            let instrument = if let Some(instrument) = chosen_bank_or_wallet(&params, &form) {
                match instrument {
                    Ok(instrument) => instrument,
                    Err(message) if in_window => {
                        return match params.pay_method {
                            PayMethod::Epay => wallet_choice(&params, Some(message)),
                            _ => bank_choice(&params, Some(message)),
                        };
                    }
                    Err(message) => {
                        let problem = ParamProblem {
                            code: "W021",
                            message: message.to_string(),
                        };
                        record(Some(params.mid.to_string()), None, "refused W021".into());
                        return problem_page(&problem);
                    }
                }
            } else if vbank {
                match chosen_account(&params, &form) {
                    Ok(instrument) => instrument,
                    Err(message) if in_window => {
                        return vbank_choice(&params, &form, Some(message));
                    }
                    Err(message) => {
                        let problem = ParamProblem {
                            code: "W020",
                            message: format!(
                                "입금 은행(bankCode) 또는 입금자명(depositorName)을 확인해 주세요: {message}"
                            ),
                        };
                        record(Some(params.mid.to_string()), None, "refused W020".into());
                        return problem_page(&problem);
                    }
                }
            } else {
                let overseas = params.pay_method == PayMethod::Opcard;
                let code = get("cardCode").unwrap_or(if overseas {
                    OVERSEAS_BRANDS[0].0
                } else {
                    DEFAULT_CARD
                });
                let quota = get("cardQuota").unwrap_or("00");
                // An overseas card is one of the brands, paid at once.
                let fits = |card: &&CardCompany| {
                    !overseas || (quota == "00" && OVERSEAS_BRANDS.iter().any(|b| b.0 == card.code))
                };
                let Some(card) = card_company(code)
                    .filter(|_| valid_quota(quota))
                    .filter(fits)
                else {
                    let problem = ParamProblem {
                        code: "W010",
                        message: "카드사 코드(cardCode) 또는 할부(cardQuota)를 확인해 주세요."
                            .into(),
                    };
                    record(Some(params.mid.to_string()), None, "refused W010".into());
                    return problem_page(&problem);
                };
                Instrument::Card {
                    card,
                    quota: quota.to_string(),
                }
            };
            let (token, tid) = sandbox.lock().authenticate(params.clone(), instrument);
            query.push(("paymentToken", token));
            query.push(("tid", tid.clone()));
            (Some(tid), "authenticated".to_string())
        }
        "decline" => {
            let default = match params.pay_method {
                PayMethod::Vbank => VBANK_DECLINE,
                PayMethod::Bank | PayMethod::Ebank => BANK_DECLINES[0],
                PayMethod::Epay => EPAY_DECLINES[0],
                PayMethod::Card => DECLINES[0],
                PayMethod::Opcard => OPCARD_DECLINES[0],
            };
            let code = get("declineCode").unwrap_or(default.0);
            let preset = DECLINES
                .iter()
                .chain(&BANK_DECLINES)
                .chain(&EPAY_DECLINES)
                .chain(&OPCARD_DECLINES)
                .chain([&VBANK_DECLINE])
                .find(|(c, _)| *c == code)
                .map(|(_, m)| *m);
            let message = get("declineMessage").or(preset).unwrap_or(default.1);
            query.push(("resultCode", code.to_string()));
            query.push(("resultMsg", message.to_string()));
            (None, format!("declined {code}"))
        }
        "cancel" => {
            query.push(("resultCode", SHOPPER_CANCEL.0.to_string()));
            query.push(("resultMsg", SHOPPER_CANCEL.1.to_string()));
            (None, "cancelled by shopper".to_string())
        }
        other => {
            let problem = ParamProblem {
                code: "W099",
                message: format!(
                    "scenario는 approve, decline, cancel 중 하나여야 합니다: {other:?}"
                ),
            };
            return problem_page(&problem);
        }
    };
    record(Some(params.mid.to_string()), tid, outcome);
    let target = return_url(&params, query);
    if in_window {
        finish_page(&target, &params)
    } else {
        Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, target.as_str())
            .header(header::CACHE_CONTROL, "no-store")
            .finish()
    }
}

/// `returnUrl` with Innopay's query: `paymentToken, tid` (on success) then `mid, moid, amt,
/// taxFreeAmt, payMethod, mallReserved`, then `resultCode, resultMsg` (on failure or cancel).
fn return_url(params: &PayParams, result: Vec<(&str, String)>) -> url::Url {
    let (auth, outcome): (Vec<_>, Vec<_>) = result
        .into_iter()
        .partition(|(k, _)| matches!(*k, "paymentToken" | "tid"));
    let mut url = params.return_url.clone();
    {
        let mut pairs = url.query_pairs_mut();
        for (key, value) in auth {
            pairs.append_pair(key, &value);
        }
        pairs
            .append_pair("mid", params.mid.as_str())
            .append_pair("moid", params.moid.as_str())
            .append_pair("amt", &params.amt.minor().to_string())
            .append_pair("taxFreeAmt", &params.tax_free_amt.to_string())
            .append_pair("payMethod", params.pay_method.code())
            .append_pair("mallReserved", &params.mall_reserved);
        for (key, value) in outcome {
            pairs.append_pair(key, &value);
        }
    }
    url
}

/// The window's last page: sends the shop page (the window's opener) to `returnUrl` and closes the
/// window; without an opener the window itself goes there.
fn finish_page(target: &url::Url, params: &PayParams) -> Response {
    let json = |s: &str| crate::pages::script_json(&serde_json::Value::from(s));
    let redirect = format!(
        "(function () {{\n\
         var url = {url};\n\
         try {{\n\
           if (window.opener && !window.opener.closed) {{\n\
             window.opener.postMessage({{innopaySandbox: 'done', moid: {moid}}}, '*');\n\
             window.opener.location.href = url;\n\
             window.setTimeout(function () {{ window.close(); }}, 100);\n\
             return;\n\
           }}\n\
         }} catch (e) {{}}\n\
         window.location.href = url;\n\
         }}());",
        url = json(target.as_str()),
        moid = json(params.moid.as_str()),
    );
    let body = format!(
        "<h1>인증이 끝났습니다</h1><p>가맹점으로 이동합니다.</p>\
         <p><a class=\"button\" href=\"{}\">가맹점으로 돌아가기</a></p>{}",
        escape(target.as_str()),
        app_handoff(params)
    );
    page("결제 인증 완료", body)
        .with_script(redirect)
        .into_response(StatusCode::OK)
}

/// `GET /pay/issue/CardIssue.jsp?TID=...`: the card receipt (매출전표) the approval links to.
#[handler]
fn receipt(
    Query(query): Query<HashMap<String, String>>,
    Data(sandbox): Data<&Sandbox>,
) -> Response {
    let tid = query.get("TID").cloned().unwrap_or_default();
    let Some(r) = sandbox.lock().receipt(&tid) else {
        let body = "<h1>영수증</h1><div class=\"error\">거래를 찾을 수 없습니다.</div>".to_string();
        return html(page("영수증", body), StatusCode::NOT_FOUND);
    };
    let cancelled = if r.cancelled.minor() > 0 {
        format!("<dt>취소금액</dt><dd>{}</dd>", r.cancelled.text())
    } else {
        String::new()
    };
    let body = format!(
        "<h1>신용카드 매출전표 (샌드박스)</h1><section class=\"card\"><dl>\
         <dt>거래번호</dt><dd>{tid}</dd><dt>가맹점</dt><dd>{mid}</dd><dt>상품명</dt><dd>{goods}</dd>\
         <dt>결제금액</dt><dd>{total}</dd>{cancelled}<dt>카드</dt><dd>{card} {num}</dd>\
         <dt>승인번호</dt><dd>{auth}</dd><dt>승인일시</dt><dd>{at}</dd></dl></section>",
        tid = escape(&tid),
        mid = escape(r.params.mid.as_str()),
        goods = escape(&r.params.goods_name),
        total = r.params.total().text(),
        card = escape(r.card_name),
        num = escape(&r.card_num),
        auth = escape(&r.auth_num),
        at = escape(&r.approved_at),
    );
    html(page("영수증", body), StatusCode::OK)
}

/// The stand-in SDK. `__FALLBACK_BASE__`, `__FIELDS__` and `__LIMITS__` are filled in when served.
const SCRIPT: &str = r#"/* paydesk Innopay SANDBOX: a stand-in for Innopay's innopay.js. No real money moves. */
var innopay = (function () {
  'use strict';
  var script = document.currentScript;
  var base = script && script.src
    ? script.src.replace(/\/tpay\/js\/innopay\.js([?#].*)?$/, '')
    : __FALLBACK_BASE__;
  var FIELDS = __FIELDS__;
  var LIMITS = __LIMITS__;
  var METHODS = ['CARD', 'BANK', 'VBANK', 'EPAY', 'OPCARD', 'EBANK'];
  var completed = {};

  function str(v) { return v === undefined || v === null ? '' : String(v).trim(); }

  // The same checks, in the same order, as the window (src/sandbox/params.rs).
  function check(p) {
    for (var i = 0; i < LIMITS.length; i++) {
      var limit = LIMITS[i];
      if (Array.from(str(p[limit[0]])).length > limit[1]) return [limit[2], limit[0] + ' 값은 ' + limit[1] + '자 이내여야 합니다.'];
    }
    if (METHODS.indexOf(str(p.payMethod)) < 0) return ['W001', '결제수단(payMethod)을 확인해 주세요.'];
    if (!/^[a-z0-9]{10}$/.test(str(p.mid))) return ['W002', '가맹점 ID(mid)를 확인해 주세요.'];
    if (!/^[A-Za-z0-9_-]{1,40}$/.test(str(p.moid))) return ['W005', '주문번호(moid)는 영문, 숫자, _, - 40자 이내여야 합니다.'];
    if (!str(p.goodsName)) return ['W006', '상품명(goodsName)을 입력해 주세요.'];
    if (!/^[0-9]{1,12}$/.test(str(p.amt)) || Number(str(p.amt)) < 1) return ['W007', '결제금액(amt)을 확인해 주세요.'];
    if (str(p.taxFreeAmt) && !/^[0-9]{1,12}$/.test(str(p.taxFreeAmt))) return ['W014', '면세금액(taxFreeAmt)을 확인해 주세요.'];
    if (!str(p.buyerName)) return ['W011', '구매자명(buyerName)을 입력해 주세요.'];
    if (!/^[0-9]{8,12}$/.test(str(p.buyerTel))) return ['W012', '구매자 연락처(buyerTel)는 숫자만 입력해 주세요.'];
    if (!/^[^@\s]+@[^@\s.][^@\s]*\.[^@\s]*[^@\s.]$/.test(str(p.buyerEmail))) return ['W013', '구매자 이메일(buyerEmail)을 확인해 주세요.'];
    if (!/^https?:\/\/[^\s\/]+/.test(str(p.returnUrl))) return ['W008', '인증결과 전송 URL(returnUrl)을 확인해 주세요.'];
    return null;
  }

  // The window says when it has finished, so closing it then is not a shopper's cancel.
  window.addEventListener('message', function (event) {
    var data = event.data;
    if (data && data.innopaySandbox === 'done') completed[data.moid] = true;
  });

  var api = {
    /** Called with the moid when the shopper closes the window without finishing. */
    closeHandler: null,
    /** Opens the payment window as a popup. Returns false (after an alert) when the parameters are
     *  invalid or the popup was blocked. */
    goPay: function (params) {
      var p = params || {};
      var problem = check(p);
      if (problem) {
        window.alert('[' + problem[0] + '] ' + problem[1]);
        return false;
      }
      var moid = str(p.moid);
      var name = 'innopay_window_' + moid.replace(/-/g, '_');
      var popup = window.open('about:blank', name,
        'width=480,height=760,left=120,top=60,scrollbars=yes,resizable=yes');
      if (!popup || popup.closed || typeof popup.closed === 'undefined') {
        window.alert('결제창을 열 수 없습니다. 브라우저의 팝업 차단을 해제한 뒤 다시 시도해 주세요.');
        return false;
      }
      var form = document.createElement('form');
      form.method = 'post';
      form.action = base + '/pay/window';
      form.target = name;
      form.acceptCharset = 'UTF-8';
      form.style.display = 'none';
      FIELDS.forEach(function (key) {
        if (p[key] === undefined || p[key] === null) return;
        var input = document.createElement('input');
        input.type = 'hidden';
        input.name = key;
        input.value = String(p[key]);
        form.appendChild(input);
      });
      document.body.appendChild(form);
      form.submit();
      document.body.removeChild(form);
      var timer = window.setInterval(function () {
        if (!popup.closed) return;
        window.clearInterval(timer);
        if (!completed[moid] && typeof api.closeHandler === 'function') api.closeHandler(moid);
      }, 300);
      return true;
    }
  };
  return api;
}());
"#;
