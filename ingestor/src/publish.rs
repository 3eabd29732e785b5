//! Publishing accepted records and knowing, per request, when every one of them is durable.
//!
//! A [`Sink`] is where records go (Kafka in production, memory in unit tests). Every record is
//! enqueued with a [`Ticket`]; the sink completes the ticket exactly once, from its delivery
//! report. A [`Tracker`] counts the tickets of one request (a batch or a single transaction): how
//! many are outstanding, delivered, failed, and the first line that failed, so a request answers
//! only once all of its records are accounted for.
//!
//! The [`Publisher`] bounds the bytes in flight across all requests with one semaphore: a record's
//! bytes are taken before it is enqueued and given back by its delivery report, so memory stays
//! bounded whatever the size of the files and however slow the broker is. No task is spawned per
//! record; a request simply waits for budget.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use crate::metrics;

/// Bytes charged per record on top of its key and payload: librdkafka's own per-message overhead,
/// roughly, so that many tiny records still count.
const RECORD_OVERHEAD: usize = 192;

/// Why a sink could not take a record right now.
#[derive(Debug)]
pub enum EnqueueError {
    /// The sink's own queue is full: try again shortly. The ticket comes back.
    QueueFull(Ticket),
    /// The sink cannot take records at all (e.g. the producer hit a fatal error).
    Failed(String, Ticket),
}

/// Where accepted records go.
#[async_trait::async_trait]
pub trait Sink: Send + Sync + 'static {
    /// What an operator calls it, e.g. `kafka`.
    fn name(&self) -> &str;

    /// Enqueues one record without blocking. On `Ok`, the sink owns `ticket` and completes it once
    /// the record is durably stored or has definitely failed.
    fn enqueue(&self, key: &[u8], payload: &[u8], ticket: Ticket) -> Result<(), EnqueueError>;

    /// A cheap round trip to the backend, for `/readyz`.
    async fn ping(&self) -> Result<(), String>;

    /// Waits up to `timeout` for every enqueued record's delivery report (at shutdown).
    async fn flush(&self, timeout: Duration);
}

/// One enqueued record's claim on its [`Tracker`]. Completing it (or dropping it uncompleted, which
/// counts as a failure) gives its bytes back to the budget.
#[derive(Debug)]
pub struct Ticket {
    tracker: Option<Arc<Tracker>>,
    line: u64,
    bytes: usize,
}

impl Ticket {
    /// Records the delivery report: `Ok` once the backend acknowledged the record durably.
    pub fn complete(mut self, result: Result<(), String>) {
        if let Some(tracker) = self.tracker.take() {
            tracker.complete(self.line, self.bytes, result);
        }
    }

    /// The line of the record (0 for a single transaction).
    pub fn line(&self) -> u64 {
        self.line
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(tracker) = self.tracker.take() {
            tracker.complete(
                self.line,
                self.bytes,
                Err("the record was dropped without a delivery report".into()),
            );
        }
    }
}

/// The delivery accounting of one request.
#[derive(Debug)]
pub struct Tracker {
    budget: Arc<Semaphore>,
    outstanding: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    /// The smallest line whose record failed; `u64::MAX` while none did.
    first_failed_line: AtomicU64,
    first_error: Mutex<Option<String>>,
    drained: Notify,
}

impl Tracker {
    fn new(budget: Arc<Semaphore>) -> Self {
        Tracker {
            budget,
            outstanding: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_failed_line: AtomicU64::new(u64::MAX),
            first_error: Mutex::new(None),
            drained: Notify::new(),
        }
    }

    /// Records durably stored.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    /// Records that definitely failed.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Acquire)
    }

    /// Records enqueued whose delivery report has not come yet.
    pub fn outstanding(&self) -> u64 {
        self.outstanding.load(Ordering::Acquire)
    }

    /// The smallest line among the failed records.
    pub fn first_failed_line(&self) -> Option<u64> {
        match self.first_failed_line.load(Ordering::Acquire) {
            u64::MAX => None,
            line => Some(line),
        }
    }

    /// The first delivery error seen, for the log.
    pub fn first_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until every enqueued record has its delivery report.
    pub async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            // Registered before the check, so a report arriving in between is not missed.
            notified.as_mut().enable();
            if self.outstanding() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn complete(&self, line: u64, bytes: usize, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.delivered.fetch_add(1, Ordering::AcqRel);
            }
            Err(e) => {
                self.first_failed_line.fetch_min(line, Ordering::AcqRel);
                {
                    let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                    first.get_or_insert(e);
                }
                self.failed.fetch_add(1, Ordering::AcqRel);
                metrics::delivery_failed();
            }
        }
        self.budget.add_permits(bytes);
        if self.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.drained.notify_waiters();
        }
    }
}

