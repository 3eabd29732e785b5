//! The baseline of `spend bench-ingest`: the same records, produced by a bare rdkafka producer
//! with exactly the ingestor's settings ([`producer_config`]), with no HTTP, no CSV and no
//! validation on the clock. The ingestor's throughput is reported against it.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use spend_domain::csv::CsvReader;
use spend_domain::transaction::parse_transaction;
use spend_schemas::{codec, TransactionRecord};

use rdkafka::admin::AdminOptions;
use spend_kafka::{admin_client, log_to_tracing};

use crate::kafka::{producer_config, KafkaSettings};

/// Encoded records back to back: what the ingestor would publish for a file's valid rows.
#[derive(Default)]
pub struct EncodedRows {
    data: Vec<u8>,
    /// Per record: where it starts in `data`, its key length, its payload length.
    spans: Vec<(usize, u32, u32)>,
}

impl EncodedRows {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Total key and payload bytes.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    fn get(&self, i: usize) -> (&[u8], &[u8]) {
        let (start, key, payload) = self.spans[i];
        let key_end = start + key as usize;
        (
            &self.data[start..key_end],
            &self.data[key_end..key_end + payload as usize],
        )
    }
}

/// Frames, validates and encodes every valid row of a CSV file, as the ingestor would (the file's
/// invalid rows are skipped; a broken file ends the list where it breaks).
pub fn encode_file(path: &Path) -> std::io::Result<EncodedRows> {
    let file = BufReader::with_capacity(1 << 16, File::open(path)?);
    let now = Utc::now();
    let today = now.date_naive();
    let batch_id = uuid::Uuid::new_v4().to_string();
    let mut rows = EncodedRows::default();
    for framed in CsvReader::new(file) {
        let Ok(framed) = framed else { break };
        let Ok(tx) = framed.raw.and_then(|raw| parse_transaction(&raw, today)) else {
            continue;
        };
        let record = TransactionRecord::from_transaction(
            &tx,
            now.timestamp_millis(),
            Some(&batch_id),
            Some(framed.line),
        );
        let start = rows.data.len();
        rows.data.extend_from_slice(record.card_id.as_bytes());
        codec()
            .transaction()
            .encode_into(&record, &mut rows.data)
            .map_err(std::io::Error::other)?;
        let payload = rows.data.len() - start - record.card_id.len();
        rows.spans
            .push((start, record.card_id.len() as u32, payload as u32));
    }
    Ok(rows)
}

/// What the raw producer did.
#[derive(Clone, Copy, Debug)]
pub struct RawReport {
    pub records: u64,
    pub failed: u64,
    /// From the first send to the last acknowledgement.
    pub elapsed: Duration,
}

impl RawReport {
    pub fn rows_per_second(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Default)]
struct Counting {
    delivered: AtomicU64,
    failed: AtomicU64,
}

#[derive(Clone, Default)]
struct CountingContext(Arc<Counting>);

impl ClientContext for CountingContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_to_tracing(level, fac, log_message);
    }
}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let counter = match result {
            Ok(_) => &self.0.delivered,
            Err(_) => &self.0.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Produces every record of `rows` to `topic` with the ingestor's producer settings and waits for
/// every acknowledgement. Blocking: run it on a thread of its own.
pub fn raw_produce(
    settings: &KafkaSettings,
    topic: &str,
    rows: &EncodedRows,
    max_inflight_bytes: usize,
) -> Result<RawReport, KafkaError> {
    let context = CountingContext::default();
    let counts = context.0.clone();
    let producer: ThreadedProducer<CountingContext> =
        producer_config(settings, max_inflight_bytes).create_with_context(context)?;
    let started = Instant::now();
    for i in 0..rows.len() {
        let (key, payload) = rows.get(i);
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e),
            }
        }
    }
    producer.flush(settings.delivery_timeout + Duration::from_secs(10))?;
    let elapsed = started.elapsed();
    Ok(RawReport {
        records: counts.delivered.load(Ordering::Relaxed),
        failed: counts.failed.load(Ordering::Relaxed),
        elapsed,
    })
}

/// Deletes the benchmark's topics: a broker with memory storage (tansu) keeps every record until
/// its topic is deleted.
pub async fn delete_topics(settings: &KafkaSettings, topics: &[&str]) -> Result<(), KafkaError> {
    let admin = admin_client(&settings.connection)?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.delete_topics(topics, &options).await? {
        if let Err((topic, code)) = result {
            tracing::warn!(topic, %code, "benchmark topic not deleted");
        }
    }
    Ok(())
}
