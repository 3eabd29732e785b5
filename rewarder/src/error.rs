//! What can stop the rewarder. Everything else is either a dead letter (a bad record) or retried
//! (a backend that is down): see the crate documentation.

use rdkafka::error::KafkaError;

#[derive(Debug, thiserror::Error)]
pub enum RewarderError {
    /// The Kafka client could not be created, or a topic could not be created.
    #[error("kafka setup failed: {0}")]
    KafkaSetup(String),
    /// librdkafka reported an error it cannot recover from.
    #[error("kafka consumer failed: {0}")]
    KafkaFatal(String),
    /// Stored data that cannot be read back: retrying cannot help, and rewarding on top of it
    /// could break once-only, so the rewarder stops.
    #[error("reward store data is corrupt: {0}")]
    StoreCorrupt(String),
    /// A part of the rewarder ended unexpectedly (a panic in a task or thread is a bug).
    #[error("rewarder bug: {0}")]
    Bug(String),
}

impl RewarderError {
    pub(crate) fn kafka_setup(what: &str, e: KafkaError) -> Self {
        RewarderError::KafkaSetup(format!("{what}: {e}"))
    }
}

pub type Result<T, E = RewarderError> = std::result::Result<T, E>;
