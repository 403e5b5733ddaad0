//! Load measurement: starts the release `paydesk` binary as a child process (so its peak RSS can be
//! read from `/proc/<pid>/status`), drives it from this process over loopback, and prints throughput
//! and p50/p99 latency at 1, 16 and 64 concurrent clients for:
//!
//! - `GET /healthz`, the baseline every other figure is divided by (same server, same run);
//! - `GET /v1/help/search?q=...` three ways: one popular query over and over; the 157 labelled
//!   queries of `tests/data/help_queries.tsv` in turn (a help centre's real mix repeats itself); and
//!   queries never asked before (each labelled query with a unique number appended), which miss the
//!   answer cache and measure the search itself;
//! - `POST /v1/checkouts`;
//! - the return-and-approve round trip: `POST /sandbox/pay/authorize` (the payment window, in-process
//!   sandbox) then `GET` the returnUrl it redirects to, which approves through the sandbox's API.
//!
//! on SQLite and, when reachable, PostgreSQL (`PAYDESK_TEST_POSTGRES_URL`, else the local trust
//! cluster on 5432; a throwaway database is created and dropped). Each measurement stops after
//! `LOAD_MAX_REQUESTS` (default 20000) requests, or `LOAD_ROUND_TRIPS` (default 2500, the checkouts
//! created beforehand) for the round trip, or `LOAD_SECONDS` (default 3) seconds, whichever comes
//! first.
//!
//! The periodic purge runs every 500 ms throughout (`PAYDESK_PURGE_INTERVAL_MS`); after each backend
//! the business series of `/metrics` are printed.
//!
//! The sandbox sends a Noti after each approval; here they go to a receiver in this process that
//! acknowledges at once (`0000`), as a healthy storefront-side endpoint would. paydesk's own Noti
//! endpoint is not measured.
//!
//! Run: `cargo bench --bench load` (results go to stdout as Markdown; see docs/PERFORMANCE.md).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

const CONCURRENCY: [usize; 3] = [1, 16, 64];
const DEMO_KEY: &str = "sk_test_load0000000000000000000000000000";
const POPULAR_QUERY: &str = "팝업 차단";

/// How each help search scenario picks its `i`-th query.
#[derive(Clone, Copy)]
enum SearchMix {
    Popular,
    Labelled,
    NeverRepeated,
}

impl SearchMix {
    const ALL: [SearchMix; 3] = [
        SearchMix::Popular,
        SearchMix::Labelled,
        SearchMix::NeverRepeated,
    ];

    fn label(self) -> &'static str {
        match self {
            SearchMix::Popular => "help search, one popular query",
            SearchMix::Labelled => "help search, labelled queries in turn",
            SearchMix::NeverRepeated => "help search, never-repeated queries",
        }
    }

    /// The least share of `/healthz` throughput at 64 clients this mix must reach: half for
    /// repeated queries (answered from the cache), 0.30 for never-repeated ones (issue 14).
    fn target(self) -> f64 {
        match self {
            SearchMix::Popular | SearchMix::Labelled => 0.5,
            SearchMix::NeverRepeated => 0.3,
        }
    }

    fn query(self, labelled: &[String], i: usize) -> String {
        match self {
            SearchMix::Popular => POPULAR_QUERY.to_string(),
            SearchMix::Labelled => labelled[i % labelled.len()].clone(),
            SearchMix::NeverRepeated => {
                format!("{} {}", labelled[i % labelled.len()], 1_000_000 + i)
            }
        }
    }
}

