//! Persistence. Owns the database connection, the migrations, and every query paydesk runs: other
//! modules call the repository functions here and never build SQL themselves. The same code runs on
//! SQLite (embedded default) and PostgreSQL (production); correctness across several instances relies on
//! the database (conditional updates, unique keys), never on in-process locks.

mod help_analytics;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr, TransactionTrait};
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::config::{DatabaseKind, DatabaseUrl, ExposeSecret};
use crate::secrets::Secrets;

pub mod console;
mod entities;
pub mod gauges;
pub mod idempotency;
pub mod notis;
pub mod payments;
pub mod retention;
pub mod storefronts;
pub mod webhooks;

pub use help_analytics::{
    Counted, FeedbackComment, FeedbackTotals, HelpAnalytics, HelpReport, NewFeedback, NewSearch,
    NewView, ViewSource, normalize_query,
};

/// What a recorded payment change publishes to the storefront's webhook outbox. The store writes it
/// in the change's transaction but does not decide it: `App::build` wires the `Publisher` (the
/// `webhooks` module's), so the store imports no feature module.
#[derive(Clone, Debug)]
pub struct OutboxEntry {
    pub id: String,
    pub event_type: String,
    /// The payment's version after the change.
    pub sequence: i32,
    /// The exact bytes every delivery sends and signs.
    pub body: String,
}

/// Decides the outbox entry, if any, of a payment's change from `before` (`None`: just created) to
/// `after`, recorded at the given time.
pub type Publisher = std::sync::Arc<
    dyn Fn(
            Option<&payments::PaymentRow>,
            &payments::PaymentRow,
            time::OffsetDateTime,
        ) -> Option<OutboxEntry>
        + Send
        + Sync,
>;

/// A database problem, as the rest of the program sees it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached at all; requests should answer 503 and be retried.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique key already exists (an order id reused, a key taken).
    #[error("duplicate: {0}")]
    Duplicate(String),
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// A stored secret cannot be encrypted or decrypted with the keys this instance has.
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    /// A payment change was asked of a store opened without its `Publisher` (a tool's store):
    /// refused rather than recorded without telling the storefront.
    #[error("this store records no payment changes: it was opened without the webhook publisher")]
    NoPublisher,
    /// A change the table of allowed changes (`PaymentStatus::may_become`) does not have: a bug.
    #[error("a payment cannot go from {from} to {to}")]
    IllegalTransition {
        from: crate::domain::PaymentStatus,
        to: crate::domain::PaymentStatus,
    },
}

impl StoreError {
    pub(crate) fn is_duplicate(err: &DbErr) -> bool {
        matches!(
            err.sql_err(),
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
        )
    }

    /// Maps a unique violation on insert to `Duplicate`.
    pub(crate) fn from_insert(err: DbErr) -> Self {
        if Self::is_duplicate(&err) {
            StoreError::Duplicate(err.to_string())
        } else {
            StoreError::Db(err)
        }
    }
}

impl StoreError {
    /// Whether the database cannot be used right now (see `is_unavailable`): the request may
    /// succeed later, so the API answers 503 with `Retry-After`.
    pub fn is_temporary(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Db(e) => is_unavailable(e),
            _ => false,
        }
    }
}

/// The database cannot be used right now (stopped, restarting, unreachable, or busy past the busy
/// timeout), as opposed to a bug or a bad query: the request may succeed later, so it is answered 503
/// with `Retry-After`, never 500. A connection that breaks in the middle of a query (the server was
/// stopped) arrives as an I/O error of that query, not as a connection error.
fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match &**e {
                Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::Protocol(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed => true,
                Sqlx::Database(db) => {
                    let code = db.code().unwrap_or_default();
                    if db
                        .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                        .is_some()
                    {
                        // SQLITE_BUSY and SQLITE_LOCKED, with their extended codes.
                        matches!(code.parse::<i32>().map(|c| c & 0xff), Ok(5 | 6))
                    } else {
                        // PostgreSQL: connection exceptions, too many connections, shutting down
                        // or starting up.
                        code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
                    }
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// One migration and whether it is applied, for `paydesk migrate status` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub name: String,
    pub applied: bool,
}

/// The database handle shared by the whole application (cheap to clone).
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    kind: DatabaseKind,
    /// Encrypts and decrypts the secret columns; `None` for tools that never touch them.
    secrets: Option<Secrets>,
    /// Decides each payment change's webhook outbox; `None` for tools that change no payment.
    publisher: Option<Publisher>,
    /// Stamps rows and decides what is due; the app's one clock (see `crate::clock`).
    clock: Clock,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("kind", &self.kind)
            .field("secrets", &self.secrets.is_some())
            .field("publisher", &self.publisher.is_some())
            .finish()
    }
}

