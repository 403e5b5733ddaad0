//! Command line: `serve` (the default), `migrate up|down|status`, `storefront ...`, `noti list`,
//! `purge`, `secrets rotate|status`, `help check|reindex`, `config show|docs`, `healthcheck`,
//! `openapi`, `sandbox`. Errors print one line and exit with status 1; no backtraces for operator mistakes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{self, App};
use crate::config::{Config, ExposeSecret};
use crate::help::{HelpCenter, HelpSource};
use crate::sandbox::Standalone;
use crate::secrets::Secrets;
use crate::store::Store;
use crate::store::storefronts::Reencrypt;

#[derive(Parser)]
// `help` is the help centre's command here; `--help` still prints usage.
#[command(
    name = "paydesk",
    version,
    about = "Payment desk between Korean storefronts and Innopay",
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, pages, help centre and (while no real Innopay is configured) the Innopay sandbox.
    Serve,
    /// Apply, revert or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Manage storefronts (tenants) and their API keys.
    Storefront {
        #[command(subcommand)]
        action: StorefrontAction,
    },
    /// Manage the support console's people (`/console`).
    Console {
        #[command(subcommand)]
        action: ConsoleAction,
    },
    /// Show the Noti Innopay sent (newest first), e.g. the flagged ones that need a person.
    Noti {
        #[command(subcommand)]
        action: NotiAction,
    },
    /// Remove webhook attempt logs, help analytics, settled Noti and expired idempotency keys past
    /// their PAYDESK_RETENTION_* ages, in short batches (safe while servers run). Payments and their
    /// events are never purged.
    Purge {
        /// Only count what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Re-encrypt or inspect the stored credentials (merchant keys, cancel passwords, signing secrets).
    Secrets {
        #[command(subcommand)]
        action: SecretsAction,
    },
    /// Print the OpenAPI document.
    Openapi {
        /// YAML instead of JSON.
        #[arg(long)]
        yaml: bool,
    },
    /// Serve only the Innopay sandbox (no database), at the same `/sandbox` paths, so several paydesk
    /// instances can share it through PAYDESK_INNOPAY_API_URL.
    Sandbox {
        /// Address to listen on (beyond loopback the control API needs a token).
        #[arg(long, default_value = "127.0.0.1:8090")]
        addr: SocketAddr,
    },
    /// Check or index the help articles.
    Help {
        #[command(subcommand)]
        action: HelpAction,
    },
    /// Exit 0 when the server configured by PAYDESK_ADDR answers `/healthz` within 3 seconds, else
    /// 1: the container and systemd health check, with no curl in the image.
    Healthcheck,
    /// Show the settings in effect, or print the settings table for the README.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Every setting with the value in effect and where it came from (environment, file, default);
    /// secrets are masked. Fails with the same one line as start-up on a bad value.
    Show,
    /// Print the Markdown table of every setting (the README's "Configuration" table).
    Docs,
}

#[derive(Subcommand)]
enum StorefrontAction {
    /// Create a storefront and print its first API key and signing secret (shown only here).
    Create {
        #[arg(long)]
        name: String,
        /// Innopay MID; `testpay01m` makes a test storefront.
        #[arg(long)]
        mid: String,
        /// Innopay Merchant-Key (prefer the environment variable: command lines are visible to
        /// other users of the machine).
        #[arg(long, env = "PAYDESK_STOREFRONT_MERCHANT_KEY", hide_env_values = true)]
        merchant_key: String,
        /// Innopay cancel password (cancelPwd).
        #[arg(
            long,
            env = "PAYDESK_STOREFRONT_CANCEL_PASSWORD",
            hide_env_values = true
        )]
        cancel_password: String,
    },
    /// List storefronts (no secrets).
    List,
    /// Issue a new API key and revoke the old ones.
    RotateKey {
        /// Storefront id (`sf_...`).
        id: String,
    },
    /// Set the payment methods the storefront's checkouts may offer, e.g. `CARD EPAY`; `--all`
    /// allows every method paydesk takes (the default of a new storefront).
    SetMethods {
        /// Storefront id (`sf_...`).
        id: String,
        /// Method codes: CARD, BANK, VBANK, EPAY, EBANK.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        methods: Vec<String>,
        #[arg(long)]
        all: bool,
    },
    /// Set (and enable) the storefront's webhook endpoint; prints the secret that signs webhooks.
    SetWebhook {
        /// Storefront id (`sf_...`).
        id: String,
        /// An absolute http:// or https:// URL.
        #[arg(long)]
        url: String,
    },
    /// Set the shop's own address, where paydesk's shopper pages lead "back to the shop" when a
    /// checkout has no success or fail URL for the outcome.
    SetShopUrl {
        /// Storefront id (`sf_...`).
        id: String,
        /// An absolute http:// or https:// URL; empty clears it.
        #[arg(long)]
        url: String,
    },
}