fn search_url(base: &str, query: &str) -> String {
    format!(
        "{base}/v1/help/search?q={}",
        url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
    )
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One measured figure.
struct Figure {
    requests: usize,
    errors: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// The paydesk under test.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(database_url: &str, noti_url: &str) -> Self {
        // `LOAD_BINARY` runs another build (an earlier commit's) under the same client and machine.
        let binary =
            std::env::var("LOAD_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_paydesk").into());
        let mut child = Command::new(binary)
            .env_clear()
            .env("PAYDESK_ADDR", "127.0.0.1:0")
            .env("PAYDESK_DATABASE_URL", database_url)
            .env("PAYDESK_DEMO_API_KEY", DEMO_KEY)
            // PostgreSQL needs a key for the stored credentials; any fixed one does here.
            .env(
                "PAYDESK_SECRET_KEY",
                "bG9hZC1iZW5jaC1zZWNyZXQta2V5LTMyLWJ5dGVzISE=",
            )
            .env("PAYDESK_SANDBOX_NOTI_URL", noti_url)
            // The purge runs under the load, to show it fails no request (issue 17).
            .env("PAYDESK_PURGE_INTERVAL_MS", "500")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start target/release/paydesk");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(base) = line.trim().strip_prefix("paydesk listening on ") {
                let base = base.to_string();
                std::thread::spawn(move || for _ in stdout.lines() {});
                return Self { child, base };
            }
            line.clear();
        }
        panic!("paydesk exited before listening: {:?}", child.wait());
    }

    /// Peak resident set size so far (`VmHWM`), in MB (10^6 bytes).
    fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib * 1024.0 / 1e6)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(128)
        .build()
        .unwrap()
}

fn order(n: usize) -> Value {
    json!({
        "goodsName": "이노페이 화장품",
        "amount": 20000 + (n % 1000) as i64,
        "buyer": {"name": "홍길동", "tel": "01012345678", "email": "test@test.com"},
    })
}

async fn create_checkout(client: &reqwest::Client, base: &str, n: usize) -> Option<Value> {
    let response = client
        .post(format!("{base}/v1/checkouts"))
        .bearer_auth(DEMO_KEY)
        .json(&order(n))
        .send()
        .await
        .ok()?;
    if response.status() != 201 {
        return None;
    }
    response.json().await.ok()
}

/// Authenticates in the sandbox window, then follows the redirect to paydesk's returnUrl, which
/// approves. True when the payment ended `paid`-bound (the return page answered 200).
async fn pay(client: &reqwest::Client, base: &str, checkout: &Value) -> bool {
    let form: Vec<(String, String)> = checkout["goPay"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            (k.clone(), v)
        })
        .collect();
    let Ok(authorized) = client
        .post(format!("{base}/sandbox/pay/authorize"))
        .form(&form)
        .send()
        .await
    else {
        return false;
    };
    let Some(return_url) = authorized
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    matches!(client.get(return_url).send().await, Ok(r) if r.status() == 200)
}

/// Runs `work(i)` for i = 0, 1, ... from `clients` concurrent tasks until the request or time bound.
async fn measure<F, Fut>(clients: usize, max_requests: usize, work: F) -> Figure
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let max_time = Duration::from_secs(setting("LOAD_SECONDS", 3));
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (work, next) = (work.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= max_requests || started.elapsed() >= max_time {
                        return (latencies, errors);
                    }
                    let t = Instant::now();
                    let ok = work(i).await;
                    latencies.push(t.elapsed());
                    errors += usize::from(!ok);
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pick = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    Figure {
        requests: latencies.len(),
        errors,
        per_second: latencies.len() as f64 / elapsed,
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
    }
}

async fn get_ok(client: &reqwest::Client, url: &str) -> bool {
    matches!(client.get(url).send().await, Ok(r) if r.status() == 200)
}

/// The figures the targets are judged on, for one database.
struct Outcome {
    /// Each search mix's throughput at 64 clients over `/healthz`'s, in `SearchMix::ALL` order.
    search_ratios_at_64: Vec<f64>,
    round_trips_at_64: f64,
    peak_rss_mb: f64,
}

