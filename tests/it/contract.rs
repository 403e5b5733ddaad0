//! The OpenAPI document promises nothing paydesk cannot answer: every error status it documents for an
//! operation is reached here, and the `error.code` that comes back is one its description names.
//! (Schemathesis, in `scripts/fuzz-api.sh`, checks the other direction: every answer is documented.)

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::approval::authorize;
use crate::checkout::{demo_key, new_checkout, order};
use crate::innopay::add_fault;
use crate::support::{Backend, TestApp, ThrowawayPostgres, error_body, execute_sql};
use paydesk::config::ExposeSecret;

/// The analytics token of the servers in this test.
const ANALYTICS_TOKEN: &str = "content-team-token";

/// `(method, path template, status)` of every documented error answer of every operation.
fn documented_errors(spec: &Value) -> BTreeSet<(String, String, u16)> {
    let mut all = BTreeSet::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            for status in operation["responses"].as_object().unwrap().keys() {
                let status: u16 = status.parse().expect("exact statuses, no 4XX ranges");
                if status >= 400 {
                    all.insert((method.to_uppercase(), path.clone(), status));
                }
            }
        }
    }
    all
}

/// Checks an answer against the document: the status is listed and its description names the code.
struct Reached<'a> {
    spec: &'a Value,
    seen: BTreeSet<(String, String, u16)>,
}

impl Reached<'_> {
    async fn check(&mut self, method: &str, path: &str, response: reqwest::Response) {
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").is_some();
        let error = error_body(response).await;
        let description = self.spec["paths"][path][method.to_lowercase()]["responses"]
            [status.to_string()]["description"]
            .as_str()
            .unwrap_or_else(|| {
                panic!("{method} {path} answered {status}, not documented: {error}")
            });
        let code = error["code"].as_str().unwrap();
        assert!(
            description.contains(&format!("`{code}`")),
            "{method} {path} {status}: code {code} is not in {description:?}"
        );
        if status == 503 {
            assert!(retry_after, "{method} {path} 503 without Retry-After");
        }
        self.seen
            .insert((method.to_string(), path.to_string(), status));
    }
}

/// A live storefront (a non-test MID) in `app`'s database, created as a server pointed at Innopay
/// would; returns its `sk_live_` key.
pub async fn live_storefront_key(app: &TestApp) -> String {
    let live_config =
        paydesk::Config::with_overrides([("innopay_api_url", "https://api.innopay.co.kr")])
            .unwrap();
    let created = paydesk::storefronts::create(
        &app.state.store,
        &live_config,
        paydesk::storefronts::NewStorefront {
            name: "라이브 상점".into(),
            mid: "shopabc01m".into(),
            merchant_key: paydesk::config::SecretString::from("live-merchant-key"),
            cancel_password: paydesk::config::SecretString::from("999999"),
        },
    )
    .await
    .unwrap();
    let key = created.api_key.expose_secret().to_string();
    assert!(key.starts_with("sk_live_"), "{key}");
    key
}

/// An operation as `(method, concrete path, documented path)`.
type Operation = (&'static str, String, &'static str);

/// Every operation behind an API key; `payment` is the payment read and cancelled. The delivery id
/// need not exist: these are checked for answers that come before any lookup.
fn authenticated_operations(payment: &str) -> Vec<Operation> {
    vec![
        ("POST", "/v1/checkouts".into(), "/v1/checkouts"),
        (
            "GET",
            format!("/v1/checkouts/{payment}"),
            "/v1/checkouts/{id}",
        ),
        ("GET", "/v1/payments".into(), "/v1/payments"),
        ("GET", "/v1/banks".into(), "/v1/banks"),
        (
            "GET",
            format!("/v1/payments/{payment}"),
            "/v1/payments/{id}",
        ),
        (
            "POST",
            format!("/v1/payments/{payment}/cancel"),
            "/v1/payments/{id}/cancel",
        ),
        ("PUT", "/v1/webhook-endpoint".into(), "/v1/webhook-endpoint"),
        ("GET", "/v1/webhook-endpoint".into(), "/v1/webhook-endpoint"),
        (
            "POST",
            "/v1/webhook-endpoint/rotate-secret".into(),
            "/v1/webhook-endpoint/rotate-secret",
        ),
        ("GET", "/v1/signing-secret".into(), "/v1/signing-secret"),
        ("GET", "/v1/events".into(), "/v1/events"),
        (
            "GET",
            "/v1/webhook-deliveries".into(),
            "/v1/webhook-deliveries",
        ),
        (
            "POST",
            "/v1/webhook-deliveries/whd_nothing/redeliver".into(),
            "/v1/webhook-deliveries/{id}/redeliver",
        ),
    ]
}

