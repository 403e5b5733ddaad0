//! The service skeleton: probes, spec, docs, metrics, error envelope, migrations, start-up errors and
//! graceful shutdown, on every backend.

use std::process::Command;
use std::time::Duration;

use paydesk::config::DatabaseUrl;
use paydesk::store::Store;

use crate::support::{
    Backend, TestApp, TestDb, backends, error_body, spawn_binary, tempdir, wait_with_timeout,
};

#[tokio::test]
async fn probes_spec_docs_and_metrics_answer() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;

        let health = app.get("/healthz").await;
        assert_eq!(health.status(), 200, "{backend:?}");
        assert!(health.headers().contains_key("x-request-id"));

        let ready = app.get("/readyz").await;
        assert_eq!(ready.status(), 200, "{backend:?}");
        assert_eq!(
            ready.json::<serde_json::Value>().await.unwrap()["status"],
            "ready"
        );

        let spec: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
        assert!(
            spec["openapi"].as_str().unwrap().starts_with("3."),
            "{spec}"
        );
        assert!(spec["paths"]["/readyz"].is_object());
        let yaml = app.get("/openapi.yaml").await.text().await.unwrap();
        assert!(yaml.contains("openapi: 3."), "{yaml:.200}");

        let docs = app.get("/docs").await;
        assert_eq!(docs.status(), 200);
        assert!(docs.text().await.unwrap().to_lowercase().contains("<html"));

        let metrics = app.get("/metrics").await;
        assert!(
            metrics.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let text = metrics.text().await.unwrap();
        assert!(
            text.contains(
                r#"paydesk_http_requests_total{method="GET",route="/healthz",status="2xx"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains("paydesk_http_request_duration_seconds_bucket"),
            "{text}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "support-ticket-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "support-ticket-42");

    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let generated = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(generated.len(), 32, "{generated}");
}

#[tokio::test]
async fn errors_use_the_envelope() {
    let app = TestApp::spawn(Backend::Sqlite).await;

    let missing = app.get("/v1/nothing-here").await;
    assert_eq!(missing.status(), 404);
    let error = error_body(missing).await;
    assert_eq!(error["code"], "route_not_found");
    assert_eq!(error["type"], "not_found");

    let oversized = app
        .client
        .post(app.url("/healthz"))
        .body(vec![b'x'; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), 413);
    let error = error_body(oversized).await;
    assert_eq!(error["code"], "payload_too_large");
    assert_eq!(error["param"], "body");

    let wrong_method = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(error_body(wrong_method).await["code"], "method_not_allowed");
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let url: DatabaseUrl = db.url.parse().unwrap();
        let store = Store::connect(&url, 2).await.unwrap();
        store.migrate_up().await.unwrap();
        let states = store.migration_states().await.unwrap();
        assert!(!states.is_empty());
        assert!(states.iter().all(|m| m.applied), "{backend:?} {states:?}");

        store.migrate_down(None).await.unwrap();
        assert!(
            store
                .migration_states()
                .await
                .unwrap()
                .iter()
                .all(|m| !m.applied),
            "{backend:?}"
        );
        store.migrate_up().await.unwrap();
        assert!(
            store
                .migration_states()
                .await
                .unwrap()
                .iter()
                .all(|m| m.applied)
        );
        store.close().await;
    }
}

#[tokio::test]
async fn readiness_fails_while_migrations_are_missing() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.state.store.migrate_down(Some(1)).await.unwrap();
        let response = app.get("/readyz").await;
        assert_eq!(response.status(), 503, "{backend:?}");
        assert_eq!(response.headers()["retry-after"], "5");
        let error = error_body(response).await;
        assert_eq!(error["code"], "not_ready");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("migrations not applied")
        );
        assert_eq!(error["retryable"], true);
    }
}

#[test]
fn committed_openapi_spec_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/paydesk.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let current = paydesk::app::openapi_json();
    assert!(
        committed.trim_end() == current.trim_end(),
        "openapi/paydesk.json is out of date with the code; regenerate it with \
         `cargo run -- openapi > openapi/paydesk.json` and review the diff"
    );
}

