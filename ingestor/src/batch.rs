//! One CSV batch, from bytes to acknowledged records: the loop shared by uploads and S3 objects.
//!
//! Bytes are framed as they arrive ([`CsvFramer`]), each row is validated, a valid row is encoded
//! and enqueued at once (waiting only for the in-flight budget), a rejected row is counted and, among
//! the first 100, reported. Nothing holds more than one chunk of the file and its rows, plus the
//! in-flight records (bounded by the publisher's byte budget); the file's size does not matter.
//!
//! When the batch stops early — the file breaks (rows before the break stand), it exceeds a limit,
//! the input cannot be read, Kafka fails a record — it stops reading, still waits for every record
//! already enqueued, and records the reason. The counts it reports are what Kafka acknowledged;
//! a record Kafka failed is never counted as accepted.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use spend_domain::csv::{CsvFramer, FramedRow};
use spend_domain::transaction::{parse_transaction, Rejection};
use spend_schemas::codec;
use tokio_util::sync::CancellationToken;

use crate::metrics;
use crate::publish::Publisher;
use crate::record::RecordBuf;
use crate::registry::{BatchState, Failure, FailureKind, RowError};

/// The longest `id` text an error report repeats.
const MAX_REPORTED_ID_CHARS: usize = 64;

/// Where a batch's bytes come from, chunk by chunk.
pub(crate) trait ChunkSource {
    /// The next chunk; `None` at the end; `Err` (a lowercase sentence) when reading failed.
    async fn next_chunk(&mut self) -> Option<Result<Bytes, String>>;
}

/// The limits one batch runs under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchLimits {
    pub(crate) max_bytes: u64,
    pub(crate) max_rows: u64,
    pub(crate) max_row_bytes: usize,
}

/// The state of one batch being read.
pub(crate) struct BatchRun {
    publisher: Publisher,
    batch: Arc<BatchState>,
    limits: BatchLimits,
    /// The record of the current row, refilled row after row.
    record: RecordBuf,
    framer: CsvFramer,
    rows: Vec<FramedRow>,
    /// The encoding buffer, reused for every record.
    buf: Vec<u8>,
    bytes: u64,
}

impl BatchRun {
    pub(crate) fn new(publisher: Publisher, batch: Arc<BatchState>, limits: BatchLimits) -> Self {
        BatchRun {
            publisher,
            record: RecordBuf::new(Some(&batch.id.to_string())),
            batch,
            limits,
            framer: CsvFramer::with_max_row_bytes(limits.max_row_bytes),
            rows: Vec::with_capacity(512),
            buf: Vec::with_capacity(512),
            bytes: 0,
        }
    }

    /// Reads `source` to its end (or to the first failure, or until `cancel` fires), then waits for
    /// every delivery report and records how the batch ended.
    pub(crate) async fn run(
        mut self,
        source: &mut impl ChunkSource,
        cancel: &CancellationToken,
    ) -> Result<(), Failure> {
        metrics::batches_running(1);
        let stopped = self.read(source, cancel).await.err();
        let end = self.finish(stopped).await;
        metrics::batches_running(-1);
        end
    }

