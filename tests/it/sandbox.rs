//! The Innopay sandbox over real HTTP: the seed guide's approval request and answer, token and key
//! checks, the window pages and the SDK stand-in, Noti resends and faults, the control API, virtual
//! accounts (issue, deposits, vbankCancel, refunds, their Noti and faults), and the
//! standalone `paydesk sandbox` command; and what keeps it harmless next to a real Innopay (off by
//! default, the control API's token, Noti destinations, return origins, bounded memory).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use poem::Server;
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::{Value, json};

use crate::innopay::{
    NotiReceiver, add_fault, authorize, authorize_at, client, control, merchant, set,
};
use crate::support::{Backend, TestApp};
use paydesk::gateway::Outcome;

/// The seed guide's success answer, verbatim.
const SEED_ANSWER: &str = r#"{
"success": true,
"data": {
"mid": "testpay01m",
"tid": "testpay01m01082502061700416194",
"moid": "test0120200814162443",
"aid": "testpay01a",
"gid": "GID000001g",
"payMethod": "CARD",
"amt": 20000,
"taxFreeAmt": 0,
"status": 0,
"authNum": "12345678",
"approvedAt": "2025-01-24 14:10:25",
"receiptUrl": "https://pg.innopay.co.kr/pay/issue/CardIssue.jsp?TID=testpay01m01082502061700416194",
"card": {
"acquCardCode": "01",
"acquCardName": "비씨",
"cardQuota": "00",
"cardNum": "12345678****1234",
"fnCd": "07",
"fnName": "현대",
"currency": "KRW"
},
"etc": {
"mallUserId": "mallUserId",
"userId": "userId",
"userIp": "127.0.0.1",
"mallReserved": "mallReserved"
},
"buyer": {
"name": "홍길동",
"tel": "01012341234",
"email": "test@naver.com"
},
"goods": {
"name": "이노페이 화장품",
"cnt": 1
}
}
}"#;

/// Same keys at every level and the same JSON type for every value.
fn assert_same_shape(expected: &Value, actual: &Value, path: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let mut ek: Vec<_> = e.keys().collect();
            let mut ak: Vec<_> = a.keys().collect();
            ek.sort();
            ak.sort();
            assert_eq!(ek, ak, "keys of {path}");
            for (key, value) in e {
                assert_same_shape(value, &a[key], &format!("{path}.{key}"));
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        _ => panic!("{path}: expected a value like {expected}, got {actual}"),
    }
}

/// The seed's request: `fetch(api + "/v1/transactions/pay", {headers, body: JSON.stringify({tid,
/// mid, moid, amt, taxFreeAmt})})` with the values of the returnUrl query (strings).
async fn seed_request(app: &TestApp, token: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/sandbox/v1/transactions/pay"))
        .header("Payment-Token", token)
        .header("Merchant-Key", key)
        .header("Content-Type", "application/json; charset=UTF-8")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

fn seed_body(auth: &crate::innopay::Authenticated) -> Value {
    json!({
        "tid": auth.get("tid"), "mid": auth.get("mid"), "moid": auth.get("moid"),
        "amt": auth.get("amt"), "taxFreeAmt": auth.get("taxFreeAmt"),
    })
}

const KEY: &str = paydesk::config::DEFAULT_SANDBOX_MERCHANT_KEY;

#[tokio::test]
async fn the_seed_approval_request_gets_the_seed_answer_once() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let auth = authorize(&app, &[]).await;
    let token = auth.get("paymentToken").to_string();
    assert!(!token.is_empty());

    let response = seed_request(&app, &token, KEY, &seed_body(&auth)).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let seed: Value = serde_json::from_str(SEED_ANSWER).unwrap();
    assert_same_shape(&seed, &answer, "answer");

    let data = &answer["data"];
    assert_eq!(answer["success"], true);
    assert_eq!(data["status"], 0);
    assert_eq!(data["amt"], 20000);
    assert_eq!(data["taxFreeAmt"], 0);
    assert_eq!(data["moid"], auth.get("moid"));
    // TID layout: MID(10) + svcCd 01 (card) + svcPrdtCd 08 (card window) + yyMMddHHmmss + 4 digits.
    let tid = data["tid"].as_str().unwrap();
    assert_eq!(tid, auth.get("tid"));
    assert_eq!(tid.len(), 30);
    assert!(tid.starts_with("testpay01m0108"), "{tid}");
    assert!(tid[14..].bytes().all(|b| b.is_ascii_digit()), "{tid}");
    let card_num = data["card"]["cardNum"].as_str().unwrap();
    assert_eq!(card_num.len(), 16);
    assert_eq!(&card_num[8..12], "****", "{card_num}");
    assert_eq!(data["card"]["fnCd"], "07");
    assert_eq!(data["card"]["fnName"], "현대");
    assert_eq!(data["card"]["cardQuota"], "00");
    assert!(
        data["receiptUrl"]
            .as_str()
            .unwrap()
            .ends_with(&format!("CardIssue.jsp?TID={tid}"))
    );
    assert_eq!(data["buyer"]["name"], "홍길동");
    assert_eq!(data["goods"]["name"], "이노페이 화장품");
    let approved_at = data["approvedAt"].as_str().unwrap();
    assert!(
        time::PrimitiveDateTime::parse(
            approved_at,
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")
        )
        .is_ok()
    );

    let receipt = app
        .get(&format!("/sandbox/pay/issue/CardIssue.jsp?TID={tid}"))
        .await;
    assert_eq!(receipt.status(), 200);
    let receipt = receipt.text().await.unwrap();
    assert!(receipt.contains("실제 돈은 오가지 않습니다") && receipt.contains("20,000 원"));

    let again = seed_request(&app, &token, KEY, &seed_body(&auth)).await;
    assert_eq!(again.status(), 409);
    let refusal: Value = again.json().await.unwrap();
    assert_eq!(refusal["success"], false);
    assert_eq!(refusal["error"]["code"], "A004");
    assert!(refusal["error"]["message"].is_string());
}

#[tokio::test]
async fn a_wrong_key_a_changed_amount_or_a_foreign_token_is_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let auth = authorize(&app, &[]).await;
    let token = auth.get("paymentToken").to_string();
    let body = seed_body(&auth);

    let wrong_key = seed_request(&app, &token, "not-the-key", &body).await;
    assert_eq!(wrong_key.status(), 401);
    assert_eq!(
        wrong_key.json::<Value>().await.unwrap()["error"]["code"],
        "A001"
    );

    let mut changed = body.clone();
    changed["amt"] = json!(100);
    let cheaper = seed_request(&app, &token, KEY, &changed).await;
    assert_eq!(cheaper.status(), 400);
    assert_eq!(
        cheaper.json::<Value>().await.unwrap()["error"]["code"],
        "A006"
    );

    let other = authorize(&app, &[]).await;
    let mut foreign = body.clone();
    foreign["tid"] = json!(other.get("tid"));
    let response = seed_request(&app, &token, KEY, &foreign).await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "A005"
    );

    let unknown = seed_request(&app, "no-such-token", KEY, &body).await;
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["error"]["code"],
        "A002"
    );

    // None of the refused attempts used the token up; numbers work as well as strings.
    let mut numbers = body.clone();
    numbers["amt"] = json!(20000);
    numbers["taxFreeAmt"] = json!(0);
    let ok = seed_request(&app, &token, KEY, &numbers).await;
    assert_eq!(ok.status(), 200);

    // Where Innopay's failure status is unknown, the sandbox can answer 200 as well.
    set(&app, "settings", json!({"errorStatus": 200})).await;
    let again = seed_request(&app, &token, KEY, &numbers).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["success"], false);

    let calls = control(&app, "calls").await;
    let pays: Vec<&Value> = calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["path"] == "/sandbox/v1/transactions/pay")
        .collect();
    assert_eq!(pays.len(), 6);
    assert_eq!(
        pays.iter().filter(|c| c["outcome"] == "approved").count(),
        1
    );
    assert_eq!(pays[0]["outcome"], "declined A001");
    assert_eq!(pays[0]["mid"], "testpay01m");
    assert_eq!(pays[0]["method"], "POST");
}