impl Store {
    /// Opens a pool. For SQLite: WAL, a busy timeout and foreign keys, so concurrent requests wait for
    /// the writer instead of failing.
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Self, StoreError> {
        let (bare_url, password) = url.without_password();
        let mut options = ConnectOptions::new(bare_url);
        if let Some(password) = password {
            options.map_sqlx_postgres_opts(move |opts| opts.password(password.expose_secret()));
        }
        options
            .max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            .sqlx_logging(false);
        if url.kind == DatabaseKind::Sqlite {
            options.map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        }
        let db = Database::connect(options)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self {
            db,
            kind: url.kind,
            secrets: None,
            publisher: None,
            clock: Clock::system(),
        })
    }

    /// This store reading time from `clock`; the services built on it share that clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The app's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Now, by the app's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// This store with what decides the webhook outbox of each payment change.
    pub fn with_publisher(mut self, publisher: Publisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    pub(crate) fn publisher(&self) -> Result<&Publisher, StoreError> {
        self.publisher.as_ref().ok_or(StoreError::NoPublisher)
    }

    /// This store with the keys for the secret columns (storefront credentials).
    pub fn with_secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// The keys given with `with_secrets`.
    pub fn secret_keys(&self) -> Result<&Secrets, StoreError> {
        Ok(self
            .secrets
            .as_ref()
            .ok_or(crate::secrets::SecretsError::NotLoaded)?)
    }

    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Applies every pending migration. On SQLite, sea-orm-migration sends each statement to
    /// whichever pooled connection is free, outside any transaction; a statement could then run on a
    /// connection whose view of the schema predates the one before it (seen as a rare "index ... already
    /// exists" when migrating up again after down). One transaction keeps them on one connection and
    /// undoes a migration that fails halfway. On PostgreSQL sea-orm-migration already runs each
    /// migration in a transaction of its own.
    pub async fn migrate_up(&self) -> Result<(), StoreError> {
        if self.kind == DatabaseKind::Sqlite {
            let txn = self.db.begin().await?;
            Migrator::up(&txn, None).await?;
            txn.commit().await?;
            return Ok(());
        }
        Ok(Migrator::up(&self.db, None).await?)
    }

    /// Reverts the `steps` most recent migrations (all when `None`), in one transaction on SQLite as
    /// `migrate_up` explains.
    pub async fn migrate_down(&self, steps: Option<u32>) -> Result<(), StoreError> {
        if self.kind == DatabaseKind::Sqlite {
            let txn = self.db.begin().await?;
            Migrator::down(&txn, steps).await?;
            txn.commit().await?;
            return Ok(());
        }
        Ok(Migrator::down(&self.db, steps).await?)
    }

    pub async fn migration_states(&self) -> Result<Vec<MigrationState>, StoreError> {
        let pending: Vec<String> = Migrator::get_pending_migrations(&self.db)
            .await?
            .iter()
            .map(|m| m.name().to_string())
            .collect();
        Ok(Migrator::migrations()
            .iter()
            .map(|m| MigrationState {
                name: m.name().to_string(),
                applied: !pending.iter().any(|p| p == m.name()),
            })
            .collect())
    }

    /// Ready to serve: reachable, and every migration this build knows is applied.
    pub async fn readiness(&self) -> Result<(), String> {
        self.db
            .ping()
            .await
            .map_err(|e| format!("database unreachable: {e}"))?;
        let pending: Vec<String> = self
            .migration_states()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|m| !m.applied)
            .map(|m| m.name)
            .collect();
        if pending.is_empty() {
            Ok(())
        } else {
            Err(format!("migrations not applied: {}", pending.join(", ")))
        }
    }

    pub async fn close(self) {
        if let Err(e) = self.db.close().await {
            tracing::warn!(error = %e, "closing the database pool failed");
        }
    }
}

#[cfg(test)]
mod tests {
    /// The store is a leaf: it may use the clock, the configuration, the shared vocabulary and the secrets
    /// keyring, never a feature module (those call the store; what it must not decide, such as an
    /// outbox entry, is handed in by `App::build`).
    #[test]
    fn the_store_imports_no_feature_module() {
        const ALLOWED: &[&str] = &["clock", "config", "domain", "secrets", "store"];
        let modules: Vec<&str> = include_str!("../lib.rs")
            .lines()
            .filter_map(|l| {
                l.strip_prefix("pub mod ")
                    .or_else(|| l.strip_prefix("pub(crate) mod "))
            })
            .map(|m| m.trim_end_matches(';'))
            .filter(|m| !ALLOWED.contains(m))
            .collect();
        assert!(modules.contains(&"webhooks") && modules.contains(&"checkout"));
        let grouped = regex::Regex::new(r"crate::\{([^}]*)\}").unwrap();
        let single = regex::Regex::new(r"crate::(\w+)").unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
        let mut files = vec![dir.clone()];
        let mut read = 0;
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            read += 1;
            let used = single.captures_iter(&text).map(|c| c[1].to_string()).chain(
                grouped.captures_iter(&text).flat_map(|c| {
                    c[1].split(',')
                        .map(|item| item.trim().split("::").next().unwrap_or("").to_string())
                        .collect::<Vec<_>>()
                }),
            );
            for module in used {
                assert!(
                    !modules.contains(&module.as_str()),
                    "{} uses crate::{module}",
                    path.display()
                );
            }
        }
        assert!(read > 5, "the store's files were read");
    }
}