    async fn read(
        &mut self,
        source: &mut impl ChunkSource,
        cancel: &CancellationToken,
    ) -> Result<(), Failure> {
        loop {
            let next = tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    return Err(failure(
                        FailureKind::Interrupted,
                        "the ingestor shut down before the batch was read to its end",
                        None,
                    ));
                }
                next = source.next_chunk() => next,
            };
            match next {
                None => return self.end_of_input().await,
                Some(Ok(chunk)) => self.push(&chunk).await?,
                Some(Err(why)) => {
                    let message =
                        format!("reading the file failed after {} bytes: {why}", self.bytes);
                    return Err(failure(FailureKind::Read, message, None));
                }
            }
        }
    }

    /// Frames and publishes one chunk of the file.
    async fn push(&mut self, chunk: &[u8]) -> Result<(), Failure> {
        self.bytes += chunk.len() as u64;
        self.batch.add_bytes(chunk.len() as u64);
        metrics::bytes_received(chunk.len() as u64);
        if self.bytes > self.limits.max_bytes {
            let message = format!(
                "the file is larger than the limit of {} bytes",
                self.limits.max_bytes
            );
            return Err(failure(FailureKind::TooLarge, message, None));
        }
        let framed = self.framer.push(chunk, &mut self.rows);
        self.publish_rows().await?;
        framed.map_err(|e| failure(FailureKind::File, e.message, Some(e.line)))
    }

    async fn end_of_input(&mut self) -> Result<(), Failure> {
        let framed = self.framer.finish(&mut self.rows);
        self.publish_rows().await?;
        framed.map_err(|e| failure(FailureKind::File, e.message, Some(e.line)))
    }

    /// Validates and publishes the rows framed so far, in file order.
    async fn publish_rows(&mut self) -> Result<(), Failure> {
        if self.rows.is_empty() {
            return Ok(());
        }
        // The rows of one chunk were all received now: "today" is when a row is received.
        let now = Utc::now();
        let today = now.date_naive();
        let received_at = now.timestamp_millis();
        let mut rows = std::mem::take(&mut self.rows);
        let result = self.publish_framed(&mut rows, today, received_at).await;
        rows.clear();
        self.rows = rows;
        result
    }

    async fn publish_framed(
        &mut self,
        rows: &mut Vec<FramedRow>,
        today: NaiveDate,
        received_at: i64,
    ) -> Result<(), Failure> {
        let mut accepted = 0;
        let mut rejected = 0;
        let result = async {
            for row in rows.drain(..) {
                if self.batch.rows() >= self.limits.max_rows {
                    let message = format!(
                        "the file has more than the limit of {} rows",
                        self.limits.max_rows
                    );
                    return Err(failure(FailureKind::TooManyRows, message, Some(row.line)));
                }
                self.batch.add_row();
                let tx = match row.raw.and_then(|raw| parse_transaction(&raw, today)) {
                    Ok(tx) => tx,
                    Err(rejection) => {
                        rejected += 1;
                        self.batch.reject(|| row_error(row.line, &rejection));
                        continue;
                    }
                };
                let record = self.record.fill(&tx, received_at, Some(row.line));
                self.buf.clear();
                codec()
                    .transaction()
                    .encode_into(record, &mut self.buf)
                    .unwrap_or_else(|e| {
                        panic!("bug: a validated transaction does not encode: {e}")
                    });
                let published = self
                    .publisher
                    .publish(
                        self.batch.tracker(),
                        record.card_id.as_bytes(),
                        &self.buf,
                        row.line,
                    )
                    .await;
                if published.is_err() {
                    // Stop reading: the answer is 503 whatever follows (see `finish`).
                    return Err(failure(FailureKind::Unavailable, String::new(), None));
                }
                accepted += 1;
            }
            // A record Kafka refused: stop reading (checked once a chunk, not once a row, to keep
            // the delivery counters off the hot path).
            if self.batch.tracker().failed() > 0 {
                return Err(failure(FailureKind::Unavailable, String::new(), None));
            }
            Ok(())
        }
        .await;
        metrics::rows_accepted(accepted);
        metrics::rows_rejected(rejected);
        metrics::set_inflight_bytes(self.publisher.inflight_bytes());
        result
    }

    /// Waits for every delivery report, then records the batch's end: a delivery failure wins over
    /// any other reason, since the client must send the file again either way.
    async fn finish(self, stopped: Option<Failure>) -> Result<(), Failure> {
        let tracker = self.batch.tracker();
        tracker.drained().await;
        metrics::set_inflight_bytes(self.publisher.inflight_bytes());
        let end = if tracker.failed() > 0 {
            if let Some(cause) = tracker.first_error() {
                tracing::warn!(batch_id = %self.batch.id, failed = tracker.failed(), cause, "kafka did not acknowledge rows");
            }
            Err(failure(
                FailureKind::Unavailable,
                format!(
                    "kafka did not acknowledge {} accepted rows; only the `accepted` count is stored: \
                     send the file again (rows stored already are recognised by their id)",
                    tracker.failed()
                ),
                tracker.first_failed_line(),
            ))
        } else {
            match stopped {
                Some(f) => Err(f),
                None => Ok(()),
            }
        };
        metrics::batch_finished(match &end {
            Ok(()) => "done",
            Err(f) => f.kind.as_str(),
        });
        match &end {
            Ok(()) => tracing::info!(
                batch_id = %self.batch.id,
                rows = self.batch.rows(),
                accepted = self.batch.accepted(),
                rejected = self.batch.rejected(),
                "batch ingested"
            ),
            Err(f) => tracing::info!(
                batch_id = %self.batch.id,
                rows = self.batch.rows(),
                accepted = self.batch.accepted(),
                rejected = self.batch.rejected(),
                reason = f.kind.as_str(),
                line = f.line,
                "batch stopped"
            ),
        }
        self.batch.finish(end.clone());
        end
    }
}