#[derive(Subcommand)]
enum SecretsAction {
    /// Re-encrypt every stored secret under the primary key, while servers keep running. With a key
    /// file, `--new-key` first puts a new random primary key at its top (the old keys stay there for
    /// decryption); running servers pick it up from the file. With PAYDESK_SECRET_KEY, deploy the new
    /// key with the old one in PAYDESK_SECRET_KEY_PREVIOUS first.
    Rotate {
        #[arg(long)]
        new_key: bool,
    },
    /// List the keys (the primary first) and how many stored secrets each encrypts.
    Status,
}

#[derive(Subcommand)]
enum ConsoleAction {
    /// Add, list, disable console users or reset their password.
    User {
        #[command(subcommand)]
        action: ConsoleUserAction,
    },
}

#[derive(Subcommand)]
enum ConsoleUserAction {
    /// Add a user: `agent` (look up, send help, notes) or `admin` (also cancel, resolve, audit).
    Add {
        username: String,
        #[arg(long)]
        role: String,
        /// Limit the user to this storefront (repeat for several); none: every storefront.
        #[arg(long = "storefront")]
        storefronts: Vec<String>,
        /// At least 10 characters; prefer the variable (command lines are visible to other users).
        #[arg(long, env = "PAYDESK_CONSOLE_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// List users with their role, storefronts and whether they are disabled.
    List,
    /// Disable a user and end their sessions.
    Disable { username: String },
    /// Set a new password and end the user's sessions.
    ResetPassword {
        username: String,
        #[arg(long, env = "PAYDESK_CONSOLE_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

#[derive(Subcommand)]
enum NotiAction {
    /// List received Noti with their outcome.
    List {
        /// Only those flagged for a person (unmatched, contradicting, virtual-account deposits).
        #[arg(long)]
        flagged: bool,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
}

#[derive(Subcommand)]
enum HelpAction {
    /// Validate the articles: front matter, anchors, duplicate slugs or anchors, internal links,
    /// `related`, synonyms. Prints one line per problem and fails if there is any.
    Check {
        /// Folder to check (default: PAYDESK_HELP_DIR, else the built-in articles).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Build the search index the way the server does and print its size and build time. A running
    /// server reloads its articles on SIGHUP (`kill -HUP <pid>`).
    Reindex {
        /// Folder to index (default: PAYDESK_HELP_DIR, else the built-in articles).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert migrations, most recent first.
    Down {
        /// How many to revert (default 1).
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

/// GETs `/healthz` on `addr` (a wildcard address is asked on loopback, where the server also listens).
async fn healthcheck(mut addr: SocketAddr) -> Result<(), String> {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let url = format!("http://{addr}/healthz");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("{url} answered {}", r.status())),
        Err(e) => Err(format!("{url}: {e}")),
    }
}

pub fn main() -> ExitCode {
    crate::install_crypto_provider();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Help { action } => help(action),
        Command::Healthcheck => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            healthcheck(config.addr).await
        }
        Command::Config {
            action: ConfigAction::Docs,
        } => {
            print!("{}", crate::config::settings::readme_table());
            Ok(())
        }
        Command::Config {
            action: ConfigAction::Show,
        } => {
            let shown = Config::show_env().map_err(|e| e.to_string())?;
            let width = shown.iter().map(|s| s.name.len()).max().unwrap_or(0);
            for s in shown {
                println!("{:width$}  {}  ({})", s.name, s.value, s.origin);
            }
            Ok(())
        }
        Command::Openapi { yaml } => {
            println!(
                "{}",
                if yaml {
                    app::openapi_yaml()
                } else {
                    app::openapi_json()
                }
            );
            Ok(())
        }
        Command::Serve => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            crate::ops::init_logging(&config);
            let app = App::build(config).await.map_err(|e| e.to_string())?;
            tokio::spawn(crate::help::reload_on_sighup(app.state().help.clone()));
            println!("paydesk listening on {}", app.public_url());
            if let Some(key) = &app.state().demo_api_key {
                println!(
                    "sandbox mode: no real money moves. Demo shop: {}/  demo storefront test key: {}",
                    app.public_url(),
                    key.expose_secret()
                );
                let demo = crate::storefronts::find(
                    &app.state().store,
                    crate::storefronts::DEMO_STOREFRONT_ID,
                )
                .await
                .map_err(|e| e.to_string())?;
                println!(
                    "demo storefront signing secret: {}",
                    demo.signing_secret.expose_secret()
                );
            }
            app.run_until(app::shutdown_signal())
                .await
                .map_err(|e| format!("server failed: {e}"))
        }
        Command::Storefront { action } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            let store = open_migrated(&config).await?;
            let result = storefront(&store, &config, action).await;
            store.close().await;
            result
        }
        Command::Secrets { action } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            let store = open_migrated(&config).await?;
            let result = secrets(&store, action).await;
            store.close().await;
            result
        }
        Command::Console {
            action: ConsoleAction::User { action },
        } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            let store = open_migrated(&config).await?;
            let result = console_user(&store, action).await;
            store.close().await;
            result
        }
        Command::Noti {
            action: NotiAction::List { flagged, limit },
        } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            let store = open_migrated(&config).await?;
            let result = store.notis(flagged, limit).await.map_err(|e| e.to_string());
            store.close().await;
            for n in result? {
                println!(
                    "{}\t{}\t{}{}\t{}\t{}\t{}\t{}",
                    n.id,
                    n.received_at,
                    n.outcome,
                    if n.flagged { " (flagged)" } else { "" },
                    n.mid.unwrap_or_default(),
                    n.tid.unwrap_or_default(),
                    n.payment_id.unwrap_or_default(),
                    n.note
                );
            }
            Ok(())
        }
        Command::Purge { dry_run } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            // Touches no secret, and never changes the schema (a cron job should not migrate).
            let store = Store::connect(&config.database, 2).await.map_err(|e| {
                format!("cannot open the database named by PAYDESK_DATABASE_URL: {e}")
            })?;
            if let Err(reason) = store.readiness().await {
                store.close().await;
                return Err(format!("{reason}: run `paydesk migrate up` first"));
            }
            let now = store.now();
            let result = if dry_run {
                store.purgeable(now, &config.retention).await
            } else {
                crate::retention::purge_once(&store, &config.retention, now).await
            };
            store.close().await;
            let counts = result.map_err(|e| e.to_string())?;
            let verb = if dry_run { "would purge" } else { "purged" };
            for (kind, n) in counts.kinds() {
                println!("{verb} {n} {kind}");
            }
            println!("kept: payments and payment events (never purged)");
            Ok(())
        }
        Command::Sandbox { addr } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            crate::ops::init_logging(&config);
            let sandbox = Standalone::bind(&config, addr)
                .await
                .map_err(|e| format!("cannot listen on --addr {addr}: {e}"))?;
            println!("paydesk sandbox listening on {}", sandbox.url());
            sandbox
                .run_until(app::shutdown_signal())
                .await
                .map_err(|e| format!("sandbox failed: {e}"))
        }
        Command::Migrate { action } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            crate::ops::init_logging(&config);
            let store = Store::connect(&config.database, 2).await.map_err(|e| {
                format!("cannot open the database named by PAYDESK_DATABASE_URL: {e}")
            })?;
            let result = migrate(&store, action).await;
            store.close().await;
            result
        }
    }
}

