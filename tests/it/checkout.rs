//! Checkout creation, validation, authentication, tenant isolation, idempotency and listing, over HTTP
//! on every backend.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, backends, error_body};
use paydesk::config::ExposeSecret;

pub fn demo_key(app: &TestApp) -> String {
    app.state
        .demo_api_key
        .as_ref()
        .expect("the embedded default has a demo storefront")
        .expose_secret()
        .to_string()
}

pub fn order(amount: i64) -> Value {
    json!({
        "goodsName": "이노페이 화장품",
        "amount": amount,
        "buyer": {"name": "홍길동", "tel": "010-1234-5678", "email": "test@test.com"},
    })
}

pub async fn create(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/checkouts"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Creates a checkout that must succeed and returns its JSON.
pub async fn new_checkout(app: &TestApp, key: &str, body: &Value) -> Value {
    let response = create(app, key, body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// A new storefront on the test MID with these Innopay credentials; returns its API key.
pub async fn storefront_key(
    app: &TestApp,
    name: &str,
    merchant_key: &str,
    cancel_password: &str,
) -> String {
    let created = paydesk::storefronts::create(
        &app.state.store,
        &app.state.config,
        paydesk::storefronts::NewStorefront {
            name: name.into(),
            mid: "testpay01m".into(),
            merchant_key: paydesk::config::SecretString::from(merchant_key),
            cancel_password: paydesk::config::SecretString::from(cancel_password),
        },
    )
    .await
    .unwrap();
    created.api_key.expose_secret().to_string()
}

/// A second test storefront with its own key.
pub async fn other_storefront_key(app: &TestApp) -> String {
    storefront_key(app, "다른 상점", "other-key", "000000").await
}

#[tokio::test]
async fn a_checkout_carries_everything_to_open_the_window() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let mut body = order(20000);
        body["orderId"] = json!("order-20261127-0001");
        body["taxFreeAmount"] = json!(500);
        body["mallReserved"] = json!("cart=42");
        let response = create(&app, &key, &body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{backend:?}");
        let checkout: Value = response.json().await.unwrap();
        let id = checkout["id"].as_str().unwrap();
        assert!(id.starts_with("pay_"), "{checkout}");
        assert_eq!(checkout["status"], "ready");
        assert_eq!(checkout["totalAmount"], 20500);
        assert_eq!(checkout["livemode"], false);
        assert_eq!(checkout["checkoutUrl"], app.url(&format!("/checkout/{id}")));
        let go_pay = &checkout["goPay"];
        assert_eq!(go_pay["mid"], "testpay01m");
        assert_eq!(go_pay["moid"], "order-20261127-0001");
        assert_eq!(go_pay["amt"], 20000);
        assert_eq!(go_pay["taxFreeAmt"], 500);
        assert_eq!(go_pay["buyerTel"], "01012345678", "hyphens are dropped");
        assert_eq!(go_pay["payMethod"], "CARD");
        assert_eq!(go_pay["mallReserved"], "cart=42");
        assert_eq!(
            go_pay["returnUrl"],
            app.url(&format!("/checkout/{id}/return"))
        );
        assert!(
            checkout["sdkUrl"]
                .as_str()
                .unwrap()
                .ends_with("/sandbox/tpay/js/innopay.js")
        );

        let fetched: Value = app
            .client
            .get(app.url(&format!("/v1/checkouts/{id}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(fetched["id"], checkout["id"]);

        let payment: Value = app
            .client
            .get(app.url(&format!("/v1/payments/{id}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(payment["status"], "ready");
        assert_eq!(payment["remainingAmount"], 20500);
        assert_eq!(payment["events"][0]["type"], "created");
        assert_eq!(payment["events"][0]["sequence"], 1);

        let again = create(&app, &key, &body).await;
        assert_eq!(again.status(), StatusCode::CONFLICT);
        let error = error_body(again).await;
        assert_eq!(error["code"], "order_id_taken");
        assert_eq!(error["param"], "orderId");
    }
}

#[tokio::test]
async fn every_rejected_field_has_its_own_code() {
    let app = TestApp::spawn(crate::support::Backend::Sqlite).await;
    let key = demo_key(&app);
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("orderId", json!("has space"), "invalid_order_id", "orderId"),
        (
            "orderId",
            json!("x".repeat(41)),
            "invalid_order_id",
            "orderId",
        ),
        ("goodsName", json!(""), "invalid_goods_name", "goodsName"),
        ("amount", json!(-5), "invalid_amount", "amount"),
        ("amount", json!(50), "invalid_amount", "amount"),
        (
            "amount",
            json!(2_000_000_000i64),
            "invalid_amount",
            "amount",
        ),
        (
            "taxFreeAmount",
            json!(-1),
            "invalid_tax_free_amount",
            "taxFreeAmount",
        ),
        ("currency", json!("USD"), "currency_not_allowed", "currency"),
        (
            "depositDueInHours",
            json!(24),
            "invalid_deposit_due",
            "depositDueInHours",
        ),
        (
            "cashReceipt",
            json!({"purpose": "income_deduction", "identifier": "01012345678"}),
            "invalid_cash_receipt",
            "cashReceipt",
        ),
        (
            "payMethod",
            json!("BITCOIN"),
            "unsupported_pay_method",
            "payMethod",
        ),
        (
            "successUrl",
            json!("javascript:alert(1)"),
            "invalid_success_url",
            "successUrl",
        ),
        ("failUrl", json!("/relative"), "invalid_fail_url", "failUrl"),
        (
            "mallReserved",
            json!("x".repeat(201)),
            "invalid_mall_reserved",
            "mallReserved",
        ),
        (
            "expiresInSeconds",
            json!(5),
            "invalid_expires_in_seconds",
            "expiresInSeconds",
        ),
    ];
    for (field, value, code, param) in cases {
        let mut body = order(20000);
        body[field] = value.clone();
        let response = create(&app, &key, &body).await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{field}={value}"
        );
        let error = error_body(response).await;
        assert_eq!(error["code"], code, "{field}={value}: {error}");
        assert_eq!(error["param"], param, "{field}={value}");
        assert_eq!(error["type"], "invalid_request");
        assert_eq!(error["nextAction"], "fix_request");
    }
    for (field, value, code, param) in [
        ("name", json!(""), "invalid_buyer_name", "buyer.name"),
        ("tel", json!("12345"), "invalid_buyer_tel", "buyer.tel"),
        (
            "email",
            json!("not-an-email"),
            "invalid_buyer_email",
            "buyer.email",
        ),
    ] {
        let mut body = order(20000);
        body["buyer"][field] = value;
        let error = error_body(create(&app, &key, &body).await).await;
        assert_eq!(error["code"], code);
        assert_eq!(error["param"], param);
    }
    let malformed = app
        .client
        .post(app.url("/v1/checkouts"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"goodsName\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_body(malformed).await["code"], "invalid_body");
    // Nothing was stored by any of the refused requests.
    assert_eq!(app.state.store.count_payments("sf_demo").await.unwrap(), 0);
}

#[tokio::test]
async fn keys_authenticate_and_storefronts_see_only_their_own() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let missing = app
            .client
            .post(app.url("/v1/checkouts"))
            .json(&order(1000))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_body(missing).await["code"], "missing_api_key");

        let wrong = create(
            &app,
            "sk_test_notarealkeynotarealkeynotarealk",
            &order(1000),
        )
        .await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let error = error_body(wrong).await;
        assert_eq!(error["code"], "invalid_api_key");
        assert_eq!(error["param"], "Authorization");

        let mine: Value = new_checkout(&app, &key, &order(1000)).await;
        let other = other_storefront_key(&app).await;
        for path in [
            format!("/v1/checkouts/{}", mine["id"].as_str().unwrap()),
            format!("/v1/payments/{}", mine["id"].as_str().unwrap()),
        ] {
            let response = app
                .client
                .get(app.url(&path))
                .bearer_auth(&other)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(error_body(response).await["code"], "resource_not_found");
        }
        let list: Value = app
            .client
            .get(app.url("/v1/payments"))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["data"].as_array().unwrap().len(), 0);
        // Both storefronts are on testpay01m, and Innopay knows orders by MID and order id alone:
        // another storefront of the MID cannot take the same order id.
        let mut same_order = order(1000);
        same_order["orderId"] = mine["orderId"].clone();
        let taken = create(&app, &other, &same_order).await;
        assert_eq!(taken.status(), StatusCode::CONFLICT);
        let error = error_body(taken).await;
        assert_eq!(error["code"], "order_id_taken", "{error}");
        assert_eq!(error["param"], "orderId");

        // A rotated key stops working at once.
        let new_key = paydesk::storefronts::rotate_key(&app.state.store, "sf_demo")
            .await
            .unwrap();
        assert_eq!(
            create(&app, &key, &order(1000)).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            create(&app, new_key.expose_secret(), &order(1000))
                .await
                .status(),
            StatusCode::CREATED
        );
    }
}

#[tokio::test]
async fn idempotency_keys_replay_refuse_and_serialise() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let send = |body: Value, idem: &'static str| {
            app.client
                .post(app.url("/v1/checkouts"))
                .bearer_auth(&key)
                .header("Idempotency-Key", idem)
                .json(&body)
                .send()
        };
        let first = send(order(3000), "idem-1").await.unwrap();
        assert_eq!(first.status(), StatusCode::CREATED);
        assert!(first.headers().get("idempotent-replayed").is_none());
        let first: Value = first.json().await.unwrap();
        let retry = send(order(3000), "idem-1").await.unwrap();
        assert_eq!(retry.status(), StatusCode::CREATED);
        assert_eq!(retry.headers()["idempotent-replayed"], "true");
        let retry: Value = retry.json().await.unwrap();
        assert_eq!(retry["id"], first["id"]);

        let changed = send(order(3001), "idem-1").await.unwrap();
        assert_eq!(changed.status(), StatusCode::CONFLICT);
        assert_eq!(error_body(changed).await["code"], "idempotency_key_reused");

        // A refused request releases its key: the corrected request may use it.
        let refused = send(order(1), "idem-2").await.unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            send(order(2000), "idem-2").await.unwrap().status(),
            StatusCode::CREATED
        );

        // Concurrent duplicates: one checkout, the others replay it or are told to retry.
        let before = app.state.store.count_payments("sf_demo").await.unwrap();
        let attempts = (0..20).map(|_| send(order(4000), "idem-concurrent"));
        let responses = futures_util::future::join_all(attempts).await;
        let mut ids = std::collections::HashSet::new();
        for response in responses {
            let response = response.unwrap();
            match response.status() {
                StatusCode::CREATED => {
                    ids.insert(
                        response.json::<Value>().await.unwrap()["id"]
                            .as_str()
                            .unwrap()
                            .to_string(),
                    );
                }
                StatusCode::CONFLICT => {
                    let error = error_body(response).await;
                    assert_eq!(error["code"], "idempotency_request_in_progress");
                    assert_eq!(error["retryable"], true);
                }
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(ids.len(), 1, "{backend:?}: {ids:?}");
        assert_eq!(
            app.state.store.count_payments("sf_demo").await.unwrap(),
            before + 1
        );
    }
}

#[tokio::test]
async fn payments_list_newest_first_with_cursor_and_filters() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let mut ids = Vec::new();
        for i in 0..5 {
            let created: Value = new_checkout(&app, &key, &order(1000 + i)).await;
            ids.push(created["id"].as_str().unwrap().to_string());
        }
        let page = |query: String| {
            let request = app
                .client
                .get(app.url(&format!("/v1/payments{query}")))
                .bearer_auth(&key);
            async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let first = page("?limit=2".into()).await;
        let first_ids: Vec<&str> = first["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(first_ids, vec![ids[4].as_str(), ids[3].as_str()]);
        assert_eq!(first["hasMore"], true);
        let second = page(format!(
            "?limit=2&startingAfter={}",
            first["nextCursor"].as_str().unwrap()
        ))
        .await;
        assert_eq!(second["data"][0]["id"], ids[2].as_str());
        let last = page(format!(
            "?limit=2&startingAfter={}",
            second["nextCursor"].as_str().unwrap()
        ))
        .await;
        assert_eq!(last["data"].as_array().unwrap().len(), 1);
        assert_eq!(last["hasMore"], false);

        assert_eq!(
            page("?status=paid".into()).await["data"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            page("?status=ready".into()).await["data"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
        let future = page("?createdFrom=2999-01-01T00:00:00Z".into()).await;
        assert_eq!(future["data"].as_array().unwrap().len(), 0);
        // The same instants written with other offsets select the same payments (SQLite once
        // compared them as text, offset and all).
        let at = |hours: i64, offset: time::UtcOffset| {
            (time::OffsetDateTime::now_utc() + time::Duration::hours(hours))
                .to_offset(offset)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
                .replace('+', "%2B")
        };
        let kst = time::UtcOffset::from_hms(9, 0, 0).unwrap();
        let east = page(format!("?createdFrom={}", at(-1, kst))).await;
        assert_eq!(
            east["data"].as_array().unwrap().len(),
            5,
            "{backend:?}: {east}"
        );
        let west = time::UtcOffset::from_hms(-5, 0, 0).unwrap();
        let before = page(format!("?createdTo={}", at(1, west))).await;
        assert_eq!(
            before["data"].as_array().unwrap().len(),
            5,
            "{backend:?}: {before}"
        );

        let bad = app
            .client
            .get(app.url("/v1/payments?limit=0"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        let error = error_body(bad).await;
        assert_eq!(error["code"], "invalid_parameter");
        assert_eq!(error["param"], "limit");
        let bad = app
            .client
            .get(app.url("/v1/payments?status=nope"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        let error = error_body(bad).await;
        assert_eq!(error["code"], "invalid_parameter");
        assert_eq!(error["param"], "status");
    }
}

#[tokio::test]
async fn payments_filter_by_order_flag_and_method_alone_and_combined() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let card: Value = new_checkout(&app, &key, &order(1000)).await;
        let mut vbank_body = order(2000);
        vbank_body["payMethod"] = json!("VBANK");
        let vbank: Value = new_checkout(&app, &key, &vbank_body).await;
        // A return whose amount was changed on the way is refused and flagged.
        let flagged: Value = new_checkout(&app, &key, &order(300000)).await;
        let return_url =
            crate::approval::authorize(&app.client, &app.url("/sandbox"), &flagged, &[]).await;
        let tampered = return_url.replace("amt=300000", "amt=3000");
        assert_ne!(tampered, return_url);
        app.client.get(&tampered).send().await.unwrap();

        let ids = |query: &str| {
            let request = app
                .client
                .get(app.url(&format!("/v1/payments?{query}")))
                .bearer_auth(&key);
            async move {
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                let page: Value = response.json().await.unwrap();
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["id"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            }
        };
        let id = |checkout: &Value| checkout["id"].as_str().unwrap().to_string();
        let order_of = |checkout: &Value| checkout["orderId"].as_str().unwrap().to_string();

        assert_eq!(
            ids(&format!("orderId={}", order_of(&vbank))).await,
            [id(&vbank)]
        );
        assert!(ids("orderId=no-such-order").await.is_empty());
        assert_eq!(ids("flagged=true").await, [id(&flagged)]);
        assert_eq!(ids("flagged=false").await, [id(&vbank), id(&card)]);
        assert_eq!(ids("payMethod=VBANK").await, [id(&vbank)]);
        assert_eq!(ids("payMethod=CARD").await, [id(&flagged), id(&card)]);
        assert!(ids("payMethod=EPAY").await.is_empty());

        assert_eq!(ids("payMethod=CARD&flagged=false").await, [id(&card)]);
        assert_eq!(
            ids("payMethod=CARD&flagged=true&status=failed").await,
            [id(&flagged)]
        );
        assert!(ids("payMethod=VBANK&flagged=true").await.is_empty());
        let card_order = format!("orderId={}", order_of(&card));
        assert_eq!(
            ids(&format!("{card_order}&payMethod=CARD")).await,
            [id(&card)]
        );
        assert!(
            ids(&format!("{card_order}&payMethod=VBANK"))
                .await
                .is_empty()
        );
        assert!(ids(&format!("{card_order}&flagged=true")).await.is_empty());

        for (query, param) in [
            ("payMethod=PAYPAL", "payMethod"),
            ("payMethod=card", "payMethod"),
            ("flagged=yes", "flagged"),
            ("orderId=", "orderId"),
            (&*format!("orderId={}", "a".repeat(41)), "orderId"),
        ] {
            let bad = app
                .client
                .get(app.url(&format!("/v1/payments?{query}")))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "{query}");
            let error = error_body(bad).await;
            assert_eq!(error["code"], "invalid_parameter", "{query}");
            assert_eq!(error["param"], param, "{query}");
        }
    }
}

#[tokio::test]
async fn the_demo_key_can_be_fixed_and_survives_restarts() {
    let fixed = "sk_test_fixedDemoKeyForScripts0000000000";
    let settings = [("demo_api_key", fixed)];
    let first = TestApp::spawn_with(crate::support::Backend::Sqlite, &settings).await;
    assert_eq!(demo_key(&first), fixed);
    assert_eq!(
        create(&first, fixed, &order(1000)).await.status(),
        StatusCode::CREATED
    );
    // A second instance (or a restart) on the same database keeps the same key working.
    let second = TestApp::spawn_beside(&first, &settings).await;
    assert_eq!(
        create(&second, fixed, &order(1000)).await.status(),
        StatusCode::CREATED
    );
    // Without a fixed key every start prints a fresh one; earlier ones keep working for a while.
    let third = TestApp::spawn_beside(&first, &[]).await;
    let fresh = demo_key(&third);
    assert!(fresh.starts_with("sk_test_") && fresh != fixed);
    assert_eq!(
        create(&third, &fresh, &order(1000)).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        create(&third, fixed, &order(1000)).await.status(),
        StatusCode::CREATED
    );
}

/// A key whose request never finished (its server died, or the database went away before the key
/// could be released) is "in progress" forever unless someone takes it over: after the lease, the
/// next request with that key runs again. (If the first run had created its checkout, the takeover
/// makes a second one: a `409 order_id_taken` when the storefront sends its own `orderId`.)
#[tokio::test]
async fn an_orphaned_in_progress_key_is_taken_over_after_its_lease() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let send = |idem: &'static str| {
            app.client
                .post(app.url("/v1/checkouts"))
                .bearer_auth(&key)
                .header("Idempotency-Key", idem)
                .json(&order(5000))
                .send()
        };
        // Put each key back into "in progress", as a request that died before finishing leaves it.
        let now = time::OffsetDateTime::now_utc();
        let mut first_ids = Vec::new();
        for (idem, age) in [
            ("running", time::Duration::ZERO),
            ("orphaned", time::Duration::minutes(3)),
        ] {
            let first: Value = send(idem).await.unwrap().json().await.unwrap();
            first_ids.push(first["id"].clone());
            crate::support::execute_sql(
                &app,
                "UPDATE idempotency_keys SET response_status = NULL, response_body = NULL, \
                 created_at = ? WHERE idempotency_key = ?",
                vec![(now - age).into(), idem.into()],
            )
            .await;
        }
        let running = send("running").await.unwrap();
        assert_eq!(running.status(), StatusCode::CONFLICT, "{backend:?}");
        assert_eq!(
            error_body(running).await["code"],
            "idempotency_request_in_progress"
        );
        let taken_over = send("orphaned").await.unwrap();
        assert_eq!(taken_over.status(), StatusCode::CREATED, "{backend:?}");
        assert!(taken_over.headers().get("idempotent-replayed").is_none());
        let taken_over: Value = taken_over.json().await.unwrap();
        assert_ne!(taken_over["id"], first_ids[1]);
        let replay = send("orphaned").await.unwrap();
        assert_eq!(replay.headers()["idempotent-replayed"], "true");
    }
}
