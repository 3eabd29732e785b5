//! The batches this process knows about, for `GET /v1/batches/{batch_id}`.
//!
//! Kept in memory only: a restart forgets every batch (an S3 batch running at the time is lost and
//! must be sent again; its rows already published stay in Kafka, and re-sent rows are recognised
//! downstream by their `id`). The map is bounded: once it holds `capacity` batches, the oldest
//! finished ones are forgotten first. Running batches are never evicted; there are at most as many
//! as the concurrent-batch limit.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::publish::Tracker;

/// How many rejected rows a batch reports in `errors`.
pub const MAX_REPORTED_ERRORS: usize = 100;

/// Where a batch's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchSource {
    Upload,
    S3 { bucket: String, key: String },
}

/// One rejected row, as `errors` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Physical line where the row starts; the header is line 1.
    pub line: u64,
    /// The row's `id` as sent (lower case if a UUID, PAN-shaped numbers masked, cut to 64 chars).
    pub id: String,
    /// Every failing field, in column order (`row` when the row has the wrong number of fields).
    pub fields: Vec<&'static str>,
    /// What is wrong with each field, in the order of `fields`.
    pub messages: Vec<String>,
}

/// Why a batch stopped before the end of its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Not UTF-8, broken quoting, a bad header, a row over the size limit (422).
    File,
    /// More bytes than the body limit (413).
    TooLarge,
    /// More rows than the row limit (413).
    TooManyRows,
    /// Kafka did not acknowledge every accepted row (503).
    Unavailable,
    /// The bytes could not be read: the upload broke off, S3 failed (400 for an upload, 503 for S3).
    Read,
    /// The process is shutting down.
    Interrupted,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::File => "invalid_file",
            FailureKind::TooLarge => "too_large",
            FailureKind::TooManyRows => "too_many_rows",
            FailureKind::Unavailable => "kafka_unavailable",
            FailureKind::Read => "read_failed",
            FailureKind::Interrupted => "interrupted",
        }
    }
}

/// A batch that stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// One lowercase sentence, never containing file contents.
    pub message: String,
    /// The line where the file broke, or the first line not confirmed by Kafka.
    pub line: Option<u64>,
}

/// The live state of one batch. Counters are updated as rows are read; `accepted` is what Kafka has
/// acknowledged so far, never more.
#[derive(Debug)]
pub struct BatchState {
    pub id: Uuid,
    pub source: BatchSource,
    tracker: Arc<Tracker>,
    rows: AtomicU64,
    rejected: AtomicU64,
    bytes_read: AtomicU64,
    bytes_total: Option<u64>,
    errors: Mutex<Vec<RowError>>,
    /// `None` while running.
    end: Mutex<Option<Result<(), Failure>>>,
}

impl BatchState {
    pub fn new(source: BatchSource, tracker: Arc<Tracker>, bytes_total: Option<u64>) -> Self {
        BatchState {
            id: Uuid::new_v4(),
            source,
            tracker,
            rows: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            bytes_total,
            errors: Mutex::new(Vec::new()),
            end: Mutex::new(None),
        }
    }

    pub fn tracker(&self) -> &Arc<Tracker> {
        &self.tracker
    }

    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    pub fn accepted(&self) -> u64 {
        self.tracker.delivered()
    }

    pub(crate) fn add_bytes(&self, n: u64) -> u64 {
        self.bytes_read.fetch_add(n, Ordering::Relaxed) + n
    }

    /// Counts one more data row; returns the count.
    pub(crate) fn add_row(&self) -> u64 {
        self.rows.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn reject(&self, error: impl FnOnce() -> RowError) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if errors.len() < MAX_REPORTED_ERRORS {
            errors.push(error());
        }
    }

    pub(crate) fn finish(&self, end: Result<(), Failure>) {
        *self.end.lock().unwrap_or_else(|p| p.into_inner()) = Some(end);
    }

    /// `None` while running.
    pub fn end(&self) -> Option<Result<(), Failure>> {
        self.end.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn status(&self) -> &'static str {
        match self.end() {
            None => "running",
            Some(Ok(())) => "done",
            Some(Err(_)) => "failed",
        }
    }

