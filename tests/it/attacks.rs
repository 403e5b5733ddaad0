//! Attacks and bad input: a shopper or a storefront trying to pay less, pay with someone else's
//! authentication, read or cancel another storefront's payments, cross test and live, or break the
//! server with bodies and markup; and the secrets paydesk holds never appearing in its logs or answers.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::approval::{authorize, pay_calls, payment, query_param, settled_at};
use crate::checkout::{create, demo_key, new_checkout, order, other_storefront_key};
use crate::contract::live_storefront_key;
use crate::innopay::add_fault_at;
use crate::support::{Backend, TestApp, backends, error_body, execute_sql};
use paydesk::config::ExposeSecret;

/// `url` with query parameter `name` set to `value` (added when absent).
fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let mut pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    match pairs.iter_mut().find(|(k, _)| k == name) {
        Some(pair) => pair.1 = value.to_string(),
        None => pairs.push((name.to_string(), value.to_string())),
    }
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.into()
}

/// `target` (a return URL) carrying the payment token and tid of `source`, another checkout's.
pub fn with_authentication_of(target: &str, source: &str) -> String {
    let token = param(source, "paymentToken");
    with_param(
        &with_param(target, "paymentToken", &token),
        "tid",
        &param(source, "tid"),
    )
}

fn param(url: &str, name: &str) -> String {
    query_param(url, name).unwrap_or_default()
}

#[tokio::test]
async fn a_tampered_return_is_refused_before_any_approval() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let sandbox = app.url("/sandbox");
        for (field, tamper, code) in [
            ("amt", "100", "amount_mismatch"),
            ("taxFreeAmt", "5000", "amount_mismatch"),
            ("amt", "20000.5", "amount_mismatch"),
            ("moid", "someone-elses-order", "order_mismatch"),
            ("mid", "shopabc01m", "order_mismatch"),
        ] {
            let checkout = new_checkout(&app, &key, &order(20000)).await;
            let id = checkout["id"].as_str().unwrap();
            let genuine = authorize(&app.client, &sandbox, &checkout, &[]).await;
            let tid = param(&genuine, "tid");
            let tampered = with_param(&genuine, field, tamper);
            assert_eq!(
                app.client.get(&tampered).send().await.unwrap().status(),
                StatusCode::OK
            );
            let refused = payment(&app, &key, id).await;
            assert_eq!(refused["status"], "failed", "{field}: {refused}");
            assert_eq!(refused["failure"]["code"], code, "{field}");
            assert_eq!(refused["flagged"], true, "{field}");
            // The genuine return afterwards cannot revive it: the checkout is final.
            app.client.get(&genuine).send().await.unwrap();
            assert_eq!(payment(&app, &key, id).await["status"], "failed");
            assert_eq!(pay_calls(&sandbox, &tid).await, 0, "{backend:?} {field}");
        }
        // A tid of another MID with this checkout's token.
        let checkout = new_checkout(&app, &key, &order(20000)).await;
        let genuine = authorize(&app.client, &sandbox, &checkout, &[]).await;
        let foreign_tid = format!("shopabc01m{}", &param(&genuine, "tid")[10..]);
        app.client
            .get(with_param(&genuine, "tid", &foreign_tid))
            .send()
            .await
            .unwrap();
        let refused = payment(&app, &key, checkout["id"].as_str().unwrap()).await;
        assert_eq!(refused["failure"]["code"], "order_mismatch", "{refused}");
        assert_eq!(pay_calls(&sandbox, &param(&genuine, "tid")).await, 0);
    }
}

