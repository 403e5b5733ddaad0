//! Search analytics off the request path. A search hands its record to a bounded queue and answers at
//! once; one writer task per instance drains the queue and writes what has gathered, at most every
//! `GATHER` (or sooner when a full batch waits), in one transaction of multi-row inserts. Under load
//! that turns thousands of one-row inserts (and, on SQLite, thousands of turns at the one write lock
//! and wake-ups of its connection thread) into about ten transactions a second.
//!
//! Analytics are not money: when the queue is full (the database is slower than the searches) or the
//! database refuses a batch, those records are dropped and counted in a warning, never retried at the
//! reader's expense. A record still queued when the process is killed is lost; a graceful shutdown
//! writes the queue out first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{Audience, SearchResults};
use crate::ops::Metrics;
use crate::store::{NewSearch, Store};

/// Records written in one transaction at most.
const BATCH_ROWS: usize = 512;

/// How long the writer lets records gather after the first one arrives.
const GATHER: Duration = Duration::from_millis(100);

/// Where searches are recorded. Cheap to clone; every handler holds one.
#[derive(Clone)]
pub struct SearchLog {
    queue: mpsc::Sender<NewSearch>,
    dropped: Arc<AtomicU64>,
    metrics: Metrics,
}

/// The task that writes queued searches; started by `App::run_until`.
pub struct SearchLogWriter {
    queue: mpsc::Receiver<NewSearch>,
    dropped: Arc<AtomicU64>,
    store: Store,
}

/// A search log holding at most `capacity` unwritten records, and its writer.
pub fn search_log(store: Store, capacity: usize) -> (SearchLog, SearchLogWriter) {
    let (queue, receiver) = mpsc::channel(capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    (
        SearchLog {
            queue,
            dropped: Arc::clone(&dropped),
            metrics: Metrics::default(),
        },
        SearchLogWriter {
            queue: receiver,
            dropped,
            store,
        },
    )
}

impl SearchLog {
    /// This log also counting searches (and those that found nothing) into `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Queues a search and its outcome; `source` is `api` or `page`. Never waits.
    pub fn record(
        &self,
        results: &SearchResults,
        audience: Option<Audience>,
        source: &'static str,
    ) {
        let record = NewSearch {
            query: results.query.clone(),
            audience: audience.map(Audience::as_str),
            source,
            result_count: if results.fallback {
                0
            } else {
                results.hits.len()
            },
            fallback: results.fallback,
            took_micros: results.took_micros,
            at: OffsetDateTime::now_utc(),
        };
        self.metrics.help_search(source, record.result_count == 0);
        if self.queue.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl SearchLogWriter {
    /// Writes batches until `stop` turns true, then writes what is still queued and ends.
    pub fn spawn(mut self, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH_ROWS);
            let mut stopping = false;
            while !stopping {
                tokio::select! {
                    received = self.queue.recv_many(&mut batch, BATCH_ROWS) => {
                        if received == 0 {
                            return; // every SearchLog is gone
                        }
                    }
                    _ = async { stop.wait_for(|stopped| *stopped).await.map(|_| ()) } => break,
                }
                if batch.len() < BATCH_ROWS {
                    // Let a busy server's searches gather: waking the writer (and SQLite's
                    // connection thread) for every search costs more than the search.
                    tokio::select! {
                        _ = tokio::time::sleep(GATHER) => {}
                        _ = async { stop.wait_for(|stopped| *stopped).await.map(|_| ()) } => {
                            stopping = true;
                        }
                    }
                }
                self.fill(&mut batch);
                self.write(&mut batch).await;
            }
            loop {
                self.fill(&mut batch);
                if batch.is_empty() {
                    break;
                }
                self.write(&mut batch).await;
            }
        })
    }

    /// Takes what is queued into `batch`, up to `BATCH_ROWS`, without waiting.
    fn fill(&mut self, batch: &mut Vec<NewSearch>) {
        while batch.len() < BATCH_ROWS {
            match self.queue.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
    }

    async fn write(&self, batch: &mut Vec<NewSearch>) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "help searches not recorded: the analytics queue was full"
            );
        }
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.store.help_analytics().record_searches(batch).await {
            tracing::warn!(error = %e, searches = batch.len(), "cannot record help searches");
        }
        batch.clear();
    }
}
