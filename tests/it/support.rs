//! Test harness: fresh databases (a SQLite file in a temp dir; a PostgreSQL database per test when
//! `PAYDESK_TEST_POSTGRES_URL` is set, dropped afterwards) and a real paydesk server on port 0.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use paydesk::clock::{Clock, ClockHand};
use paydesk::{App, Config};
use sea_orm::{ConnectionTrait, Database};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The secret key (base64 of 32 bytes) test servers on PostgreSQL encrypt stored credentials with,
/// unless a test gives its own (instances sharing one database must share it). On SQLite they use the
/// key file paydesk generates next to the database, as the embedded default does.
pub const TEST_SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Which database engine a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; PostgreSQL too when the CI (or a developer) points at one.
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if postgres_admin_url().is_some() {
        all.push(Backend::Postgres);
    }
    all
}

fn postgres_admin_url() -> Option<String> {
    std::env::var("PAYDESK_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// A database that exists for one test and is removed when dropped.
pub struct TestDb {
    pub url: String,
    sqlite_dir: Option<PathBuf>,
    postgres_name: Option<String>,
}

impl TestDb {
    pub async fn create(backend: Backend) -> Self {
        paydesk::install_crypto_provider();
        let unique = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("paydesk-test-{unique}"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                Self {
                    url: format!("sqlite://{}?mode=rwc", dir.join("paydesk.db").display()),
                    sqlite_dir: Some(dir),
                    postgres_name: None,
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url().expect("PAYDESK_TEST_POSTGRES_URL");
                let name = format!("paydesk_test_{unique}");
                let conn = Database::connect(admin.as_str())
                    .await
                    .expect("connect to PostgreSQL");
                conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                let mut url = url::Url::parse(&admin).expect("PAYDESK_TEST_POSTGRES_URL is a URL");
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    sqlite_dir: None,
                    postgres_name: Some(name),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.sqlite_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = self.postgres_name.take() {
            let admin = postgres_admin_url().expect("PAYDESK_TEST_POSTGRES_URL");
            // Drop runs inside the test's runtime, which cannot block on itself: use a fresh one.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(conn) = Database::connect(admin.as_str()).await {
                        let _ = conn
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        conn.close().await.ok();
                    }
                });
            })
            .join()
            .ok();
        }
    }
}

/// A running paydesk on port 0.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: paydesk::AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    pub db_url: String,
    /// Moves this instance's clock forward (see `paydesk::clock`).
    pub clock: ClockHand,
    // Last: the database must outlive the server (held for its Drop); `None` for instances that
    // share another's.
    _db: Option<TestDb>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts paydesk with extra settings (keys without the `PAYDESK_` prefix).
    pub async fn spawn_with(backend: Backend, overrides: &[(&str, &str)]) -> Self {
        let db = TestDb::create(backend).await;
        let url = db.url.clone();
        Self::spawn_on(&url, Some(db), overrides).await
    }

    /// Another instance on the database of `first` (several paydesks on one database).
    pub async fn spawn_beside(first: &TestApp, overrides: &[(&str, &str)]) -> Self {
        Self::spawn_on(&first.db_url, None, overrides).await
    }

    /// Starts paydesk on an existing database (to run several instances against one).
    pub async fn spawn_on(db_url: &str, db: Option<TestDb>, overrides: &[(&str, &str)]) -> Self {
        paydesk::install_crypto_provider();
        let mut settings: Vec<(&str, &str)> = vec![
            ("addr", "127.0.0.1:0"),
            ("database_url", db_url),
            ("shutdown_timeout_secs", "5"),
            ("db_max_connections", "5"),
        ];
        if db_url.starts_with("postgres")
            && !overrides.iter().any(|(k, _)| k.starts_with("secret_key"))
        {
            settings.push(("secret_key", TEST_SECRET_KEY));
        }
        settings.extend_from_slice(overrides);
        let config = Config::with_overrides(settings).expect("test config");
        let (clock, hand) = Clock::with_hand();
        let app = App::build_with_clock(config, clock)
            .await
            .expect("app builds");
        let base = app.public_url().to_string();
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            base,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            state,
            shutdown: Some(tx),
            server: Some(server),
            db_url: db_url.to_string(),
            clock: hand,
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Reads an error envelope and checks its invariant parts.
pub async fn error_body(response: reqwest::Response) -> serde_json::Value {
    let header_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    let error = &body["error"];
    assert!(error["code"].is_string(), "{body}");
    assert!(error["message"].is_string(), "{body}");
    assert!(error["type"].is_string(), "{body}");
    assert!(error["retryable"].is_boolean(), "{body}");
    assert_eq!(error["requestId"].as_str(), header_id.as_deref(), "{body}");
    body["error"].clone()
}

/// Runs one SQL statement (`?` placeholders) on the app's database, for tests that must put data in
/// a state no API produces (e.g. an expiry in the past).
pub async fn execute_sql(app: &TestApp, sql: &str, values: Vec<sea_orm::Value>) {
    let conn = Database::connect(app.db_url.as_str())
        .await
        .expect("connect");
    let backend = conn.get_database_backend();
    let sql = if backend == sea_orm::DatabaseBackend::Postgres {
        let mut numbered = String::new();
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                numbered.push_str(&format!("${n}"));
            } else {
                numbered.push(c);
            }
        }
        numbered
    } else {
        sql.to_string()
    };
    conn.execute_raw(sea_orm::Statement::from_sql_and_values(
        backend, sql, values,
    ))
    .await
    .expect("test SQL runs");
    conn.close().await.ok();
}