/// Every operation that touches the database: the authenticated ones and the help operations that
/// record or report analytics (search, articles and suggestions never do: their analytics are
/// written off the request path).
fn database_operations(payment: &str) -> Vec<Operation> {
    let mut operations = authenticated_operations(payment);
    operations.extend([
        ("POST", "/v1/help/clicks".into(), "/v1/help/clicks"),
        ("POST", "/v1/help/feedback".into(), "/v1/help/feedback"),
        ("GET", "/v1/help/analytics".into(), "/v1/help/analytics"),
    ]);
    operations
}

/// The request of an `Operation` with a body that parses where it takes one, and no credentials.
fn anonymous(app: &TestApp, method: &str, path: &str) -> reqwest::RequestBuilder {
    let url = app.url(path);
    match method {
        "POST" => app.client.post(url).json(&valid_body(path)),
        "PUT" => app.client.put(url).json(&valid_body(path)),
        _ => app.client.get(url),
    }
}

/// `anonymous` with `key` as the bearer token.
fn request(app: &TestApp, method: &str, path: &str, key: &str) -> reqwest::RequestBuilder {
    anonymous(app, method, path).bearer_auth(key)
}

/// `request` with the operation's credential: the analytics token for the help operations, `key`
/// for the rest.
fn credentialed(
    app: &TestApp,
    method: &str,
    path: &str,
    template: &str,
    key: &str,
) -> reqwest::RequestBuilder {
    let token = if template.starts_with("/v1/help/") {
        ANALYTICS_TOKEN
    } else {
        key
    };
    request(app, method, path, token)
}

/// A body that parses, so the answer comes from what the handler does with it.
fn valid_body(path: &str) -> Value {
    match path {
        "/v1/checkouts" => order(1000),
        "/v1/webhook-endpoint" => json!({"url": "https://shop.example/hooks"}),
        "/v1/help/clicks" => json!({"slug": "popup-blocked", "source": "widget"}),
        "/v1/help/feedback" => json!({"slug": "popup-blocked", "helpful": true}),
        _ if path.ends_with("/cancel") => json!({"reason": "x"}),
        _ => json!({}),
    }
}