/// Why a record was not enqueued.
#[derive(Debug, thiserror::Error)]
#[error("the record could not be enqueued: {0}")]
pub struct PublishError(pub String);

/// Enqueues records on a [`Sink`] within one in-flight byte budget shared by every request.
#[derive(Clone)]
pub struct Publisher {
    sink: Arc<dyn Sink>,
    budget: Arc<Semaphore>,
    max_inflight_bytes: usize,
}

impl Publisher {
    /// A publisher letting at most `max_inflight_bytes` (1 MiB to 4 GiB) be enqueued but not yet
    /// acknowledged at any time.
    pub fn new(sink: Arc<dyn Sink>, max_inflight_bytes: usize) -> Self {
        // At most u32::MAX: a record's charge must fit in one `acquire_many`.
        let max_inflight_bytes = max_inflight_bytes.clamp(1 << 20, u32::MAX as usize);
        Publisher {
            sink,
            budget: Arc::new(Semaphore::new(max_inflight_bytes)),
            max_inflight_bytes,
        }
    }

    pub fn sink(&self) -> &Arc<dyn Sink> {
        &self.sink
    }

    /// Bytes enqueued and not yet acknowledged, now.
    pub fn inflight_bytes(&self) -> usize {
        self.max_inflight_bytes - self.budget.available_permits()
    }

    /// A fresh delivery account for one request.
    pub fn tracker(&self) -> Arc<Tracker> {
        Arc::new(Tracker::new(self.budget.clone()))
    }