/// `paydesk console user ...`: support console accounts.
async fn console_user(store: &Store, action: ConsoleUserAction) -> Result<(), String> {
    let now = store.now();
    match action {
        ConsoleUserAction::Add {
            username,
            role,
            storefronts,
            password,
        } => {
            let user =
                crate::console::add_user(store, &username, &role, &storefronts, &password, now)
                    .await?;
            println!(
                "added console user {} ({})",
                user.username,
                user.role.as_str()
            );
        }
        ConsoleUserAction::List => {
            for u in crate::console::list_users(store).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    u.username,
                    u.role.as_str(),
                    if u.storefronts.is_empty() {
                        "*"
                    } else {
                        &u.storefronts
                    },
                    if u.disabled { "disabled" } else { "active" }
                );
            }
        }
        ConsoleUserAction::Disable { username } => {
            crate::console::disable_user(store, &username, now).await?;
            println!("disabled console user {username}; their sessions ended");
        }
        ConsoleUserAction::ResetPassword { username, password } => {
            crate::console::reset_password(store, &username, &password, now).await?;
            println!("new password set for {username}; their sessions ended");
        }
    }
    Ok(())
}

/// The migrated store with the secret keys (generating the embedded default's key file, and saying
/// so, if this is the first use).
async fn open_migrated(config: &Config) -> Result<Store, String> {
    let secrets = Secrets::load(config).map_err(|e| e.to_string())?;
    if let Some(notice) = secrets.generated_notice() {
        eprintln!("note: {notice}");
    }
    let store = Store::connect(&config.database, 2)
        .await
        .map_err(|e| format!("cannot open the database named by PAYDESK_DATABASE_URL: {e}"))?
        .with_secrets(secrets);
    store.migrate_up().await.map_err(|e| e.to_string())?;
    Ok(store)
}

