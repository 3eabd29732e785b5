//! The Kafka side: producer settings, the [`KafkaSink`] and topic creation.
//!
//! The producer is idempotent with `acks=all`: a record counts as durable only once every in-sync
//! replica has it, retries never duplicate it, and records of one partition — one card, as the key
//! is the card id — stay in the order they were sent (librdkafka keeps order per partition with
//! idempotence and up to 5 requests in flight). Delivery reports arrive on the producer's polling
//! thread and complete each record's [`Ticket`].

use std::sync::Arc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use spend_kafka::{
    admin_client, client_config, ensure_topic_replicated, log_to_tracing, KafkaArgs,
};

use crate::publish::{EnqueueError, Sink, Ticket};

/// How the ingestor talks to Kafka.
#[derive(Clone, Debug)]
pub struct KafkaSettings {
    /// How to reach the brokers (shared by every service).
    pub connection: KafkaArgs,
    /// Where transactions are published.
    pub topic: String,
    /// Create [`KafkaSettings::topic`] at start-up when it is missing.
    pub create_topic: Option<TopicSpec>,
    /// `message.timeout.ms`: how long a record may wait for its acknowledgement, retries included,
    /// before it counts as failed (and its request answers 503).
    pub delivery_timeout: Duration,
    /// `linger.ms`: how long the producer waits to fill a batch.
    pub linger: Duration,
    /// `compression.type`: `none`, `lz4`, `zstd`, `snappy` or `gzip`.
    pub compression: String,
}

impl KafkaSettings {
    /// The defaults, for `brokers` and `topic`.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaSettings {
            connection: KafkaArgs::new(brokers),
            topic: topic.into(),
            create_topic: None,
            delivery_timeout: Duration::from_secs(30),
            linger: Duration::from_millis(5),
            compression: "lz4".into(),
        }
    }

    fn connection(&self) -> KafkaArgs {
        self.connection
            .clone()
            .with_default_client_id("spend-ingestor")
    }
}

/// A topic to create when missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    pub partitions: i32,
    /// `None`: the broker's default.
    pub replication: Option<i32>,
}

/// What went wrong setting up Kafka.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    #[error("invalid kafka client settings: {0}")]
    Config(#[source] KafkaError),
    #[error("cannot create kafka topic {topic}: {source}")]
    CreateTopic {
        topic: String,
        #[source]
        source: KafkaError,
    },
}

/// The producer configuration, exactly: what the ingestor and the benchmark's raw baseline both use.
///
/// `max_inflight_bytes` is the ingestor's own budget; librdkafka's queue is sized above it so that
/// the budget, not a `QueueFull` error, is what makes a request wait. The connection's extra
/// properties are applied last, so they win.
pub fn producer_config(settings: &KafkaSettings, max_inflight_bytes: usize) -> ClientConfig {
    let connection = settings.connection();
    let mut config = client_config(&connection);
    let queue_kbytes = (max_inflight_bytes / 1024)
        .saturating_mul(2)
        .clamp(64 * 1024, 2_097_151);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set(
            "message.timeout.ms",
            settings.delivery_timeout.as_millis().max(1).to_string(),
        )
        .set("linger.ms", settings.linger.as_millis().to_string())
        .set("compression.type", &settings.compression)
        .set("batch.size", "1000000")
        .set("batch.num.messages", "100000")
        .set("queue.buffering.max.kbytes", queue_kbytes.to_string())
        .set("queue.buffering.max.messages", "2000000");
    for (k, v) in &connection.properties {
        config.set(k, v);
    }
    config
}

/// Completes each record's [`Ticket`] from its delivery report.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliveryContext;

impl ClientContext for DeliveryContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_to_tracing(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka client error");
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Ticket>;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: Box<Ticket>) {
        let result = match result {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(e.to_string()),
        };
        ticket.complete(result);
    }
}

/// The Kafka [`Sink`]: one idempotent producer for the whole process.
pub struct KafkaSink {
    producer: Arc<ThreadedProducer<DeliveryContext>>,
    topic: String,
    /// The deadline of a readiness ping.
    ping_timeout: Duration,
}

impl KafkaSink {
    /// Creates the producer (it connects in the background; nothing is checked here) and, when the
    /// settings ask for it, the topic.
    pub async fn connect(
        settings: &KafkaSettings,
        max_inflight_bytes: usize,
    ) -> Result<Self, KafkaSetupError> {
        if let Some(spec) = settings.create_topic {
            ensure_topic(settings, &settings.topic, spec).await?;
        }
        let producer: ThreadedProducer<DeliveryContext> =
            producer_config(settings, max_inflight_bytes)
                .create_with_context(DeliveryContext)
                .map_err(KafkaSetupError::Config)?;
        Ok(KafkaSink {
            producer: Arc::new(producer),
            topic: settings.topic.clone(),
            ping_timeout: Duration::from_secs(3),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
}

#[async_trait::async_trait]
impl Sink for KafkaSink {
    fn name(&self) -> &str {
        "kafka"
    }

    fn enqueue(&self, key: &[u8], payload: &[u8], ticket: Ticket) -> Result<(), EnqueueError> {
        let record = BaseRecord::with_opaque_to(&self.topic, Box::new(ticket))
            .key(key)
            .payload(payload);
        match self.producer.send(record) {
            Ok(()) => Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), record)) => {
                Err(EnqueueError::QueueFull(*record.delivery_opaque))
            }
            Err((e, record)) => Err(EnqueueError::Failed(e.to_string(), *record.delivery_opaque)),
        }
    }

    async fn ping(&self) -> Result<(), String> {
        let producer = self.producer.clone();
        let topic = self.topic.clone();
        let timeout = self.ping_timeout;
        let check = move || {
            if let Some((code, reason)) = producer.client().fatal_error() {
                return Err(format!("the producer hit a fatal error: {code}: {reason}"));
            }
            let metadata = producer
                .client()
                .fetch_metadata(Some(&topic), timeout)
                .map_err(|e| e.to_string())?;
            match metadata.topics().iter().find(|t| t.name() == topic) {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
                Some(t) => Err(format!("topic {topic}: {:?}", t.error())),
                None => Err(format!("topic {topic} is missing")),
            }
        };
        tokio::task::spawn_blocking(check)
            .await
            .unwrap_or_else(|e| Err(format!("the readiness check panicked: {e}")))
    }

    async fn flush(&self, timeout: Duration) {
        let producer = self.producer.clone();
        let flushed = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!(error = %e, "kafka producer not flushed at shutdown");
        }
    }
}

/// Creates `topic` with `spec` unless it exists (tansu creates no topic by itself). A topic that
/// already exists is left as it is.
pub async fn ensure_topic(
    settings: &KafkaSettings,
    topic: &str,
    spec: TopicSpec,
) -> Result<(), KafkaSetupError> {
    let admin = admin_client(&settings.connection()).map_err(KafkaSetupError::Config)?;
    ensure_topic_replicated(&admin, topic, spec.partitions, spec.replication)
        .await
        .map(|_| ())
        .map_err(|source| KafkaSetupError::CreateTopic {
            topic: topic.to_owned(),
            source,
        })
}