#[tokio::test]
async fn authorize_sends_the_shopper_back_with_innopay_query() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let ok = authorize(
        &app,
        &[
            ("taxFreeAmt", "1000"),
            ("mallReserved", "cart=7"),
            ("returnUrl", "https://shop.example/r?x=1"),
        ],
    )
    .await;
    for key in crate::innopay::RETURN_QUERY_KEYS {
        assert!(ok.query.contains_key(key), "{key} missing: {:?}", ok.query);
    }
    assert_eq!(ok.get("x"), "1", "the returnUrl's own query is kept");
    assert_eq!(ok.get("taxFreeAmt"), "1000");
    assert_eq!(ok.get("mallReserved"), "cart=7");
    assert_eq!(ok.get("payMethod"), "CARD");
    assert!(!ok.query.contains_key("resultCode"));

    let declined = authorize(&app, &[("scenario", "decline"), ("declineCode", "C001")]).await;
    assert_eq!(declined.get("resultCode"), "C001");
    assert_eq!(
        declined.get("resultMsg"),
        "3Factor 인증 필요 ISP 공인인증 오류"
    );
    assert!(!declined.query.contains_key("paymentToken"));
    assert_eq!(declined.get("amt"), "20000");

    let custom = authorize(
        &app,
        &[
            ("scenario", "decline"),
            ("declineCode", "9999"),
            ("declineMessage", "기타 오류"),
        ],
    )
    .await;
    assert_eq!(
        (custom.get("resultCode"), custom.get("resultMsg")),
        ("9999", "기타 오류")
    );

    let cancelled = authorize(&app, &[("scenario", "cancel")]).await;
    assert_eq!(cancelled.get("resultCode"), "USER_CANCEL");
    assert!(!cancelled.query.contains_key("tid"));

    let bad = app
        .client
        .post(app.url("/sandbox/pay/authorize"))
        .form(&[("payMethod", "CARD"), ("mid", "testpay01m"), ("moid", "x1")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let page = bad.text().await.unwrap();
    assert!(
        page.contains("W006") && page.contains("실제 돈은 오가지 않습니다"),
        "{page}"
    );

    let unknown_mid = app
        .client
        .post(app.url("/sandbox/pay/authorize"))
        .form(
            &crate::innopay::seed_params("x2")
                .into_iter()
                .map(|(k, v)| {
                    if k == "mid" {
                        (k, "nosuchmid1".to_string())
                    } else {
                        (k, v)
                    }
                })
                .collect::<Vec<_>>(),
        )
        .send()
        .await
        .unwrap();
    assert!(unknown_mid.text().await.unwrap().contains("W003"));
}

/// A window page as the browser would post to it: status and HTML.
pub async fn window_page(app: &TestApp, path: &str, form: &[(String, String)]) -> (u16, String) {
    let response = app
        .client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

pub fn set_field(form: &mut Vec<(String, String)>, key: &str, value: &str) {
    form.retain(|(k, _)| k != key);
    form.push((key.to_string(), value.to_string()));
}

#[tokio::test]
async fn the_window_pages_are_korean_and_ask_isp_cards_for_a_certificate_at_300000_won() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut form = crate::innopay::seed_params(&crate::innopay::new_moid());
    let (status, page) = window_page(&app, "/sandbox/pay/window", &form).await;
    assert_eq!(status, 200);
    for text in [
        "약관 동의",
        "카드사 선택",
        "할부 선택",
        "다음",
        "비씨",
        "현대",
        "20,000 원",
        "실제 돈은 오가지 않습니다",
    ] {
        assert!(page.contains(text), "{text} missing");
    }
    const AUTH: &str = "/sandbox/pay/window/auth";
    const TO_AUTHORIZE: &str = "action=\"/sandbox/pay/authorize\"";

    // Without agreeing to the terms the window asks again.
    set_field(&mut form, "cardCode", "01");
    assert!(
        window_page(&app, AUTH, &form)
            .await
            .1
            .contains("약관에 동의해 주세요")
    );

    set_field(&mut form, "agree", "1");
    let (_, page) = window_page(&app, AUTH, &form).await;
    assert!(page.contains("ISP 비밀번호") && page.contains("3Factor 인증 필요 ISP 공인인증 오류"));
    assert!(
        page.contains(TO_AUTHORIZE),
        "below 300,000 won no certificate"
    );

    set_field(&mut form, "amt", "300000");
    let (_, page) = window_page(&app, AUTH, &form).await;
    assert!(
        page.contains("action=\"/sandbox/pay/window/certificate\""),
        "{page}"
    );
    let (_, page) = window_page(&app, "/sandbox/pay/window/certificate", &form).await;
    assert!(page.contains("공인인증서") && page.contains("ARS") && page.contains(TO_AUTHORIZE));

    set_field(&mut form, "cardCode", "07");
    let (_, page) = window_page(&app, AUTH, &form).await;
    assert!(
        page.contains("안심클릭") && page.contains(TO_AUTHORIZE),
        "not ISP: no certificate"
    );
}

#[tokio::test]
async fn the_sdk_stand_in_opens_a_popup_and_reports_closing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = app.get("/sandbox/tpay/js/innopay.js").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/javascript")
    );
    let js = response.text().await.unwrap();
    for needle in [
        "var innopay",
        "goPay",
        "window.open(",
        "closeHandler",
        "window.alert(",
        "W013",
        "No real money",
    ] {
        assert!(js.contains(needle), "{needle}");
    }
    assert!(!js.contains("__FIELDS__") && js.contains("\"mallReserved\""));
    let index = app.get("/sandbox/").await.text().await.unwrap();
    assert!(index.contains("실제 돈은 오가지 않습니다"));
}

