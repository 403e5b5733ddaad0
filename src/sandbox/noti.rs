//! Noti delivery: POSTs the form-encoded notification to the merchant and resends, with doubling
//! delays, until the answer body is exactly `0000` or the attempts run out, as Innopay does. Noti
//! faults (duplicates, losing one, holding one back so a later one overtakes it) are applied here.
//! A merchant's Noti URL is chosen through the control API, so Noti obey the webhooks' destination rules
//! (`webhooks::destination`): no redirect is followed, and with `PAYDESK_WEBHOOK_PRIVATE_NETWORKS`
//! off only public addresses are reached. Only the start of each answer is read and kept.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Sandbox;
use super::faults::FaultKind;
use super::state::{MAX_ANSWER_CHARS, NotiJob, NotiRecord, clip};
use crate::webhooks::destination::refused_literal;

/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl Sandbox {
    /// Queues a Noti (and its duplicate, if a fault says so) for delivery in the background;
    /// returns its id in the Noti log.
    pub(super) fn send_noti(&self, mut job: NotiJob) -> u64 {
        let (fault, settings) = {
            let mut state = self.lock();
            (
                state.faults.take(None, Some(&job.mid)),
                state.settings.clone(),
            )
        };
        job.url = job.url.or_else(|| self.inner.default_noti_url.clone());
        let lost = fault == Some(FaultKind::NotiLost);
        let (copies, hold) = match fault {
            Some(FaultKind::NotiDuplicate) => (2, Duration::ZERO),
            Some(FaultKind::NotiOutOfOrder { ms }) => (1, Duration::from_millis(ms)),
            _ => (1, Duration::ZERO),
        };
        let mut first = None;
        for _ in 0..copies {
            // Ids never restart, so a delivery still running across a reset cannot touch a new record.
            let id = self.inner.next_noti_id.fetch_add(1, Ordering::Relaxed) + 1;
            first.get_or_insert(id);
            {
                let mut state = self.lock();
                state.record_noti(NotiRecord {
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
                    last_answer: lost.then(|| "not sent: noti_lost fault".to_string()),
                    fields: job.fields.clone(),
                });
            }
            if lost {
                continue;
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
        first.expect("at least one copy")
    }

    async fn deliver(
        &self,
        id: u64,
        url: &str,
        fields: &[(String, String)],
        backoff: Duration,
        attempts: u32,
    ) {
        if let Some(ip) = self.refused(url) {
            let why = format!(
                "not sent: {ip} is not a public address (PAYDESK_WEBHOOK_PRIVATE_NETWORKS is off)"
            );
            self.note(id, 0, false, why);
            return;
        }
        let mut pause = backoff;
        for attempt in 1..=attempts {
            let answer = match self.inner.http.post(url).form(fields).send().await {
                Ok(response) if response.status().is_redirection() => Err(format!(
                    "HTTP {}: redirects are not followed",
                    response.status().as_u16()
                )),
                Ok(response) => Ok(answer_start(response).await),
                Err(e) => Err(crate::gateway::describe(&e)),
            };
            let delivered = matches!(&answer, Ok(body) if body == "0000");
            let answer = answer.unwrap_or_else(|e| format!("error: {e}"));
            if !self.note(id, attempt, delivered, answer) {
                return; // the sandbox was reset: this Noti no longer exists
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

impl Sandbox {
    /// The address of `url` Noti may not go to, if it is an IP literal and private networks are off.
    fn refused(&self, url: &str) -> Option<std::net::IpAddr> {
        if self.inner.private_networks {
            return None;
        }
        url::Url::parse(url).ok().as_ref().and_then(refused_literal)
    }

    /// Records how an attempt went; false when the Noti is no longer in the log (reset, or
    /// forgotten as the oldest).
    fn note(&self, id: u64, attempts: u32, delivered: bool, answer: String) -> bool {
        let mut state = self.lock();
        let Some(record) = state.notis.iter_mut().find(|r| r.id == id) else {
            return false;
        };
        record.attempts = attempts;
        record.delivered = delivered;
        record.last_answer = Some(clip(&answer, MAX_ANSWER_CHARS));
        true
    }
}

/// The start of an answer's body: a merchant's endpoint could answer without end, and the log keeps
/// only `MAX_ANSWER_CHARS` of it anyway.
async fn answer_start(mut response: reqwest::Response) -> String {
    // Enough bytes for MAX_ANSWER_CHARS characters of UTF-8.
    const MAX_BYTES: usize = MAX_ANSWER_CHARS * 4;
    let mut body = Vec::new();
    while body.len() < MAX_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(MAX_BYTES);
    clip(&String::from_utf8_lossy(&body), MAX_ANSWER_CHARS)
}