/// The spec lists the per-method rules as the code has them: the table in `PayMethodView`'s
/// description is the one `PayMethod::rules` renders.
#[test]
fn the_spec_lists_the_method_rules_table() {
    let spec: serde_json::Value = serde_json::from_str(&paydesk::app::openapi_json()).unwrap();
    let description = spec["components"]["schemas"]["PayMethodView"]["description"]
        .as_str()
        .unwrap();
    let table = paydesk::domain::PayMethod::rules_table();
    assert!(
        description.contains(table.trim_end()),
        "PayMethodView's doc comment must carry this table:\n{table}\ngot:\n{description}"
    );
}

/// Generated SDKs name their functions after `operationId`s and group them by tag: every operation has
/// a unique lowerCamelCase verb-first id and exactly one tag the document describes.
#[test]
fn every_operation_has_a_stable_operation_id_and_one_described_tag() {
    let spec: serde_json::Value = serde_json::from_str(&paydesk::app::openapi_json()).unwrap();
    let described: Vec<&str> = spec["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(
                id.starts_with(|c: char| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{method} {path}: operationId {id:?} is not lowerCamelCase"
            );
            assert!(
                seen.insert(id.to_string()),
                "operationId {id} is used twice"
            );
            let tags = operation["tags"].as_array().unwrap();
            assert_eq!(tags.len(), 1, "{method} {path} has tags {tags:?}");
            assert!(
                described.contains(&tags[0].as_str().unwrap()),
                "{method} {path}"
            );
        }
    }
    for expected in [
        "createCheckout",
        "cancelPayment",
        "listEvents",
        "getSigningSecret",
    ] {
        assert!(seen.contains(expected), "{expected}");
    }
}

/// openapi-python-client (and other generators) refuse an `allOf` over anything but an object;
/// poem-openapi writes one for a described field whose type is a named schema.
#[test]
fn every_all_of_in_the_spec_is_over_objects() {
    let spec: serde_json::Value = serde_json::from_str(&paydesk::app::openapi_json()).unwrap();
    fn walk(node: &serde_json::Value, spec: &serde_json::Value, found: &mut Vec<String>) {
        match node {
            serde_json::Value::Object(map) => {
                for part in map
                    .get("allOf")
                    .and_then(|a| a.as_array())
                    .into_iter()
                    .flatten()
                {
                    if let Some(r) = part["$ref"].as_str() {
                        let name = r.rsplit('/').next().unwrap();
                        if spec["components"]["schemas"][name]["type"] != "object" {
                            found.push(name.to_string());
                        }
                    }
                }
                map.values().for_each(|v| walk(v, spec, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, spec, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&spec, &spec, &mut found);
    assert!(found.is_empty(), "allOf over non-objects: {found:?}");
}

/// `paydesk config show` lists every declared setting with its value and origin, masks secrets
/// (given or default), and names a key no setting declares.
#[test]
fn config_show_lists_every_setting_with_its_origin_and_masks_secrets() {
    let dir = tempdir();
    let output = Command::new(env!("CARGO_BIN_EXE_paydesk"))
        .args(["config", "show"])
        .current_dir(&dir)
        .env_clear()
        .envs([
            ("PAYDESK_ADDR", "127.0.0.1:9001"),
            (
                "PAYDESK_DATABASE_URL",
                "postgres://shop:pw-123@db:5432/paydesk",
            ),
            ("PAYDESK_HELP_ANALYTICS_TOKEN", "analytics-secret"),
            ("PAYDESK_STOREFRONT_MERCHANT_KEY", "merchant-secret"),
            ("PAYDESK_ADRR", "127.0.0.1:1"),
        ])
        .output()
        .expect("run paydesk");
    let _ = std::fs::remove_dir_all(dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    for secret in [
        "pw-123",
        "analytics-secret",
        "merchant-secret",
        "sandbox-merchant-key",
    ] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
    }
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} line:\n{stdout}"))
            .to_string()
    };
    assert!(line("PAYDESK_ADDR").contains("127.0.0.1:9001  (environment)"));
    assert!(line("PAYDESK_DATABASE_URL").contains("*** (set)  (environment)"));
    assert!(line("PAYDESK_HELP_ANALYTICS_TOKEN").contains("*** (set)"));
    assert!(line("PAYDESK_WEBHOOK_POLL_MS").contains("1000  (default)"));
    assert!(line("PAYDESK_ADRR").contains("(unknown)"));
    assert_eq!(
        stdout.lines().count(),
        paydesk::config::settings::SETTINGS.len() + 1,
        "one line per declared setting and one for the unknown key"
    );
    // A bad value fails as start-up would, naming it.
    let bad = Command::new(env!("CARGO_BIN_EXE_paydesk"))
        .args(["config", "show"])
        .env_clear()
        .env("PAYDESK_WEBHOOK_POLL_MS", "soon")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("PAYDESK_WEBHOOK_POLL_MS"));
}

/// Runs the real binary and returns its exit status and stderr.
fn run_binary(env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let dir = tempdir();
    let output = Command::new(env!("CARGO_BIN_EXE_paydesk"))
        .current_dir(&dir)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run paydesk");
    let _ = std::fs::remove_dir_all(dir);
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// `paydesk serve`'s output until it says it listens, with `env`, stdout to a file (not a terminal).
fn serve_output(env: &[(&str, &str)]) -> String {
    let dir = tempdir();
    let out = dir.join("stdout.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_paydesk"))
        .current_dir(&dir)
        .env_clear()
        .env("PAYDESK_ADDR", "127.0.0.1:0")
        .env("PAYDESK_LOG", "info")
        .envs(env.iter().copied())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn paydesk");
    let started = std::time::Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.contains("paydesk listening") || started.elapsed() > Duration::from_secs(30) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
    assert!(
        text.contains("paydesk listening"),
        "paydesk did not start: {text}"
    );
    text
}

/// Written to a file, text logs carry no colour codes, and `PAYDESK_LOG_FORMAT=json` writes one JSON
/// object per log line.
#[test]
fn logs_have_no_colour_codes_off_a_terminal_and_json_lines_on_request() {
    let text = serve_output(&[]);
    assert!(text.contains(" INFO "), "no log line: {text}");
    assert!(
        !text.contains('\u{1b}'),
        "escape codes in a log file: {text:?}"
    );
    let json = serve_output(&[("PAYDESK_LOG_FORMAT", "json")]);
    let lines: Vec<serde_json::Value> = json
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!lines.is_empty(), "no JSON log line: {json}");
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
    assert!(!json.contains('\u{1b}'));
}