/// Authenticate checkout A, then bring A's token into checkout B's return: B must not be paid with
/// A's authentication, and A must still be payable exactly once.
#[tokio::test]
async fn a_payment_token_from_another_checkout_pays_nothing() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let sandbox = app.url("/sandbox");
        let a = new_checkout(&app, &key, &order(20000)).await;
        let b = new_checkout(&app, &key, &order(20000)).await;
        let a_return = authorize(&app.client, &sandbox, &a, &[]).await;
        let a_tid = param(&a_return, "tid");
        let b_path = format!("/checkout/{}/return", b["id"].as_str().unwrap());

        // A's whole answer on B's returnUrl: A's order id is not B's.
        let a_query = url::Url::parse(&a_return)
            .unwrap()
            .query()
            .unwrap()
            .to_string();
        app.client
            .get(app.url(&format!("{b_path}?{a_query}")))
            .send()
            .await
            .unwrap();
        let b_after = payment(&app, &key, b["id"].as_str().unwrap()).await;
        assert_eq!(b_after["status"], "failed", "{b_after}");
        assert_eq!(b_after["failure"]["code"], "order_mismatch");
        assert_eq!(pay_calls(&sandbox, &a_tid).await, 0);

        // A's token and tid with B's own order and amount: Innopay (the sandbox) refuses, because
        // the token was issued for A's order; nothing is approved and B stays payable for its own
        // shopper.
        let b2 = new_checkout(&app, &key, &order(20000)).await;
        let b2_return = authorize(&app.client, &sandbox, &b2, &[]).await;
        let swapped = with_authentication_of(&b2_return, &a_return);
        app.client.get(&swapped).send().await.unwrap();
        let b2_after = payment(&app, &key, b2["id"].as_str().unwrap()).await;
        assert_eq!(b2_after["status"], "ready", "{b2_after}");
        assert_eq!(b2_after["failure"]["code"], "A006", "{b2_after}");
        assert!(b2_after["approvalNumber"].is_null());

        // B2's own tid with A's token: the token is bound to A's tid.
        let b3 = new_checkout(&app, &key, &order(20000)).await;
        let b3_return = authorize(&app.client, &sandbox, &b3, &[]).await;
        let swapped = with_param(
            &b3_return,
            "paymentToken",
            &param(&a_return, "paymentToken"),
        );
        app.client.get(&swapped).send().await.unwrap();
        let b3_after = payment(&app, &key, b3["id"].as_str().unwrap()).await;
        assert_eq!(b3_after["failure"]["code"], "A005", "{b3_after}");

        // The refusals did not use A's token up: A's own return pays A, once.
        app.client.get(&a_return).send().await.unwrap();
        let a_after = payment(&app, &key, a["id"].as_str().unwrap()).await;
        assert_eq!(a_after["status"], "paid", "{a_after}");
        let calls: Value = app
            .get("/sandbox/_control/calls")
            .await
            .json()
            .await
            .unwrap();
        let approved = calls
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["outcome"] == "approved")
            .count();
        assert_eq!(approved, 1, "exactly one approval: {calls}");
    }
}

#[tokio::test]
async fn another_storefronts_ids_and_keys_reach_nothing() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let key = demo_key(&app);
        let other = other_storefront_key(&app).await;
        let checkout = new_checkout(&app, &key, &order(20000)).await;
        let id = checkout["id"].as_str().unwrap();
        let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
        app.client.get(&return_url).send().await.unwrap();
        assert_eq!(payment(&app, &key, id).await["status"], "paid");

        let cancel = app
            .client
            .post(app.url(&format!("/v1/payments/{id}/cancel")))
            .bearer_auth(&other)
            .json(&json!({"reason": "남의 결제 취소"}))
            .send()
            .await
            .unwrap();
        assert_eq!(cancel.status(), StatusCode::NOT_FOUND);
        assert_eq!(error_body(cancel).await["code"], "resource_not_found");
        assert_eq!(payment(&app, &key, id).await["cancelledAmount"], 0);

        // The same Idempotency-Key in another storefront is another key: no replay of our answer.
        let send = |key: &str, body: Value| {
            app.client
                .post(app.url("/v1/checkouts"))
                .bearer_auth(key)
                .header("Idempotency-Key", "shared-idem-key")
                .json(&body)
                .send()
        };
        let ours: Value = send(&key, order(1000)).await.unwrap().json().await.unwrap();
        let theirs = send(&other, order(2000)).await.unwrap();
        assert_eq!(theirs.status(), StatusCode::CREATED);
        assert!(theirs.headers().get("idempotent-replayed").is_none());
        let theirs: Value = theirs.json().await.unwrap();
        assert_ne!(theirs["id"], ours["id"]);
        assert_eq!(theirs["amount"], 2000);

        // A key that differs in one character, or lacks its prefix, is nobody's.
        let mut near = key.clone();
        let last = near.pop();
        near.push(if last == Some('X') { 'Y' } else { 'X' });
        for wrong in [near, key.trim_start_matches("sk_test_").to_string()] {
            let response = create(&app, &wrong, &order(1000)).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{wrong}");
        }
    }
}

