//! One timestamp format in the whole API: RFC 3339 in UTC with exactly six fractional digits,
//! `2026-01-02T03:04:05.123456Z`. Checked over the OpenAPI document (every `date-time` it declares,
//! every example) and over real answers on every backend, webhook bodies included: the document
//! says which fields are times, and no other string may look like a time with another offset.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::approval::payment;
use crate::checkout::{demo_key, new_checkout, order};
use crate::support::{TestApp, backends};
use crate::vbank::{FAST_CHECKS, deposit, issue, wait_until};
use crate::webhooks::{Answer, FAST, WebhookReceiver, get_json, pay, post_json, set_endpoint};

/// The analytics token of the servers in this test.
const ANALYTICS_TOKEN: &str = "timestamps-token";

/// The one format: `YYYY-MM-DDTHH:MM:SS.ffffffZ`, a real instant.
fn is_the_format(text: &str) -> bool {
    let shape = text.len() == 27
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'.',
            26 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    shape && OffsetDateTime::parse(text, &Rfc3339).is_ok()
}

/// Starts like a date and time (`YYYY-MM-DD`, then `T`, `t` or a space, then `HH:MM`).
fn looks_like_a_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 16
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
}

/// Every string in `value` (object keys excluded), with its JSON path.
fn strings(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((path.to_string(), s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                strings(v, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// The OpenAPI document, read the way a client generator would.
struct Spec(Value);

impl Spec {
    fn load() -> Self {
        Spec(serde_json::from_str(&paydesk::app::openapi_json()).unwrap())
    }

    /// `schema` with its `$ref`s followed.
    fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        while let Some(reference) = schema["$ref"].as_str() {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
            schema = &self.0["components"]["schemas"][name];
            assert!(!schema.is_null(), "dangling $ref {reference}");
        }
        schema
    }

    fn is_date_time(&self, schema: &Value) -> bool {
        let schema = self.resolve(schema);
        schema["format"] == "date-time"
            || schema["allOf"]
                .as_array()
                .is_some_and(|all| all.iter().any(|s| self.is_date_time(s)))
    }

    /// The schema of the answer `method path` gives with `status`.
    fn answer_schema(&self, method: &str, path: &str, status: u16) -> &Value {
        let content = &self.0["paths"][path][method]["responses"][status.to_string()]["content"];
        let (_, media) = content
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} {status} is not documented"))
            .iter()
            .next()
            .unwrap();
        &media["schema"]
    }

    /// Every value in `value` that `schema` declares `date-time`, with its JSON path.
    fn date_times(
        &self,
        schema: &Value,
        value: &Value,
        path: &str,
        out: &mut Vec<(String, Value)>,
    ) {
        if value.is_null() {
            return;
        }
        if self.is_date_time(schema) {
            out.push((path.to_string(), value.clone()));
            return;
        }
        let schema = self.resolve(schema);
        for key in ["allOf", "anyOf", "oneOf"] {
            for part in schema[key].as_array().into_iter().flatten() {
                self.date_times(part, value, path, out);
            }
        }
        match value {
            Value::Object(map) => {
                let properties = schema["properties"].as_object();
                for (name, field) in map {
                    let field_schema = properties
                        .and_then(|p| p.get(name))
                        .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
                    if let Some(field_schema) = field_schema {
                        self.date_times(field_schema, field, &format!("{path}.{name}"), out);
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.date_times(&schema["items"], item, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }

    /// Every schema node reachable from `schema` that is `date-time`, with where it was found; each
    /// component is entered once.
    fn date_time_nodes<'a>(
        &'a self,
        schema: &'a Value,
        at: &str,
        entered: &mut BTreeSet<String>,
        out: &mut Vec<(String, &'a Value)>,
    ) {
        if self.is_date_time(schema) {
            out.push((at.to_string(), schema));
        }
        if let Some(reference) = schema["$ref"].as_str()
            && !entered.insert(reference.to_string())
        {
            return;
        }
        let resolved = self.resolve(schema);
        for key in ["allOf", "anyOf", "oneOf"] {
            for (i, part) in resolved[key].as_array().into_iter().flatten().enumerate() {
                self.date_time_nodes(part, &format!("{at}/{key}/{i}"), entered, out);
            }
        }
        for (name, field) in resolved["properties"].as_object().into_iter().flatten() {
            self.date_time_nodes(field, &format!("{at}.{name}"), entered, out);
        }
        for key in ["items", "additionalProperties"] {
            if resolved[key].is_object() {
                self.date_time_nodes(&resolved[key], &format!("{at}/{key}"), entered, out);
            }
        }
    }

    /// The schema of every documented answer body, by where it is documented.
    fn answer_schemas(&self) -> Vec<(String, &Value)> {
        let mut all = Vec::new();
        for (path, operations) in self.0["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    for media in response["content"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|m| m.1)
                    {
                        all.push((format!("{method} {path} {status}"), &media["schema"]));
                    }
                }
            }
        }
        all
    }
}

/// Every `example`, `examples` and `default` value anywhere in the document, with its JSON path.
fn examples(value: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = format!("{path}/{k}");
                if matches!(k.as_str(), "example" | "examples" | "default") {
                    out.push((here.clone(), v.clone()));
                }
                examples(v, &here, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                examples(item, &format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_document_declares_every_answered_time_as_the_one_documented_format() {
    let spec = Spec::load();
    // Every time in every answer is the one format: a `date-time` string whose schema carries the
    // format's pattern and an example in it, not a bare `date-time` written with any offset.
    let mut times = Vec::new();
    for (at, schema) in spec.answer_schemas() {
        spec.date_time_nodes(schema, &at, &mut BTreeSet::new(), &mut times);
    }
    assert!(times.len() > 10, "{times:?}");
    let bare: Vec<_> = times
        .iter()
        .filter(|(_, node)| {
            !(node["type"] == "string"
                && node["pattern"] == paydesk::api::TIMESTAMP_PATTERN
                && node["example"].as_str().is_some_and(is_the_format))
        })
        .map(|(at, node)| format!("{at}: {node}"))
        .collect();
    assert!(bare.is_empty(), "times that are not a Timestamp: {bare:#?}");
    let described = times.iter().filter(|(_, node)| {
        node["description"]
            .as_str()
            .is_some_and(|d| d.contains("RFC 3339") && d.contains("UTC (`Z`)"))
    });
    assert!(described.count() > 0, "the format is described");

    // Examples and defaults: at a time, in the format; anywhere else, no string that looks like a
    // time in another form.
    let mut time_examples = Vec::new();
    for (_, node) in &times {
        for key in ["example", "default"] {
            if !node[key].is_null() {
                time_examples.push(node[key].clone());
            }
        }
    }
    let mut all = Vec::new();
    examples(&spec.0, "", &mut all);
    assert!(!all.is_empty());
    let mut texts = Vec::new();
    for (at, example) in &all {
        strings(example, at, &mut texts);
    }
    for example in &time_examples {
        strings(example, "time example", &mut texts);
        assert!(
            example.is_string(),
            "a time example that is no string: {example}"
        );
    }
    let wrong: Vec<_> = texts
        .iter()
        .filter(|(at, text)| {
            (at == "time example"
                || looks_like_a_time(text)
                || OffsetDateTime::parse(text, &Rfc3339).is_ok())
                && !is_the_format(text)
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "examples not in the one format: {wrong:#?}"
    );
}

/// One answer to check: what was asked, and the JSON that came back.
struct Answered {
    method: &'static str,
    path: &'static str,
    status: u16,
    body: Value,
}

impl Answered {
    fn new(method: &'static str, path: &'static str, status: StatusCode, body: Value) -> Self {
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        Answered {
            method,
            path,
            status: status.as_u16(),
            body,
        }
    }
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `GET path` until `done` holds, up to twenty seconds.
async fn poll(app: &TestApp, key: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = get_json(app, key, path).await;
        if status == StatusCode::OK && done(&body) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{path}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_time_answered_and_sent_is_rfc3339_utc_on_every_backend() {
    let spec = Spec::load();
    for backend in backends() {
        let mut settings = vec![("help_analytics_token", ANALYTICS_TOKEN)];
        settings.extend_from_slice(&FAST);
        settings.extend_from_slice(&FAST_CHECKS);
        let app = TestApp::spawn_with(backend, &settings).await;
        let key = demo_key(&app);
        let receiver = WebhookReceiver::start(Answer::Status(200)).await;
        let mut answers = Vec::new();

        let endpoint = set_endpoint(&app, &key, &receiver.url).await;
        answers.push(Answered::new(
            "put",
            "/v1/webhook-endpoint",
            StatusCode::OK,
            endpoint,
        ));

        // A card paid (approvedAt is Innopay's KST wall time), then partly cancelled.
        let created = new_checkout(&app, &key, &order(12000)).await;
        answers.push(Answered::new(
            "post",
            "/v1/checkouts",
            StatusCode::CREATED,
            created,
        ));
        let card = pay(&app, &key, 10000).await;
        let (status, cancelled) = send(
            app.client
                .post(app.url(&format!("/v1/payments/{card}/cancel")))
                .bearer_auth(&key)
                .json(&json!({"amount": 3000, "reason": "부분 반품"})),
        )
        .await;
        assert_eq!(cancelled["status"], "partially_cancelled", "{cancelled}");
        answers.push(Answered::new(
            "post",
            "/v1/payments/{id}/cancel",
            status,
            cancelled,
        ));

        // A virtual account issued with its deadline, then deposited.
        let (vbank, tid) = issue(&app, &key, 30000).await;
        let (status, made) = deposit(&app, json!({"tid": tid})).await;
        assert_eq!(status, StatusCode::OK, "{made}");
        let paid = wait_until(&app, &key, &vbank, |p| p["status"] == "paid").await;
        assert!(paid["virtualAccount"]["depositedAt"].is_string(), "{paid}");

        for id in [&card, &vbank] {
            let (status, body) = get_json(&app, &key, &format!("/v1/checkouts/{id}")).await;
            answers.push(Answered::new("get", "/v1/checkouts/{id}", status, body));
            let (status, body) = get_json(&app, &key, &format!("/v1/payments/{id}")).await;
            answers.push(Answered::new("get", "/v1/payments/{id}", status, body));
        }
        let (status, body) = get_json(&app, &key, "/v1/payments").await;
        answers.push(Answered::new("get", "/v1/payments", status, body));

        let (status, body) = post_json(&app, &key, "/v1/webhook-endpoint/rotate-secret").await;
        answers.push(Answered::new(
            "post",
            "/v1/webhook-endpoint/rotate-secret",
            status,
            body,
        ));
        let (status, body) = get_json(&app, &key, "/v1/webhook-endpoint").await;
        answers.push(Answered::new("get", "/v1/webhook-endpoint", status, body));
        let (status, body) = get_json(&app, &key, "/v1/signing-secret").await;
        answers.push(Answered::new("get", "/v1/signing-secret", status, body));

        // Paid and partly cancelled; issued and paid: four events, listed and delivered.
        let events = poll(&app, &key, "/v1/events?limit=100", |e| {
            e["data"].as_array().is_some_and(|d| d.len() == 4)
        })
        .await;
        answers.push(Answered::new("get", "/v1/events", StatusCode::OK, events));
        let delivered = poll(&app, &key, "/v1/webhook-deliveries?limit=100", |d| {
            d["data"]
                .as_array()
                .is_some_and(|d| d.len() == 4 && d.iter().all(|d| d["status"] == "delivered"))
        })
        .await;
        let first = delivered["data"][0]["id"].as_str().unwrap().to_string();
        answers.push(Answered::new(
            "get",
            "/v1/webhook-deliveries",
            StatusCode::OK,
            delivered,
        ));
        let (status, body) = post_json(
            &app,
            &key,
            &format!("/v1/webhook-deliveries/{first}/redeliver"),
        )
        .await;
        answers.push(Answered::new(
            "post",
            "/v1/webhook-deliveries/{id}/redeliver",
            status,
            body,
        ));

        // Help analytics report the period and the comments with times too.
        let (status, _) =
            send(app.client.post(app.url("/v1/help/feedback")).json(
                &json!({"slug": "isp-password", "helpful": false, "comment": "시간 표기 확인"}),
            ))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let started = Instant::now();
        let analytics = loop {
            let (status, body) = send(
                app.client
                    .get(app.url("/v1/help/analytics"))
                    .bearer_auth(ANALYTICS_TOKEN),
            )
            .await;
            if status == StatusCode::OK
                && body["comments"].as_array().is_some_and(|c| !c.is_empty())
            {
                break body;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        answers.push(Answered::new(
            "get",
            "/v1/help/analytics",
            StatusCode::OK,
            analytics,
        ));

        let hooks = receiver.wait_for(5, Duration::from_secs(20)).await;

        // What the document says are times, in the one format.
        let mut found = Vec::new();
        for answer in &answers {
            let schema = spec.answer_schema(answer.method, answer.path, answer.status);
            let at = format!("{} {}", answer.method.to_uppercase(), answer.path);
            spec.date_times(schema, &answer.body, &at, &mut found);
        }
        let event_schema = json!({"$ref": "#/components/schemas/WebhookEvent"});
        for hook in &hooks {
            spec.date_times(&event_schema, &hook.json, "webhook", &mut found);
        }
        let wrong: Vec<_> = found
            .iter()
            .filter(|(_, v)| !v.as_str().is_some_and(is_the_format))
            .collect();
        assert!(
            wrong.is_empty(),
            "{backend:?}: times not in the one format: {wrong:#?}"
        );
        let fields: BTreeSet<&str> = found
            .iter()
            .map(|(path, _)| path.rsplit('.').next().unwrap())
            .map(|name| name.split('[').next().unwrap())
            .collect();
        for expected in [
            "approvedAt",
            "attemptedAt",
            "createdAt",
            "depositedAt",
            "dueAt",
            "expiresAt",
            "finishedAt",
            "nextAttemptAt",
            "previousSecretExpiresAt",
            "since",
            "updatedAt",
        ] {
            assert!(
                fields.contains(expected),
                "{backend:?}: no {expected} seen: {fields:?}"
            );
        }

        // Nothing else in those answers looks like a time with another offset or form.
        let mut texts = Vec::new();
        for answer in &answers {
            strings(&answer.body, answer.path, &mut texts);
        }
        for hook in &hooks {
            strings(&hook.json, "webhook", &mut texts);
        }
        let odd: Vec<_> = texts
            .iter()
            .filter(|(_, text)| {
                OffsetDateTime::parse(text, &Rfc3339).is_ok() && !is_the_format(text)
            })
            .collect();
        assert!(
            odd.is_empty(),
            "{backend:?}: RFC 3339 times not in UTC: {odd:#?}"
        );

        // The same instant is the same string, whether read back from the database or written into
        // the webhook body when the change was recorded.
        let paid_card = payment(&app, &key, &card).await;
        let paid_hook = hooks
            .iter()
            .find(|h| h.json["type"] == "payment.paid" && h.json["data"]["id"] == card.as_str())
            .expect("the card's payment.paid webhook");
        for field in ["approvedAt", "createdAt"] {
            assert_eq!(
                paid_hook.json["data"][field], paid_card[field],
                "{backend:?}: {field}"
            );
        }
        app.stop().await;
    }
}
