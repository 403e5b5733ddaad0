//! The quickstart as a storefront developer runs it: `docs/QUICKSTART.md` quotes `docs/quickstart.sh`
//! and `docs/quickstart-vbank.sh` exactly, and the scripts run, twice in a row, against the real
//! binary on a fresh SQLite file, reaching nothing beyond loopback.

use std::io::BufRead;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{spawn_binary, tempdir};

const DOC: &str = include_str!("../../docs/QUICKSTART.md");
const SCRIPT: &str = include_str!("../../docs/quickstart.sh");
const VBANK_SCRIPT: &str = include_str!("../../docs/quickstart-vbank.sh");
const KEY: &str = "sk_test_quickstart";

/// The fenced code blocks of a Markdown text, without their fences.
pub(crate) fn code_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.starts_with("```")) {
            (None, true) => current = Some(String::new()),
            (Some(block), true) => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), false) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, false) => {}
        }
    }
    blocks
}

#[test]
fn the_quickstart_shows_its_scripts_exactly_as_the_test_runs_them() {
    let blocks = code_blocks(DOC);
    for (name, script) in [
        ("docs/quickstart.sh", SCRIPT),
        ("docs/quickstart-vbank.sh", VBANK_SCRIPT),
    ] {
        assert!(
            blocks.iter().any(|b| b == script),
            "docs/QUICKSTART.md must quote {name} verbatim in one code block"
        );
    }
    // The doc's start command fixes the key the scripts default to.
    assert!(DOC.contains(&format!("PAYDESK_DEMO_API_KEY={KEY} cargo run --release")));
    assert!(SCRIPT.contains(&format!("PAYDESK_KEY:-{KEY}")));
    assert!(SCRIPT.contains("PAYDESK_URL:-http://127.0.0.1:8080"));
    // Commands only: the comments may say why these tools are not used.
    let commands: String = [SCRIPT, VBANK_SCRIPT]
        .iter()
        .flat_map(|s| s.lines())
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(" # ").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    for tool in ["jq", "uuidgen"] {
        assert!(
            !commands
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w == tool),
            "the scripts must not need {tool}, which Debian and Ubuntu do not install by default"
        );
    }
}

/// Runs a script with bash against `base`, as a developer's shell would; returns its output.
fn run(script: &str, base: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let output = Command::new("bash")
        .arg(&path)
        .env("PAYDESK_URL", base)
        .env("PAYDESK_KEY", KEY)
        // Loopback only: no proxy may stand between the script and paydesk or its receiver.
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn payment(base: &str, id: &str) -> Value {
    paydesk::install_crypto_provider();
    reqwest::Client::new()
        .get(format!("{base}/v1/payments/{id}"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_quickstart_runs_twice_in_a_row_on_a_fresh_database() {
    let dir = tempdir();
    let db = format!("sqlite://{}?mode=rwc", dir.join("quickstart.db").display());
    let (mut child, base, stdout) = spawn_binary(
        &dir,
        &[
            ("PAYDESK_LOG", "warn"),
            ("PAYDESK_DATABASE_URL", &db),
            ("PAYDESK_DEMO_API_KEY", KEY),
        ],
    );
    std::thread::spawn(move || for _ in stdout.lines() {});

    let mut paid = Vec::new();
    for round in 1..=2 {
        let script_base = base.clone();
        let output = tokio::task::spawn_blocking(move || run("docs/quickstart.sh", &script_base))
            .await
            .unwrap();
        let id = output
            .lines()
            .find_map(|l| l.strip_prefix("quickstart done: "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("round {round}: no payment id in\n{output}"))
            .to_string();
        let statuses: Vec<&str> = output
            .lines()
            .filter(|l| ["paid", "partially_cancelled", "cancelled"].contains(l))
            .collect();
        assert_eq!(
            statuses,
            ["paid", "partially_cancelled", "cancelled"],
            "round {round}:\n{output}"
        );
        for webhook in [
            "webhook verified payment.paid paid",
            "webhook verified payment.partially_cancelled partially_cancelled",
            "webhook verified payment.cancelled cancelled",
        ] {
            assert!(
                output.contains(webhook),
                "round {round}: {webhook}\n{output}"
            );
        }
        assert!(!output.contains("REJECTED"), "round {round}:\n{output}");
        // What the script printed is what paydesk recorded.
        let recorded = payment(&base, &id).await;
        assert_eq!(recorded["status"], "cancelled", "{recorded}");
        assert_eq!(recorded["cancelledAmount"], 20000, "{recorded}");
        assert_eq!(recorded["remainingAmount"], 0, "{recorded}");
        paid.push(id);
    }
    assert_ne!(paid[0], paid[1], "each run makes its own payment");

    let base_for_vbank = base.clone();
    let output =
        tokio::task::spawn_blocking(move || run("docs/quickstart-vbank.sh", &base_for_vbank))
            .await
            .unwrap();
    let last = output.lines().last().unwrap_or_default();
    let id = last.split_whitespace().next().unwrap_or_default();
    assert!(last.ends_with(" paid"), "{output}");
    assert_eq!(payment(&base, id).await["status"], "paid");

    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