#[tokio::test]
async fn test_and_live_never_cross() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);

    // A live storefront cannot be made on a server that talks to the sandbox...
    let refused = paydesk::storefronts::create(
        &app.state.store,
        &app.state.config,
        paydesk::storefronts::NewStorefront {
            name: "라이브".into(),
            mid: "shopabc01m".into(),
            merchant_key: paydesk::config::SecretString::from("k"),
            cancel_password: paydesk::config::SecretString::from("p"),
        },
    )
    .await;
    assert!(refused.is_err());
    // ...and one made elsewhere (a server pointed at Innopay, same database) cannot use it.
    let live = live_storefront_key(&app).await;
    let response = create(&app, &live, &order(20000)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_body(response).await["code"], "live_key_on_sandbox");

    // A test storefront whose MID was changed to a live one is live: its test key stops working,
    // and a checkout made before cannot be approved with the new MID.
    let before = new_checkout(&app, &key, &order(20000)).await;
    let return_url = authorize(&app.client, &app.url("/sandbox"), &before, &[]).await;
    execute_sql(
        &app,
        "UPDATE storefronts SET innopay_mid = ? WHERE id = ?",
        vec!["shopabc01m".into(), "sf_demo".into()],
    )
    .await;
    let response = create(&app, &key, &order(20000)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_body(response).await["code"], "invalid_api_key");
    app.client.get(&return_url).send().await.unwrap();
    assert_eq!(
        pay_calls(&app.url("/sandbox"), &param(&return_url, "tid")).await,
        0,
        "no approval with a MID the shopper did not authenticate with"
    );
    assert_eq!(app.state.store.count_payments("sf_demo").await.unwrap(), 1);
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused_with_codes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let post = |body: reqwest::Body, content_type: &str| {
        app.client
            .post(app.url("/v1/checkouts"))
            .bearer_auth(&key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    // Declared too large, and too large without a declared length (chunked).
    let big = vec![b'x'; 300 * 1024];
    let declared = post(big.clone().into(), "application/json").await.unwrap();
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_body(declared).await["code"], "payload_too_large");
    let chunked = chunked_post(&app, "/v1/checkouts", &key, &big).await;
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked:.300}");
    assert!(chunked.contains("payload_too_large"), "{chunked:.300}");

    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let malformed: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        b"{\"goodsName\": 1, \"amount\": \"many\"}".to_vec(),
        b"{\"goodsName\": \"x\", \"amount\": 1e400, \"buyer\": {}}".to_vec(),
        b"{\"goodsName\": \"\xff\xfe\", \"amount\": 1000}".to_vec(),
        nested.into_bytes(),
    ];
    for body in malformed {
        let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).to_string();
        let response = post(body.into(), "application/json").await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{shown}");
        assert_eq!(
            error_body(response).await["code"],
            "invalid_body",
            "{shown}"
        );
    }
    // An Idempotency-Key that is not ASCII is refused, not ignored (a retry would pay twice).
    let not_ascii = app
        .client
        .post(app.url("/v1/checkouts"))
        .bearer_auth(&key)
        .header(
            "Idempotency-Key",
            reqwest::header::HeaderValue::from_bytes(b"key-\xff").unwrap(),
        )
        .json(&order(20000))
        .send()
        .await
        .unwrap();
    assert_eq!(not_ascii.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_body(not_ascii).await["code"],
        "invalid_idempotency_key"
    );

    let form = post("goodsName=x".into(), "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_body(form).await["code"], "unsupported_media_type");

    // Garbage on the shopper's returnUrl is a page, never a crash.
    let checkout = new_checkout(&app, &key, &order(20000)).await;
    let id = checkout["id"].as_str().unwrap();
    for query in [
        "amt=1e999&paymentToken=x&tid=x".to_string(),
        format!("paymentToken={}", "A".repeat(8_000)),
        "%ff%fe=%00".to_string(),
    ] {
        let response = app.get(&format!("/checkout/{id}/return?{query}")).await;
        assert!(
            !response.status().is_server_error(),
            "{query:.40}: {}",
            response.status()
        );
    }
    assert_eq!(app.state.store.count_payments("sf_demo").await.unwrap(), 1);
}

