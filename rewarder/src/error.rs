//! What can stop the rewarder. Everything else is either a dead letter (a bad record) or retried
//! (a backend that is down): see the crate documentation.

use rdkafka::error::KafkaError;

#[derive(Debug, thiserror::Error)]
pub enum RewarderError {
    /// The Kafka client could not be created, or a topic could not be created: what was being
    /// set up, and librdkafka's error.
    #[error("kafka setup failed: {what}")]
    KafkaSetup {
        what: String,
        #[source]
        source: KafkaError,
    },
    /// librdkafka reported an error it cannot recover from.
    #[error("kafka consumer failed: {0}")]
    KafkaFatal(String),
    /// Stored data that cannot be read back: retrying cannot help, and rewarding on top of it
    /// could break once-only, so the rewarder stops.
    #[error("reward store data is corrupt: {0}")]
    StoreCorrupt(String),
    /// The health and metrics server could not serve.
    #[error("the health server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// A part of the rewarder ended unexpectedly (a panic in a task or thread is a bug).
    #[error("rewarder bug: {0}")]
    Bug(String),
}

impl RewarderError {
    pub(crate) fn kafka_setup(what: &str, source: KafkaError) -> Self {
        RewarderError::KafkaSetup {
            what: what.to_owned(),
            source,
        }
    }
}

pub type Result<T, E = RewarderError> = std::result::Result<T, E>;
