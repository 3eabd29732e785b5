//! Why `spend dev` cannot publish faster than it rewards, and the gate that enforces it.
//!
//! librdkafka's mock cluster keeps at most 5 MiB of message sets per partition (hard-coded in
//! `rdkafka_mock.c`, not configurable): past that it deletes the oldest, consumed or not. The
//! ingestor publishes ~3× faster than the rewarder rewards, so a large upload would run ahead by
//! more than 5 MiB and records it had acknowledged would vanish before the rewarder read them
//! (measured: a 1,000,000-row upload got 183,000 records rewarded, the rest were gone).
//!
//! [`BacklogGate`] wraps the ingestor's Kafka sink and refuses a record (as a full queue, so the
//! publisher waits and retries) while the bytes published and not yet written by the rewarder
//! exceed [`MAX_BACKLOG_BYTES`]. That bound holds for the whole topic, so it holds for any one
//! partition whatever the keys' spread. Bytes are counted as key + value; the broker's compressed
//! (lz4) message sets are no larger, give or take lz4's 0.4% worst case. Uploads to `spend dev`
//! therefore go at the rewarder's pace, and the batch answer still comes once every accepted row
//! is on the broker. A real broker keeps data by time and size set by its operator, so the
//! distributed ingestor has no such gate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use spend_ingestor::publish::{EnqueueError, Sink, Ticket};
use spend_ingestor::KafkaSink;
use spend_rewarder::Stats;

/// The most record bytes on the in-process broker not yet written by the rewarder: well under
/// the mock cluster's 5 MiB per partition.
pub(crate) const MAX_BACKLOG_BYTES: u64 = 4 << 20;

/// The ingestor's sink in `spend dev`: Kafka, at the rewarder's pace.
pub(crate) struct BacklogGate {
    inner: KafkaSink,
    /// Key and value bytes handed to the producer.
    published: AtomicU64,
    /// The rewarder's progress (bytes of records written).
    rewarded: Stats,
    max_backlog: u64,
}

impl BacklogGate {
    pub(crate) fn new(inner: KafkaSink, rewarded: Stats) -> Self {
        Self {
            inner,
            published: AtomicU64::new(0),
            rewarded,
            max_backlog: MAX_BACKLOG_BYTES,
        }
    }

    /// Bytes published and not yet written by the rewarder.
    pub(crate) fn backlog(&self) -> u64 {
        self.published
            .load(Ordering::Acquire)
            .saturating_sub(self.rewarded.bytes())
    }
}

#[async_trait::async_trait]
impl Sink for BacklogGate {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn enqueue(&self, key: &[u8], payload: &[u8], ticket: Ticket) -> Result<(), EnqueueError> {
        let bytes = (key.len() + payload.len()) as u64;
        // One record always goes when nothing is waiting, however large (the ingestor bounds a
        // row at 64 KiB): the gate must never refuse forever.
        let backlog = self.backlog();
        if backlog > 0 && backlog + bytes > self.max_backlog {
            return Err(EnqueueError::QueueFull(ticket));
        }
        self.inner.enqueue(key, payload, ticket)?;
        self.published.fetch_add(bytes, Ordering::AcqRel);
        Ok(())
    }

    async fn ping(&self) -> Result<(), String> {
        self.inner.ping().await
    }

    async fn flush(&self, timeout: Duration) {
        self.inner.flush(timeout).await
    }
}