fn failure(kind: FailureKind, message: impl Into<String>, line: Option<u64>) -> Failure {
    Failure {
        kind,
        message: message.into(),
        line,
    }
}

fn row_error(line: u64, rejection: &Rejection) -> RowError {
    let id = match rejection.raw_id.char_indices().nth(MAX_REPORTED_ID_CHARS) {
        Some((cut, _)) => format!("{}…", &rejection.raw_id[..cut]),
        None => rejection.raw_id.clone(),
    };
    RowError {
        line,
        id,
        fields: rejection.fields.iter().map(|e| e.field.as_str()).collect(),
        messages: rejection.fields.iter().map(|e| e.message.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::memory::MemorySink;
    use crate::registry::BatchSource;

    const HEADER: &str = "id,transaction_id,merchant,mcc,currency,amount,transaction_date,card_id,card_pan,card_type\n";

    fn row(n: u32, card: u32) -> String {
        format!(
            "00000000-0000-4000-8000-{n:012x},T{n},Shop,5999,SGD,10.00,2024-05-02,\
             00000000-0000-4000-8000-{card:012x},4111117777777772,scis_shopping\n"
        )
    }

    /// A source handing out `data` in chunks of `size` bytes, then `tail`.
    struct Chunks {
        data: Vec<u8>,
        size: usize,
        pos: usize,
        tail: Option<String>,
    }

    impl ChunkSource for Chunks {
        async fn next_chunk(&mut self) -> Option<Result<Bytes, String>> {
            if self.pos < self.data.len() {
                let end = (self.pos + self.size).min(self.data.len());
                let chunk = Bytes::copy_from_slice(&self.data[self.pos..end]);
                self.pos = end;
                return Some(Ok(chunk));
            }
            self.tail.take().map(Err)
        }
    }

    fn limits() -> BatchLimits {
        BatchLimits {
            max_bytes: 1 << 20,
            max_rows: 1000,
            max_row_bytes: 64 * 1024,
        }
    }

    async fn ingest(
        sink: Arc<MemorySink>,
        data: &str,
        size: usize,
        limits: BatchLimits,
    ) -> (Arc<BatchState>, Result<(), Failure>) {
        let publisher = Publisher::new(sink, 1 << 20);
        let batch = Arc::new(BatchState::new(
            BatchSource::Upload,
            publisher.tracker(),
            None,
        ));
        let mut source = Chunks {
            data: data.as_bytes().to_vec(),
            size,
            pos: 0,
            tail: None,
        };
        let end = BatchRun::new(publisher, batch.clone(), limits)
            .run(&mut source, &CancellationToken::new())
            .await;
        (batch, end)
    }

    #[tokio::test]
    async fn rows_are_published_in_file_order_keyed_by_card_whatever_the_chunking() {
        let mut file = HEADER.to_owned();
        for n in 1..=20 {
            file.push_str(&row(n, n % 3));
        }
        for size in [1, 7, 64, 100_000] {
            let sink = Arc::new(MemorySink::default());
            let (batch, end) = ingest(sink.clone(), &file, size, limits()).await;
            assert_eq!(end, Ok(()));
            assert_eq!(
                (batch.rows(), batch.accepted(), batch.rejected()),
                (20, 20, 0)
            );
            let stored = sink.stored();
            let lines: Vec<u64> = stored.iter().map(|s| s.line).collect();
            assert_eq!(lines, (2..=21).collect::<Vec<_>>());
            let record = codec().decode_transaction(&stored[4].payload).unwrap();
            assert_eq!(stored[4].key, record.card_id.as_bytes());
            assert_eq!(record.card_pan, "411111******7772");
            assert_eq!(record.line, Some(6));
            assert_eq!(record.batch_id, Some(batch.id.to_string()));
        }
    }

    #[tokio::test]
    async fn rejected_rows_are_reported_and_the_rest_go_on() {
        let file = format!(
            "{HEADER}{}bad,,Shop,0,SGD,10.00,2024-05-02,x,4111117777777773,p\n{}1,2\n",
            row(1, 1),
            row(3, 1)
        );
        let sink = Arc::new(MemorySink::default());
        let (batch, end) = ingest(sink.clone(), &file, 13, limits()).await;
        assert_eq!(end, Ok(()));
        let summary = batch.summary();
        assert_eq!(
            (summary["rows"].as_u64(), summary["accepted"].as_u64()),
            (Some(4), Some(2))
        );
        assert_eq!(summary["errors"][0]["line"], 3);
        assert_eq!(summary["errors"][0]["id"], "bad");
        assert_eq!(
            summary["errors"][0]["fields"],
            serde_json::json!(["id", "transaction_id", "mcc", "card_id", "card_pan"])
        );
        assert_eq!(summary["errors"][1]["fields"], serde_json::json!(["row"]));
        assert!(!summary.to_string().contains("4111117777777773"));
    }

    #[tokio::test]
    async fn a_broken_file_keeps_the_rows_before_the_break() {
        let file = format!("{HEADER}{}{}x,\"open\n", row(1, 1), row(2, 1));
        let sink = Arc::new(MemorySink::default());
        let (batch, end) = ingest(sink.clone(), &file, 50, limits()).await;
        let f = end.unwrap_err();
        assert_eq!((f.kind, f.line), (FailureKind::File, Some(4)));
        assert!(f.message.contains("quot"), "{}", f.message);
        assert_eq!(batch.accepted(), 2);
        assert_eq!(sink.stored().len(), 2);
        assert_eq!(batch.status(), "failed");
    }

    #[tokio::test]
    async fn a_bad_header_publishes_nothing() {
        let sink = Arc::new(MemorySink::default());
        let file = format!("id,transaction_id\n{}", row(1, 1));
        let (_, end) = ingest(sink.clone(), &file, 1000, limits()).await;
        let f = end.unwrap_err();
        assert_eq!((f.kind, f.line), (FailureKind::File, Some(1)));
        assert!(f.message.contains("missing merchant"), "{}", f.message);
        assert!(sink.stored().is_empty());
    }

    #[tokio::test]
    async fn limits_stop_the_batch() {
        let mut file = HEADER.to_owned();
        for n in 1..=10 {
            file.push_str(&row(n, 1));
        }
        let sink = Arc::new(MemorySink::default());
        let few_rows = BatchLimits {
            max_rows: 4,
            ..limits()
        };
        let (batch, end) = ingest(sink.clone(), &file, 64, few_rows).await;
        let f = end.unwrap_err();
        assert_eq!((f.kind, f.line), (FailureKind::TooManyRows, Some(6)));
        assert_eq!((batch.rows(), batch.accepted()), (4, 4));

        let few_bytes = BatchLimits {
            max_bytes: 500,
            ..limits()
        };
        let (batch, end) = ingest(Arc::new(MemorySink::default()), &file, 64, few_bytes).await;
        assert_eq!(end.unwrap_err().kind, FailureKind::TooLarge);
        assert!(batch.accepted() < 10);
    }

    #[tokio::test]
    async fn a_delivery_failure_is_503_and_never_counted_as_accepted() {
        let mut file = HEADER.to_owned();
        for n in 1..=10 {
            file.push_str(&row(n, 1));
        }
        let sink = Arc::new(MemorySink::default());
        *sink.fail_after.lock().unwrap() = Some(3);
        let (batch, end) = ingest(sink.clone(), &file, 64, limits()).await;
        let f = end.unwrap_err();
        assert_eq!((f.kind, f.line), (FailureKind::Unavailable, Some(5)));
        assert_eq!(batch.accepted(), 3);
        assert_eq!(sink.stored().len(), 3);
    }

    #[tokio::test]
    async fn a_read_error_stops_the_batch() {
        let publisher = Publisher::new(Arc::new(MemorySink::default()), 1 << 20);
        let batch = Arc::new(BatchState::new(
            BatchSource::Upload,
            publisher.tracker(),
            None,
        ));
        let mut source = Chunks {
            data: format!("{HEADER}{}", row(1, 1)).into_bytes(),
            size: 1000,
            pos: 0,
            tail: Some("connection reset".into()),
        };
        let end = BatchRun::new(publisher, batch.clone(), limits())
            .run(&mut source, &CancellationToken::new())
            .await;
        let f = end.unwrap_err();
        assert_eq!(f.kind, FailureKind::Read);
        assert!(f.message.ends_with("connection reset"), "{}", f.message);
        assert_eq!(batch.accepted(), 1);
    }
}