#[tokio::test]
async fn markup_from_storefronts_and_innopay_is_escaped_on_every_page() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    const SCRIPT: &str = "<script>alert('goods')</script>";
    const IMG: &str = "\"><img src=x onerror=alert(1)>";
    let assert_escaped = |what: &str, html: &str| {
        assert!(!html.contains("<script>alert"), "{what}: {html}");
        assert!(!html.contains("<img src=x"), "{what}: {html}");
    };
    let mut body = order(20000);
    body["goodsName"] = json!(SCRIPT);
    body["buyer"]["name"] = json!(IMG);
    body["mallReserved"] = json!(SCRIPT);
    let checkout: Value = create(&app, &key, &body).await.json().await.unwrap();
    let id = checkout["id"].as_str().unwrap();

    let page = text(&app.client, &app.url(&format!("/checkout/{id}"))).await;
    assert_escaped("checkout page", &page);
    assert!(page.contains("&lt;script&gt;alert"), "{page}");

    // The sandbox's payment window shows the same fields.
    let form = crate::approval::authorize_form(&checkout, &[]);
    let window = app
        .client
        .post(app.url("/sandbox/pay/window"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_escaped("payment window", &window);

    // Paid: the receipt page.
    let return_url = authorize(&app.client, &app.url("/sandbox"), &checkout, &[]).await;
    assert_escaped("return page", &text(&app.client, &return_url).await);
    let receipt = text(&app.client, &app.url(&format!("/checkout/{id}/result"))).await;
    assert_escaped("receipt", &receipt);

    // Declined by Innopay with markup in its message: the checkout page, payable again, shows it
    // as text.
    let declined: Value = create(&app, &key, &body).await.json().await.unwrap();
    crate::innopay::add_fault(
        &app,
        json!({"kind": "decline", "api": "pay", "calls": 1, "code": "C999", "message": IMG}),
    )
    .await;
    let return_url = authorize(&app.client, &app.url("/sandbox"), &declined, &[]).await;
    app.client.get(&return_url).send().await.unwrap();
    let failure_url = format!("/checkout/{}", declined["id"].as_str().unwrap());
    let failure = text(&app.client, &app.url(&failure_url)).await;
    assert_escaped("failure page", &failure);
    assert!(failure.contains("&lt;img src=x"), "{failure}");

    // Search queries: the help page escapes them; the JSON API echoes the query as data (JSON is
    // not HTML) but its snippets, which are HTML, are escaped.
    let query = url::form_urlencoded::byte_serialize(SCRIPT.as_bytes()).collect::<String>();
    let page = app.get(&format!("/help/search?q={query}")).await;
    assert_escaped("/help/search", &page.text().await.unwrap());
    let api: Value = app
        .get(&format!("/v1/help/search?q={query}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(api["query"], SCRIPT);
    for hit in api["hits"].as_array().unwrap() {
        assert_escaped("/v1/help/search snippet", hit["snippet"].as_str().unwrap());
    }
}

/// POSTs `body` with `Transfer-Encoding: chunked` (no declared length) over a raw connection and
/// returns the whole answer as text.
async fn chunked_post(app: &TestApp, path: &str, key: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(16 * 1024) {
        // The server may answer and close before the whole body is sent.
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).to_string()
}

/// The body of a GET of `url` (a whole URL), as text.
async fn text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// Headers and body of an answer, as text to search.
async fn read_all(response: reqwest::Response) -> String {
    let mut text = String::new();
    for (name, value) in response.headers() {
        text.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("")));
    }
    text.push_str(&response.text().await.unwrap_or_default());
    text
}

/// The real binary with every log enabled (`PAYDESK_LOG=trace`), everything it prints kept.
struct Captured {
    child: std::process::Child,
    base: String,
    client: reqwest::Client,
    printed: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Captured {
    fn start(env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_paydesk"))
            .env_clear()
            .env("PAYDESK_ADDR", "127.0.0.1:0")
            .env("PAYDESK_LOG", "trace")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The first line tells where it listens.
        let printed = Arc::new(Mutex::new(String::new()));
        let (listening, base) = std::sync::mpsc::channel();
        let readers = [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ]
        .into_iter()
        .map(|pipe| {
            let (printed, listening) = (printed.clone(), listening.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Some(base) = line.strip_prefix("paydesk listening on ") {
                        let _ = listening.send(base.to_string());
                    }
                    let mut printed = printed.lock().unwrap();
                    printed.push_str(&line);
                    printed.push('\n');
                }
            })
        })
        .collect();
        let base = base
            .recv_timeout(Duration::from_secs(20))
            .expect("paydesk starts");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            child,
            base,
            client,
            printed,
            readers,
        }
    }

    /// Stops it (SIGTERM) and returns all it printed.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().unwrap();
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        self.printed.lock().unwrap().clone()
    }
}