#[tokio::test]
async fn noti_is_resent_until_the_merchant_answers_0000() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let receiver = NotiReceiver::start(2).await;
    set(&app, "settings", json!({"notiBackoffMs": 50})).await;
    set(
        &app,
        "merchants",
        json!({"mid": "testpay01m", "notiUrl": receiver.url}),
    )
    .await;

    let auth = authorize(&app, &[("mallReserved", "r1")]).await;
    let gateway = client(&app, 2_000);
    let Outcome::Done(approval) = gateway.approve(&merchant(), &auth.approval_request()).await
    else {
        panic!("approved");
    };
    let received = receiver.wait_for(3).await;
    assert_eq!(received.len(), 3, "two refusals, then 0000");
    let noti = &received[2];
    assert_eq!(noti["shopCode"], "testpay01m");
    assert_eq!(noti["tid"], approval.tid);
    assert_eq!(noti["moid"], approval.moid);
    assert_eq!(noti["status"], "25");
    assert_eq!(noti["stateCd"], "0");
    assert_eq!(noti["goodsAmt"], "20000");
    assert_eq!(noti["approvalNo"], approval.auth_num.clone().unwrap());
    assert_eq!(noti["mallReserved"], "r1");
    assert_eq!(noti["pgAppDate"].len(), 8);

    // The sandbox marks a Noti delivered once it read the 0000, and sends a delivered one no more:
    // from then on the receiver's count is final.
    let started = std::time::Instant::now();
    let log = loop {
        let log = control(&app, "notis").await;
        if log[0]["delivered"] == true {
            break log;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(receiver.wait_for(3).await.len(), 3, "nothing after 0000");
    assert_eq!(log[0]["attempts"], 3);
    assert_eq!(log[0]["delivered"], true);
    assert_eq!(log[0]["lastAnswer"], "0000");

    let cancel = paydesk::gateway::CancelRequest {
        tid: approval.tid.parse().unwrap(),
        pay_method: paydesk::domain::PayMethod::Card,
        partial: true,
        cancel_amt: paydesk::domain::Price::Krw("5000".parse().unwrap()),
        cancel_msg: "고객 요청".into(),
        refund: None,
    };
    assert!(matches!(
        gateway.cancel(&merchant(), &cancel).await,
        Outcome::Done(_)
    ));
    let received = receiver.wait_for(4).await;
    let cancel_noti = &received[3];
    assert_eq!(cancel_noti["status"], "85");
    assert_eq!(cancel_noti["cancelAmt"], "5000");
    assert_eq!(cancel_noti["cancelMsg"], "고객 요청");
    assert_eq!(cancel_noti["remainAmt"], "15000");
}

#[tokio::test]
async fn noti_faults_duplicate_and_reorder() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let receiver = NotiReceiver::start(0).await;
    set(
        &app,
        "merchants",
        json!({"mid": "testpay01m", "notiUrl": receiver.url}),
    )
    .await;
    let gateway = client(&app, 2_000);

    add_fault(&app, json!({"kind": "noti_duplicate", "calls": 1})).await;
    let auth = authorize(&app, &[]).await;
    assert!(matches!(
        gateway.approve(&merchant(), &auth.approval_request()).await,
        Outcome::Done(_)
    ));
    let received = receiver.wait_for(2).await;
    assert_eq!(received.len(), 2);
    assert_eq!(received[0], received[1]);

    // The approval's Noti is held back, so the cancel's arrives first.
    add_fault(
        &app,
        json!({"kind": "noti_out_of_order", "ms": 600, "mid": "testpay01m", "calls": 1}),
    )
    .await;
    let auth = authorize(&app, &[]).await;
    let Outcome::Done(approval) = gateway.approve(&merchant(), &auth.approval_request()).await
    else {
        panic!("approved");
    };
    let cancel = paydesk::gateway::CancelRequest {
        tid: approval.tid.parse().unwrap(),
        pay_method: paydesk::domain::PayMethod::Card,
        partial: false,
        cancel_amt: approval.amt,
        cancel_msg: "취소".into(),
        refund: None,
    };
    assert!(matches!(
        gateway.cancel(&merchant(), &cancel).await,
        Outcome::Done(_)
    ));
    let received = receiver.wait_for(4).await;
    assert_eq!(received.len(), 4);
    assert_eq!(
        (
            received[2]["status"].as_str(),
            received[3]["status"].as_str()
        ),
        ("85", "25")
    );
    assert_eq!(received[2]["tid"], received[3]["tid"]);
}

