//! The Innopay sandbox over real HTTP: the seed guide's approval request and answer, token and key
//! checks, the window pages and the SDK stand-in, Noti resends and faults, the control API, and the
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
async fn window_page(app: &TestApp, path: &str, form: &[(String, String)]) -> (u16, String) {
    let response = app
        .client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn set_field(form: &mut Vec<(String, String)>, key: &str, value: &str) {
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

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.wait_for(3).await.len(), 3, "nothing after 0000");
    let log = control(&app, "notis").await;
    assert_eq!(log[0]["attempts"], 3);
    assert_eq!(log[0]["delivered"], true);
    assert_eq!(log[0]["lastAnswer"], "0000");

    let cancel = paydesk::gateway::CancelRequest {
        tid: approval.tid.parse().unwrap(),
        pay_method: paydesk::domain::PayMethod::Card,
        partial: true,
        cancel_amt: "5000".parse().unwrap(),
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
