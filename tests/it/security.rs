//! What an attacker on the network could do, closed one by one: another payment's tid on a second
//! checkout, connections held open, a checkout failed (and its page written) by a bare return, two
//! storefronts of one MID paying each other's checkouts, and input that could never pay or would
//! mislead. Each test failed before its fix.

use std::time::{Duration, Instant};

use migration::MigratorTrait;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::approval::{authorize, checkout_page, pay_calls, payment, query_param};
use crate::attacks::with_authentication_of;
use crate::checkout::{create, demo_key, new_checkout, order, other_storefront_key};
use crate::support::{Backend, TestApp, backends, error_body};

/// A crafted return with checkout A's tid and token on checkout B fails B, but B never gets A's tid:
/// the tid is stored only once Innopay approved it for that order, and one (MID, tid) is one payment,
/// so Innopay's Noti and inquiries about A find A alone.
#[tokio::test]
async fn another_payments_tid_is_never_stored_on_a_second_checkout() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let sandbox = app.url("/sandbox");
        let a = new_checkout(&app, &key, &order(20000)).await;
        let b = new_checkout(&app, &key, &order(20000)).await;
        let a_return = authorize(&app.client, &sandbox, &a, &[]).await;
        let b_return = authorize(&app.client, &sandbox, &b, &[]).await;
        let a_tid = query_param(&a_return, "tid").unwrap();
        let swapped = with_authentication_of(&b_return, &a_return);
        app.client.get(&swapped).send().await.unwrap();
        let b_id = b["id"].as_str().unwrap();
        let b_after = payment(&app, &key, b_id).await;
        // Innopay refused A's token for B's order: nothing charged, B payable again.
        assert_eq!(b_after["status"], "ready", "{backend:?} {b_after}");
        assert!(
            b_after["tid"].is_null(),
            "{backend:?}: B got A's tid: {b_after}"
        );

        app.client.get(&a_return).send().await.unwrap();
        let a_id = a["id"].as_str().unwrap();
        assert_eq!(payment(&app, &key, a_id).await["status"], "paid");
        let found = app
            .state
            .store
            .payment_by_tid("testpay01m", &a_tid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, a_id, "{backend:?}");

        // The database itself refuses a second payment with that tid.
        let conn = sea_orm::Database::connect(app.db_url.as_str())
            .await
            .unwrap();
        let stored = sea_orm::ConnectionTrait::execute_unprepared(
            &conn,
            &format!("UPDATE payments SET tid = '{a_tid}' WHERE id = '{b_id}'"),
        )
        .await;
        conn.close().await.ok();
        assert!(stored.is_err(), "{backend:?}: a duplicate tid was stored");
    }
}

/// Anyone with a checkout id can open its return URL: without a payment token the checkout stays
/// payable, the text in the query is kept short in the history only and never shown, and the
/// shopper can still pay. (It used to fail the checkout and show and store any `resultMsg`.)
#[tokio::test]
async fn a_bare_or_forged_return_leaves_the_checkout_payable_and_shows_none_of_its_text() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let checkout = new_checkout(&app, &key, &order(20000)).await;
        let id = checkout["id"].as_str().unwrap();
        let bare = app
            .client
            .get(app.url(&format!("/checkout/{id}/return")))
            .send()
            .await
            .unwrap();
        assert_eq!(bare.status(), StatusCode::OK);
        assert_eq!(payment(&app, &key, id).await["status"], "ready");

        let planted = format!("고객센터 010-0000-0000 로 전화 주세요 {}", "가".repeat(600));
        let mut forged = url::Url::parse(&app.url(&format!("/checkout/{id}/return"))).unwrap();
        forged
            .query_pairs_mut()
            .append_pair("resultCode", "9999")
            .append_pair("resultMsg", &planted);
        app.client.get(forged.as_str()).send().await.unwrap();
        let after = payment(&app, &key, id).await;
        assert_eq!(after["status"], "ready", "{backend:?} {after}");
        assert!(after["failure"].is_null(), "{after}");
        let stored = after.to_string();
        assert!(!stored.contains(&"가".repeat(300)), "the text is bounded");
        let page = checkout_page(&app, id).await;
        assert!(page.contains("결제가 완료되지 않았습니다"), "{page}");
        assert!(!page.contains("010-0000-0000"), "the query's text is shown");

        // Many such returns do not grow the history without end.
        for _ in 0..30 {
            app.client.get(forged.as_str()).send().await.unwrap();
        }
        let events = payment(&app, &key, id).await["events"]
            .as_array()
            .unwrap()
            .len();
        assert!(events <= 25, "{events} events");

        // The shopper pays afterwards as usual.
        let genuine = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
        app.client.get(&genuine).send().await.unwrap();
        assert_eq!(payment(&app, &key, id).await["status"], "paid");
    }
}