async fn secrets(store: &Store, action: SecretsAction) -> Result<(), String> {
    let keys = store.secret_keys().map_err(|e| e.to_string())?;
    let which = match action {
        SecretsAction::Rotate { new_key } => {
            if new_key {
                let id = keys.add_primary_key().map_err(|e| e.to_string())?;
                println!("added the new primary key {id}; the older keys stay for decryption");
            }
            Reencrypt::NotUnderPrimary
        }
        SecretsAction::Status => Reencrypt::Nothing,
    };
    let report = store
        .reencrypt_secrets(which)
        .await
        .map_err(|e| e.to_string())?;
    if which == Reencrypt::NotUnderPrimary {
        println!(
            "re-encrypted {} stored secrets under key {}",
            report.reencrypted,
            keys.primary_id()
        );
    }
    for (n, id) in keys.key_ids().iter().enumerate() {
        let role = if n == 0 { "primary" } else { "decrypts" };
        let count = report.by_key.get(id).copied().unwrap_or(0);
        println!("key {id} ({role}): {count} stored secrets");
    }
    for (id, count) in report
        .by_key
        .iter()
        .filter(|(id, _)| !keys.key_ids().contains(id))
    {
        println!("key {id} (not loaded): {count} stored secrets");
    }
    Ok(())
}