    /// `{"batch_id","rows","accepted","rejected","errors"}`: the answer of `POST /v1/batches`.
    pub fn summary(&self) -> Value {
        let errors = self
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        json!({
            "batch_id": self.id.to_string(),
            "rows": self.rows(),
            "accepted": self.accepted(),
            "rejected": self.rejected(),
            "errors": errors,
        })
    }

    /// The summary plus `status`, progress and, for a failed batch, `failure`: the answer of
    /// `GET /v1/batches/{batch_id}`.
    pub fn status_json(&self) -> Value {
        let mut v = self.summary();
        v["status"] = json!(self.status());
        v["pending"] = json!(self.tracker.outstanding());
        v["bytes_read"] = json!(self.bytes_read.load(Ordering::Relaxed));
        v["bytes_total"] = json!(self.bytes_total);
        v["source"] = match &self.source {
            BatchSource::Upload => json!({"type": "upload"}),
            BatchSource::S3 { bucket, key } => json!({"type": "s3", "bucket": bucket, "key": key}),
        };
        if let Some(Err(f)) = self.end() {
            v["failure"] = failure_json(&f);
        }
        v
    }
}

pub(crate) fn failure_json(f: &Failure) -> Value {
    json!({"reason": f.kind.as_str(), "message": f.message, "line": f.line})
}

/// The bounded map of batches by id.
#[derive(Debug)]
pub struct BatchRegistry {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<Uuid, Arc<BatchState>>,
    /// Insertion order, oldest first.
    order: VecDeque<Uuid>,
}

impl BatchRegistry {
    pub fn new(capacity: usize) -> Self {
        BatchRegistry {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn insert(&self, batch: Arc<BatchState>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.order.push_back(batch.id);
        inner.by_id.insert(batch.id, batch);
        // Evict the oldest finished batches; running ones are kept (skipped, not dropped).
        let mut i = 0;
        while inner.by_id.len() > self.capacity && i < inner.order.len() {
            let id = inner.order[i];
            let finished = inner.by_id.get(&id).is_none_or(|b| b.end().is_some());
            if finished {
                inner.by_id.remove(&id);
                inner.order.remove(i);
            } else {
                i += 1;
            }
        }
    }

    pub fn get(&self, id: &Uuid) -> Option<Arc<BatchState>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.by_id.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::memory::MemorySink;
    use crate::publish::Publisher;

    fn batch(publisher: &Publisher) -> Arc<BatchState> {
        Arc::new(BatchState::new(
            BatchSource::Upload,
            publisher.tracker(),
            None,
        ))
    }

    #[test]
    fn only_the_first_100_errors_are_kept() {
        let p = Publisher::new(Arc::new(MemorySink::default()), 1 << 20);
        let b = batch(&p);
        for line in 2..300 {
            b.add_row();
            b.reject(|| RowError {
                line,
                id: String::new(),
                fields: vec!["mcc"],
                messages: vec![String::new()],
            });
        }
        let s = b.summary();
        assert_eq!(s["rejected"], 298);
        assert_eq!(s["errors"].as_array().unwrap().len(), MAX_REPORTED_ERRORS);
        assert_eq!(s["errors"][99]["line"], 101);
        assert_eq!(b.status(), "running");
    }

    #[test]
    fn eviction_keeps_running_batches() {
        let p = Publisher::new(Arc::new(MemorySink::default()), 1 << 20);
        let registry = BatchRegistry::new(2);
        let running = batch(&p);
        registry.insert(running.clone());
        let done: Vec<_> = (0..3).map(|_| batch(&p)).collect();
        for b in &done {
            b.finish(Ok(()));
            registry.insert(b.clone());
        }
        assert!(registry.get(&running.id).is_some());
        assert!(registry.get(&done[0].id).is_none());
        assert!(registry.get(&done[1].id).is_none());
        assert!(registry.get(&done[2].id).is_some());
    }
}
