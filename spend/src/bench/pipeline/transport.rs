//! The bare transport through `spend dev`'s own broker: what any pipeline through it pays at
//! least.
//!
//! The file's valid rows, encoded as the ingestor encodes them (untimed), are produced by a bare
//! rdkafka producer with the ingestor's settings (acks=all, lz4, as in `spend dev`) to
//! a topic of their own, while a bare consumer with the rewarder's fetch settings reads that topic
//! from the start, partitions assigned (no group join). Timed from the first send until the
//! consumer holds every record. No HTTP, no validation, no engine, no store: the broker's durable
//! produce and fetch and the two clients, nothing else.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use spend_ingestor::bench::{encode_file, raw_produce, EncodedRows};
use spend_ingestor::kafka::{ensure_topic, KafkaSettings, TopicSpec};
use spend_kafka::{consumer_config, KafkaArgs};

use crate::child::{cpu_time, ChildService};

const TOPIC: &str = "bench-transport";

/// What the bare transport did.
pub(super) struct Transport {
    pub(super) rows: u64,
    pub(super) elapsed: Duration,
    /// CPU of `spend dev` (the broker) during the run.
    pub(super) broker_cpu: Option<Duration>,
    /// CPU of this process (the two clients) during the run.
    pub(super) clients_cpu: Option<Duration>,
}

impl Transport {
    pub(super) fn rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs the bare transport through the broker of the `spend dev` whose data directory is
/// `store_dir`.
pub(super) async fn measure(
    store_dir: &Path,
    csv: &Path,
    partitions: i32,
    dev: &ChildService,
) -> anyhow::Result<Transport> {
    let bootstrap = std::fs::read_to_string(store_dir.join("kafka-bootstrap"))
        .context("read spend dev's kafka-bootstrap")?
        .trim()
        .to_owned();
    let encoded = Arc::new(
        tokio::task::spawn_blocking({
            let csv = csv.to_owned();
            move || encode_file(&csv)
        })
        .await?
        .context("encode the file's rows")?,
    );
    let mut settings = KafkaSettings::new(bootstrap.clone(), TOPIC);
    // A new data directory, so the SlateDB log and its compression, as `spend dev` has them.
    settings.compression = crate::cmd::dev::COMPRESSION.into();
    ensure_topic(
        &settings,
        TOPIC,
        TopicSpec {
            partitions,
            replication: Some(1),
        },
    )
    .await
    .context("create the transport topic")?;

    let me = std::process::id().to_string();
    let (dev_before, me_before) = (dev.cpu_time(), cpu_time(&me));
    let started = Instant::now();
    let rows = encoded.len() as u64;
    let consumer = std::thread::spawn(move || consume(&bootstrap, partitions, rows));
    let produced = tokio::task::spawn_blocking({
        let encoded = encoded.clone();
        move || produce(&settings, &encoded)
    })
    .await?;
    let consumed = tokio::task::spawn_blocking(move || consumer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the transport consumer panicked"))?;
    let elapsed = started.elapsed();
    let since = |after: Option<Duration>, before: Option<Duration>| {
        after.zip(before).map(|(a, b)| a.saturating_sub(b))
    };
    let broker_cpu = since(dev.cpu_time(), dev_before);
    let clients_cpu = since(cpu_time(&me), me_before);
    produced?;
    ensure!(
        consumed? == rows,
        "the transport consumer did not get every record"
    );
    Ok(Transport {
        rows,
        elapsed,
        broker_cpu,
        clients_cpu,
    })
}

fn produce(settings: &KafkaSettings, encoded: &EncodedRows) -> anyhow::Result<()> {
    let ingest = spend_ingestor::IngestorConfig::default();
    let report = raw_produce(settings, TOPIC, encoded, ingest.limits.max_inflight_bytes)
        .context("produce to the transport topic")?;
    if report.failed > 0 {
        bail!("the bare producer failed {} records", report.failed);
    }
    Ok(())
}

/// Reads `rows` records from the transport topic; gives up after two minutes without one.
fn consume(bootstrap: &str, partitions: i32, rows: u64) -> anyhow::Result<u64> {
    let mut config = consumer_config(&KafkaArgs::new(bootstrap), "bench-transport");
    config
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100");
    let consumer: BaseConsumer = config.create().context("create the transport consumer")?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(TOPIC, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut got = 0;
    let mut last = Instant::now();
    while got < rows {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => {
                got += 1;
                last = Instant::now();
            }
            Some(Err(e)) => bail!("the transport consumer failed: {e}"),
            None if last.elapsed() > Duration::from_secs(120) => {
                bail!("the transport consumer got {got} of {rows} records, then nothing for 2 minutes")
            }
            None => {}
        }
    }
    Ok(got)
}