/// Two storefronts on one MID: Innopay knows an order by MID and moid alone, so the second cannot
/// create a checkout with the first one's order id (and so cannot be paid with its authentication).
#[tokio::test]
async fn storefronts_sharing_a_mid_cannot_pay_each_others_checkouts() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let first = demo_key(&app);
        let second = other_storefront_key(&app).await;
        let mut body = order(20000);
        body["orderId"] = json!("shared-order-1");
        let x = new_checkout(&app, &first, &body).await;
        let taken = create(&app, &second, &body).await;
        if taken.status() == StatusCode::CREATED {
            // What the attack did before: X's authentication returned on Y's return URL.
            let y: Value = taken.json().await.unwrap();
            let x_return = authorize(&app.client, &app.url("/sandbox"), &x, &[]).await;
            let query = url::Url::parse(&x_return)
                .unwrap()
                .query()
                .unwrap()
                .to_string();
            let y_id = y["id"].as_str().unwrap();
            app.client
                .get(app.url(&format!("/checkout/{y_id}/return?{query}")))
                .send()
                .await
                .unwrap();
            panic!(
                "{backend:?}: the second storefront took the order id; Y is now {}",
                payment(&app, &second, y_id).await["status"]
            );
        }
        assert_eq!(taken.status(), StatusCode::CONFLICT);
        let error = error_body(taken).await;
        assert_eq!(error["code"], "order_id_taken");
        assert_eq!(error["param"], "orderId");
        assert!(
            error["message"].as_str().unwrap().contains("MID"),
            "{error}"
        );
        // The first storefront's checkout is untouched and pays.
        let x_return = authorize(&app.client, &app.url("/sandbox"), &x, &[]).await;
        app.client.get(&x_return).send().await.unwrap();
        let tid = query_param(&x_return, "tid").unwrap();
        assert_eq!(pay_calls(&app.url("/sandbox"), &tid).await, 1);
    }
}