/// Measures every scenario on one database and prints its table.
async fn run_backend(label: &str, database_url: &str, noti_url: &str) -> Outcome {
    let server = Server::start(database_url, noti_url);
    let base = server.base.clone();
    let client = client();
    let labelled = Arc::new(common::labelled_queries());

    println!("\n### {label}\n");
    println!(
        "| scenario | clients | requests | errors | per second | × /healthz | p50 ms | p99 ms | peak RSS MB |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let max_requests = setting("LOAD_MAX_REQUESTS", 20_000) as usize;
    let mut search_ratios_at_64 = Vec::new();
    let mut round_trips_at_64 = 0.0;
    for clients in CONCURRENCY {
        // Warm the connection pools of both sides before the baseline.
        for _ in 0..20 {
            get_ok(&client, &format!("{base}/healthz")).await;
        }
        let health_url = format!("{base}/healthz");
        let baseline = {
            let (c, u) = (client.clone(), health_url.clone());
            measure(clients, max_requests, move |_| {
                let (c, u) = (c.clone(), u.clone());
                async move { get_ok(&c, &u).await }
            })
            .await
        };
        print_row(&server, "healthz (baseline)", clients, &baseline, &baseline);

        for mix in SearchMix::ALL {
            let (c, b, labelled) = (client.clone(), base.clone(), labelled.clone());
            let figure = measure(clients, max_requests, move |i| {
                let (c, u) = (c.clone(), search_url(&b, &mix.query(&labelled, i)));
                async move { get_ok(&c, &u).await }
            })
            .await;
            print_row(&server, mix.label(), clients, &figure, &baseline);
            if clients == 64 {
                search_ratios_at_64.push(figure.per_second / baseline.per_second);
            }
        }

        let figure = {
            let (c, b) = (client.clone(), base.clone());
            measure(clients, max_requests, move |i| {
                let (c, b) = (c.clone(), b.clone());
                async move { create_checkout(&c, &b, i).await.is_some() }
            })
            .await
        };
        print_row(&server, "create checkout", clients, &figure, &baseline);

        // The checkouts the round trips pay, created beforehand (not timed).
        let count = setting("LOAD_ROUND_TRIPS", 2500) as usize;
        let made: Vec<Value> = futures_util::stream::iter(0..count)
            .map(|i| create_checkout(&client, &base, 1_000_000 * clients + i))
            .buffer_unordered(16)
            .filter_map(|checkout| async { checkout })
            .collect()
            .await;
        let trips = made.len();
        let made = Arc::new(made);
        let figure = {
            let (c, b) = (client.clone(), base.clone());
            measure(clients, trips, move |i| {
                let (c, b, made) = (c.clone(), b.clone(), made.clone());
                async move {
                    match made.get(i) {
                        Some(checkout) => pay(&c, &b, checkout).await,
                        None => false,
                    }
                }
            })
            .await
        };
        print_row(
            &server,
            "authorize + return (approve)",
            clients,
            &figure,
            &baseline,
        );
        if clients == 64 {
            round_trips_at_64 = figure.per_second;
        }
    }
    let peak_rss_mb = server.peak_rss_mb();
    println!("\nPeak RSS of paydesk ({label}): {peak_rss_mb:.1} MB (VmHWM)");
    print_business_series(&client, &base).await;
    Outcome {
        search_ratios_at_64,
        round_trips_at_64,
        peak_rss_mb,
    }
}

fn print_row(server: &Server, name: &str, clients: usize, figure: &Figure, baseline: &Figure) {
    println!(
        "| {name} | {clients} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} |",
        figure.requests,
        figure.errors,
        figure.per_second,
        figure.per_second / baseline.per_second,
        figure.p50_ms,
        figure.p99_ms,
        server.peak_rss_mb(),
    );
}

/// The business series of `/metrics` after the run (the HTTP series are the tables above).
async fn print_business_series(client: &reqwest::Client, base: &str) {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .and_then(|r| r.error_for_status());
    let text = match text {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => return println!("\n/metrics failed: {e}"),
    };
    println!("\n`/metrics` after the run, business series (zeros left out):\n\n```");
    for line in text.lines() {
        let series =
            !line.is_empty() && !line.starts_with('#') && !line.starts_with("paydesk_http_");
        if series && !line.ends_with(" 0") {
            println!("{line}");
        }
    }
    println!("```");
}

/// A fresh PostgreSQL database for the run, dropped afterwards; `None` when no server answers.
struct LoadDatabase {
    admin: String,
    name: String,
    url: String,
}

impl LoadDatabase {
    async fn create() -> Option<Self> {
        use sea_orm::{ConnectionTrait, Database};
        let admin = std::env::var("PAYDESK_TEST_POSTGRES_URL").unwrap_or_else(|_| {
            "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".to_string()
        });
        let conn = Database::connect(admin.as_str()).await.ok()?;
        let name = format!("paydesk_load_{}", std::process::id());
        conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .ok()?;
        conn.close().await.ok();
        let mut url = url::Url::parse(&admin).ok()?;
        url.set_path(&name);
        Some(Self {
            admin,
            name,
            url: url.to_string(),
        })
    }

    async fn drop_it(self) {
        use sea_orm::{ConnectionTrait, Database};
        if let Ok(conn) = Database::connect(self.admin.as_str()).await {
            let _ = conn
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
            conn.close().await.ok();
        }
    }
}

fn main() {
    paydesk::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("## Load run {}\n", time::OffsetDateTime::now_utc().date());
        let noti_url = noti_receiver().await;
        let dir = std::env::temp_dir().join(format!("paydesk-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sqlite = format!("sqlite://{}?mode=rwc", dir.join("load.db").display());
        let sqlite_outcome = run_backend("SQLite", &sqlite, &noti_url).await;
        let _ = std::fs::remove_dir_all(&dir);

        let postgres = match LoadDatabase::create().await {
            Some(db) => {
                let result = run_backend("PostgreSQL", &db.url, &noti_url).await;
                db.drop_it().await;
                Some(result)
            }
            None => {
                println!("\n> PostgreSQL skipped: no server at PAYDESK_TEST_POSTGRES_URL or 5432");
                None
            }
        };

        println!("\n### Targets\n");
        for (label, outcome) in [
            ("SQLite", Some(&sqlite_outcome)),
            ("PostgreSQL", postgres.as_ref()),
        ] {
            let Some(outcome) = outcome else { continue };
            for (mix, ratio) in SearchMix::ALL.iter().zip(&outcome.search_ratios_at_64) {
                println!(
                    "- {} at 64 clients ({label}): {:.0} % of /healthz (target ≥ {:.0} %): {}",
                    mix.label(),
                    ratio * 100.0,
                    mix.target() * 100.0,
                    verdict(*ratio >= mix.target())
                );
            }
        }
        match &postgres {
            Some(outcome) => println!(
                "- approval round trips on PostgreSQL at 64 clients: {:.0}/s (target ≥ 300/s): {}",
                outcome.round_trips_at_64,
                verdict(outcome.round_trips_at_64 >= 300.0)
            ),
            None => println!("- approval round trips on PostgreSQL: not measured"),
        }
        let rss = postgres.map_or(sqlite_outcome.peak_rss_mb, |p| {
            p.peak_rss_mb.max(sqlite_outcome.peak_rss_mb)
        });
        println!(
            "- peak RSS: {rss:.1} MB (target < 100 MB): {}",
            verdict(rss < 100.0)
        );
    });
}

/// Acknowledges every Noti the sandbox sends, as a healthy receiver does; returns its URL.
async fn noti_receiver() -> String {
    use poem::listener::{Acceptor, Listener};
    #[poem::handler]
    fn acknowledge() -> &'static str {
        "0000"
    }
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(
        poem::Server::new_with_acceptor(acceptor)
            .run(poem::Route::new().at("/noti", poem::post(acknowledge))),
    );
    format!("http://{addr}/noti")
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}