/// How many rows of `table` have this `id`, read with plain SQL (whatever the schema is).
pub async fn count_rows(app: &TestApp, table: &str, id: &str) -> i64 {
    let conn = Database::connect(app.db_url.as_str())
        .await
        .expect("connect");
    let backend = conn.get_database_backend();
    let mark = if backend == sea_orm::DatabaseBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let row = conn
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            format!("SELECT COUNT(*) AS n FROM {table} WHERE id = {mark}"),
            [id.into()],
        ))
        .await
        .expect("test SQL runs")
        .expect("a count");
    conn.close().await.ok();
    row.try_get("", "n").expect("a number")
}

/// A fresh directory under the system temp dir; the caller removes it.
pub fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("paydesk-bin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the real `paydesk` binary in `dir` on port 0 with only `env` set, and waits until it prints
/// its address. Returns the child, the address and the rest of its standard output.
pub fn spawn_binary(dir: &Path, env: &[(&str, &str)]) -> (Child, String, BufReader<ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paydesk"))
        .current_dir(dir)
        .env_clear()
        .env("PAYDESK_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn paydesk");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        if let Some(address) = line.trim().strip_prefix("paydesk listening on ") {
            let address = address.to_string();
            return (child, address, stdout);
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("paydesk exited without printing its address");
}

/// A paydesk process started by `start_paydesk`; killed (SIGKILL) when dropped.
pub struct Process {
    child: Child,
    pub base: String,
}

/// Starts the real binary with only `env` (and warn-level logs), keeping its stdout drained so it never
/// blocks on a full pipe.
pub fn start_paydesk(env: &[(&str, &str)]) -> Process {
    let mut settings = vec![
        ("PAYDESK_LOG", "warn"),
        ("PAYDESK_SECRET_KEY", TEST_SECRET_KEY),
    ];
    settings.extend_from_slice(env);
    let (child, base, stdout) = spawn_binary(&std::env::temp_dir(), &settings);
    std::thread::spawn(move || for _ in stdout.lines() {});
    Process { child, base }
}

impl Process {
    /// SIGKILL: no graceful shutdown, as in a crash.
    pub fn kill(self) {
        drop(self);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for the child to exit; kills it after `limit`.
pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A PostgreSQL cluster of its own (initdb into a temp dir, its own port), so a test may stop and
/// restart the database under a running paydesk without touching the machine's main cluster.
/// Removed on drop.
pub struct ThrowawayPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl ThrowawayPostgres {
    /// `None`, with the reason on stderr, where PostgreSQL's server binaries or the `postgres` user
    /// (initdb refuses to run as root) are missing.
    pub fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .max_by_key(|bin| {
                bin.parent()
                    .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            });
        let Some(bin) = bin else {
            eprintln!("SKIPPED: no /usr/lib/postgresql/*/bin/initdb to start a throwaway cluster");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir =
            std::env::temp_dir().join(format!("paydesk-pg-{}", uuid::Uuid::new_v4().simple()));
        let made = std::process::Command::new("install")
            .args(["-d", "-o", "postgres"])
            .arg(&dir)
            .status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("SKIPPED: cannot create a data directory owned by the postgres user");
            return None;
        }
        let cluster = Self { bin, dir, port };
        let initdb = cluster
            .as_postgres("initdb")
            .arg("-D")
            .arg(&cluster.dir)
            .args(["-U", "postgres", "--auth=trust", "--no-sync"])
            .output();
        if !initdb.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("SKIPPED: initdb failed: {initdb:?}");
            return None;
        }
        cluster.start_again();
        Some(cluster)
    }

    fn as_postgres(&self, tool: &str) -> std::process::Command {
        let mut command = std::process::Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(tool))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        command
    }

    fn pg_ctl(&self, args: &[&str]) {
        let status = self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .args(args)
            .status()
            .expect("pg_ctl runs");
        assert!(status.success(), "pg_ctl {args:?} failed");
    }

    /// `postgres://...` of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// Stops it at once, as a crash or a pulled plug would: open transactions are lost.
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    }

    /// Starts it (again) and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        self.pg_ctl(&["-w", "-l", log.to_str().unwrap(), "-o", &options, "start"]);
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .args(["-m", "immediate", "stop"])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every payment's recorded history is whole: its events are numbered 1..=version without a gap, as
/// `Store::transition` writes the status change and its event in one transaction. Returns each
/// payment's id and status.
pub async fn whole_histories(db_url: &str) -> Vec<(String, String)> {
    let conn = Database::connect(db_url).await.expect("connect");
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT p.id, p.status, CAST(p.version AS BIGINT) AS version, \
             CAST(COUNT(e.id) AS BIGINT) AS events, \
             CAST(COALESCE(MIN(e.sequence), 0) AS BIGINT) AS first, \
             CAST(COALESCE(MAX(e.sequence), 0) AS BIGINT) AS last \
             FROM payments p LEFT JOIN payment_events e ON e.payment_id = p.id \
             GROUP BY p.id, p.status, p.version",
        ))
        .await
        .expect("histories query");
    conn.close().await.ok();
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("", "id").unwrap();
            let status: String = row.try_get("", "status").unwrap();
            let version: i64 = row.try_get("", "version").unwrap();
            let events: i64 = row.try_get("", "events").unwrap();
            let first: i64 = row.try_get("", "first").unwrap();
            let last: i64 = row.try_get("", "last").unwrap();
            assert!(
                events == version && first == 1 && last == version,
                "{id} ({status}): version {version} but events {first}..={last} ({events})"
            );
            (id, status)
        })
        .collect()
}

/// The Innopay sandbox served alone (as `paydesk sandbox` does), for paydesk instances that share it
/// or are killed while it keeps their approvals.
pub struct StandaloneSandbox {
    /// `http://127.0.0.1:PORT/sandbox`.
    pub url: String,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl StandaloneSandbox {
    /// Starts it with sandbox settings (keys without the `PAYDESK_` prefix).
    pub async fn start(overrides: &[(&str, &str)]) -> Self {
        paydesk::install_crypto_provider();
        let config = Config::with_overrides(overrides.iter().copied()).expect("sandbox config");
        let standalone =
            paydesk::sandbox::Standalone::bind(&config, "127.0.0.1:0".parse().unwrap())
                .await
                .expect("sandbox binds");
        let url = standalone.url().to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(standalone.run_until(async {
            let _ = stopped.await;
        }));
        Self { url, stop, server }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.server
            .await
            .expect("sandbox task")
            .expect("sandbox ran");
    }
}
