//! The delivery worker every instance runs, and the retry schedule. Each pass reads the deliveries due
//! now, claims each with a database lease (an instance that loses the claim skips it), and attempts the
//! ones it won, several at a time. A payment's next event is not due while an earlier one of the same
//! payment is pending (see `Store::due_webhook_deliveries`), so events arrive in sequence order.
//!
//! Retries: 30 s after the first failure, doubling up to 6 h between attempts, each delay jittered by
//! ±25 % so endpoints coming back are not hit by every instance at once; a delivery still failing three
//! days after it was created is given up. `PAYDESK_WEBHOOK_RETRY_SCALE` multiplies all of it.

use std::time::Duration;

use futures_util::StreamExt;
use rand::Rng;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::WebhookService;
use crate::store::webhooks::NextStep;

/// Deliveries read per pass.
const BATCH: u64 = 50;
/// Attempts one instance makes at once (one slow endpoint must not hold up everyone else).
const CONCURRENCY: usize = 8;
const FIRST_RETRY: Duration = Duration::from_secs(30);
const LONGEST_WAIT: Duration = Duration::from_secs(6 * 3600);
const GIVE_UP_AFTER: Duration = Duration::from_secs(3 * 24 * 3600);
/// How far past the attempt timeout a lease lasts; it only expires early if an instance dies.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// How an endpoint took an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SendOutcome {
    /// 2XX.
    Accepted,
    /// 410: the endpoint is gone for good; it is disabled.
    Gone,
    /// Anything else: no answer, a timeout, a redirect, another status.
    Failed,
}

/// What follows attempt number `attempts_made` (1 for the first) of a delivery created at
/// `created_at`.
pub(super) fn next_step(
    outcome: SendOutcome,
    created_at: OffsetDateTime,
    attempts_made: i32,
    now: OffsetDateTime,
    scale: f64,
) -> NextStep {
    match outcome {
        SendOutcome::Accepted => NextStep::Delivered,
        SendOutcome::Gone => NextStep::GiveUp,
        SendOutcome::Failed => {
            let jitter = rand::rng().random_range(0.75..=1.25);
            let at = now + retry_delay(attempts_made, scale, jitter);
            if at > created_at + GIVE_UP_AFTER.mul_f64(scale) {
                NextStep::GiveUp
            } else {
                NextStep::RetryAt(at)
            }
        }
    }
}

/// The wait after attempt `attempts_made`: 30 s, 1 min, 2 min, ... at most 6 h, times `jitter`.
fn retry_delay(attempts_made: i32, scale: f64, jitter: f64) -> Duration {
    let doublings = attempts_made.clamp(1, 20) - 1;
    let base = FIRST_RETRY.saturating_mul(1 << doublings).min(LONGEST_WAIT);
    base.mul_f64(scale * jitter)
}

pub fn spawn_delivery_worker(
    service: WebhookService,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let poll = service.settings().poll_interval;
    tokio::spawn(async move {
        loop {
            // Shutting down abandons attempts in flight; their leases expire and another instance
            // (or this one after a restart) retries them.
            let full = tokio::select! {
                pass = deliver_due(&service) => pass,
                _ = shutdown.changed() => break,
            };
            if *shutdown.borrow() {
                break;
            }
            if !full {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = shutdown.changed() => break,
                }
            }
        }
    })
}

/// One pass; `true` when it found a full batch (more may be due at once).
async fn deliver_due(service: &WebhookService) -> bool {
    let now = service.store().now();
    let lease = service.settings().timeout + LEASE_MARGIN;
    let due = match service.store().due_webhook_deliveries(now, BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "webhook delivery pass failed; retrying next interval");
            return false;
        }
    };
    let full = due.len() as u64 == BATCH;
    let mut claimed = Vec::new();
    for delivery in due {
        let token = uuid::Uuid::new_v4().simple().to_string();
        match service
            .store()
            .claim_webhook_delivery(&delivery.id, now, now + lease, &token)
            .await
        {
            Ok(true) => claimed.push((delivery, token)),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "claiming a webhook delivery failed"),
        }
    }
    futures_util::stream::iter(claimed)
        .for_each_concurrent(CONCURRENCY, |(delivery, token)| async move {
            if let Err(e) = service.attempt(&delivery, &token).await {
                tracing::warn!(delivery = %delivery.id, error = %e, "webhook attempt failed; its lease expires and it is retried");
            }
        })
        .await;
    full
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_thirty_seconds_up_to_six_hours() {
        let delays: Vec<u64> = (1..=12)
            .map(|n| retry_delay(n, 1.0, 1.0).as_secs())
            .collect();
        assert_eq!(
            delays,
            vec![
                30, 60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 21600, 21600
            ]
        );
        assert_eq!(retry_delay(1, 0.001, 1.0), Duration::from_millis(30));
        assert_eq!(retry_delay(1, 1.0, 0.75), Duration::from_millis(22_500));
    }

    #[test]
    fn failures_are_retried_for_about_three_days_then_given_up() {
        let created = OffsetDateTime::now_utc();
        let mut now = created;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match next_step(SendOutcome::Failed, created, attempts, now, 1.0) {
                NextStep::RetryAt(at) => {
                    assert!(at > now);
                    now = at;
                }
                NextStep::GiveUp => break,
                NextStep::Delivered => unreachable!(),
            }
        }
        let span = now - created;
        assert!(
            span > time::Duration::days(2) && span <= time::Duration::days(3),
            "{span}"
        );
        assert!((15..=25).contains(&attempts), "{attempts}");
    }

    #[test]
    fn success_and_gone_end_the_delivery_at_once() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            next_step(SendOutcome::Accepted, now, 1, now, 1.0),
            NextStep::Delivered
        );
        assert_eq!(
            next_step(SendOutcome::Gone, now, 1, now, 1.0),
            NextStep::GiveUp
        );
    }
}