#[tokio::test]
async fn control_api_lists_faults_and_reset_forgets_everything() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let bad = app
        .client
        .post(app.url("/sandbox/_control/faults"))
        .json(&json!({"kind": "server_error", "status": 404}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        crate::support::error_body(bad).await["code"],
        "invalid_fault"
    );

    add_fault(&app, json!({"kind": "delay", "ms": 10})).await;
    assert_eq!(control(&app, "faults").await.as_array().unwrap().len(), 1);
    let cleared = app
        .client
        .post(app.url("/sandbox/_control/faults/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert_eq!(control(&app, "faults").await, json!([]));

    set(
        &app,
        "merchants",
        json!({"mid": "shopmid001", "merchantKey": "k2", "cancelPassword": "p2"}),
    )
    .await;
    let merchants = control(&app, "merchants").await;
    assert_eq!(merchants[0]["mid"], "testpay01m");
    assert_eq!(merchants[1]["mid"], "shopmid001");
    assert!(
        !merchants.to_string().contains("k2"),
        "keys are never listed"
    );

    let auth = authorize(&app, &[("mid", "shopmid001")]).await;
    let unknown_setting = app
        .client
        .post(app.url("/sandbox/_control/settings"))
        .json(&json!({"noSuch": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_setting.status(), 400);

    // Token lifetime is undocumented (C): adjustable, and an expired token is refused.
    set(&app, "settings", json!({"tokenTtlSecs": 0})).await;
    let stale = authorize(&app, &[]).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let outcome = client(&app, 2_000)
        .approve(&merchant(), &stale.approval_request())
        .await;
    assert_eq!(
        outcome,
        Outcome::Declined {
            code: "A003".into(),
            message: "Payment-Token의 유효시간이 지났습니다.".into()
        }
    );

    let reset = app
        .client
        .post(app.url("/sandbox/_control/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    assert_eq!(control(&app, "calls").await, json!([]));
    assert_eq!(
        control(&app, "merchants").await.as_array().unwrap().len(),
        1
    );
    // The token of before the reset is gone.
    let outcome = client(&app, 2_000)
        .approve(&merchant(), &auth.approval_request())
        .await;
    assert!(matches!(outcome, Outcome::Declined { .. }), "{outcome:?}");
}

#[tokio::test]
async fn one_standalone_sandbox_serves_two_paydesk_instances() {
    paydesk::install_crypto_provider();
    let config = paydesk::Config::with_overrides([("sandbox_merchant_key", "shared-key")]).unwrap();
    let standalone = paydesk::sandbox::Standalone::bind(&config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = standalone.url().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(standalone.run_until(async {
        let _ = stopped.await;
    }));

    let settings = [("innopay_api_url", url.as_str()), ("sandbox", "false")];
    let first = TestApp::spawn_with(Backend::Sqlite, &settings).await;
    let second = TestApp::spawn_with(Backend::Sqlite, &settings).await;
    assert_eq!(
        first.get("/sandbox/tpay/js/innopay.js").await.status(),
        404,
        "not mounted"
    );
    let mut shared = merchant();
    shared.merchant_key = paydesk::config::SecretString::from("shared-key");
    for app in [&first, &second] {
        assert_eq!(app.state.gateway.api_base(), url);
        let auth = authorize_at(&url, &[]).await;
        let outcome = app
            .state
            .gateway
            .approve(&shared, &auth.approval_request())
            .await;
        assert!(matches!(outcome, Outcome::Done(_)), "{outcome:?}");
    }
    let calls: Value = reqwest::get(format!("{url}/_control/calls"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let approvals = calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "approved")
        .count();
    assert_eq!(approvals, 2);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[test]
fn paydesk_sandbox_command_says_no_real_money_moves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paydesk"))
        .args(["sandbox", "--addr", "127.0.0.1:0"])
        .env_clear()
        .env("PAYDESK_LOG_FORMAT", "text")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn paydesk sandbox");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let mut url = None;
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("paydesk sandbox listening on ") {
            url = Some(rest.to_string());
            break;
        }
        line.clear();
    }
    let url = url.expect("the sandbox printed its address");
    // The warning is logged when serving starts; read one more line for it.
    line.clear();
    stdout.read_line(&mut line).unwrap();
    seen.push_str(&line);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let js = rt.block_on(async {
        paydesk::install_crypto_provider();
        reqwest::get(format!("{url}/tpay/js/innopay.js"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("no real money moves"), "{seen}");
    assert!(js.contains("goPay"));
}

// Issue 11, finding 2: the sandbox in production.

/// A merchant endpoint on port 0 that answers every request (any method and path) with `status`,
/// an optional `Location` and `body`, and counts what it received.
struct Answering {
    url: String,
    hits: Arc<AtomicUsize>,
}

impl Answering {
    async fn start(status: u16, location: Option<String>, body: String) -> Self {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let endpoint = poem::endpoint::make(move |_req| {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut response =
                poem::Response::builder().status(poem::http::StatusCode::from_u16(status).unwrap());
            if let Some(location) = &location {
                response = response.header("location", location.as_str());
            }
            let response = response.body(body.clone());
            async move { response }
        });
        tokio::spawn(Server::new_with_acceptor(acceptor).run(endpoint));
        Self {
            url: format!("http://{addr}/noti"),
            hits,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Approves one fresh authentication of `testpay01m`, so the sandbox sends its Noti.
async fn approve_one(app: &TestApp) {
    let auth = authorize(app, &[]).await;
    let outcome = client(app, 2_000)
        .approve(&merchant(), &auth.approval_request())
        .await;
    assert!(matches!(outcome, Outcome::Done(_)), "{outcome:?}");
}

/// Sends `testpay01m`'s Noti to `url`, one attempt each, approves a payment and returns its Noti
/// as the Noti log shows it once that attempt is over (waiting at most 10 s).
async fn noti_sent_to(app: &TestApp, url: &str) -> Value {
    set(app, "settings", json!({"notiMaxAttempts": 1})).await;
    set(
        app,
        "merchants",
        json!({"mid": "testpay01m", "notiUrl": url}),
    )
    .await;
    approve_one(app).await;
    let started = std::time::Instant::now();
    loop {
        let log = control(app, "notis").await;
        let noti = log.as_array().unwrap().last().cloned().unwrap_or_default();
        if noti["lastAnswer"].is_string() {
            return noti;
        }
        assert!(
            started.elapsed().as_secs() < 10,
            "the sandbox recorded no answer to its Noti within 10 s: {log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn last_answer(noti: &Value) -> &str {
    noti["lastAnswer"].as_str().unwrap_or_default()
}

/// A control API call with `Authorization: Bearer <token>` when a token is given.
async fn control_with(
    app: &TestApp,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
) -> reqwest::Response {
    let url = app.url(&format!("/sandbox/_control/{path}"));
    let mut request = app.client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// `POST {base}/sandbox/pay/authorize` with the seed parameters and this `returnUrl`.
async fn authorize_to(client: &reqwest::Client, base: &str, return_url: &str) -> reqwest::Response {
    let mut form = crate::innopay::seed_params(&crate::innopay::new_moid());
    set_field(&mut form, "returnUrl", return_url);
    client
        .post(format!("{base}/sandbox/pay/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Checks a control API refusal (status, code, a part of its message) and returns its error.
async fn assert_refused(response: reqwest::Response, status: u16, code: &str, says: &str) -> Value {
    assert_eq!(response.status(), status);
    let error = crate::support::error_body(response).await;
    assert_eq!(error["code"], code, "{error}");
    assert!(error["message"].as_str().unwrap().contains(says), "{error}");
    error
}

#[tokio::test]
async fn the_sandbox_is_off_with_a_real_innopay_unless_forced_on() {
    let real = ("innopay_api_url", "https://api.innopay.co.kr");
    let production = TestApp::spawn_with(Backend::Sqlite, &[real]).await;
    assert_eq!(production.get("/sandbox/").await.status(), 404);
    assert_eq!(
        production.get("/sandbox/_control/calls").await.status(),
        404
    );
    let forced = TestApp::spawn_with(Backend::Sqlite, &[real, ("sandbox", "true")]).await;
    assert_eq!(forced.get("/sandbox/").await.status(), 200);
}

#[tokio::test]
async fn the_control_api_takes_the_configured_token() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("sandbox_control_token", "c0ntrol-t0ken")],
    )
    .await;
    for token in [None, Some("wrong-token")] {
        let refused = control_with(&app, token, reqwest::Method::GET, "calls").await;
        let error = assert_refused(refused, 401, "invalid_sandbox_control_token", "Bearer").await;
        assert_eq!(error["param"], "Authorization");
    }
    let reset = control_with(&app, None, reqwest::Method::POST, "reset").await;
    assert_eq!(reset.status(), 401, "every control route");
    let admitted = control_with(&app, Some("c0ntrol-t0ken"), reqwest::Method::GET, "calls").await;
    assert_eq!(admitted.status(), 200);
    // The token guards the control API only: the window and Innopay's API stay as they were.
    assert_eq!(app.get("/sandbox/tpay/js/innopay.js").await.status(), 200);
}

/// A paydesk bound to loopback behind a public URL (a reverse proxy on the same host) is not a
/// developer's machine: without a token the control API is closed, and the window sends shoppers
/// back only to paydesk's own origin.
#[tokio::test]
async fn behind_a_public_url_the_control_api_is_closed_without_a_token() {
    paydesk::install_crypto_provider();
    let db = crate::support::TestDb::create(Backend::Sqlite).await;
    let config = paydesk::Config::with_overrides([
        ("addr", "127.0.0.1:0"),
        ("database_url", db.url.as_str()),
        ("public_url", "https://pay.example.com"),
    ])
    .unwrap();
    let app = paydesk::App::build(config).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let locked = http
        .get(format!("{base}/sandbox/_control/merchants"))
        .send()
        .await
        .unwrap();
    assert_refused(
        locked,
        403,
        "sandbox_control_locked",
        "PAYDESK_SANDBOX_CONTROL_TOKEN",
    )
    .await;
    let foreign = authorize_to(&http, &base, "https://evil.example/phish").await;
    assert_eq!(foreign.status(), 400);
    let own = authorize_to(&http, &base, "https://pay.example.com/checkout/x/return").await;
    assert_eq!(own.status(), 303);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_window_sends_shoppers_back_only_to_known_origins() {
    let token = "c0ntrol-t0ken";
    let app = TestApp::spawn_with(Backend::Sqlite, &[("sandbox_control_token", token)]).await;
    let foreign = authorize_to(&app.client, &app.base, "https://evil.example/phish?x=1").await;
    assert_eq!(foreign.status(), 400);
    assert!(foreign.headers().get("location").is_none());
    let page = foreign.text().await.unwrap();
    assert!(
        page.contains("W016")
            && page.contains("돌려보내지 않습니다")
            && page.contains("evil.example"),
        "{page}"
    );

    let own = authorize_to(&app.client, &app.base, &app.url("/checkout/x/return")).await;
    assert_eq!(own.status(), 303);
    assert!(
        own.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&app.url("/checkout/x/return?"))
    );

    let registered = app
        .client
        .post(app.url("/sandbox/_control/merchants"))
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({"mid": "testpay01m", "returnOrigins": ["https://shop.example"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 200);
    assert_eq!(
        authorize_to(&app.client, &app.base, "https://shop.example/r")
            .await
            .status(),
        303
    );
    assert_eq!(
        authorize_to(&app.client, &app.base, "https://shop.example:8443/r")
            .await
            .status(),
        400,
        "another port is another origin"
    );
}

#[tokio::test]
async fn noti_never_follow_a_redirect() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let target = Answering::start(200, None, "0000".into()).await;
    let redirector = Answering::start(307, Some(target.url.clone()), String::new()).await;
    let noti = noti_sent_to(&app, &redirector.url).await;
    assert_eq!(redirector.hits(), 1);
    assert_eq!(target.hits(), 0, "the redirect was followed");
    assert_eq!(noti["delivered"], false);
    assert!(
        last_answer(&noti).contains("redirects are not followed"),
        "{noti}"
    );
}

#[tokio::test]
async fn noti_go_to_private_addresses_only_when_private_networks_are_allowed() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("webhook_private_networks", "false")]).await;
    let receiver = Answering::start(200, None, "0000".into()).await;
    let literal = app
        .client
        .post(app.url("/sandbox/_control/merchants"))
        .json(&json!({"mid": "testpay01m", "notiUrl": receiver.url}))
        .send()
        .await
        .unwrap();
    assert_refused(
        literal,
        400,
        "invalid_merchant",
        "127.0.0.1 is not a public address",
    )
    .await;

    // A name is judged where it resolves, at every attempt.
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let noti = noti_sent_to(&app, &by_name).await;
    assert_eq!(receiver.hits(), 0);
    assert_eq!(noti["delivered"], false);
    assert!(last_answer(&noti).contains("no public address"), "{noti}");
}

#[tokio::test]
async fn the_sandbox_keeps_bounded_fields_stores_and_logs() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // The finding: 400 authorizations with a 200 KB goods name took 71 MB to 214 MB.
    let huge = "x".repeat(200 * 1024);
    for _ in 0..400 {
        let mut form = crate::innopay::seed_params(&crate::innopay::new_moid());
        set_field(&mut form, "goodsName", &huge);
        let (status, page) = window_page(&app, "/sandbox/pay/authorize", &form).await;
        assert_eq!(status, 400);
        assert!(page.contains("W006") && page.contains("100자"), "{page}");
    }
    let at_limit = "가".repeat(100);
    assert!(
        !authorize(&app, &[("goodsName", &at_limit)])
            .await
            .get("tid")
            .is_empty()
    );

    // Pending authentications: the 1,000 most recent are kept (docs/SANDBOX.md).
    let first = authorize(&app, &[]).await;
    for _ in 0..1_000 {
        authorize(&app, &[]).await;
    }
    let outcome = client(&app, 2_000)
        .approve(&merchant(), &first.approval_request())
        .await;
    assert!(
        matches!(&outcome, Outcome::Declined { code, .. } if code == "A002"),
        "{outcome:?}"
    );
    approve_one(&app).await;
    assert_eq!(
        control(&app, "calls").await.as_array().unwrap().len(),
        1_000
    );
}

#[tokio::test]
async fn a_noti_answer_is_kept_up_to_200_characters() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let chatty = Answering::start(200, None, "x".repeat(100_000)).await;
    let noti = noti_sent_to(&app, &chatty.url).await;
    assert_eq!(last_answer(&noti), "x".repeat(200));
}

// Virtual accounts (VBANK): issue, deposits, closing, refunds.

const CANCEL_PWD: &str = paydesk::config::DEFAULT_SANDBOX_CANCEL_PASSWORD;

fn now_kst() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+9))
}

/// `YYYYMMDD` and `HHmmss` of a KST moment, as goPay takes a deadline.
fn kst_date_time(at: time::OffsetDateTime) -> (String, String) {
    (
        at.format(time::macros::format_description!("[year][month][day]"))
            .unwrap(),
        at.format(time::macros::format_description!("[hour][minute][second]"))
            .unwrap(),
    )
}

/// Authenticates a VBANK payment headlessly (the seed parameters with `extra`) and approves it over
/// raw HTTP; returns the authentication and the approval's `data`.
async fn issue_vbank(
    app: &TestApp,
    extra: &[(&str, &str)],
) -> (crate::innopay::Authenticated, Value) {
    let mut fields = vec![("payMethod", "VBANK")];
    fields.extend_from_slice(extra);
    let auth = authorize(app, &fields).await;
    let response = seed_request(app, auth.get("paymentToken"), KEY, &seed_body(&auth)).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["success"], true, "{answer}");
    (auth, answer["data"].clone())
}

/// `GET /v1/transactions/{tid}`: the inquiry's `data`.
async fn inquire(app: &TestApp, tid: &str) -> Value {
    let answer: Value = app
        .client
        .get(app.url(&format!("/sandbox/v1/transactions/{tid}")))
        .header("MID", "testpay01m")
        .header("Merchant-Key", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["success"], true, "{answer}");
    answer["data"].clone()
}

async fn deposit(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/sandbox/_control/deposits"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A deposit the sandbox must accept: its answer.
async fn deposited(app: &TestApp, body: Value) -> Value {
    let response = deposit(app, body).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// `POST /sandbox/api/{path}` (cancelApi, vbankCancel) with a JSON body: the answer.
async fn legacy(app: &TestApp, path: &str, body: &Value) -> Value {
    let response = app
        .client
        .post(app.url(&format!("/sandbox/api/{path}")))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The `vbankCancel` body paydesk sends for an issued account.
fn close_body(data: &Value) -> Value {
    let va = &data["virtualAccount"];
    json!({
        "mid": "testpay01m", "licenseKey": KEY, "tid": data["tid"], "moid": data["moid"],
        "amt": data["amt"], "vbankBankCode": va["bankCode"], "vbankNum": va["accountNumber"],
    })
}

/// A `cancelApi` refund to the shopper's 신한은행 account; `amount` makes it partial.
fn refund_body(tid: &Value, amount: Option<i64>) -> Value {
    json!({
        "mid": "testpay01m", "tid": tid, "svcCd": "03",
        "partialCancelCode": if amount.is_some() { "1" } else { "0" },
        "cancelAmt": amount.unwrap_or(0), "cancelMsg": "환불", "cancelPwd": CANCEL_PWD,
        "refundBankCd": "088", "refundAcctNo": "110123456789", "refundAcctNm": "홍길동",
    })
}

/// Sends `testpay01m`'s Noti to a new receiver that answers `0000`.
async fn noti_receiver(app: &TestApp) -> NotiReceiver {
    let receiver = NotiReceiver::start(0).await;
    set(
        app,
        "merchants",
        json!({"mid": "testpay01m", "notiUrl": receiver.url}),
    )
    .await;
    receiver
}

#[tokio::test]
async fn the_vbank_window_lists_korean_banks_and_the_approval_issues_the_account() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut form = crate::innopay::seed_params(&crate::innopay::new_moid());
    set_field(&mut form, "payMethod", "VBANK");
    set_field(&mut form, "vBankExpDate", "20991231");
    set_field(&mut form, "vBankExpTime", "180000");
    set_field(&mut form, "receiptType", "1");
    set_field(&mut form, "receiptTypeNo", "01012345678");
    let (status, page) = window_page(&app, "/sandbox/pay/window", &form).await;
    assert_eq!(status, 200);
    for text in [
        "가상계좌 발급",
        "입금 은행 선택",
        "KB국민은행",
        "카카오뱅크",
        "토스뱅크",
        "입금자명",
        "value=\"홍길동\"",
        "신청 안 함",
        "소득공제(휴대폰 번호)",
        "지출증빙(사업자번호)",
        "value=\"01012345678\"",
        "2099년 12월 31일 18:00:00까지",
        "20,000 원",
        "실제 돈은 오가지 않습니다",
        "가상계좌도 실제 은행 계좌가 아닙니다",
    ] {
        assert!(page.contains(text), "{text} missing");
    }
    assert!(page.contains("id=\"receipt-income\" style=\"width:auto;min-height:0\" checked"));
    assert!(
        !page.contains("카드사 선택"),
        "the card window is not shown"
    );

    // A mistyped cash-receipt number in the window asks again, keeping the choices.
    let mut typo = form.clone();
    set_field(&mut typo, "window", "1");
    set_field(&mut typo, "bankCode", "090");
    set_field(&mut typo, "receiptTypeNo", "0101234");
    let (status, page) = window_page(&app, "/sandbox/pay/authorize", &typo).await;
    assert_eq!(status, 200);
    assert!(page.contains("현금영수증 번호") && page.contains("value=\"090\" selected"));
    // Corrected, the window's form finishes the authentication with the shopper's choices.
    set_field(&mut typo, "receiptType", "2");
    set_field(&mut typo, "receiptTypeNo", "1234567890");
    set_field(&mut typo, "depositorName", "김입금");
    let (status, page) = window_page(&app, "/sandbox/pay/authorize", &typo).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("paymentToken=") && page.contains("payMethod=VBANK"),
        "{page}"
    );

    // Past or malformed deadlines and a virtual account in dollars are refused.
    let yesterday = kst_date_time(now_kst() - time::Duration::days(1)).0;
    for (key, value, code) in [
        ("vBankExpDate", yesterday.as_str(), "W018"),
        ("vBankExpDate", "2099-12-31", "W017"),
        ("vBankExpTime", "99", "W017"),
        ("currency", "USD", "W023"),
    ] {
        let mut bad = form.clone();
        set_field(&mut bad, key, value);
        let (status, page) = window_page(&app, "/sandbox/pay/window", &bad).await;
        assert_eq!(status, 400, "{key}={value}");
        assert!(page.contains(code), "{key}={value}: {code}");
    }

    let (auth, data) = issue_vbank(
        &app,
        &[
            ("bankCode", "88"),
            ("vBankExpDate", "20991231"),
            ("vBankExpTime", "180000"),
        ],
    )
    .await;
    assert_eq!(auth.get("payMethod"), "VBANK");
    for key in crate::innopay::RETURN_QUERY_KEYS {
        assert!(auth.query.contains_key(key), "{key} missing");
    }
    let tid = data["tid"].as_str().unwrap();
    assert_eq!(&tid[10..12], "03", "svcCd of a virtual account: {tid}");
    assert_eq!(tid.len(), 30);
    assert_eq!(data["payMethod"], "VBANK");
    assert_eq!(data["status"], 0);
    assert_eq!(data["resultCode"], "4100");
    assert_eq!(data["amt"], 20000);
    assert!(data.get("card").is_none() && data.get("receiptUrl").is_none());
    let va = &data["virtualAccount"];
    assert_eq!(va["bankCode"], "088");
    assert_eq!(va["bankName"], "신한은행");
    assert_eq!(va["accountHolder"], "이노페이테스트");
    assert_eq!(
        (va["dueDate"].as_str(), va["dueTime"].as_str()),
        (Some("20991231"), Some("180000"))
    );
    let number = va["accountNumber"].as_str().unwrap();
    assert!(
        number.len() == 14 && number.bytes().all(|b| b.is_ascii_digit()),
        "{number}"
    );

    // Defaults: 004, three days ahead at 23:59:59 KST; each account has its own number.
    let (_, other) = issue_vbank(&app, &[]).await;
    let va = &other["virtualAccount"];
    assert_eq!(va["bankName"], "KB국민은행");
    let in_three_days = kst_date_time(now_kst() + time::Duration::days(3)).0;
    assert_eq!(
        (va["dueDate"].as_str(), va["dueTime"].as_str()),
        (Some(in_three_days.as_str()), Some("235959"))
    );
    assert_ne!(va["accountNumber"].as_str(), Some(number));
    // The card receipt page knows no virtual account.
    let receipt = app
        .get(&format!("/sandbox/pay/issue/CardIssue.jsp?TID={tid}"))
        .await;
    assert_eq!(receipt.status(), 404);
}

#[tokio::test]
async fn deposits_show_in_the_inquiry_with_a_cash_receipt_and_each_arrives_as_a_noti() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let receiver = noti_receiver(&app).await;
    let (_, data) = issue_vbank(
        &app,
        &[
            ("amt", "9000"),
            ("taxFreeAmt", "1000"),
            ("receiptType", "1"),
            ("receiptTypeNo", "01012345678"),
            ("depositorName", "김입금"),
        ],
    )
    .await;
    let tid = data["tid"].as_str().unwrap();
    let waiting = inquire(&app, tid).await;
    assert_eq!(waiting["status"], 0);
    assert!(waiting["virtualAccount"].get("depositAmt").is_none());
    assert!(waiting.get("cashReceipt").is_none());

    let first = deposited(&app, json!({"tid": tid})).await;
    assert_eq!(first["tid"], tid);
    assert_eq!(first["amount"], 10000, "the exact amount owed");
    assert!(first["notiId"].is_u64());
    let paid = inquire(&app, tid).await;
    assert_eq!(paid["status"], 0);
    let va = &paid["virtualAccount"];
    assert_eq!(va["depositAmt"], 10000);
    assert_eq!(va["depositedAt"], first["depositedAt"]);
    assert_eq!(va["depositorName"], "김입금");
    let receipt = &paid["cashReceipt"];
    assert_eq!(receipt["receiptType"], "1");
    assert_eq!(receipt["receiptTypeNo"], "010****5678");
    // 9,000 taxable: VAT 818; the 1,000 tax-free is all supply.
    assert_eq!(
        (receipt["supplyAmt"].as_i64(), receipt["vat"].as_i64()),
        (Some(9182), Some(818))
    );
    assert_eq!(receipt["serviceAmt"], 0);
    assert_eq!(receipt["tid"].as_str().unwrap().len(), 30);
    assert_ne!(receipt["tid"], paid["tid"]);

    let received = receiver.wait_for(1).await;
    assert_eq!(received.len(), 1);
    let noti = &received[0];
    for (key, value) in [
        ("shopCode", "testpay01m"),
        ("tid", tid),
        ("transSeq", tid),
        ("moid", data["moid"].as_str().unwrap()),
        ("goodsAmt", "10000"),
        ("approvalAmt", "10000"),
        ("status", "25"),
        ("stateCd", "0"),
        ("payMethod", "08"),
        ("vacctNo", va["accountNumber"].as_str().unwrap()),
        ("vbankBankCd", "004"),
        ("vbankAcctNm", "김입금"),
        ("pgResultCode", "4110"),
        ("receiptType", "1"),
        ("receiptTypeNo", "010****5678"),
        ("receiptSupplyAmt", "9182"),
        ("receiptVat", "818"),
        ("receiptTid", receipt["tid"].as_str().unwrap()),
    ] {
        assert_eq!(noti.get(key).map(String::as_str), Some(value), "{key}");
    }
    let at = first["depositedAt"]
        .as_str()
        .unwrap()
        .replace(['-', ' ', ':'], "");
    assert_eq!(noti["pgAppDate"], at[..8]);
    assert_eq!(noti["pgAppTime"], at[8..]);
    assert!(!noti["pgResultMsg"].is_empty());

    // A second deposit adds up and sends its own Noti.
    let second = deposited(
        &app,
        json!({"tid": tid, "amount": 500, "depositorName": "이추가"}),
    )
    .await;
    assert_eq!(second["amount"], 500);
    assert_ne!(second["notiId"], first["notiId"]);
    let paid = inquire(&app, tid).await;
    assert_eq!(paid["virtualAccount"]["depositAmt"], 10500);
    assert_eq!(
        paid["virtualAccount"]["depositorName"], "김입금",
        "the first depositor"
    );
    assert_eq!(
        paid["cashReceipt"]["supplyAmt"].as_i64().unwrap()
            + paid["cashReceipt"]["vat"].as_i64().unwrap(),
        10500
    );
    let received = receiver.wait_for(2).await;
    assert_eq!(received.len(), 2);
    assert_eq!(received[1]["approvalAmt"], "500");
    assert_eq!(received[1]["vbankAcctNm"], "이추가");
    assert_eq!(received[1]["goodsAmt"], "10000");
    let log = control(&app, "notis").await;
    assert!(log.as_array().unwrap().iter().all(|n| n["status"] == "25"));
}

#[tokio::test]
async fn closed_and_expired_accounts_refuse_deposits_and_late_ones_pass_an_open_account() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Due in two seconds, so the sandbox's clock passes it during the test.
    let (date, time) = kst_date_time(now_kst() + time::Duration::seconds(2));
    let (_, soon) = issue_vbank(&app, &[("vBankExpDate", &date), ("vBankExpTime", &time)]).await;
    let started = std::time::Instant::now();
    let expired = loop {
        let response = deposit(&app, json!({"tid": soon["tid"], "amount": 1})).await;
        if response.status() == 409 {
            break response;
        }
        assert_eq!(response.status(), 200);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the deadline never passed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_refused(expired, 409, "account_expired", "late").await;
    // Past its due time and never paid, the account still waits: closing it is paydesk's job.
    assert_eq!(
        inquire(&app, soon["tid"].as_str().unwrap()).await["status"],
        0
    );
    let late = deposited(&app, json!({"tid": soon["tid"], "late": true})).await;
    assert!(late["amount"].as_i64().unwrap() > 0);

    // `late` on an account whose due time the sandbox has not reached: dated a minute after it.
    let (_, open) = issue_vbank(
        &app,
        &[("vBankExpDate", "20991231"), ("vBankExpTime", "180000")],
    )
    .await;
    let late = deposited(&app, json!({"tid": open["tid"], "late": true})).await;
    assert_eq!(late["depositedAt"], "2099-12-31 18:01:00");
    assert_eq!(
        inquire(&app, open["tid"].as_str().unwrap()).await["virtualAccount"]["depositedAt"],
        "2099-12-31 18:01:00"
    );

    // Closed accounts refuse every deposit, late or not.
    let (_, closed) = issue_vbank(&app, &[]).await;
    assert_eq!(
        legacy(&app, "vbankCancel", &close_body(&closed)).await["resultCode"],
        "4100"
    );
    for late in [false, true] {
        let response = deposit(&app, json!({"tid": closed["tid"], "late": late})).await;
        assert_refused(response, 409, "account_closed", "closed").await;
    }

    let card = authorize(&app, &[]).await;
    let response = seed_request(&app, card.get("paymentToken"), KEY, &seed_body(&card)).await;
    assert_eq!(response.status(), 200);
    let response = deposit(&app, json!({"tid": card.get("tid")})).await;
    assert_refused(response, 400, "not_a_virtual_account", "VBANK").await;
    let response = deposit(&app, json!({"tid": "testpay01m03012512010000000000"})).await;
    assert_refused(response, 404, "unknown_transaction", "tid").await;
    for amount in [json!(0), json!(-5), json!("many")] {
        let response = deposit(&app, json!({"tid": open["tid"], "amount": amount})).await;
        assert_refused(response, 400, "invalid_amount", "amount").await;
    }
}

#[tokio::test]
async fn vbank_cancel_closes_an_unpaid_account_and_says_so_again_when_retried() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, data) = issue_vbank(&app, &[]).await;
    let body = close_body(&data);

    let mut wrong_key = body.clone();
    wrong_key["licenseKey"] = json!("not-the-key");
    assert_eq!(
        legacy(&app, "vbankCancel", &wrong_key).await["resultCode"],
        "V001"
    );
    let mut other_account = body.clone();
    other_account["vbankNum"] = json!("12345678901234");
    assert_eq!(
        legacy(&app, "vbankCancel", &other_account).await["resultCode"],
        "V003"
    );

    let closed = legacy(&app, "vbankCancel", &body).await;
    assert_eq!(
        (closed["resultCode"].as_str(), closed["resultMsg"].as_str()),
        (Some("4100"), Some("가상계좌 취소 성공"))
    );
    // A retry after a lost answer succeeds again; a form body works as well as JSON.
    let form: Vec<(String, String)> = body
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            )
        })
        .collect();
    let again: Value = app
        .client
        .post(app.url("/sandbox/api/vbankCancel"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["resultCode"], "4100");
    let inquiry = inquire(&app, data["tid"].as_str().unwrap()).await;
    assert_eq!(inquiry["status"], 1);
    assert!(inquiry["virtualAccount"]["closedAt"].is_string());
    assert!(inquiry["virtualAccount"].get("depositAmt").is_none());

    // A deposited account is refunded through cancelApi, not closed.
    let (_, paid) = issue_vbank(&app, &[]).await;
    deposited(&app, json!({"tid": paid["tid"]})).await;
    let refused = legacy(&app, "vbankCancel", &close_body(&paid)).await;
    assert_eq!(refused["resultCode"], "V004");
    assert!(refused["resultMsg"].as_str().unwrap().contains("cancelApi"));

    // Faults reach vbankCancel through its own API name.
    let fault = json!({
        "kind": "decline", "api": "vbank_cancel", "code": "9999", "message": "장애", "calls": 1,
    });
    add_fault(&app, fault).await;
    let (_, third) = issue_vbank(&app, &[]).await;
    assert_eq!(
        legacy(&app, "vbankCancel", &close_body(&third)).await["resultCode"],
        "9999"
    );
    assert_eq!(
        legacy(&app, "vbankCancel", &close_body(&third)).await["resultCode"],
        "4100"
    );
}

#[tokio::test]
async fn refunds_of_a_deposited_account_go_to_the_named_account_in_full_or_in_parts() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let receiver = noti_receiver(&app).await;
    let (_, data) = issue_vbank(&app, &[]).await;
    let tid = &data["tid"];

    let before = legacy(&app, "cancelApi", &refund_body(tid, None)).await;
    assert_eq!(before["resultCode"], "R002");
    assert!(
        before["resultMsg"]
            .as_str()
            .unwrap()
            .contains("vbankCancel")
    );
    deposited(&app, json!({"tid": tid})).await;

    let mut missing = refund_body(tid, Some(5000));
    missing.as_object_mut().unwrap().remove("refundAcctNo");
    assert_eq!(
        legacy(&app, "cancelApi", &missing).await["resultCode"],
        "R003"
    );
    let mut bad_bank = refund_body(tid, Some(5000));
    bad_bank["refundBankCd"] = json!("999");
    let refused = legacy(&app, "cancelApi", &bad_bank).await;
    assert_eq!(
        (
            refused["resultCode"].as_str(),
            refused["resultMsg"].as_str()
        ),
        (Some("R004"), Some("환불 은행코드 오류"))
    );
    let mut bad_number = refund_body(tid, Some(5000));
    bad_number["refundAcctNo"] = json!("123");
    assert_eq!(
        legacy(&app, "cancelApi", &bad_number).await["resultCode"],
        "R005"
    );
    let mut no_holder = refund_body(tid, Some(5000));
    no_holder["refundAcctNm"] = json!("");
    assert_eq!(
        legacy(&app, "cancelApi", &no_holder).await["resultCode"],
        "R003"
    );

    let mut two_digits = refund_body(tid, Some(5000));
    two_digits["refundBankCd"] = json!("88");
    let partial = legacy(&app, "cancelApi", &two_digits).await;
    assert_eq!(partial["resultCode"], "2001");
    assert_eq!(partial["remainAmt"], "15000");
    assert_eq!(
        legacy(&app, "cancelApi", &refund_body(tid, Some(20000))).await["resultCode"],
        "2013"
    );
    let inquiry = inquire(&app, tid.as_str().unwrap()).await;
    assert_eq!(
        (inquiry["status"].as_i64(), inquiry["cancelAmt"].as_i64()),
        (Some(0), Some(5000))
    );

    let full = legacy(&app, "cancelApi", &refund_body(tid, None)).await;
    assert_eq!(
        (full["resultCode"].as_str(), full["cancelAmt"].as_str()),
        (Some("2001"), Some("15000"))
    );
    let inquiry = inquire(&app, tid.as_str().unwrap()).await;
    assert_eq!(
        (inquiry["status"].as_i64(), inquiry["cancelAmt"].as_i64()),
        (Some(1), Some(20000))
    );
    assert_eq!(
        legacy(&app, "cancelApi", &refund_body(tid, None)).await["resultCode"],
        "2012"
    );

    // The deposit's Noti, then one per refund with the accounts.
    let received = receiver.wait_for(3).await;
    assert_eq!(received.len(), 3);
    let refunds: Vec<_> = received.iter().filter(|n| n["status"] == "85").collect();
    assert_eq!(refunds.len(), 2);
    for noti in &refunds {
        assert_eq!(noti["payMethod"], "08");
        assert_eq!(
            noti["vacctNo"],
            data["virtualAccount"]["accountNumber"].as_str().unwrap()
        );
        assert_eq!(noti["vbankBankCd"], "004");
        assert_eq!(noti["vbankRefundBankCd"], "088");
        assert_eq!(noti["vbankRefundAcctNo"], "110123456789");
        assert_eq!(noti["vbankRefundAcctNm"], "홍길동");
    }
    let mut amounts: Vec<&str> = refunds.iter().map(|n| n["cancelAmt"].as_str()).collect();
    amounts.sort();
    assert_eq!(amounts, ["15000", "5000"]);

    // Where refunds are the merchant admin's job, cancelApi refuses them all.
    set(&app, "settings", json!({"vbankRefundByApi": false})).await;
    let (_, other) = issue_vbank(&app, &[]).await;
    deposited(&app, json!({"tid": other["tid"]})).await;
    let refused = legacy(&app, "cancelApi", &refund_body(&other["tid"], None)).await;
    assert_eq!(refused["resultCode"], "R001");
    assert!(refused["resultMsg"].as_str().unwrap().contains("관리자"));
}

#[tokio::test]
async fn a_lost_deposit_noti_never_arrives_but_the_inquiry_shows_the_deposit() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let receiver = noti_receiver(&app).await;
    let (_, data) = issue_vbank(&app, &[]).await;
    let tid = data["tid"].as_str().unwrap();
    add_fault(&app, json!({"kind": "noti_lost", "calls": 1})).await;
    let lost = deposited(&app, json!({"tid": tid, "amount": 15000})).await;
    let inquiry = inquire(&app, tid).await;
    assert_eq!(inquiry["virtualAccount"]["depositAmt"], 15000);
    let log = control(&app, "notis").await;
    let record = log
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == lost["notiId"])
        .unwrap();
    assert_eq!(
        (record["attempts"].as_u64(), record["delivered"].as_bool()),
        (Some(0), Some(false))
    );
    assert_eq!(record["lastAnswer"], "not sent: noti_lost fault");

    // The next deposit's Noti arrives, and it is the only one.
    deposited(&app, json!({"tid": tid, "amount": 5000})).await;
    let received = receiver.wait_for(1).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["approvalAmt"], "5000");
    // Duplicates apply to deposit Noti as to card ones.
    add_fault(&app, json!({"kind": "noti_duplicate", "calls": 1})).await;
    deposited(&app, json!({"tid": tid, "amount": 1})).await;
    let received = receiver.wait_for(3).await;
    assert_eq!(received.len(), 3);
    assert_eq!(received[1], received[2]);
}

