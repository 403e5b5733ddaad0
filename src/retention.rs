//! The optional periodic purge (`PAYDESK_PURGE_INTERVAL_MS`, off by default): each instance, like its
//! reconciler and delivery worker, runs `Store::purge` on its own schedule. Instances purging at once
//! need no coordination (see `store::retention`). `paydesk purge` runs the same purge once.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::RetentionConfig;
use crate::store::retention::{PURGE_BATCH, Purged};
use crate::store::{Store, StoreError};

/// One purge at `now` with the configured ages, logged.
pub async fn purge_once(
    store: &Store,
    ages: &RetentionConfig,
    now: OffsetDateTime,
) -> Result<Purged, StoreError> {
    let purged = store.purge(now, ages, PURGE_BATCH).await?;
    if purged.total() > 0 {
        tracing::info!(
            webhook_attempts = purged.webhook_attempts,
            help_searches = purged.help_searches,
            help_views = purged.help_views,
            help_feedback = purged.help_feedback,
            notis = purged.notis,
            idempotency_keys = purged.idempotency_keys,
            "purge"
        );
    }
    Ok(purged)
}

/// Purges every `interval` until `shutdown`; `None` when the periodic purge is off. A stop interrupts
/// a purge between statements (each batch is its own transaction, so nothing is left half done).
pub fn spawn_purger(
    store: Store,
    ages: RetentionConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let interval: Duration = ages.purge_interval?;
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                result = purge_once(&store, &ages, store.now()) => {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "purge failed; retrying next interval");
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
    }))
}
