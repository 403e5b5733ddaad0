//! The background reconciler: every instance runs one. It expires abandoned checkouts and resolves
//! payments left `unknown`, `approving` (an instance died mid-approval) or with an unconfirmed cancel.
//! Instances coordinate through the database lease in `Store::claim_for_reconcile`, so it is safe to
//! run any number of them.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::CheckoutService;

/// Payments handled per pass.
const BATCH: u64 = 50;

pub fn spawn_reconciler(
    service: CheckoutService,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            match service.reconcile_due(BATCH).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(payments = n, "reconciler pass"),
                Err(e) => {
                    tracing::warn!(error = %e, "reconciler pass failed; retrying next interval")
                }
            }
        }
    })
}
