//! Secrets at rest: what a database dump yields (no usable credential), start-up with a missing or
//! wrong key, the generated key file of the embedded default, and `paydesk secrets rotate` while a
//! server keeps answering.

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use paydesk::config::ExposeSecret;
use sea_orm::{ConnectionTrait, Database};
use sha2::{Digest, Sha256};

use crate::support::{
    Backend, TEST_SECRET_KEY, TestApp, TestDb, backends, execute_sql, spawn_binary, tempdir,
    wait_with_timeout,
};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The key id paydesk writes into every value it encrypts: the first 8 hex digits of the key's
/// SHA-256, computed here independently of paydesk.
fn key_id(key_b64: &str) -> String {
    let bytes = B64.decode(key_b64.trim()).expect("base64 key");
    hex::encode(Sha256::digest(bytes))[..8].to_string()
}

/// Every stored secret of every storefront, straight from the table: (row id, column, raw value).
async fn raw_secrets(db_url: &str) -> Vec<(String, &'static str, String)> {
    let conn = Database::connect(db_url).await.expect("connect");
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT id, merchant_key, cancel_password, signing_secret, previous_signing_secret \
             FROM storefronts",
        ))
        .await
        .expect("raw select");
    conn.close().await.ok();
    let mut all = Vec::new();
    for row in rows {
        let id: String = row.try_get("", "id").unwrap();
        for column in [
            "merchant_key",
            "cancel_password",
            "signing_secret",
            "previous_signing_secret",
        ] {
            let value: Option<String> = row.try_get("", column).unwrap();
            if let Some(value) = value {
                all.push((id.clone(), column, value));
            }
        }
    }
    all
}

fn assert_all_under(raw: &[(String, &str, String)], key_id: &str) {
    assert!(!raw.is_empty());
    let prefix = format!("pdenc:v1:{key_id}:");
    for (id, column, value) in raw {
        assert!(
            value.starts_with(&prefix),
            "{id}.{column} is not encrypted under key {key_id}: {value}"
        );
    }
}

/// Creates a storefront with every kind of secret: merchant key, cancel password, signing secret and
/// (after a rotation) a previous signing secret. Returns its id and the plaintexts.
async fn storefront_with_every_secret(app: &TestApp) -> (String, Vec<String>) {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let merchant_key = format!("merchant-key-{unique}");
    let cancel_password = format!("pw{}", &unique[..12]);
    let store = &app.state.store;
    let created = paydesk::storefronts::create(
        store,
        &app.state.config,
        paydesk::storefronts::NewStorefront {
            name: "비밀 상점".into(),
            mid: "testpay01m".into(),
            merchant_key: paydesk::config::SecretString::from(merchant_key.clone()),
            cancel_password: paydesk::config::SecretString::from(cancel_password.clone()),
        },
    )
    .await
    .expect("storefront created");
    let id = created.storefront.id.clone();
    let first_secret = created
        .storefront
        .signing_secret
        .expose_secret()
        .to_string();
    let rotated =
        paydesk::storefronts::rotate_signing_secret(store, &id, Duration::from_secs(3600))
            .await
            .expect("signing secret rotated");
    let second_secret = rotated.signing_secret.expose_secret().to_string();
    // What paydesk reads back is what was stored: encryption is invisible above the store.
    let found = paydesk::storefronts::find(store, &id).await.unwrap();
    assert_eq!(found.merchant_key.expose_secret(), &merchant_key);
    assert_eq!(found.cancel_password.expose_secret(), &cancel_password);
    assert_eq!(found.signing_secret.expose_secret(), &second_secret);
    assert_eq!(
        found
            .previous_signing_secret
            .as_ref()
            .map(|s| s.expose_secret()),
        Some(first_secret.as_str())
    );
    (
        id,
        vec![merchant_key, cancel_password, first_secret, second_secret],
    )
}

