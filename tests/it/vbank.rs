//! Virtual accounts (가상계좌) end to end through the built-in sandbox: an account issued at the
//! approval, the deposit believed only as Innopay's inquiry shows it (from its Noti or the
//! reconciler's own check), the deadline closing the account, and refunds to a named account.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::approval::{TwoInstances, authorize, payment};
use crate::checkout::{demo_key, new_checkout, order};
use crate::innopay::{add_fault, add_fault_at};
use crate::support::{Backend, TestApp, backends, error_body};
use crate::webhooks::{Answer, FAST, WebhookReceiver, set_endpoint, verifies};

/// A reconciler that checks issued accounts (and everything else) every few hundred milliseconds.
pub(crate) const FAST_CHECKS: [(&str, &str); 2] = [
    ("deposit_check_interval_ms", "200"),
    ("reconcile_interval_ms", "100"),
];

/// The payment's history entry of this kind (the first one).
fn event_of(p: &Value, kind: &str) -> Value {
    p["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event: {p}"))
        .clone()
}

/// A VBANK checkout of `amount` won.
fn vbank_order(amount: i64) -> Value {
    let mut body = order(amount);
    body["payMethod"] = json!("VBANK");
    body
}

/// Creates a VBANK checkout on `app`, picks a bank in `sandbox`'s window and follows the return:
/// the payment id and its tid.
async fn issue_at(app: &TestApp, sandbox: &str, key: &str, body: &Value) -> (String, String) {
    let checkout = new_checkout(app, key, body).await;
    let return_url = authorize(&app.client, sandbox, &checkout, &[("bankCode", "088")]).await;
    app.client.get(&return_url).send().await.unwrap();
    let id = checkout["id"].as_str().unwrap().to_string();
    let issued = payment(app, key, &id).await;
    assert_eq!(issued["status"], "awaiting_deposit", "{issued}");
    (id, issued["tid"].as_str().unwrap().to_string())
}

pub(crate) async fn issue(app: &TestApp, key: &str, amount: i64) -> (String, String) {
    issue_at(app, &app.url("/sandbox"), key, &vbank_order(amount)).await
}

/// Makes a deposit at the sandbox at `sandbox` (as the shopper's bank would), answering its status
/// and body.
async fn deposit_at(sandbox: &str, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{sandbox}/_control/deposits"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn deposit(app: &TestApp, body: Value) -> (StatusCode, Value) {
    deposit_at(&app.url("/sandbox"), body).await
}