/// A body of each broken kind every JSON operation refuses: not JSON, too large, not
/// `application/json`.
fn broken_bodies() -> [(&'static str, Vec<u8>); 3] {
    [
        ("application/json", b"{\"goodsName\": ".to_vec()),
        ("application/json", vec![b' '; 300 * 1024]),
        ("text/plain", b"{}".to_vec()),
    ]
}

#[tokio::test]
async fn every_documented_error_status_is_reachable() {
    let spec: Value = serde_json::from_str(&paydesk::app::openapi_json()).unwrap();
    let mut reached = Reached {
        spec: &spec,
        seen: BTreeSet::new(),
    };
    let with_token = [
        ("help_analytics_token", ANALYTICS_TOKEN),
        ("metrics_token", ANALYTICS_TOKEN),
    ];
    let app = TestApp::spawn_with(Backend::Sqlite, &with_token).await;
    let key = demo_key(&app);
    let client = &app.client;
    let post = |path: &str| client.post(app.url(path)).bearer_auth(&key);
    let put = |path: &str| client.put(app.url(path)).bearer_auth(&key);
    let get = |path: &str| client.get(app.url(path)).bearer_auth(&key);

    // 404 before the storefront has a webhook endpoint; then one that refuses connections, so the
    // payment below leaves a delivery to redeliver.
    let endpoint = "/v1/webhook-endpoint";
    let r = get(endpoint).send();
    reached.check("GET", endpoint, r.await.unwrap()).await;
    let set = put(endpoint)
        .json(&json!({"url": "http://127.0.0.1:9/hooks"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);

    // A paid payment, for the cancel answers.
    let checkout = new_checkout(&app, &key, &order(20000)).await;
    let paid = checkout["id"].as_str().unwrap().to_string();
    let return_url = authorize(client, &app.url("/sandbox"), &checkout, &[]).await;
    client.get(&return_url).send().await.unwrap();
    let ready = new_checkout(&app, &key, &order(3000)).await;
    let ready = ready["id"].as_str().unwrap().to_string();
    let cancel = format!("/v1/payments/{paid}/cancel");

    let checkouts = "/v1/checkouts";
    let one_checkout = "/v1/checkouts/{id}";
    let payments = "/v1/payments";
    let one_payment = "/v1/payments/{id}";
    let cancel_path = "/v1/payments/{id}/cancel";

    // Broken bodies: 400 `invalid_body`, 413, 415 on every operation that takes JSON.
    for (method, path, template) in [
        ("POST", checkouts.to_string(), checkouts),
        ("POST", cancel.clone(), cancel_path),
        ("PUT", endpoint.to_string(), endpoint),
        ("POST", "/v1/help/clicks".to_string(), "/v1/help/clicks"),
        ("POST", "/v1/help/feedback".to_string(), "/v1/help/feedback"),
    ] {
        let url = app.url(&path);
        for (content_type, body) in broken_bodies() {
            let r = client
                .request(method.parse().unwrap(), &url)
                .bearer_auth(&key)
                .header("content-type", content_type)
                .body(body)
                .send();
            reached.check(method, template, r.await.unwrap()).await;
        }
    }

    let mut taken = order(1000);
    taken["orderId"] = checkout["orderId"].clone();
    let r = post(checkouts).json(&taken).send();
    reached.check("POST", checkouts, r.await.unwrap()).await;

    for (path, template) in [
        (format!("/v1/checkouts/{ready}"), one_checkout),
        (format!("/v1/payments/{ready}"), one_payment),
    ] {
        let r = get(&path.replace(&ready, "pay_nothing")).send();
        reached.check("GET", template, r.await.unwrap()).await;
        let r = get(&path.replace(&ready, "%FF%FE")).send();
        reached.check("GET", template, r.await.unwrap()).await;
    }
    let r = get("/v1/payments?limit=0").send();
    reached.check("GET", payments, r.await.unwrap()).await;

    add_fault(
        &app,
        json!({"kind": "decline", "api": "cancel", "calls": 1, "code": "2011", "message": "취소 비밀번호 오류"}),
    )
    .await;
    let r = post(&cancel).json(&json!({"reason": "x"})).send();
    reached.check("POST", cancel_path, r.await.unwrap()).await;
    let r = post("/v1/payments/pay_nothing/cancel")
        .json(&json!({"reason": "x"}))
        .send();
    reached.check("POST", cancel_path, r.await.unwrap()).await;
    let r = post(&format!("/v1/payments/{ready}/cancel"))
        .json(&json!({"reason": "x"}))
        .send();
    reached.check("POST", cancel_path, r.await.unwrap()).await;

    // Webhooks.
    let r = put(endpoint)
        .json(&json!({"url": "ftp://shop.example/hooks"}))
        .send();
    reached.check("PUT", endpoint, r.await.unwrap()).await;
    for (path, template) in [
        ("/v1/events?limit=0", "/v1/events"),
        ("/v1/events?after=evt_nothing", "/v1/events"),
        ("/v1/webhook-deliveries?limit=0", "/v1/webhook-deliveries"),
    ] {
        let r = get(path).send();
        reached.check("GET", template, r.await.unwrap()).await;
    }
    let redeliver = "/v1/webhook-deliveries/{id}/redeliver";
    for id in ["%FF%FE", "whd_nothing"] {
        let r = post(&format!("/v1/webhook-deliveries/{id}/redeliver")).send();
        reached.check("POST", redeliver, r.await.unwrap()).await;
    }
    let deliveries: Value = get("/v1/webhook-deliveries")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let delivery = deliveries["data"][0]["id"]
        .as_str()
        .expect("the payment's delivery");
    execute_sql(
        &app,
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'answered 410 Gone'",
        vec![],
    )
    .await;
    let r = post(&format!("/v1/webhook-deliveries/{delivery}/redeliver")).send();
    reached.check("POST", redeliver, r.await.unwrap()).await;

    // Help.
    for (path, template) in [
        ("/v1/help/search", "/v1/help/search"),
        ("/v1/help/articles/%FF%FE", "/v1/help/articles/{slug}"),
        ("/v1/help/articles/nope", "/v1/help/articles/{slug}"),
        ("/v1/help/suggest?limit=0", "/v1/help/suggest"),
        ("/v1/help/analytics?days=0", "/v1/help/analytics"),
    ] {
        let r = client
            .get(app.url(path))
            .bearer_auth(ANALYTICS_TOKEN)
            .send();
        reached.check("GET", template, r.await.unwrap()).await;
    }
    for path in ["/v1/help/clicks", "/v1/help/feedback"] {
        let r = client
            .post(app.url(path))
            .json(&json!({"slug": "nope", "helpful": true, "source": "widget"}))
            .send();
        reached.check("POST", path, r.await.unwrap()).await;
    }
    let r = client.get(app.url("/v1/help/analytics")).send();
    reached
        .check("GET", "/v1/help/analytics", r.await.unwrap())
        .await;
    let r = client.get(app.url("/metrics")).send();
    reached.check("GET", "/metrics", r.await.unwrap()).await;
    let without_token = TestApp::spawn(Backend::Sqlite).await;
    let r = without_token.get("/v1/help/analytics").await;
    reached.check("GET", "/v1/help/analytics", r).await;
    drop(without_token);

    // 401: no key, and a key nobody issued.
    for (method, path, template) in authenticated_operations(&paid) {
        let r = request(&app, method, &path, "sk_test_nope").send();
        reached.check(method, template, r.await.unwrap()).await;
        let r = anonymous(&app, method, &path).send();
        reached.check(method, template, r.await.unwrap()).await;
    }

    // 403: a live storefront's key, sent to this server that talks to the sandbox.
    let live = live_storefront_key(&app).await;
    for (method, path, template) in authenticated_operations(&paid) {
        let response = request(&app, method, &path, &live).send().await.unwrap();
        reached.check(method, template, response).await;
    }

    // 500: a database that answers but fails every query on a table (renamed away): payments for
    // the payment operations, storefronts (read by every key check) for the rest, and the help
    // analytics tables.
    for table in [
        "payments",
        "storefronts",
        "help_searches",
        "help_views",
        "help_feedback",
    ] {
        execute_sql(
            &app,
            &format!("ALTER TABLE {table} RENAME TO {table}_gone"),
            vec![],
        )
        .await;
    }
    for (method, path, template) in database_operations(&paid) {
        let response = credentialed(&app, method, &path, template, &key)
            .send()
            .await
            .unwrap();
        reached.check(method, template, response).await;
    }
    drop(app);

    // 503: the database is gone (a PostgreSQL cluster of the test's own, stopped).
    let postgres = ThrowawayPostgres::start();
    if let Some(postgres) = &postgres {
        let app = TestApp::spawn_on(&postgres.url(), None, &with_token).await;
        let key = demo_key(&app);
        let id = new_checkout(&app, &key, &order(20000)).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        postgres.stop();
        // Each waits out the pool's acquire timeout (5 s): send them together.
        let mut operations = vec![("GET", "/readyz".to_string(), "/readyz")];
        operations.extend(database_operations(&id));
        let answers =
            futures_util::future::join_all(operations.iter().map(|(method, path, template)| {
                credentialed(&app, method, path, template, &key).send()
            }))
            .await;
        for ((method, path, template), response) in operations.iter().zip(answers) {
            let response = response.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{method} {path}"
            );
            reached.check(method, template, response).await;
        }
    }

    let missing: Vec<_> = documented_errors(&spec)
        .difference(&reached.seen)
        .cloned()
        .collect();
    if postgres.is_none() && missing.iter().all(|(.., status)| *status == 503) {
        eprintln!("SKIPPED (no throwaway PostgreSQL): 503 not reached for {missing:?}");
        return;
    }
    assert!(
        missing.is_empty(),
        "documented but never reached: {missing:?}"
    );
}

/// The schema `node` stands for, through `$ref` and poem-openapi's `allOf: [{$ref}]` wrappers.
fn resolve<'a>(spec: &'a Value, node: &'a Value) -> &'a Value {
    let reference = node["$ref"]
        .as_str()
        .or_else(|| node["allOf"][0]["$ref"].as_str());
    match reference {
        Some(r) => resolve(
            spec,
            &spec["components"]["schemas"][r.rsplit('/').next().unwrap()],
        ),
        None => node,
    }
}

/// A value of another JSON type than `schema`'s.
fn wrong_type(schema: &Value) -> Value {
    match schema["type"].as_str() {
        Some("string") => json!(12345),
        Some("integer" | "number") => json!("12"),
        Some("boolean") => json!("yes"),
        Some("array") => json!({"not": "a list"}),
        _ => json!("not an object"),
    }
}

/// `(body, expected param, what)` for each mistake `body` can be turned into by one change under
/// `at`: every field given with the wrong type, every required field left out, every enum given a
/// value it does not have.
fn mistakes(spec: &Value, schema: &Value, body: &Value, at: &str) -> Vec<(Value, String, String)> {
    let schema = resolve(spec, schema);
    let mut found = Vec::new();
    let Some(properties) = schema["properties"].as_object() else {
        return found;
    };
    let path = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    let with = |key: &str, value: Option<Value>| {
        let mut changed = body.clone();
        match value {
            Some(v) => changed[key] = v,
            None => {
                changed.as_object_mut().unwrap().remove(key);
            }
        }
        changed
    };
    for (key, property) in properties {
        let property = resolve(spec, property);
        if property.get("enum").is_some() {
            found.push((
                with(key, Some(json!("NOT_ONE_OF_THEM"))),
                path(key),
                "unknown enum value".into(),
            ));
        }
        let Some(given) = body.get(key) else { continue };
        found.push((
            with(key, Some(wrong_type(property))),
            path(key),
            "wrong type".into(),
        ));
        if given.is_object() {
            for (inner, param, what) in mistakes(spec, property, given, &path(key)) {
                found.push((with(key, Some(inner)), param, what));
            }
        }
    }
    for required in schema["required"].as_array().into_iter().flatten() {
        let key = required.as_str().unwrap();
        found.push((with(key, None), path(key), "missing required field".into()));
    }
    found
}

/// Every operation that takes a JSON body answers a body that breaks its schema with `400`, `param`
/// set to the JSON path of the field at fault, a message naming it, and a code the operation
/// documents; the cases come from the published schema itself, so a new field is covered too.
#[tokio::test]
async fn body_errors_name_the_json_path_of_the_field_at_fault_on_every_operation_with_a_body() {
    let spec: Value = serde_json::from_str(&paydesk::app::openapi_json()).unwrap();
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let mut covered = Vec::new();
    for (template, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let Some(schema) =
                operation["requestBody"]["content"]["application/json; charset=utf-8"]
                    .get("schema")
            else {
                continue;
            };
            let path = template.replace("{id}", "pay_nothing");
            let valid = valid_body(&path);
            let cases = mistakes(&spec, schema, &valid, "");
            let kinds: BTreeSet<&str> = cases.iter().map(|(_, _, what)| what.as_str()).collect();
            assert!(
                kinds.contains("wrong type") && kinds.contains("missing required field"),
                "{method} {template}: {kinds:?}"
            );
            let description = operation["responses"]["400"]["description"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {template} documents no 400"));
            for (body, param, what) in &cases {
                let response = request(&app, "GET", &path, &key)
                    .json(body)
                    .build()
                    .map(|mut r| {
                        *r.method_mut() = method.to_uppercase().parse().unwrap();
                        r
                    })
                    .unwrap();
                let response = app.client.execute(response).await.unwrap();
                let status = response.status();
                let error = error_body(response).await;
                let context = format!("{method} {template}, {what} at {param}: {body} → {error}");
                assert_eq!(status, StatusCode::BAD_REQUEST, "{context}");
                assert_eq!(error["type"], "invalid_request", "{context}");
                assert_eq!(error["param"], param.as_str(), "{context}");
                let message = error["message"].as_str().unwrap();
                assert!(message.contains(&format!("`{param}`")), "{context}");
                assert!(!message.contains("occurred while parsing"), "{context}");
                let code = error["code"].as_str().unwrap();
                assert!(description.contains(&format!("`{code}`")), "{context}");
            }
            covered.push((method.clone(), template.clone(), kinds.len()));
        }
    }
    let names: Vec<String> = covered.iter().map(|(m, t, _)| format!("{m} {t}")).collect();
    assert_eq!(
        names,
        [
            "post /v1/checkouts",
            "post /v1/help/clicks",
            "post /v1/help/feedback",
            "post /v1/payments/{id}/cancel",
            "put /v1/webhook-endpoint",
        ],
        "every operation with a body is covered"
    );
    // Where the schema has an enum, a value outside it is among the cases.
    for (m, t, kinds) in &covered {
        if t == "/v1/checkouts" || t == "/v1/help/clicks" {
            assert_eq!(*kinds, 3, "{m} {t}");
        }
    }
}

/// A wrong or missing API key is `401` whatever the body holds: the key is checked before the body
/// is read, so a caller with a bad key learns nothing from how its body is judged.
#[tokio::test]
async fn a_bad_api_key_is_401_before_any_body_error() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let bad_bodies: [&[u8]; 4] = [
        b"{\"goodsName\": ",
        b"{\"amount\": \"a lot\"}",
        b"{\"url\": 1, \"url\": 2}",
        b"",
    ];
    for (method, path) in [
        ("POST", "/v1/checkouts"),
        ("POST", "/v1/payments/pay_nothing/cancel"),
        ("PUT", "/v1/webhook-endpoint"),
    ] {
        for body in bad_bodies {
            for key in [Some("sk_test_wrong00000000000000000000000000"), None] {
                let mut builder = app
                    .client
                    .request(method.parse().unwrap(), app.url(path))
                    .header("content-type", "application/json")
                    .body(body.to_vec());
                if let Some(key) = key {
                    builder = builder.bearer_auth(key);
                }
                let response = builder.send().await.unwrap();
                let status = response.status();
                let error = error_body(response).await;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} key {key:?} body {:?}: {error}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }
}