    /// Enqueues one record under `tracker`, waiting for budget first. `Err` only when the sink
    /// refuses the record outright; the tracker then counts it as failed.
    pub async fn publish(
        &self,
        tracker: &Arc<Tracker>,
        key: &[u8],
        payload: &[u8],
        line: u64,
    ) -> Result<(), PublishError> {
        let bytes = (key.len() + payload.len() + RECORD_OVERHEAD).min(self.max_inflight_bytes);
        // At most the budget, which fits in a u32 (see `new`).
        let permits = u32::try_from(bytes).unwrap_or(u32::MAX);
        match self.budget.try_acquire_many(permits) {
            Ok(p) => p.forget(),
            Err(_) => match self.budget.acquire_many(permits).await {
                Ok(p) => p.forget(),
                Err(_) => return Err(PublishError("the publisher is closed".into())),
            },
        }
        let bytes = permits as usize;
        tracker.outstanding.fetch_add(1, Ordering::AcqRel);
        let mut ticket = Ticket {
            tracker: Some(tracker.clone()),
            line,
            bytes,
        };
        loop {
            match self.sink.enqueue(key, payload, ticket) {
                Ok(()) => return Ok(()),
                Err(EnqueueError::QueueFull(t)) => {
                    ticket = t;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(EnqueueError::Failed(why, t)) => {
                    t.complete(Err(why.clone()));
                    return Err(PublishError(why));
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod memory {
    //! A [`Sink`] in memory for unit tests: keeps what it is given, acknowledges at once, and can
    //! be told to fail records from a given point on.

    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(crate) struct Stored {
        pub(crate) key: Vec<u8>,
        pub(crate) payload: Vec<u8>,
        pub(crate) line: u64,
    }

    #[derive(Default)]
    pub(crate) struct MemorySink {
        pub(crate) stored: Mutex<Vec<Stored>>,
        /// Records after this many acknowledged ones fail.
        pub(crate) fail_after: Mutex<Option<usize>>,
        /// Keep tickets instead of completing them (to observe waiting).
        pub(crate) hold: Mutex<Option<Vec<Ticket>>>,
    }

    impl MemorySink {
        pub(crate) fn stored(&self) -> Vec<Stored> {
            self.stored.lock().unwrap().clone()
        }

        pub(crate) fn release_held(&self) {
            let held = self.hold.lock().unwrap().take().unwrap_or_default();
            for t in held {
                t.complete(Ok(()));
            }
        }
    }

    #[async_trait::async_trait]
    impl Sink for MemorySink {
        fn name(&self) -> &str {
            "memory"
        }

        fn enqueue(&self, key: &[u8], payload: &[u8], ticket: Ticket) -> Result<(), EnqueueError> {
            if let Some(held) = self.hold.lock().unwrap().as_mut() {
                held.push(ticket);
                return Ok(());
            }
            let mut stored = self.stored.lock().unwrap();
            if let Some(n) = *self.fail_after.lock().unwrap() {
                if stored.len() >= n {
                    drop(stored);
                    ticket.complete(Err("broker down".into()));
                    return Ok(());
                }
            }
            stored.push(Stored {
                key: key.to_vec(),
                payload: payload.to_vec(),
                line: ticket.line(),
            });
            drop(stored);
            ticket.complete(Ok(()));
            Ok(())
        }

        async fn ping(&self) -> Result<(), String> {
            Ok(())
        }

        async fn flush(&self, _timeout: Duration) {}
    }
}

#[cfg(test)]
mod tests {
    use super::memory::MemorySink;
    use super::*;

    #[tokio::test]
    async fn a_tracker_drains_once_every_ticket_is_reported() {
        let sink = Arc::new(MemorySink::default());
        *sink.hold.lock().unwrap() = Some(Vec::new());
        let publisher = Publisher::new(sink.clone(), 1 << 20);
        let tracker = publisher.tracker();
        for line in 2..5 {
            publisher.publish(&tracker, b"k", b"v", line).await.unwrap();
        }
        assert_eq!(tracker.outstanding(), 3);
        let waiting = tokio::spawn({
            let tracker = tracker.clone();
            async move { tracker.drained().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        sink.release_held();
        waiting.await.unwrap();
        assert_eq!((tracker.delivered(), tracker.failed()), (3, 0));
    }

    #[tokio::test]
    async fn failures_name_the_first_line_and_return_the_budget() {
        let sink = Arc::new(MemorySink::default());
        *sink.fail_after.lock().unwrap() = Some(1);
        let publisher = Publisher::new(sink, 1 << 20);
        let tracker = publisher.tracker();
        for line in [7, 9, 8] {
            publisher.publish(&tracker, b"k", b"v", line).await.unwrap();
        }
        tracker.drained().await;
        assert_eq!((tracker.delivered(), tracker.failed()), (1, 2));
        assert_eq!(tracker.first_failed_line(), Some(8));
        assert_eq!(tracker.first_error().as_deref(), Some("broker down"));
        assert_eq!(publisher.budget.available_permits(), 1 << 20);
    }

    #[tokio::test]
    async fn the_budget_bounds_what_is_in_flight() {
        let sink = Arc::new(MemorySink::default());
        *sink.hold.lock().unwrap() = Some(Vec::new());
        let publisher = Publisher::new(sink.clone(), 1 << 20);
        let tracker = publisher.tracker();
        let payload = vec![0u8; 300 * 1024];
        for line in 0..3 {
            publisher
                .publish(&tracker, b"k", &payload, line)
                .await
                .unwrap();
        }
        // A fourth 300 KiB record does not fit in 1 MiB until something is acknowledged.
        let blocked = publisher.publish(&tracker, b"k", &payload, 3);
        tokio::pin!(blocked);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), blocked.as_mut())
                .await
                .is_err()
        );
        sink.release_held();
        *sink.hold.lock().unwrap() = None;
        blocked.await.unwrap();
        tracker.drained().await;
        assert_eq!(tracker.delivered(), 4);
    }

    #[test]
    fn a_dropped_ticket_counts_as_failed() {
        let publisher = Publisher::new(Arc::new(MemorySink::default()), 1 << 20);
        let tracker = publisher.tracker();
        tracker.outstanding.fetch_add(1, Ordering::AcqRel);
        drop(Ticket {
            tracker: Some(tracker.clone()),
            line: 4,
            bytes: 0,
        });
        assert_eq!((tracker.failed(), tracker.outstanding()), (1, 0));
        assert_eq!(tracker.first_failed_line(), Some(4));
    }
}