/// Polls until `done` holds for the payment, up to ten seconds.
pub(crate) async fn wait_until(
    app: &TestApp,
    key: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let p = payment(app, key, id).await;
        if done(&p) {
            return p;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{p}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn kinds(p: &Value) -> Vec<String> {
    p["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

fn count(p: &Value, kind: &str) -> usize {
    kinds(p).iter().filter(|k| *k == kind).count()
}

/// What became of the Noti paydesk received for `tid`, oldest first.
async fn noti_outcomes(app: &TestApp, tid: &str) -> Vec<(String, bool)> {
    let mut notis = app.state.store.notis(false, 100).await.unwrap();
    notis.reverse();
    notis
        .into_iter()
        .filter(|n| n.tid.as_deref() == Some(tid))
        .map(|n| (n.outcome, n.flagged))
        .collect()
}

/// Moves the app's clock past a payment's deposit deadline, as if the shopper had waited too long.
async fn deadline_passed(app: &TestApp, id: &str) {
    let row = app.state.store.payment(id).await.unwrap().unwrap();
    let Some(paydesk::domain::MethodDetails::VirtualAccount(account)) = row.method_details else {
        panic!("{id} has no virtual account");
    };
    app.clock
        .advance(account.due_at - app.state.store.now() + time::Duration::seconds(1));
}

#[tokio::test]
async fn a_virtual_account_is_issued_then_paid_by_its_deposit_with_signed_webhooks_in_order() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &FAST).await;
        let key = demo_key(&app);
        let receiver = WebhookReceiver::start(Answer::Status(200)).await;
        let endpoint = set_endpoint(&app, &key, &receiver.url).await;
        let mut body = vbank_order(30000);
        body["taxFreeAmount"] = json!(3000);
        body["depositDueInHours"] = json!(48);
        body["cashReceipt"] = json!({"purpose": "income_deduction", "identifier": "010-1234-5678"});
        let checkout = new_checkout(&app, &key, &body).await;
        assert_eq!(checkout["goPay"]["payMethod"], "VBANK");
        assert_eq!(checkout["goPay"]["receiptType"], "1");
        assert!(checkout["goPay"]["vBankExpDate"].as_str().unwrap().len() == 8);
        let return_url = authorize(
            &app.client,
            &app.url("/sandbox"),
            &checkout,
            &[("bankCode", "088")],
        )
        .await;
        let landed = app.client.get(&return_url).send().await.unwrap();
        assert_eq!(landed.status(), StatusCode::OK);
        let id = checkout["id"].as_str().unwrap();

        let issued = payment(&app, &key, id).await;
        assert_eq!(issued["status"], "awaiting_deposit", "{issued}");
        let account = &issued["virtualAccount"];
        assert_eq!(account["bankCode"], "088");
        assert_eq!(account["bankName"], "신한은행");
        assert!(
            account["accountNumber"].as_str().unwrap().len() >= 10,
            "{account}"
        );
        let due: time::OffsetDateTime = time::OffsetDateTime::parse(
            account["dueAt"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let ahead = due - time::OffsetDateTime::now_utc();
        assert!(
            ahead > time::Duration::hours(47) && ahead <= time::Duration::hours(48),
            "{ahead}"
        );
        assert_eq!(issued["cashReceipt"]["status"], "requested");
        assert_eq!(issued["cashReceipt"]["identifier"], "010****5678");
        assert!(issued["card"].is_null());
        // The shopper's page shows the account, not a receipt.
        let page = crate::approval::result_page(&app, id).await;
        assert!(page.contains("가상계좌가 발급되었습니다"), "{page}");
        assert!(page.contains(account["accountNumber"].as_str().unwrap()));
        assert!(page.contains("33,000 원"));

        let (status, made) = deposit(&app, json!({"tid": issued["tid"]})).await;
        assert_eq!(status, StatusCode::OK, "{made}");
        let paid = wait_until(&app, &key, id, |p| p["status"] == "paid").await;
        assert_eq!(paid["virtualAccount"]["depositedAmount"], 33000);
        assert_eq!(paid["cashReceipt"]["status"], "issued");
        assert_eq!(
            paid["cashReceipt"]["supplyAmount"].as_i64().unwrap()
                + paid["cashReceipt"]["vat"].as_i64().unwrap(),
            33000
        );
        let deposited = event_of(&paid, "deposited");
        assert_eq!(deposited["cause"], "innopay_noti");
        assert_eq!(deposited["fromStatus"], "awaiting_deposit");

        let secret = endpoint["signingSecret"].as_str().unwrap();
        let hooks = receiver.wait_for(2, Duration::from_secs(10)).await;
        assert_eq!(
            receiver.types(),
            vec!["payment.awaiting_deposit", "payment.paid"],
            "{backend:?}"
        );
        assert!(
            hooks.iter().all(|h| verifies(secret, h)),
            "every webhook is signed"
        );
        let sequences: Vec<i64> = hooks
            .iter()
            .map(|h| h.json["data"]["sequence"].as_i64().unwrap())
            .collect();
        assert!(sequences[0] < sequences[1], "{sequences:?}");
        assert_eq!(
            hooks[0].json["data"]["virtualAccount"]["accountNumber"],
            account["accountNumber"]
        );
    }
}

#[tokio::test]
async fn a_lost_deposit_noti_still_ends_paid_by_the_reconcilers_inquiry() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &FAST_CHECKS).await;
        let key = demo_key(&app);
        let (id, tid) = issue(&app, &key, 20000).await;
        add_fault(&app, json!({"kind": "noti_lost", "calls": 1})).await;
        let (status, made) = deposit(&app, json!({"tid": tid})).await;
        assert_eq!(status, StatusCode::OK, "{made}");
        let paid = wait_until(&app, &key, &id, |p| p["status"] == "paid").await;
        let deposited = event_of(&paid, "deposited");
        assert_eq!(deposited["cause"], "reconciler", "{backend:?}: {paid}");
        assert!(
            noti_outcomes(&app, &tid).await.is_empty(),
            "no Noti ever came"
        );
    }
}

