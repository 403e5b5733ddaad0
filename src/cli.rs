//! Command line: `serve` (the default), `migrate up|down|status`, `openapi`, `sandbox`. Errors print one line and
//! exit with status 1; no backtraces for operator mistakes.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{self, App};
use crate::config::Config;
use crate::sandbox::Standalone;
use crate::store::Store;

#[derive(Parser)]
#[command(
    name = "paydesk",
    version,
    about = "Payment desk between Korean storefronts and Innopay"
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
    /// Serve only the Innopay sandbox (no database), at the same `/sandbox` paths, so several paydesk
    /// instances can share it through PAYDESK_INNOPAY_API_URL.
    Sandbox {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        addr: SocketAddr,
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
            println!("paydesk listening on {}", app.public_url());
            app.run_until(app::shutdown_signal())
                .await
                .map_err(|e| format!("server failed: {e}"))
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