/// A database dump alone yields no usable credential: the raw columns hold neither the plaintext nor
/// its base64 or hex, only `pdenc:v1:<key id>:...`, on both backends.
#[tokio::test]
async fn a_database_dump_holds_no_usable_credential() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, &[("secret_key", TEST_SECRET_KEY)]).await;
        let (id, plaintexts) = storefront_with_every_secret(&app).await;
        let raw = raw_secrets(&app.db_url).await;
        let mine: Vec<_> = raw
            .iter()
            .filter(|(row, _, _)| *row == id)
            .cloned()
            .collect();
        assert_eq!(mine.len(), 4, "{backend:?}: {mine:?}");
        assert_all_under(&raw, &key_id(TEST_SECRET_KEY));
        for plaintext in &plaintexts {
            // The signing secrets are `whsec_<base64>`: their key bytes must not show either.
            let bare = plaintext.trim_start_matches("whsec_");
            let mut forms = vec![
                plaintext.clone(),
                bare.to_string(),
                B64.encode(plaintext),
                hex::encode(plaintext),
            ];
            if let Ok(bytes) = B64.decode(bare) {
                forms.push(hex::encode(bytes));
            }
            for (row, column, value) in &raw {
                for form in &forms {
                    assert!(
                        !value.contains(form.as_str()),
                        "{backend:?}: {row}.{column} shows a secret: {value}"
                    );
                }
            }
        }
        app.stop().await;
    }
}

/// Values stored before encryption existed (plaintext) are encrypted at the next start-up, in place,
/// and still read the same.
#[tokio::test]
async fn plaintext_from_before_encryption_is_encrypted_at_start_up() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let overrides = [("secret_key", TEST_SECRET_KEY)];
        let first = TestApp::spawn_on(&db.url, None, &overrides).await;
        execute_sql(
            &first,
            "UPDATE storefronts SET merchant_key = ?, cancel_password = ?, signing_secret = ?, \
             previous_signing_secret = NULL WHERE id = ?",
            vec![
                "old-plain-merchant-key".into(),
                "old-plain-pw".into(),
                "whsec_b2xkLXBsYWluLXNpZ25pbmctc2VjcmV0".into(),
                "sf_demo".into(),
            ],
        )
        .await;
        first.stop().await;
        let second = TestApp::spawn_on(&db.url, None, &overrides).await;
        assert_all_under(&raw_secrets(&db.url).await, &key_id(TEST_SECRET_KEY));
        let demo = paydesk::storefronts::find(&second.state.store, "sf_demo")
            .await
            .unwrap();
        assert_eq!(demo.merchant_key.expose_secret(), "old-plain-merchant-key");
        assert_eq!(demo.cancel_password.expose_secret(), "old-plain-pw");
        assert_eq!(
            demo.signing_secret.expose_secret(),
            "whsec_b2xkLXBsYWluLXNpZ25pbmctc2VjcmV0"
        );
        second.stop().await;
    }
}

/// Runs the binary in `dir` until it exits (or `limit`), with stdout and stderr kept in files.
fn run_to_exit(dir: &Path, env: &[(&str, &str)], limit: Duration) -> (Option<ExitStatus>, String) {
    let err_path = dir.join("stderr.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_paydesk"))
        .current_dir(dir)
        .env_clear()
        .env("PAYDESK_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("spawn paydesk");
    let status = wait_with_timeout(&mut child, limit);
    (status, std::fs::read_to_string(err_path).unwrap())
}