async fn storefront(
    store: &Store,
    config: &Config,
    action: StorefrontAction,
) -> Result<(), String> {
    use crate::config::SecretString;
    use crate::storefronts::{self, NewStorefront};
    match action {
        StorefrontAction::Create {
            name,
            mid,
            merchant_key,
            cancel_password,
        } => {
            let created = storefronts::create(
                store,
                config,
                NewStorefront {
                    name,
                    mid,
                    merchant_key: SecretString::from(merchant_key),
                    cancel_password: SecretString::from(cancel_password),
                },
            )
            .await
            .map_err(|e| e.to_string())?;
            let s = &created.storefront;
            println!(
                "created storefront {} ({}, {} mode, MID {})",
                s.id,
                s.name,
                s.mode.as_str(),
                s.mid
            );
            println!("API key (shown once): {}", created.api_key.expose_secret());
            println!(
                "signing secret (verifies redirects and webhooks): {}",
                s.signing_secret.expose_secret()
            );
        }
        StorefrontAction::List => {
            for s in storefronts::list(store).await.map_err(|e| e.to_string())? {
                println!("{}\t{}\t{}\t{}", s.id, s.mode.as_str(), s.mid, s.name);
            }
        }
        StorefrontAction::RotateKey { id } => {
            let key = storefronts::rotate_key(store, &id)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "new API key (shown once; the previous keys are revoked): {}",
                key.expose_secret()
            );
        }
        StorefrontAction::SetShopUrl { id, url } => {
            let storefront = storefronts::set_shop_url(store, &id, &url)
                .await
                .map_err(|e| e.to_string())?;
            match storefront.shop_url {
                Some(url) => println!("storefront {} is at {url}", storefront.id),
                None => println!("storefront {} has no shop URL", storefront.id),
            }
        }
        StorefrontAction::SetMethods { id, methods, all } => {
            let methods = if all {
                None
            } else {
                let parsed = methods
                    .iter()
                    .map(|m| m.to_uppercase().parse::<crate::domain::PayMethod>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                crate::domain::PayMethods::new(parsed)
            };
            let storefront = storefronts::set_pay_methods(store, &id, methods)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "checkouts of storefront {} may offer {}",
                storefront.id,
                storefront
                    .pay_methods
                    .map_or_else(|| "every method".to_string(), |m| m.to_string())
            );
        }
        StorefrontAction::SetWebhook { id, url } => {
            let service =
                crate::webhooks::WebhookService::new(store.clone(), config.webhooks.clone())?;
            let (endpoint, storefront) = service
                .set_endpoint(&id, &url)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "webhooks of storefront {} go to {}",
                storefront.id, endpoint.url
            );
            println!(
                "signing secret (verifies webhook-signature): {}",
                storefront.signing_secret.expose_secret()
            );
        }
    }
    Ok(())
}

/// The folder given with `--dir`, else the configured one, else the built-in articles.
fn help_source(dir: Option<PathBuf>) -> Result<HelpSource, String> {
    match dir {
        Some(dir) => Ok(HelpSource::Dir(dir)),
        None => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            Ok(HelpSource::from_dir(config.help_dir))
        }
    }
}

fn help(action: HelpAction) -> Result<(), String> {
    match action {
        HelpAction::Check { dir } => {
            let source = help_source(dir)?;
            let (articles, problems) = HelpCenter::check(&source).map_err(|e| e.to_string())?;
            for problem in &problems {
                println!("{problem}");
            }
            if problems.is_empty() {
                println!("{source}: {articles} articles, no problems");
                Ok(())
            } else {
                Err(format!("{source}: {} problem(s)", problems.len()))
            }
        }
        HelpAction::Reindex { dir } => {
            let source = help_source(dir)?;
            let center = HelpCenter::load(&source).map_err(|e| e.to_string())?;
            let stats = center.stats();
            println!(
                "{source}: {} articles, {} sections, {} terms, indexed in {:.1} ms",
                stats.articles,
                stats.sections,
                stats.terms,
                stats.build_micros as f64 / 1000.0
            );
            println!("a running paydesk reloads its articles on SIGHUP: kill -HUP <pid>");
            Ok(())
        }
    }
}

async fn migrate(store: &Store, action: MigrateAction) -> Result<(), String> {
    match action {
        MigrateAction::Up => store.migrate_up().await.map_err(|e| e.to_string())?,
        MigrateAction::Down { steps } => store
            .migrate_down(Some(steps))
            .await
            .map_err(|e| e.to_string())?,
        MigrateAction::Status => {}
    }
    for m in store.migration_states().await.map_err(|e| e.to_string())? {
        println!(
            "{} {}",
            if m.applied { "applied" } else { "pending" },
            m.name
        );
    }
    Ok(())
}
