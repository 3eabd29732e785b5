//! Publishing dead letters to `transactions.dlq`: an idempotent `acks=all` producer, every
//! message of a batch awaited before the batch's offsets may move.

use futures::future::join_all;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use spend_kafka::{client_config, TracingContext};

use crate::batch::DeadLetterMessage;
use crate::RewarderConfig;

/// The producer settings of the dead-letter publisher (and of `replay-dlq`'s re-publisher).
pub(crate) fn producer_config(config: &RewarderConfig) -> ClientConfig {
    let kafka = config
        .kafka
        .clone()
        .with_default_client_id("spend-rewarder");
    let mut c = client_config(&kafka);
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set(
            "message.timeout.ms",
            config.delivery_timeout.as_millis().max(1).to_string(),
        );
    for (k, v) in &kafka.properties {
        c.set(k, v);
    }
    c
}

/// Where dead letters go.
pub(crate) struct DeadLetterSink {
    producer: FutureProducer<TracingContext>,
    topic: String,
}

impl DeadLetterSink {
    pub(crate) fn new(config: &RewarderConfig) -> Result<Self, KafkaError> {
        Ok(DeadLetterSink {
            producer: producer_config(config).create_with_context(TracingContext)?,
            topic: config.dlq_topic.clone(),
        })
    }

    /// Publishes `messages`; returns those that were not acknowledged (to send again), with the
    /// first error.
    pub(crate) async fn deliver(
        &self,
        messages: Vec<DeadLetterMessage>,
    ) -> Result<(), (Vec<DeadLetterMessage>, KafkaError)> {
        let mut pending = Vec::with_capacity(messages.len());
        let mut failed = Vec::new();
        let mut first_error = None;
        for m in messages {
            let mut record = FutureRecord::to(&self.topic).payload(&m.value);
            if let Some(k) = &m.key {
                record = record.key(k);
            }
            match self.producer.send_result(record) {
                Ok(delivery) => pending.push((m, delivery)),
                Err((e, _)) => {
                    first_error.get_or_insert(e);
                    failed.push(m);
                }
            }
        }
        let (messages, deliveries): (Vec<_>, Vec<_>) = pending.into_iter().unzip();
        for (m, result) in messages.into_iter().zip(join_all(deliveries).await) {
            match result {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    first_error.get_or_insert(e);
                    failed.push(m);
                }
                // The producer was dropped with the message still queued.
                Err(_) => {
                    first_error.get_or_insert(KafkaError::Canceled);
                    failed.push(m);
                }
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => Err((failed, e)),
        }
    }
}