/// Input that could never be paid or that would show the shopper something else than it says.
#[tokio::test]
async fn input_that_could_never_pay_or_would_mislead_is_refused_with_its_field() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let mut zero = order(0);
    zero["taxFreeAmount"] = json!(1000);
    let mut bidi = order(1000);
    bidi["goodsName"] = json!("정품 \u{202E}gpj.exe");
    let mut invisible = order(1000);
    invisible["goodsName"] = json!("\u{200B}\u{3164} \u{FEFF}");
    let mut cr_lf = order(1000);
    cr_lf["successUrl"] = json!("https://shop.example/ok\r\nSet-Cookie: x=1");
    let mut tab = order(1000);
    tab["failUrl"] = json!("https://shop.exa\tmple/fail");
    for (body, code, param) in [
        (zero, "invalid_amount", "amount"),
        (bidi, "invalid_goods_name", "goodsName"),
        (invisible, "invalid_goods_name", "goodsName"),
        (cr_lf, "invalid_success_url", "successUrl"),
        (tab, "invalid_fail_url", "failUrl"),
    ] {
        let response = create(&app, &key, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error = error_body(response).await;
        assert_eq!(error["code"], code, "{body}: {error}");
        assert_eq!(error["param"], param, "{error}");
    }

    // A key given twice: serde would keep the last, a proxy or log upstream maybe the first.
    let duplicated = r#"{"goodsName": "이노페이 화장품", "amount": 100, "amount": 1000000,
        "buyer": {"name": "홍길동", "tel": "01012345678", "email": "a@b.kr", "tel": "01099999999"}}"#;
    let response = app
        .client
        .post(app.url("/v1/checkouts"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(duplicated)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error = error_body(response).await;
    assert_eq!(error["code"], "invalid_body");
    assert_eq!(error["param"], "amount", "{error}");

    // A webhook URL with a line break is refused, not read as another URL.
    let response = app
        .client
        .put(app.url("/v1/webhook-endpoint"))
        .bearer_auth(&key)
        .json(&json!({"url": "https://shop.example/hooks\n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// Every HTML page says how it may be used: no framing by other sites, only its own scripts, no
/// MIME sniffing, the origin alone as referrer. `/metrics` takes a token when one is set.
#[tokio::test]
async fn html_pages_carry_security_headers_and_metrics_can_require_a_token() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("metrics_token", "metrics-secret")]).await;
    let key = demo_key(&app);
    let checkout = new_checkout(&app, &key, &order(20000)).await;
    let id = checkout["id"].as_str().unwrap();
    for path in [
        format!("/checkout/{id}"),
        format!("/checkout/{id}/return"),
        "/help".to_string(),
        "/help/popup-blocked".to_string(),
        "/docs".to_string(),
        "/".to_string(),
    ] {
        let response = app.get(&path).await;
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP"))
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        let scripts = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap_or_else(|| panic!("{path}: no script-src in {csp}"));
        assert!(
            !scripts.contains('*') && !scripts.contains("unsafe"),
            "{path}: {scripts}"
        );
        // Pages declare their scripts (one each here, none on the shop's landing page), never one
        // found in the markup.
        let declared = match path.as_str() {
            "/docs" => None,
            "/" => Some(0),
            _ => Some(1),
        };
        if let Some(declared) = declared {
            assert_eq!(
                scripts.matches("'sha256-").count(),
                declared,
                "{path}: {scripts}"
            );
        }
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(
            headers["referrer-policy"], "strict-origin-when-cross-origin",
            "{path}"
        );
    }
    let json = app.get("/v1/help/search?q=팝업").await;
    assert_eq!(json.headers()["x-content-type-options"], "nosniff");

    let open = app.get("/metrics").await;
    assert_eq!(open.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_body(open).await["code"], "invalid_metrics_token");
    let with_token = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("metrics-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), StatusCode::OK);
}

/// How long the server took to close `stream` (it reads until EOF or an error), at most `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(
            limit.saturating_sub(started.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Connections that send nothing, send their headers a byte at a time, stop in the body, or sit
/// idle after a request are closed after the configured timeouts (they used to stay open forever).
#[tokio::test]
async fn slow_and_idle_clients_are_cut_off() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("header_read_timeout_secs", "1"),
            ("idle_timeout_secs", "3"),
            ("innopay_connect_timeout_ms", "500"),
            ("innopay_read_timeout_ms", "1000"),
        ],
    )
    .await;
    let addr = url::Url::parse(&app.base)
        .unwrap()
        .socket_addrs(|| None)
        .unwrap()[0];
    let limit = Duration::from_secs(8);

    let mut silent = TcpStream::connect(addr).await.unwrap();
    let took = closed_within(&mut silent, limit).await;
    assert!(took.is_some(), "a silent connection stayed open");

    // Headers a byte every 300 ms: never complete within a second.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut cut = false;
    for byte in head {
        if slow.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if started.elapsed() > limit {
            break;
        }
    }
    assert!(
        cut || closed_within(&mut slow, Duration::from_millis(500))
            .await
            .is_some(),
        "a trickled header kept the connection open"
    );
    assert!(started.elapsed() < limit);

    // A body that never comes: the idle timeout closes it.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"POST /v1/checkouts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    assert!(
        closed_within(&mut stalled, limit).await.is_some(),
        "a stalled body kept the connection open"
    );

    // After a whole request, a kept-alive connection must start the next one in time.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        closed_within(&mut idle, limit).await.is_some(),
        "an idle kept-alive connection stayed open"
    );

    // A normal client is not affected.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

