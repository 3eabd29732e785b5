//! The ingestor's named metrics, on the process-wide registry `/metrics` serves.

use std::sync::OnceLock;

use spend_runtime::metrics::{global, Counter, Gauge};

struct Metrics {
    rows_accepted: Counter,
    rows_rejected: Counter,
    bytes_received: Counter,
    delivery_failures: Counter,
    inflight_bytes: Gauge,
    batches_running: Gauge,
}

fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let r = global();
        let rows = "Rows and single transactions received, by outcome.";
        Metrics {
            rows_accepted: r.counter("spend_ingest_rows_total", rows, &[("outcome", "accepted")]),
            rows_rejected: r.counter("spend_ingest_rows_total", rows, &[("outcome", "rejected")]),
            bytes_received: r.counter(
                "spend_ingest_bytes_total",
                "CSV bytes read from uploads and S3 objects.",
                &[],
            ),
            delivery_failures: r.counter(
                "spend_ingest_delivery_failures_total",
                "Records whose delivery to Kafka failed.",
                &[],
            ),
            inflight_bytes: r.gauge(
                "spend_ingest_inflight_bytes",
                "Bytes of records enqueued to Kafka and not yet acknowledged.",
                &[],
            ),
            batches_running: r.gauge(
                "spend_ingest_batches_running",
                "Batches (uploads and S3) being ingested.",
                &[],
            ),
        }
    })
}

/// Counts batch ends by status.
pub(crate) fn batch_finished(status: &str) {
    global()
        .counter(
            "spend_ingest_batches_total",
            "Batches finished, by status.",
            &[("status", status)],
        )
        .inc();
}

pub(crate) fn rows_accepted(n: u64) {
    metrics().rows_accepted.add(n);
}

pub(crate) fn rows_rejected(n: u64) {
    metrics().rows_rejected.add(n);
}

pub(crate) fn bytes_received(n: u64) {
    metrics().bytes_received.add(n);
}

pub(crate) fn delivery_failed() {
    metrics().delivery_failures.inc();
}

pub(crate) fn set_inflight_bytes(bytes: usize) {
    metrics()
        .inflight_bytes
        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
}

pub(crate) fn batches_running(delta: i64) {
    metrics().batches_running.add(delta);
}