/// Start-up refusals are one line naming the setting, with a non-zero exit.
fn assert_refused(status: Option<ExitStatus>, stderr: &str, names: &[&str]) {
    let status = status.expect("paydesk should refuse to start, but kept running");
    assert!(!status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    for name in names {
        assert!(lines[0].contains(name), "{name} not in: {stderr}");
    }
}

/// Instances sharing one PostgreSQL must share one key, so paydesk cannot make one up there.
#[tokio::test]
async fn postgres_without_a_secret_key_refuses_to_start() {
    if !backends().contains(&Backend::Postgres) {
        eprintln!("SKIPPED: PAYDESK_TEST_POSTGRES_URL is not set");
        return;
    }
    let db = TestDb::create(Backend::Postgres).await;
    let dir = tempdir();
    let (status, stderr) = run_to_exit(
        &dir,
        &[("PAYDESK_DATABASE_URL", db.url.as_str())],
        Duration::from_secs(20),
    );
    assert_refused(
        status,
        &stderr,
        &["PAYDESK_SECRET_KEY", "PAYDESK_SECRET_KEY_FILE"],
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A database written under key A, started with key B: refused in one line that names A's key id
/// and the settings, before anything is served.
#[tokio::test]
async fn a_wrong_secret_key_refuses_to_start() {
    let other_key = B64.encode([7u8; 32]);
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let db_url = db.url.clone();
        let app = TestApp::spawn_on(&db_url, None, &[("secret_key", TEST_SECRET_KEY)]).await;
        storefront_with_every_secret(&app).await;
        app.stop().await;
        let dir = tempdir();
        let (status, stderr) = run_to_exit(
            &dir,
            &[
                ("PAYDESK_DATABASE_URL", db_url.as_str()),
                ("PAYDESK_SECRET_KEY", other_key.as_str()),
            ],
            Duration::from_secs(20),
        );
        assert_refused(
            status,
            &stderr,
            &[&key_id(TEST_SECRET_KEY), "PAYDESK_SECRET_KEY"],
        );
        std::fs::remove_dir_all(dir).ok();
    }
}

/// Starts the binary in `dir` with only `env`, waits (bounded) until it listens, stops it, and returns
/// what it printed (`None` if it never listened).
fn serve_briefly(dir: &Path, env: &[(&str, &str)]) -> Option<String> {
    let log = dir.join(format!("serve-{}.log", uuid::Uuid::new_v4().simple()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_paydesk"))
        .current_dir(dir)
        .env_clear()
        .env("PAYDESK_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn paydesk");
    let listening = poll(Duration::from_secs(20), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("paydesk listening"))
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let printed = std::fs::read_to_string(&log).unwrap();
    listening.then_some(printed)
}

/// The embedded default (SQLite, no key set) generates `paydesk.key` next to the database with mode
/// 0600, says so once, encrypts under it, and uses the same key on the next start.
#[tokio::test]
async fn the_embedded_default_generates_a_private_key_file_and_says_so() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let db_url = format!("sqlite://{}?mode=rwc", data.join("paydesk.db").display());
    let env = [("PAYDESK_DATABASE_URL", db_url.as_str())];

    let first = serve_briefly(&dir, &env).expect("the embedded default starts");
    let key_file = data.join("paydesk.key");
    let mode = std::fs::metadata(&key_file)
        .expect("paydesk.key next to the database")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let notice: Vec<&str> = first
        .lines()
        .filter(|l| l.contains("paydesk.key"))
        .collect();
    assert_eq!(notice.len(), 1, "{first}");
    assert!(notice[0].contains("generated"), "{first}");
    assert!(notice[0].contains("back"), "{first}");
    let contents = std::fs::read_to_string(&key_file).unwrap();
    let keys: Vec<&str> = contents.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(keys.len(), 1, "{contents}");
    assert_eq!(B64.decode(keys[0]).unwrap().len(), 32);
    // The demo storefront's secrets are under the generated key.
    assert_all_under(&raw_secrets(&db_url).await, &key_id(keys[0]));

    // The second start finds the key, decrypts what the first stored, and makes no new one.
    let second = serve_briefly(&dir, &env).expect("the second start finds its key");
    assert!(!second.contains("generated"), "{second}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), contents);
    std::fs::remove_dir_all(dir).ok();
}

/// Polls `done` every 50 ms until it holds or `limit` passes.
fn poll(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn rotate(env: &[(&str, String)], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_paydesk"))
        .args(["secrets", "rotate", "--new-key"])
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run paydesk secrets rotate")
}

/// A server answers a steady stream of requests that decrypt the storefront's secrets while
/// `paydesk secrets rotate --new-key` adds a key and re-encrypts everything: no request fails, and
/// afterwards every stored secret is under the new key.
#[tokio::test]
async fn secrets_rotate_under_traffic_fails_no_request() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let dir = tempdir();
        let key_file = dir.join("paydesk.keys");
        std::fs::write(&key_file, format!("{TEST_SECRET_KEY}\n")).unwrap();
        let api_key = format!("sk_test_{}", uuid::Uuid::new_v4().simple());
        let env: Vec<(&str, String)> = vec![
            ("PAYDESK_DATABASE_URL", db.url.clone()),
            ("PAYDESK_SECRET_KEY_FILE", key_file.display().to_string()),
            ("PAYDESK_DEMO_API_KEY", api_key.clone()),
            ("PAYDESK_LOG", "warn".into()),
        ];
        let borrowed: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (mut child, base, stdout) = spawn_binary(&dir, &borrowed);
        std::thread::spawn(move || {
            use std::io::BufRead;
            for _ in stdout.lines() {}
        });

        let stop = Arc::new(AtomicBool::new(false));
        let traffic = {
            let (stop, base, api_key) = (stop.clone(), base.clone(), api_key.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let (mut ok, mut failed) = (0u32, Vec::new());
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    // Reading payments authenticates (decrypting the storefront's secrets); creating a
                    // checkout uses them too.
                    let response = if n.is_multiple_of(2) {
                        client
                            .get(format!("{base}/v1/payments"))
                            .bearer_auth(&api_key)
                            .send()
                            .await
                    } else {
                        client
                            .post(format!("{base}/v1/checkouts"))
                            .bearer_auth(&api_key)
                            .json(&crate::checkout::order(1000 + n as i64))
                            .send()
                            .await
                    };
                    match response {
                        Ok(r) if r.status().is_success() => ok += 1,
                        Ok(r) => failed.push(format!("{} {}", r.status(), r.text().await.unwrap())),
                        Err(e) => failed.push(e.to_string()),
                    }
                }
                (ok, failed)
            })
        };
        // Traffic is flowing before the rotation starts.
        let client = reqwest::Client::new();
        let warm = client
            .get(format!("{base}/v1/payments"))
            .bearer_auth(&api_key)
            .send()
            .await
            .unwrap();
        assert!(warm.status().is_success());

        let (rotate_env, rotate_dir) = (env.clone(), dir.clone());
        let output = tokio::task::spawn_blocking(move || rotate(&rotate_env, &rotate_dir))
            .await
            .unwrap();
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{backend:?}: {printed}");

        // Requests keep succeeding once everything is under the new key, which this server has
        // never been told about except through the key file.
        for _ in 0..20 {
            let after = client
                .post(format!("{base}/v1/checkouts"))
                .bearer_auth(&api_key)
                .json(&crate::checkout::order(5000))
                .send()
                .await
                .unwrap();
            assert!(
                after.status().is_success(),
                "{}",
                after.text().await.unwrap()
            );
        }
        stop.store(true, Ordering::Relaxed);
        let (ok, failed) = traffic.await.unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(failed.is_empty(), "{backend:?}: {failed:?}");
        assert!(ok > 0);

        let keys = std::fs::read_to_string(&key_file).unwrap();
        let keys: Vec<&str> = keys.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert_eq!(keys[1], TEST_SECRET_KEY, "the old key stays for decryption");
        let new_id = key_id(keys[0]);
        assert_ne!(new_id, key_id(TEST_SECRET_KEY));
        assert!(printed.contains(&new_id), "{printed}");
        assert_all_under(&raw_secrets(&db.url).await, &new_id);
        let status = Command::new(env!("CARGO_BIN_EXE_paydesk"))
            .args(["secrets", "status"])
            .current_dir(&dir)
            .env_clear()
            .envs(borrowed.iter().copied())
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&status.stdout).to_string();
        let old_line = format!(
            "key {} (decrypts): 0 stored secrets",
            key_id(TEST_SECRET_KEY)
        );
        assert!(status.contains(&old_line), "{status}");
        std::fs::remove_dir_all(dir).ok();
    }
}
