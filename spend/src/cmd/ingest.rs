//! `spend ingestor` (the ingest service against real Kafka and S3), `spend upload` (a client that
//! streams a CSV file with a progress bar and prints the batch summary) and `spend bench-ingest`
//! (the ingest throughput benchmark against a bare-producer baseline), one submodule each; here,
//! the producer settings the service and the benchmark share.
//!
//! Only argument parsing and wiring live here; the service and the baseline producer are
//! `spend-ingestor`'s.

mod ingestor;
mod upload;

use std::time::Duration;

use spend_ingestor::{KafkaSettings, TopicSpec};
use spend_kafka::KafkaArgs;

pub(crate) use ingestor::{ingestor, IngestorArgs};
pub(crate) use upload::{upload, upload_file, UploadArgs};

/// Variables of earlier versions that now have one name for the ingestor and the rewarder. A
/// service that finds one set refuses to start rather than quietly use the default topic.
pub(crate) const RENAMED_VARIABLES: [(&str, &str); 2] = [
    ("SPEND_INGEST_TOPIC", "SPEND_TOPIC"),
    ("SPEND_INGEST_PARTITIONS", "SPEND_PARTITIONS"),
];

/// Refuses a variable that [`RENAMED_VARIABLES`] renamed, naming the new one.
pub(crate) fn refuse_renamed_variables() -> anyhow::Result<()> {
    for (old, new) in RENAMED_VARIABLES {
        if std::env::var_os(old).is_some() {
            anyhow::bail!(
                "{old} is no longer read: the ingestor and the rewarder share {new}; set {new} instead (and unset {old})"
            );
        }
    }
    Ok(())
}

/// Where transactions go and how they are produced.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct PublishArgs {
    /// The topic transactions are published to (the rewarders read the same variable).
    #[arg(long = "topic", env = "SPEND_TOPIC", default_value = "transactions")]
    pub(crate) topic: String,
    /// Partitions of the topic when the ingestor creates it (it never changes an existing one).
    #[arg(long = "partitions", env = "SPEND_PARTITIONS", default_value_t = 12)]
    pub(crate) partitions: i32,
    /// Replication factor of the topic when the ingestor creates it (default: the broker's).
    #[arg(long = "replication", env = "SPEND_INGEST_REPLICATION")]
    pub(crate) replication: Option<i32>,
    /// Do not create the topic at start-up.
    #[arg(long = "no-create-topic", env = "SPEND_INGEST_NO_CREATE_TOPIC")]
    pub(crate) no_create_topic: bool,
    /// How long a record may wait for Kafka's acknowledgement before its request answers 503.
    #[arg(
        long = "delivery-timeout-ms",
        env = "SPEND_INGEST_DELIVERY_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub(crate) delivery_timeout_ms: u64,
    /// How long the producer waits to fill a batch.
    #[arg(
        long = "linger-ms",
        env = "SPEND_INGEST_LINGER_MS",
        default_value_t = 5
    )]
    pub(crate) linger_ms: u64,
    /// Producer compression: none, lz4, zstd, snappy or gzip.
    #[arg(
        long = "compression",
        env = "SPEND_INGEST_COMPRESSION",
        default_value = "lz4"
    )]
    pub(crate) compression: String,
    /// Bytes of records sent to Kafka and not yet acknowledged, across all requests.
    #[arg(long = "max-inflight-bytes", env = "SPEND_INGEST_MAX_INFLIGHT_BYTES", default_value_t = 32 << 20)]
    pub(crate) max_inflight_bytes: usize,
}

impl PublishArgs {
    pub(crate) fn settings(&self, kafka: &KafkaArgs) -> KafkaSettings {
        KafkaSettings {
            connection: kafka.clone(),
            topic: self.topic.clone(),
            create_topic: (!self.no_create_topic).then_some(TopicSpec {
                partitions: self.partitions,
                replication: self.replication,
            }),
            delivery_timeout: Duration::from_millis(self.delivery_timeout_ms),
            linger: Duration::from_millis(self.linger_ms),
            compression: self.compression.clone(),
        }
    }
}
