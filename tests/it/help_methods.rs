//! Help for the methods beyond cards and virtual accounts (BANK 계좌이체, EBANK 계좌간편결제, EPAY
//! 간편결제, OPCARD 해외카드) and for in-app browsers: each method's typical decline message puts its
//! article first in `/v1/help/suggest` (by the articles' `errorPatterns`) without taking a card's
//! messages from `card-declined`; a messenger or social app's in-app browser (KakaoTalk, Instagram,
//! Facebook, LINE) brings the in-app browser article; shoppers' own words find the same articles.

use paydesk::help::{HelpSource, SuggestRequest, render_suggestions};
use serde_json::Value;

use crate::help_vbank::{encode, slugs};
use crate::support::{Backend, TestApp};

const MAINTENANCE: &str = "bank-maintenance-hours";
const BANK_FAILED: &str = "bank-transfer-failed";
const EASY_PAY: &str = "easy-pay-app-not-opening";
const APP_SWITCH: &str = "app-switch-payment-return";
const OVERSEAS: &str = "overseas-card-declined";
const IN_APP: &str = "in-app-browser-payment";

const KAKAOTALK_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 KAKAOTALK 10.9.5";
const KAKAOTALK_ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; SM-S918N Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 Mobile Safari/537.36;KAKAOTALK 2410420";
const INSTAGRAM: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 334.0.4.32.98 (iPhone14,5; iOS 17_5; ko_KR; ko; scale=3.00; 1170x2532; 611498468)";
const FACEBOOK: &str = "Mozilla/5.0 (Linux; Android 14; SM-S918N Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/470.0.0.43.108;]";
const LINE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.10.0";
const NAVER: &str = "Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 Mobile Safari/537.36 NAVER(inapp; search; 2000; 12.1.0)";
const SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

fn urls(body: &Value) -> Vec<String> {
    body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["url"].as_str().unwrap().to_string())
        .collect()
}