/// A database from before the rule, where two storefronts of one MID used one order id or two
/// paid payments carry one tid: the upgrade stops, names them and changes nothing, and goes
/// through once a person has settled them.
#[tokio::test]
async fn the_upgrade_to_one_payment_per_innopay_order_names_what_a_person_must_settle() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let store = &app.state.store;
        let first = demo_key(&app);
        let second = other_storefront_key(&app).await;
        let mut body = order(20000);
        body["orderId"] = json!("shared-before-upgrade");
        let x = new_checkout(&app, &first, &body).await;
        body["orderId"] = json!("y-before-upgrade");
        let y = new_checkout(&app, &second, &body).await;
        // Back to the schema before the rule (and the migrations after it), where both storefronts
        // could use one order id.
        let migrations = migration::Migrator::migrations();
        let identity = migrations
            .iter()
            .position(|m| m.name() == "m20261202_000001_payment_identity")
            .unwrap();
        store
            .migrate_down(Some((migrations.len() - identity) as u32))
            .await
            .unwrap();
        crate::support::execute_sql(
            &app,
            "UPDATE payments SET order_id = 'shared-before-upgrade' WHERE id = ?",
            vec![y["id"].as_str().unwrap().into()],
        )
        .await;

        let refused = store.migrate_up().await.unwrap_err().to_string();
        assert!(
            refused.contains("testpay01m/shared-before-upgrade"),
            "{backend:?}: {refused}"
        );
        for checkout in [&x, &y] {
            let id = checkout["id"].as_str().unwrap();
            assert_eq!(
                crate::support::count_rows(&app, "payments", id).await,
                1,
                "nothing lost"
            );
        }

        // Settled: the second storefront's checkout gets another order id. Then two paid
        // payments that carry one tid stop it again.
        let y_id = y["id"].as_str().unwrap();
        crate::support::execute_sql(
            &app,
            "UPDATE payments SET order_id = 'renamed-by-support' WHERE id = ?",
            vec![y_id.into()],
        )
        .await;
        for id in [x["id"].as_str().unwrap(), y_id] {
            crate::support::execute_sql(
                &app,
                "UPDATE payments SET status = 'paid', tid = 'testpay01m01082612020000001234' \
                 WHERE id = ?",
                vec![id.into()],
            )
            .await;
        }
        let refused = store.migrate_up().await.unwrap_err().to_string();
        assert!(
            refused.contains("testpay01m/testpay01m01082612020000001234"),
            "{backend:?}: {refused}"
        );
        crate::support::execute_sql(
            &app,
            "UPDATE payments SET tid = NULL, status = 'failed' WHERE id = ?",
            vec![y_id.into()],
        )
        .await;
        store.migrate_up().await.unwrap();
        assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    }
}

/// A status the code does not know, written by hand or by a newer version, is an error that names
/// it wherever the row is read, never read as some other status.
#[tokio::test]
async fn an_unknown_stored_status_is_an_error_naming_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let checkout = new_checkout(&app, &key, &order(20000)).await;
    let id = checkout["id"].as_str().unwrap();
    crate::support::execute_sql(
        &app,
        "UPDATE payments SET status = 'refunded_elsewhere' WHERE id = ?",
        vec![id.into()],
    )
    .await;
    let err = app.state.store.payment(id).await.unwrap_err().to_string();
    assert!(err.contains("refunded_elsewhere"), "{err}");
    let answer = app
        .client
        .get(app.url(&format!("/v1/payments/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
