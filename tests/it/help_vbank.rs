//! Help for virtual-account (VBANK, 가상계좌) payments: the codes paydesk passes to `suggest` with
//! `payMethod=VBANK`, Innopay's refund-account refusals and a Korean deadline message each put the
//! fitting article first (by the articles' `errorPatterns`), and shoppers' own words find the same
//! articles through the search API.

use paydesk::help::{HelpSource, SuggestRequest};
use serde_json::Value;

use crate::support::{Backend, TestApp};

const HOW_TO_PAY: &str = "vbank-how-to-pay";
const NOT_CONFIRMED: &str = "vbank-deposit-not-confirmed";
const WRONG_AMOUNT: &str = "vbank-wrong-amount";
const REFUND: &str = "vbank-refund";
const DEADLINE: &str = "vbank-deadline-passed";

pub(crate) fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub(crate) fn slugs(body: &Value) -> Vec<String> {
    body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["slug"].as_str().unwrap().to_string())
        .collect()
}

async fn json(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn vbank_codes_suggest_the_fitting_article_first() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (code, expected) in [
        ("awaiting_deposit", HOW_TO_PAY),
        ("deposit_expired", DEADLINE),
        ("deposit_amount_mismatch", WRONG_AMOUNT),
        ("refund_account_required", REFUND),
        ("invalid_refund_account", REFUND),
    ] {
        let body = json(
            &app,
            &format!("/v1/help/suggest?code={code}&payMethod=VBANK"),
        )
        .await;
        let found = slugs(&body);
        assert_eq!(found[0], expected, "{code}: {body}");
        assert!(
            body["hits"][0]["url"]
                .as_str()
                .unwrap()
                .starts_with(&format!("/help/{expected}")),
            "{code}: {body}"
        );
        assert!(
            found
                .iter()
                .all(|s| s != "over-300000-won-certificate" && s != "mobile-checklist"),
            "card and phone rules stay out: {code}: {body}"
        );
    }

    // The shopper's waiting page offers both: how to pay, then "I paid but it still waits".
    let body = json(
        &app,
        "/v1/help/suggest?code=awaiting_deposit&payMethod=VBANK",
    )
    .await;
    assert_eq!(&slugs(&body)[..2], [HOW_TO_PAY, NOT_CONFIRMED], "{body}");
    app.stop().await;
}

#[tokio::test]
async fn refusal_messages_about_refund_accounts_and_deadlines_suggest_their_article() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (message, code, expected) in [
        ("환불계좌 정보가 올바르지 않습니다", None, REFUND),
        ("환불 은행코드 오류", Some("9999"), REFUND),
        ("환불계좌 예금주명 불일치", None, REFUND),
        ("입금 기한이 지났습니다", None, DEADLINE),
        ("입금기한 만료", Some("deposit_expired"), DEADLINE),
        ("입금 금액 불일치", None, WRONG_AMOUNT),
    ] {
        let mut path = format!(
            "/v1/help/suggest?message={}&payMethod=VBANK",
            encode(message)
        );
        if let Some(code) = code {
            path.push_str(&format!("&code={code}"));
        }
        let body = json(&app, &path).await;
        assert_eq!(slugs(&body)[0], expected, "{message}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn shoppers_words_find_the_vbank_articles_first() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (query, expected) in [
        ("입금했는데 대기중", NOT_CONFIRMED),
        ("입금했는데 입금대기로 나와요", NOT_CONFIRMED),
        ("가상계좌 환불", REFUND),
        ("무통장입금 환불계좌", REFUND),
        ("무통장입금 금액 잘못", WRONG_AMOUNT),
        ("가상계좌 입금 방법", HOW_TO_PAY),
        ("무통장 현금영수증", HOW_TO_PAY),
        ("입금기한 지났어요", DEADLINE),
    ] {
        let body = json(&app, &format!("/v1/help/search?q={}", encode(query))).await;
        assert_eq!(body["fallback"], false, "{query}: {body}");
        assert_eq!(slugs(&body)[0], expected, "{query}: {body}");
    }
    app.stop().await;
}

/// The same rules without HTTP, as the checkout calls them: a code with `pay_method: "VBANK"`.
#[test]
fn suggest_with_a_vbank_code_in_process() {
    let help = paydesk::help::HelpCenter::load(&HelpSource::BuiltIn).unwrap();
    let hits = help.suggest(&SuggestRequest {
        code: Some("invalid_refund_account".into()),
        pay_method: Some("VBANK".into()),
        amount: Some(500_000),
        card_company: Some("01".into()),
        ..SuggestRequest::default()
    });
    assert_eq!(hits[0].slug, REFUND, "{hits:?}");
    assert!(
        hits.iter().all(|h| h.slug != "over-300000-won-certificate"),
        "no card rule for a virtual account: {hits:?}"
    );
}