#[test]
fn bad_settings_stop_start_up_with_one_line() {
    let cases = [
        (("PAYDESK_ADDR", "not-an-address"), "PAYDESK_ADDR"),
        (
            ("PAYDESK_DATABASE_URL", "mysql://localhost/x"),
            "PAYDESK_DATABASE_URL",
        ),
        (
            (
                "PAYDESK_DATABASE_URL",
                "postgres://postgres@127.0.0.1:1/nothing",
            ),
            "PAYDESK_DATABASE_URL",
        ),
        (("PAYDESK_LOG_FORMAT", "xml"), "PAYDESK_LOG_FORMAT"),
        (("PAYDESK_LOG", "info,paydesk=loud"), "PAYDESK_LOG"),
    ];
    for ((key, value), named) in cases {
        // With a secret key, so that an unreachable PostgreSQL is what stops it.
        let secret_key = ("PAYDESK_SECRET_KEY", crate::support::TEST_SECRET_KEY);
        let (status, stderr) = run_binary(&[(key, value), ("PAYDESK_ADDR_UNUSED", ""), secret_key]);
        assert_eq!(status.code(), Some(1), "{key}={value}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{key}={value}: {stderr}");
        assert!(lines[0].starts_with("error: "), "{stderr}");
        assert!(lines[0].contains(named), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn serves_on_a_sqlite_file_by_default_and_stops_on_sigterm() {
    let dir = tempdir();
    let (mut child, address, mut stdout) = spawn_binary(&dir, &[("PAYDESK_LOG_FORMAT", "json")]);
    assert!(dir.join("paydesk.db").exists(), "the SQLite file appears");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        paydesk::install_crypto_provider();
        let status = reqwest::get(format!("{address}/readyz"))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    });
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = wait_with_timeout(&mut child, Duration::from_secs(15));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "graceful exit; output: {rest}"
    );
    assert!(rest.contains("paydesk stopped"), "{rest}");
    let _ = std::fs::remove_dir_all(dir);
}
