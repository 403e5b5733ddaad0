//! Noti delivery: POSTs the form-encoded notification to the merchant and resends, with doubling
//! delays, until the answer body is exactly `0000` or the attempts run out, as Innopay does. Noti
//! faults (duplicates, holding one back so a later one overtakes it) are applied here.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Sandbox;
use super::faults::FaultKind;
use super::state::{NotiJob, NotiRecord};

/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl Sandbox {
    /// Queues a Noti (and its duplicate, if a fault says so) for delivery in the background.
    pub(super) fn send_noti(&self, mut job: NotiJob) {
        let (fault, settings) = {
            let mut state = self.lock();
            (
                state.faults.take(None, Some(&job.mid)),
                state.settings.clone(),
            )
        };
        job.url = job.url.or_else(|| self.inner.default_noti_url.clone());
        let (copies, hold) = match fault {
            Some(FaultKind::NotiDuplicate) => (2, Duration::ZERO),
            Some(FaultKind::NotiOutOfOrder { ms }) => (1, Duration::from_millis(ms)),
            _ => (1, Duration::ZERO),
        };
        for _ in 0..copies {
            // Ids never restart, so a delivery still running across a reset cannot touch a new record.
            let id = self.inner.next_noti_id.fetch_add(1, Ordering::Relaxed) + 1;
            {
                let mut state = self.lock();
                state.notis.push(NotiRecord {
                    id,
                    mid: job.mid.clone(),
                    tid: job.tid.clone(),
                    url: job.url.clone(),
                    status: job
                        .fields
                        .iter()
                        .find(|(k, _)| k == "status")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default(),
                    attempts: 0,
                    delivered: false,
                    last_answer: None,
                    fields: job.fields.clone(),
                });
            }
            let Some(url) = job.url.clone() else {
                tracing::info!(tid = %job.tid, "sandbox Noti not sent: no Noti URL for this merchant");
                continue;
            };
            let sandbox = self.clone();
            let fields = job.fields.clone();
            let (backoff, attempts) = (
                Duration::from_millis(settings.noti_backoff_ms),
                settings.noti_max_attempts,
            );
            tokio::spawn(async move {
                tokio::time::sleep(hold).await;
                sandbox.deliver(id, &url, &fields, backoff, attempts).await;
            });
        }
    }

    async fn deliver(
        &self,
        id: u64,
        url: &str,
        fields: &[(String, String)],
        backoff: Duration,
        attempts: u32,
    ) {
        let mut pause = backoff;
        for attempt in 1..=attempts {
            let answer = match self.inner.http.post(url).form(fields).send().await {
                Ok(response) => response.text().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let delivered = matches!(&answer, Ok(body) if body == "0000");
            {
                let mut state = self.lock();
                let Some(record) = state.notis.iter_mut().find(|r| r.id == id) else {
                    return; // the sandbox was reset: this Noti no longer exists
                };
                record.attempts = attempt;
                record.delivered = delivered;
                record.last_answer = Some(answer.unwrap_or_else(|e| format!("error: {e}")));
            }
            if delivered {
                return;
            }
            if attempt < attempts {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_BACKOFF);
            }
        }
        tracing::warn!(
            url,
            attempts,
            "sandbox Noti gave up: the merchant never answered 0000"
        );
    }
}