/// `GET path` with `user_agent` (if any); the answer must be a 200 with JSON.
async fn json_as(app: &TestApp, path: &str, user_agent: Option<&str>) -> Value {
    let mut request = app.client.get(app.url(path));
    if let Some(ua) = user_agent {
        request = request.header("user-agent", ua);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

fn suggest_path(message: &str, code: Option<&str>, pay_method: &str) -> String {
    let mut path = format!(
        "/v1/help/suggest?message={}&payMethod={pay_method}",
        encode(message)
    );
    if let Some(code) = code {
        path.push_str(&format!("&code={code}"));
    }
    path
}

#[tokio::test]
async fn in_app_browsers_of_messenger_and_social_apps_bring_the_in_app_article() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for ua in [KAKAOTALK_IOS, KAKAOTALK_ANDROID, INSTAGRAM, FACEBOOK, LINE] {
        // Nothing but the browser known: the in-app article's "open in the browser" section first.
        let body = json_as(&app, "/v1/help/suggest?payMethod=CARD", Some(ua)).await;
        assert_eq!(slugs(&body)[0], IN_APP, "{ua}: {body}");
        assert_eq!(
            urls(&body)[0],
            format!("/help/{IN_APP}#open-in-browser"),
            "{ua}: {body}"
        );

        // A vague card failure fills the list from the search, and the in-app article keeps its
        // place; the plain phone checklist gives way to it.
        let body = json_as(
            &app,
            &suggest_path("결제가 실패했습니다", None, "CARD"),
            Some(ua),
        )
        .await;
        assert!(slugs(&body).contains(&IN_APP.to_string()), "{ua}: {body}");
        assert!(
            !urls(&body).contains(&"/help/mobile-checklist#checklist".to_string()),
            "{ua}: {body}"
        );

        // A wallet that could not be opened from KakaoTalk: the wallet article first, the in-app
        // article with it.
        let body = json_as(
            &app,
            &suggest_path(
                "간편결제 앱을 열 수 없습니다. 앱 설치 여부를 확인해 주세요.",
                None,
                "EPAY",
            ),
            Some(ua),
        )
        .await;
        assert_eq!(slugs(&body)[0], EASY_PAY, "{ua}: {body}");
        assert!(slugs(&body).contains(&IN_APP.to_string()), "{ua}: {body}");
    }

    // The portal apps keep the mobile checklist's in-app section; a phone's own browser, the
    // checklist; neither brings the in-app article by rule.
    for (ua, expected) in [
        (NAVER, "/help/mobile-checklist#in-app-browser"),
        (SAFARI, "/help/mobile-checklist#checklist"),
    ] {
        let body = json_as(&app, "/v1/help/suggest?payMethod=CARD", Some(ua)).await;
        assert_eq!(urls(&body), [expected], "{ua}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn each_methods_declines_suggest_their_article_first() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (message, code, pay_method, expected) in [
        // Bank maintenance: must win over "잠시 후 다시" (the connection-error article).
        (
            "은행 점검 시간입니다. 점검 시간(23:30~00:30)에는 계좌이체를 이용할 수 없으니 잠시 후 다시 시도해 주세요.",
            Some("B002"),
            "BANK",
            MAINTENANCE,
        ),
        (
            "은행 점검 시간입니다. 잠시 후 다시 시도해 주세요.",
            None,
            "BANK",
            MAINTENANCE,
        ),
        ("은행 정기점검 중입니다", None, "EBANK", MAINTENANCE),
        ("해당 은행은 현재 점검중입니다", None, "BANK", MAINTENANCE),
        // Bank refusals: must win over the card words "잔액", "한도", "오류 횟수".
        (
            "출금 계좌의 잔액이 부족합니다.",
            Some("B001"),
            "BANK",
            BANK_FAILED,
        ),
        ("출금 계좌의 잔액이 부족합니다.", None, "EBANK", BANK_FAILED),
        (
            "계좌 비밀번호 오류 횟수를 초과했습니다.",
            Some("B003"),
            "EBANK",
            BANK_FAILED,
        ),
        (
            "계좌 비밀번호가 일치하지 않습니다",
            None,
            "BANK",
            BANK_FAILED,
        ),
        ("1일 이체 한도를 초과했습니다", None, "BANK", BANK_FAILED),
        ("등록되지 않은 계좌입니다", None, "EBANK", BANK_FAILED),
        // Wallets: the cancelled one must win over the generic "고객이 결제를 취소".
        (
            "간편결제 잔액 또는 연결된 결제수단의 한도가 부족합니다.",
            Some("E001"),
            "EPAY",
            EASY_PAY,
        ),
        (
            "간편결제 앱에서 고객이 결제를 취소했습니다.",
            Some("E002"),
            "EPAY",
            EASY_PAY,
        ),
        (
            "간편결제 앱에서 고객이 결제를 취소했습니다.",
            None,
            "EPAY",
            EASY_PAY,
        ),
        (
            "간편결제 앱을 열 수 없습니다. 앱 설치 여부를 확인해 주세요.",
            Some("E003"),
            "EPAY",
            EASY_PAY,
        ),
        ("카카오페이 결제가 취소되었습니다", None, "EPAY", EASY_PAY),
        // Overseas cards: must win over the card words "한도", "정지".
        ("해외카드 승인이 거절되었습니다", None, "OPCARD", OVERSEAS),
        ("해외 사용이 정지된 카드입니다", None, "OPCARD", OVERSEAS),
        ("해외 결제 한도를 초과했습니다", None, "OPCARD", OVERSEAS),
        ("3D Secure 인증에 실패했습니다", None, "OPCARD", OVERSEAS),
    ] {
        let body = json_as(&app, &suggest_path(message, code, pay_method), None).await;
        assert_eq!(slugs(&body)[0], expected, "{pay_method} {message}: {body}");
        assert!(
            urls(&body)[0].starts_with(&format!("/help/{expected}")),
            "{pay_method} {message}: {body}"
        );
    }
    app.stop().await;
}

/// The new articles' words overlap the card and window ones ("잔액이 부족합니다", "취소", "잠시 후
/// 다시"); a card's or the window's own messages still reach the articles they reached before.
#[tokio::test]
async fn card_and_window_messages_keep_their_articles() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (message, code, pay_method, expected) in [
        ("잔액이 부족합니다.", Some("C002"), "CARD", "card-declined"),
        ("잔액이 부족합니다.", None, "CARD", "card-declined"),
        ("카드 한도가 초과되었습니다.", None, "CARD", "card-declined"),
        (
            "비밀번호 오류 횟수를 초과했습니다.",
            Some("C006"),
            "CARD",
            "card-declined",
        ),
        (
            "고객이 결제를 취소했습니다.",
            Some("USER_CANCEL"),
            "CARD",
            "payment-cancelled-by-mistake",
        ),
        ("앱카드 결제 오류", None, "CARD", "app-card-easy-pay"),
        (
            "결제 서버에 연결하지 못했습니다. 잠시 후 다시 시도해 주세요.",
            None,
            "BANK",
            "payment-connection-error",
        ),
    ] {
        let body = json_as(&app, &suggest_path(message, code, pay_method), None).await;
        assert_eq!(slugs(&body)[0], expected, "{pay_method} {message}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn shoppers_words_find_the_method_articles_first() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (query, expected) in [
        ("은행 점검시간", MAINTENANCE),
        ("새벽에 계좌이체 점검중이래요", MAINTENANCE),
        ("계좌이체 잔액부족", BANK_FAILED),
        ("1일 이체한도 초과라고 나와요", BANK_FAILED),
        ("카카오페이 앱이 안열려요", EASY_PAY),
        ("페이코 결제 취소했어요", EASY_PAY),
        ("카드사 앱 갔다가 쇼핑몰로 안 돌아와요", APP_SWITCH),
        ("해외카드 결제 거절", OVERSEAS),
        ("외국카드로 결제가 안돼요", OVERSEAS),
    ] {
        let body = json_as(&app, &format!("/v1/help/search?q={}", encode(query)), None).await;
        assert_eq!(body["fallback"], false, "{query}: {body}");
        assert_eq!(slugs(&body)[0], expected, "{query}: {body}");
    }
    app.stop().await;
}

/// What the failure page shows for a wallet that did not open inside KakaoTalk, as the checkout
/// calls `suggest`: the wallet article first, and a link to the in-app article in the help box.
#[test]
fn a_failure_page_inside_kakaotalk_links_the_in_app_article() {
    let help = paydesk::help::HelpCenter::load(&HelpSource::BuiltIn).unwrap();
    let hits = help.suggest(&SuggestRequest {
        message: Some("간편결제 앱을 열 수 없습니다. 앱 설치 여부를 확인해 주세요.".into()),
        code: Some("E003".into()),
        pay_method: Some("EPAY".into()),
        amount: Some(39_000),
        user_agent: Some(KAKAOTALK_ANDROID.into()),
        limit: 3,
        ..SuggestRequest::default()
    });
    assert_eq!(hits[0].slug, EASY_PAY, "{hits:?}");
    let html = render_suggestions(&hits);
    assert!(
        html.contains(&format!("<a href=\"/help/{IN_APP}?from=suggest")),
        "{html}"
    );
}
