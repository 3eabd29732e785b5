//! Driving a rewarder from outside, for `spend bench-rewarder` and the tests: a CSV file's valid
//! rows encoded as the ingestor publishes them, produced to a topic; and the raw-consume
//! baseline — a bare consumer with the rewarder's exact consumer settings that only reads. (How
//! far a group has committed, which only the tests ask, is `spend_testkit::kafka`'s.)

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use spend_domain::csv::CsvReader;
use spend_domain::transaction::parse_transaction;
use spend_kafka::{client_config, log_to_tracing, KafkaArgs, TracingContext};
use spend_schemas::{codec, TransactionRecord};

use crate::{consumer_client_config, RewarderConfig};

/// Encoded records back to back, each keyed by its card id: what the ingestor publishes for a
/// file's valid rows.
#[derive(Default)]
pub struct EncodedRecords {
    data: Vec<u8>,
    /// Per record: where it starts in `data`, its key length, its payload length.
    spans: Vec<(usize, u32, u32)>,
    /// Rows refused by validation (not published).
    pub rejected: u64,
}

impl EncodedRecords {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Record `i`: key and payload.
    pub fn get(&self, i: usize) -> (&[u8], &[u8]) {
        let (start, key, payload) = self.spans[i];
        let key_end = start + key as usize;
        (
            &self.data[start..key_end],
            &self.data[key_end..key_end + payload as usize],
        )
    }

    /// Adds one record.
    pub fn push(&mut self, key: &[u8], payload: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(key);
        self.data.extend_from_slice(payload);
        self.spans
            .push((start, key.len() as u32, payload.len() as u32));
    }
}

/// Frames, validates and encodes every valid row of a CSV input, as the ingestor would (`today`
/// is the date rows are validated against). A broken file ends the list where it breaks, with
/// the error.
pub fn encode_csv(input: impl Read, today: NaiveDate) -> Result<EncodedRecords, String> {
    let mut out = EncodedRecords::default();
    let received_at = Utc::now().timestamp_millis();
    for row in CsvReader::new(input) {
        let row = row.map_err(|e| format!("input refused at {e}"))?;
        let Ok(raw) = row.raw else {
            out.rejected += 1;
            continue;
        };
        let Ok(tx) = parse_transaction(&raw, today) else {
            out.rejected += 1;
            continue;
        };
        let record = TransactionRecord::from_transaction(&tx, received_at, None, Some(row.line));
        let payload = codec().encode_transaction(&record);
        out.push(tx.card_id.to_string().as_bytes(), &payload);
    }
    Ok(out)
}

/// The offset after the last record of each partition: where a group that has processed
/// everything has committed.
pub type PartitionEnds = BTreeMap<i32, i64>;

#[derive(Default)]
struct Deliveries {
    ends: Mutex<PartitionEnds>,
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

struct DeliveryContext(Arc<Deliveries>);

impl ClientContext for DeliveryContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_to_tracing(level, fac, log_message);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                let mut ends = self.0.ends.lock().unwrap_or_else(|p| p.into_inner());
                let end = ends.entry(m.partition()).or_insert(0);
                *end = (*end).max(m.offset() + 1);
                self.0.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.0.first_error.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Produces `records[range]` to `topic` with an idempotent `acks=all` producer, at most
/// `per_second` records a second if given, and waits for every acknowledgement. Returns the end
/// offset of every partition written to. Blocking.
pub fn produce(
    kafka: &KafkaArgs,
    topic: &str,
    records: &EncodedRecords,
    range: std::ops::Range<usize>,
    per_second: Option<u64>,
) -> Result<PartitionEnds, String> {
    let deliveries = Arc::new(Deliveries::default());
    let mut config = client_config(&kafka.clone().with_default_client_id("spend-bench"));
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576");
    let producer: ThreadedProducer<DeliveryContext> = config
        .create_with_context(DeliveryContext(deliveries.clone()))
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let total = range.len();
    for (n, i) in range.enumerate() {
        if let Some(rate) = per_second.filter(|r| *r > 0) {
            // The n-th record is due n/rate seconds in, in whole nanoseconds.
            let nanos = n as u128 * 1_000_000_000 / u128::from(rate);
            let due = started + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let (key, payload) = records.get(i);
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(e.to_string()),
            }
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .map_err(|e| e.to_string())?;
    let failed = deliveries.failed.load(Ordering::Relaxed);
    let delivered = deliveries.delivered.load(Ordering::Relaxed);
    if failed > 0 || delivered != total as u64 {
        let first = deliveries
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        return Err(format!(
            "{delivered} of {total} records acknowledged, {failed} failed: {}",
            first.unwrap_or_default()
        ));
    }
    let ends = deliveries
        .ends
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(ends)
}

/// What the raw-consume baseline measured.
#[derive(Clone, Debug)]
pub struct RawConsume {
    pub records: u64,
    pub bytes: u64,
    /// From creating the consumer to its first record (group join included).
    pub until_first: Duration,
    /// From the first record to the last.
    pub reading: Duration,
}

/// Reads `expected` records of `config.topic` with a bare consumer of exactly the rewarder's
/// consumer settings, in group `config.group_id`, decoding nothing, storing nothing and
/// committing nothing. Blocking.
pub fn raw_consume(
    config: &RewarderConfig,
    expected: u64,
    timeout: Duration,
) -> Result<RawConsume, String> {
    let consumer: BaseConsumer<TracingContext> = consumer_client_config(config)
        .create_with_context(TracingContext)
        .map_err(|e| e.to_string())?;
    consumer
        .subscribe(&[&config.topic])
        .map_err(|e| e.to_string())?;
    let created = Instant::now();
    let mut first: Option<Instant> = None;
    let mut records = 0u64;
    let mut bytes = 0u64;
    while records < expected {
        if created.elapsed() > timeout {
            return Err(format!(
                "read {records} of {expected} records within {timeout:?}"
            ));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                records += 1;
                bytes += m.payload_len() as u64;
            }
            Some(Err(e)) => tracing::warn!(error = %e, "raw consume"),
            None => {}
        }
    }
    let first = first.unwrap_or(created);
    Ok(RawConsume {
        records,
        bytes,
        until_first: first - created,
        reading: first.elapsed(),
    })
}