/// Runs a whole payment life (creation, approval, a lost answer resolved by inquiry, a mismatched
/// approval cancelled at once, partial and full cancels, refused keys) through the real binary with
/// every log enabled, and searches everything it printed and answered for the secrets it holds.
#[tokio::test]
async fn secrets_never_reach_logs_or_answers() {
    paydesk::install_crypto_provider();
    let db = crate::support::TestDb::create(Backend::Sqlite).await;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let merchant_key = format!("mk-{unique}");
    let cancel_password = format!("cp{}", &unique[..10]);
    let api_key = format!("sk_test_{}", &unique[..32]);
    let paydesk = Captured::start(&[
        ("PAYDESK_DATABASE_URL", db.url.as_str()),
        ("PAYDESK_DEMO_API_KEY", &api_key),
        ("PAYDESK_SANDBOX_MERCHANT_KEY", &merchant_key),
        ("PAYDESK_SANDBOX_CANCEL_PASSWORD", &cancel_password),
        ("PAYDESK_INNOPAY_READ_TIMEOUT_MS", "500"),
        ("PAYDESK_INQUIRY_GRACE_MS", "2000"),
        ("PAYDESK_RECONCILE_INTERVAL_MS", "200"),
    ]);
    let (base, client) = (paydesk.base.clone(), paydesk.client.clone());
    let mut answers = String::new();
    let create = |body: Value| {
        client
            .post(format!("{base}/v1/checkouts"))
            .bearer_auth(&api_key)
            .json(&body)
            .send()
    };
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    // Paid normally; paid after a lost answer (inquiry); approved for another amount (net cancel).
    for fault in [
        None,
        Some(json!({"kind": "drop_answer", "api": "pay", "calls": 1, "holdMs": 1500})),
        Some(json!({"kind": "amount_mismatch", "api": "pay", "calls": 1, "amt": 21000})),
    ] {
        if let Some(fault) = fault {
            add_fault_at(&format!("{base}/sandbox"), fault).await;
        }
        let created = read_all(create(order(20000)).await.unwrap()).await;
        answers.push_str(&created);
        let checkout: Value = serde_json::from_str(&created[created.find('{').unwrap()..]).unwrap();
        let return_url = authorize(&client, &format!("{base}/sandbox"), &checkout, &[]).await;
        tokens.push(param(&return_url, "paymentToken"));
        answers.push_str(&read_all(client.get(&return_url).send().await.unwrap()).await);
        ids.push(checkout["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let done = settled_at(&client, &base, &api_key, id, Duration::from_secs(20)).await;
        answers.push_str(&done.to_string());
    }
    for body in [
        json!({"amount": 5000, "reason": "부분"}),
        json!({"reason": "전체"}),
    ] {
        let response = client
            .post(format!("{base}/v1/payments/{}/cancel", ids[0]))
            .bearer_auth(&api_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        answers.push_str(&read_all(response).await);
    }
    for path in [
        "/v1/payments",
        "/sandbox/_control/calls",
        "/sandbox/_control/merchants",
        "/sandbox/_control/notis",
        "/openapi.json",
    ] {
        let response = client
            .get(format!("{base}{path}"))
            .bearer_auth(&api_key)
            .send()
            .await
            .unwrap();
        answers.push_str(&response.text().await.unwrap());
    }
    let wrong = client
        .get(format!("{base}/v1/payments"))
        .bearer_auth(format!("{}0", &api_key[..api_key.len() - 1]))
        .send()
        .await
        .unwrap();
    answers.push_str(&wrong.text().await.unwrap());

    let printed = paydesk.stop();
    assert!(
        printed.contains("approval answered") && printed.contains("TRACE"),
        "trace logs were captured: {printed:.2000}"
    );
    let signing_secret = paydesk_signing_secret(&db.url).await;
    assert!(
        signing_secret.starts_with("whsec_"),
        "the plain secret: {signing_secret}"
    );
    // The start-up banner prints the demo key and signing secret on purpose (it is how a newcomer
    // gets them); no other line may.
    let logs: String = printed
        .lines()
        .filter(|l| {
            !l.starts_with("sandbox mode: no real money moves.")
                && !l.starts_with("demo storefront signing secret: ")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut secrets = vec![
        ("merchant key", merchant_key.clone()),
        ("cancel password", cancel_password.clone()),
        ("API key", api_key.clone()),
        ("signing secret", signing_secret),
    ];
    secrets.extend(tokens.into_iter().map(|t| ("payment token", t)));
    for (what, secret) in &secrets {
        assert!(!secret.is_empty());
        assert!(!logs.contains(secret.as_str()), "the {what} is in the logs");
        assert!(
            !answers.contains(secret.as_str()),
            "the {what} is in an answer"
        );
    }
    drop(db);
}

async fn paydesk_signing_secret(db_url: &str) -> String {
    // Stored encrypted: read it as paydesk does, with the key file the server generated.
    let config = paydesk::Config::with_overrides([("database_url", db_url)]).unwrap();
    let secrets = paydesk::secrets::Secrets::load(&config).unwrap();
    let store = paydesk::store::Store::connect(&config.database, 1)
        .await
        .unwrap()
        .with_secrets(secrets);
    let storefront = paydesk::storefronts::find(&store, "sf_demo").await.unwrap();
    store.close().await;
    storefront.signing_secret.expose_secret().to_string()
}

/// The database password, with the database gone: every log line about the outage and every answer
/// during it leave it out.
#[tokio::test]
async fn the_database_password_stays_out_of_logs_while_the_database_is_down() {
    let Some(postgres) = crate::support::ThrowawayPostgres::start() else {
        return;
    };
    // The cluster trusts local connections, so any password is accepted and none is needed.
    let password = format!("pw{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let url = postgres
        .url()
        .replace("postgres@", &format!("postgres:{password}@"));
    let paydesk = Captured::start(&[
        ("PAYDESK_DATABASE_URL", url.as_str()),
        ("PAYDESK_RECONCILE_INTERVAL_MS", "100"),
        ("PAYDESK_SECRET_KEY", crate::support::TEST_SECRET_KEY),
    ]);
    let key = paydesk
        .printed
        .lock()
        .unwrap()
        .lines()
        .find_map(|l| {
            l.split("demo storefront test key: ")
                .nth(1)
                .map(str::to_string)
        })
        .expect("the demo key is printed");
    let created = paydesk
        .client
        .post(format!("{}/v1/checkouts", paydesk.base))
        .bearer_auth(&key)
        .json(&order(20000))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let checkout: Value = created.json().await.unwrap();
    postgres.stop();
    // Each waits out the pool's acquire timeout (5 s): send them together.
    let paths = [
        "/readyz".to_string(),
        "/v1/payments".to_string(),
        format!("/checkout/{}", checkout["id"].as_str().unwrap()),
    ];
    let responses = futures_util::future::join_all(paths.iter().map(|path| {
        paydesk
            .client
            .get(format!("{}{path}", paydesk.base))
            .bearer_auth(&key)
            .send()
    }))
    .await;
    let mut answers = String::new();
    for (path, response) in paths.iter().zip(responses) {
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        answers.push_str(&read_all(response).await);
    }
    postgres.start_again();
    let printed = paydesk.stop();
    assert!(
        printed.contains("not ready"),
        "the outage was logged: {printed:.3000}"
    );
    assert!(
        !printed.contains(&password),
        "the database password is in the logs"
    );
    assert!(
        !answers.contains(&password),
        "the database password is in an answer"
    );
}

/// The PostgreSQL password reaches no log line at any level, from start-up (the pool's connect
/// span) to a request, nor the one-line error of a URL that cannot be parsed. (sea-orm's connect
/// span printed the URL at trace level, and a malformed URL's error quoted it at the default level.)
#[tokio::test]
async fn the_database_password_reaches_no_log_at_any_level() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let db = crate::support::TestDb::create(Backend::Postgres).await;
    // The test cluster trusts loopback, so the password is sent and ignored.
    let password = format!("pw{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let url = db
        .url
        .replacen("postgres@", &format!("postgres:{password}@"), 1);
    assert!(url.contains(&password), "{url}");
    for level in ["error", "warn", "info", "debug", "trace"] {
        let paydesk = Captured::start(&[
            ("PAYDESK_DATABASE_URL", url.as_str()),
            ("PAYDESK_SECRET_KEY", crate::support::TEST_SECRET_KEY),
            ("PAYDESK_LOG", level),
        ]);
        let ready = paydesk
            .client
            .get(format!("{}/readyz", paydesk.base))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), StatusCode::OK, "{level}");
        let printed = paydesk.stop();
        assert!(
            !printed.contains(&password),
            "the password is in the {level} log: {printed:.4000}"
        );
    }
    for malformed in [
        format!("postgres://postgres:{password}@[::1/paydesk"),
        format!("postgres://postgres:{password}@127.0.0.1:notaport/paydesk"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_paydesk"))
            .env_clear()
            .env("PAYDESK_ADDR", "127.0.0.1:0")
            .env("PAYDESK_DATABASE_URL", &malformed)
            .env("PAYDESK_SECRET_KEY", crate::support::TEST_SECRET_KEY)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(printed.contains("PAYDESK_DATABASE_URL"), "{printed}");
        assert!(!printed.contains(&password), "{printed}");
    }
}
