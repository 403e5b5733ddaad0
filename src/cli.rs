//! Command line: `serve` (the default), `migrate up|down|status`, `openapi`, `help check|reindex`.
//! Errors print one line and exit with status 1; no backtraces for operator mistakes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{self, App};
use crate::config::Config;
use crate::help::{HelpCenter, HelpSource};
use crate::store::Store;

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
    /// Serve the API, pages, help centre and (by default) the Innopay sandbox.
    Serve,
    /// Apply, revert or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Print the OpenAPI document.
    Openapi {
        /// YAML instead of JSON.
        #[arg(long)]
        yaml: bool,
    },
    /// Check or index the help articles.
    Help {
        #[command(subcommand)]
        action: HelpAction,
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
        Command::Openapi { yaml } => {
            println!("{}", if yaml { app::openapi_yaml() } else { app::openapi_json() });
            Ok(())
        }
        Command::Serve => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            crate::ops::init_logging(&config);
            let app = App::build(config).await.map_err(|e| e.to_string())?;
            tokio::spawn(crate::help::reload_on_sighup(app.state().help.clone()));
            println!("paydesk listening on {}", app.public_url());
            app.run_until(app::shutdown_signal())
                .await
                .map_err(|e| format!("server failed: {e}"))
        }
        Command::Migrate { action } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            crate::ops::init_logging(&config);
            let store = Store::connect(&config.database, 2)
                .await
                .map_err(|e| format!("cannot open the database named by PAYDESK_DATABASE_URL: {e}"))?;
            let result = migrate(&store, action).await;
            store.close().await;
            result
        }
    }
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
        println!("{} {}", if m.applied { "applied" } else { "pending" }, m.name);
    }
    Ok(())
}