#[tokio::test]
async fn no_deposit_by_the_deadline_closes_the_account_and_expires_the_payment() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &FAST_CHECKS).await;
        let key = demo_key(&app);
        let (id, tid) = issue(&app, &key, 20000).await;
        deadline_passed(&app, &id).await;
        let expired = wait_until(&app, &key, &id, |p| p["status"] == "expired").await;
        assert_eq!(expired["failure"]["code"], "deposit_expired", "{expired}");
        assert!(
            expired["failure"]["shopperMessage"]
                .as_str()
                .unwrap()
                .contains("입금 기한"),
            "{expired}"
        );
        // Closed at Innopay: the bank refuses the deposit now, even a "late" one.
        let (status, refused) = deposit(&app, json!({"tid": tid, "late": true})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        assert_eq!(refused["error"]["code"], "account_closed", "{refused}");
        let calls = crate::approval::sandbox_calls(&app.url("/sandbox")).await;
        assert_eq!(
            calls
                .iter()
                .filter(|c| c["path"].as_str().unwrap().ends_with("/api/vbankCancel"))
                .count(),
            1
        );
    }
}

/// Money that arrives but cannot be the payment: another amount, after the deadline, the account
/// paid twice, an account paydesk never issued. None of it is applied twice; each is flagged with
/// its reason, and Innopay is answered so that it stops where resending changes nothing.
#[tokio::test]
async fn deposits_that_cannot_be_the_payment_are_flagged_with_their_reason_never_applied_twice() {
    for backend in backends() {
        let app = TestApp::spawn_with(
            backend,
            &[
                ("deposit_check_interval_ms", "600000"),
                ("reconcile_interval_ms", "100"),
            ],
        )
        .await;
        let key = demo_key(&app);

        // Another amount: flagged, still waiting for the right one, Innopay told to stop.
        let (short, short_tid) = issue(&app, &key, 20000).await;
        deposit(&app, json!({"tid": short_tid, "amount": 19000})).await;
        let flagged = wait_until(&app, &key, &short, |p| p["flagged"] == true).await;
        assert_eq!(flagged["status"], "awaiting_deposit");
        assert_eq!(flagged["virtualAccount"]["depositedAmount"], 19000);
        let page = crate::approval::result_page(&app, &short).await;
        assert!(
            page.contains("vbank-wrong-amount"),
            "the wrong-amount article is suggested"
        );
        assert!(
            flagged["flagReason"].as_str().unwrap().contains("19000"),
            "{flagged}"
        );
        assert_eq!(count(&flagged, "deposit_flagged"), 1);
        assert_eq!(
            noti_outcomes(&app, &short_tid).await,
            vec![("recorded".into(), true)]
        );

        // Paid, then deposited again: one `deposited`, the excess flagged once.
        let (twice, twice_tid) = issue(&app, &key, 15000).await;
        deposit(&app, json!({"tid": twice_tid})).await;
        wait_until(&app, &key, &twice, |p| p["status"] == "paid").await;
        deposit(&app, json!({"tid": twice_tid})).await;
        let p = wait_until(&app, &key, &twice, |p| p["flagged"] == true).await;
        assert_eq!(p["status"], "paid");
        assert_eq!(count(&p, "deposited"), 1);
        assert!(
            p["flagReason"].as_str().unwrap().contains("15000 won more"),
            "{p}"
        );

        // A duplicated Noti: paid once.
        let (dup, dup_tid) = issue(&app, &key, 12000).await;
        add_fault(&app, json!({"kind": "noti_duplicate", "calls": 1})).await;
        deposit(&app, json!({"tid": dup_tid})).await;
        // Both stored is not both judged: a Noti is `received` until it has been.
        let started = Instant::now();
        loop {
            let outcomes = noti_outcomes(&app, &dup_tid).await;
            if outcomes.len() >= 2 && outcomes.iter().all(|(o, _)| o != "received") {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "{outcomes:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let p = payment(&app, &key, &dup).await;
        assert_eq!(p["status"], "paid");
        assert_eq!(count(&p, "deposited"), 1);
        let mut outcomes: Vec<String> = noti_outcomes(&app, &dup_tid)
            .await
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        outcomes.sort();
        assert_eq!(outcomes, vec!["applied", "duplicate"]);

        // After the deadline (the account still open at Innopay): not paid, flagged.
        let (late, late_tid) = issue(&app, &key, 18000).await;
        deadline_passed(&app, &late).await;
        add_fault(&app, json!({"kind": "decline", "api": "vbank_cancel", "calls": 100, "code": "V009", "message": "점검 중"})).await;
        deposit(&app, json!({"tid": late_tid, "late": true})).await;
        let p = wait_until(&app, &key, &late, |p| p["flagged"] == true).await;
        assert_ne!(p["status"], "paid", "{p}");
        assert!(
            p["flagReason"]
                .as_str()
                .unwrap()
                .contains("after the deadline"),
            "{p}"
        );
        assert_eq!(count(&p, "deposited"), 0);
        reqwest::Client::new()
            .post(app.url("/sandbox/_control/faults/reset"))
            .send()
            .await
            .unwrap();

        // An account paydesk never issued, and a tid it does not know.
        let (other, other_tid) = issue(&app, &key, 11000).await;
        let forged = |tid: &str, account: &str| {
            vec![
                ("shopCode", "testpay01m".to_string()),
                ("tid", tid.to_string()),
                ("moid", String::new()),
                ("goodsAmt", "11000".into()),
                ("status", "25".into()),
                ("stateCd", "0".into()),
                ("payMethod", "08".into()),
                ("vacctNo", account.to_string()),
            ]
        };
        for fields in [
            forged(&other_tid, "99999999999999"),
            forged("testpay01m03012612030000009999", "12345678901234"),
        ] {
            let fields: Vec<(&str, String)> =
                fields.into_iter().filter(|(_, v)| !v.is_empty()).collect();
            let answer = app
                .client
                .post(app.url("/innopay/noti"))
                .form(&fields)
                .send()
                .await
                .unwrap();
            assert_ne!(
                answer.text().await.unwrap(),
                "0000",
                "Innopay keeps resending"
            );
        }
        assert_eq!(
            payment(&app, &key, &other).await["status"],
            "awaiting_deposit"
        );
        assert_eq!(
            noti_outcomes(&app, &other_tid).await,
            vec![("unmatched".into(), true)]
        );
        assert_eq!(
            noti_outcomes(&app, "testpay01m03012612030000009999").await,
            vec![("unmatched".into(), true)]
        );
    }
}

/// The same deposit Noti arriving 20 times at once at two instances on one database: one `paid`,
/// one history entry, one webhook.
#[tokio::test]
async fn concurrent_deposit_notis_at_two_instances_pay_once() {
    let pair = TwoInstances::start(&[("deposit_check_interval_ms", "600000")]).await;
    let (first, second, key) = (&pair.first, &pair.second, &pair.key);
    let (id, tid) = issue_at(first, &pair.sandbox, key, &vbank_order(25000)).await;
    add_fault_at(&pair.sandbox, json!({"kind": "noti_lost", "calls": 1})).await;
    deposit_at(&pair.sandbox, json!({"tid": tid})).await;
    let issued = payment(first, key, &id).await;
    let fields = vec![
        ("shopCode", "testpay01m".to_string()),
        ("tid", tid.clone()),
        ("transSeq", tid.clone()),
        ("moid", issued["orderId"].as_str().unwrap().to_string()),
        ("goodsAmt", "25000".into()),
        ("approvalAmt", "25000".into()),
        ("status", "25".into()),
        ("stateCd", "0".into()),
        ("payMethod", "08".into()),
        (
            "vacctNo",
            issued["virtualAccount"]["accountNumber"]
                .as_str()
                .unwrap()
                .to_string(),
        ),
        ("vbankBankCd", "088".into()),
    ];
    let posts = (0..20).map(|n| {
        let app = if n % 2 == 0 { first } else { second };
        let request = app.client.post(app.url("/innopay/noti")).form(&fields);
        async move { request.send().await.unwrap().text().await.unwrap() }
    });
    let answers = futures_util::future::join_all(posts).await;
    assert!(answers.iter().all(|a| a == "0000"), "{answers:?}");
    let paid = payment(second, key, &id).await;
    assert_eq!(paid["status"], "paid", "{:?}", pair.backend);
    assert_eq!(count(&paid, "deposited"), 1);
    // The event list shows events once they have settled (a couple of seconds): wait for it.
    let started = Instant::now();
    let paid_events = loop {
        let (status, events) = crate::webhooks::get_json(first, key, "/v1/events?limit=100").await;
        assert_eq!(status, StatusCode::OK);
        let found = events["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "payment.paid" && e["data"]["id"] == id.as_str())
            .count();
        if found > 0 || started.elapsed() > Duration::from_secs(10) {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(paid_events, 1);
}

#[tokio::test]
async fn paid_accounts_are_refunded_to_a_named_account_and_unpaid_ones_closed() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let (id, tid) = issue(&app, &key, 30000).await;
        deposit(&app, json!({"tid": tid})).await;
        wait_until(&app, &key, &id, |p| p["status"] == "paid").await;
        let cancel = |body: Value, idem: String| {
            app.client
                .post(app.url(&format!("/v1/payments/{id}/cancel")))
                .bearer_auth(&key)
                .header("Idempotency-Key", idem)
                .json(&body)
                .send()
        };
        let refund_to =
            json!({"bankCode": "004", "accountNumber": "123-456-789012", "holderName": "홍길동"});

        let missing = cancel(json!({"reason": "반품"}), "r1".into())
            .await
            .unwrap();
        assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
        let missing = error_body(missing).await;
        assert_eq!(missing["code"], "refund_account_required");
        assert_eq!(missing["param"], "refundAccount");
        for (bad, field) in [
            (
                json!({"bankCode": "999", "accountNumber": "1234567890", "holderName": "홍길동"}),
                "refundAccount.bankCode",
            ),
            (
                json!({"bankCode": "004", "accountNumber": "12-34", "holderName": "홍길동"}),
                "refundAccount.accountNumber",
            ),
            (
                json!({"bankCode": "004", "accountNumber": "1234567890", "holderName": " "}),
                "refundAccount.holderName",
            ),
        ] {
            let refused = cancel(
                json!({"reason": "반품", "refundAccount": bad}),
                format!("bad-{field}"),
            )
            .await
            .unwrap();
            assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
            let refused = error_body(refused).await;
            assert_eq!(refused["code"], "invalid_refund_account");
            assert_eq!(refused["param"], field);
        }
        assert_eq!(
            payment(&app, &key, &id).await["cancelledAmount"],
            0,
            "nothing was refunded"
        );

        let partial = cancel(
            json!({"amount": 10000, "reason": "부분 반품", "refundAccount": refund_to}),
            "r2".into(),
        )
        .await
        .unwrap();
        assert_eq!(
            partial.status(),
            StatusCode::OK,
            "{}",
            partial.text().await.unwrap()
        );
        let rest = cancel(
            json!({"reason": "전체 반품", "refundAccount": refund_to}),
            "r3".into(),
        )
        .await
        .unwrap();
        assert_eq!(rest.status(), StatusCode::OK);
        let refunded = payment(&app, &key, &id).await;
        assert_eq!(refunded["status"], "cancelled");
        assert_eq!(refunded["cancelledAmount"], 30000);
        let calls = crate::approval::sandbox_calls(&app.url("/sandbox")).await;
        let refunds: Vec<&Value> = calls
            .iter()
            .filter(|c| c["path"].as_str().unwrap().ends_with("/api/cancelApi"))
            .collect();
        assert_eq!(refunds.len(), 2);

        // An unpaid account: cancelling closes it, and the bank then refuses a deposit.
        let (unpaid, unpaid_tid) = issue(&app, &key, 9000).await;
        let closed = app
            .client
            .post(app.url(&format!("/v1/payments/{unpaid}/cancel")))
            .bearer_auth(&key)
            .json(&json!({"reason": "주문 취소"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            closed.status(),
            StatusCode::OK,
            "{}",
            closed.text().await.unwrap()
        );
        let closed = payment(&app, &key, &unpaid).await;
        assert_eq!(closed["status"], "cancelled");
        assert_eq!(closed["remainingAmount"], 0);
        let (status, refused) = deposit(&app, json!({"tid": unpaid_tid})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    }
}

/// The bank list the spec points to is the one refunds are checked against.
#[tokio::test]
async fn the_bank_list_names_every_code_a_refund_account_takes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let (status, banks) = crate::webhooks::get_json(&app, &key, "/v1/banks").await;
    assert_eq!(status, StatusCode::OK);
    let banks = banks["data"].as_array().unwrap();
    assert_eq!(banks.len(), paydesk::domain::BANKS.len());
    assert!(banks.contains(&json!({"code": "004", "name": "KB국민은행"})));
    for bank in banks {
        assert!(
            bank["code"]
                .as_str()
                .unwrap()
                .parse::<paydesk::domain::BankCode>()
                .is_ok()
        );
    }
    let anonymous = app.get("/v1/banks").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// An account Innopay issued for another amount cannot be honoured: paydesk closes it at once (a
/// card would be cancelled) and flags the payment.
#[tokio::test]
async fn an_account_issued_for_another_amount_is_closed_at_once_and_flagged() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    add_fault(
        &app,
        json!({"kind": "amount_mismatch", "api": "pay", "calls": 1, "amt": 21000}),
    )
    .await;
    let checkout = new_checkout(&app, &key, &vbank_order(20000)).await;
    let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    app.client.get(&return_url).send().await.unwrap();
    let id = checkout["id"].as_str().unwrap();
    let closed = wait_until(&app, &key, id, |p| p["status"] == "cancelled").await;
    assert_eq!(closed["flagged"], true, "{closed}");
    assert!(kinds(&closed).contains(&"net_cancelled".to_string()));
    let calls = crate::approval::sandbox_calls(&app.url("/sandbox")).await;
    assert!(
        calls
            .iter()
            .any(|c| c["path"].as_str().unwrap().ends_with("/api/vbankCancel")),
        "the account was closed, not cancelled like a card"
    );
}

/// A card checkout whose shopper opens the window as a virtual account: the return does not match
/// the checkout (method and the tid's service code), so nothing is approved and nothing is "paid"
/// by an account that took no money.
#[tokio::test]
async fn a_card_checkout_returned_as_a_virtual_account_is_refused_before_approval() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let checkout = new_checkout(&app, &key, &order(20000)).await;
    let mut form = crate::approval::authorize_form(&checkout, &[]);
    for (k, v) in form.iter_mut() {
        if k == "payMethod" {
            *v = "VBANK".into();
        }
    }
    let response = app
        .client
        .post(app.url("/sandbox/pay/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let return_url = response.headers()["location"].to_str().unwrap().to_string();
    let tid = crate::approval::query_param(&return_url, "tid").unwrap();
    assert_eq!(
        &tid[10..12],
        "03",
        "Innopay's window made a virtual-account transaction"
    );
    app.client.get(&return_url).send().await.unwrap();
    let id = checkout["id"].as_str().unwrap();
    let refused = payment(&app, &key, id).await;
    assert_eq!(refused["status"], "failed", "{refused}");
    assert_eq!(refused["failure"]["code"], "order_mismatch");
    assert_eq!(refused["flagged"], true);
    assert_eq!(
        crate::approval::pay_calls(&app.url("/sandbox"), &tid).await,
        0
    );
}

/// Money deposited into an account paydesk is closing (its approval could not be honoured, and
/// the first close failed): never paid automatically, never refunded without an account, flagged
/// for a person, and the closing stops.
#[tokio::test]
async fn a_deposit_into_an_account_being_taken_back_is_flagged_not_paid() {
    let app = TestApp::spawn_with(Backend::Sqlite, &FAST_CHECKS).await;
    let key = demo_key(&app);
    add_fault(
        &app,
        json!({"kind": "amount_mismatch", "api": "pay", "calls": 1, "amt": 21000}),
    )
    .await;
    add_fault(
        &app,
        json!({"kind": "decline", "api": "vbank_cancel", "calls": 1, "code": "V009", "message": "점검 중"}),
    )
    .await;
    let checkout = new_checkout(&app, &key, &vbank_order(20000)).await;
    let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    let tid = crate::approval::query_param(&return_url, "tid").unwrap();
    app.client.get(&return_url).send().await.unwrap();
    let id = checkout["id"].as_str().unwrap();
    let (status, made) = deposit(&app, json!({"tid": tid})).await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let flagged = wait_until(&app, &key, id, |p| {
        p["flagReason"]
            .as_str()
            .is_some_and(|r| r.contains("account paydesk was closing"))
    })
    .await;
    assert_eq!(flagged["status"], "awaiting_deposit", "{flagged}");
    assert!(flagged["pendingCancelAmount"].is_null());
    // The next checks change nothing and close nothing more.
    let closes = || async {
        crate::approval::sandbox_calls(&app.url("/sandbox"))
            .await
            .iter()
            .filter(|c| {
                let path = c["path"].as_str().unwrap();
                path.ends_with("/api/vbankCancel") || path.ends_with("/api/cancelApi")
            })
            .count()
    };
    let before = closes().await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        let p = payment(&app, &key, id).await;
        assert_ne!(p["status"], "paid", "{p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        closes().await,
        before,
        "no more closes or refunds were tried"
    );
    assert!(before <= 2, "{before} closes");
}

#[tokio::test]
async fn a_vbank_window_closes_before_the_deposit_deadline() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let mut body = vbank_order(20000);
    body["depositDueInHours"] = json!(1);
    body["expiresInSeconds"] = json!(604800);
    let checkout = new_checkout(&app, &key, &body).await;
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let expires = parse(&checkout["expiresAt"]);
    let due = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert!(
        expires <= due - time::Duration::minutes(29),
        "{expires} vs {due}"
    );
}

/// A deadline sent with an offset is stored in UTC: SQLite compares stored times as text, so a
/// `+09:00` deadline kept as sent would expire the account up to nine hours late.
#[tokio::test]
async fn a_deposit_deadline_sent_in_kst_is_kept_in_utc() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let kst = time::UtcOffset::from_hms(9, 0, 0).unwrap();
    let due = (time::OffsetDateTime::now_utc() + time::Duration::hours(48)).to_offset(kst);
    let mut request = order(20000);
    request["payMethod"] = json!("VBANK");
    request["depositDueAt"] = json!(
        due.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let checkout = new_checkout(&app, &key, &request).await;
    let row = app
        .state
        .store
        .payment(checkout["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let account = row.method_details.unwrap();
    let stored = account.virtual_account().unwrap().due_at;
    assert_eq!(stored.offset(), time::UtcOffset::UTC, "{stored}");
    assert_eq!(stored.unix_timestamp(), due.unix_timestamp());
}