#[tokio::test]
async fn faults_reach_vbank_approvals_and_an_inquiry_finds_an_account_whose_answer_was_lost() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_fault(
        &app,
        json!({"kind": "decline", "api": "pay", "code": "V101", "message": "발급 실패", "calls": 1}),
    )
    .await;
    let auth = authorize(&app, &[("payMethod", "VBANK")]).await;
    let declined = seed_request(&app, auth.get("paymentToken"), KEY, &seed_body(&auth)).await;
    let declined: Value = declined.json().await.unwrap();
    assert_eq!(declined["error"]["code"], "V101");

    add_fault(
        &app,
        json!({"kind": "server_error", "applied": true, "api": "pay", "calls": 1}),
    )
    .await;
    let auth = authorize(&app, &[("payMethod", "VBANK")]).await;
    let lost = seed_request(&app, auth.get("paymentToken"), KEY, &seed_body(&auth)).await;
    assert_eq!(lost.status(), 500);
    let answer: Value = app
        .client
        .get(app.url(&format!(
            "/sandbox/v1/transactions/orders/{}",
            auth.get("moid")
        )))
        .header("MID", "testpay01m")
        .header("Merchant-Key", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = &answer["data"];
    assert_eq!(data["tid"], auth.get("tid"));
    assert_eq!(data["status"], 0);
    assert_eq!(data["virtualAccount"]["bankCode"], "004");
}
