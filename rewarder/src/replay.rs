//! `spend replay-dlq`: dead letters re-published for processing anew (REWARDS.md §4).
//!
//! A replay reads the dead-letter topic and re-publishes the transaction of every dead letter
//! whose reason is asked for to the transactions topic, keyed by its card id, exactly as it was
//! published the first time. It never writes an outcome itself: the rewarder processes the copy
//! like any other record — a dead-lettered id is processed anew and its outcome replaces the dead
//! letter; an id rewarded meanwhile is a duplicate and changes nothing.
//!
//! **Each dead letter is replayed once per filter.** The replay is a consumer group member that
//! commits its offsets, only after every re-published record is acknowledged: a second run goes
//! on from where the first stopped. The group is named after the filter (`spend-replay-dlq` for
//! all reasons, `spend-replay-dlq.no_fx_rate` for one, reasons sorted and joined with `+` for
//! several) because offsets cannot skip records: a run for one reason must not mark the other
//! reasons' dead letters as done. So a replay of every reason after a replay of one replays that
//! one's dead letters again, which is harmless (see above). A dead letter that fails again is
//! dead-lettered again, as a new message, which a later replay picks up.
//!
//! **When to stop.** A replay stops once nothing new has arrived for `idle` after it joined the
//! group: the high watermark, which would say where the topic ends, is wrong on tansu.
//! Undecodable dead letters have no transaction and cannot be replayed; they are counted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::future::join_all;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use spend_domain::eval::DeadLetterReason;
use spend_kafka::{consumer_config, TracingContext};
use spend_schemas::codec;

use crate::dlq::producer_config;
use crate::RewarderConfig;

/// What to replay.
#[derive(Clone, Debug)]
pub struct ReplayConfig {
    /// Brokers and topics (`topic` is where records are re-published, `dlq_topic` where dead
    /// letters are read).
    pub rewarder: RewarderConfig,
    /// The reasons to replay; empty: all.
    pub reasons: Vec<DeadLetterReason>,
    /// The consumer group; `None`: named after the filter.
    pub group: Option<String>,
    /// Stop once nothing new has arrived for this long.
    pub idle: Duration,
    /// Count only: publish nothing, commit nothing.
    pub dry_run: bool,
}

/// What a replay did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Dead letters read.
    pub read: u64,
    /// Re-published, by reason.
    pub replayed: BTreeMap<String, u64>,
    /// Of reasons not asked for.
    pub skipped: u64,
    /// Undecodable: no transaction to replay.
    pub not_replayable: u64,
    /// Messages on the dead-letter topic that are not dead letters.
    pub malformed: u64,
    /// The group whose offsets record what was read.
    pub group: String,
}

impl ReplayReport {
    pub fn replayed_total(&self) -> u64 {
        self.replayed.values().sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(
        "no partition of the dead-letter topic was assigned within {0:?} (does the topic exist?)"
    )]
    NotJoined(Duration),
    #[error("{failed} re-published records were not acknowledged ({first}); nothing committed, run the replay again")]
    NotDelivered { failed: u64, first: String },
}

/// The group a replay with these reasons uses unless told otherwise.
pub fn group_for(reasons: &[DeadLetterReason]) -> String {
    if reasons.is_empty() {
        return "spend-replay-dlq".into();
    }
    let mut names: Vec<&str> = reasons.iter().map(|r| r.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    format!("spend-replay-dlq.{}", names.join("+"))
}

/// How long a replay waits to be given the dead-letter topic's partitions.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Re-published records awaited at a time.
const IN_FLIGHT: usize = 10_000;

/// Runs one replay to the end of what is on the dead-letter topic (see the module documentation).
/// Blocking: call it from a thread of its own (`spawn_blocking`).
pub fn replay_dead_letters(config: &ReplayConfig) -> Result<ReplayReport, ReplayError> {
    let group = config
        .group
        .clone()
        .unwrap_or_else(|| group_for(&config.reasons));
    let kafka = config
        .rewarder
        .kafka
        .clone()
        .with_default_client_id("spend-replay-dlq");
    let mut consumer_settings = consumer_config(&kafka, &group);
    consumer_settings
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    for (k, v) in &kafka.properties {
        consumer_settings.set(k, v);
    }
    let consumer: BaseConsumer<TracingContext> =
        consumer_settings.create_with_context(TracingContext)?;
    consumer.subscribe(&[&config.rewarder.dlq_topic])?;
    let producer: FutureProducer<TracingContext> =
        producer_config(&config.rewarder).create_with_context(TracingContext)?;

    let mut report = ReplayReport {
        group: group.clone(),
        ..ReplayReport::default()
    };
    let mut deliveries = Vec::new();
    let mut failed = 0u64;
    let mut first_failure = None;
    let started = Instant::now();
    let mut joined_at: Option<Instant> = None;
    let mut last_message = Instant::now();
    // The offset after the last dead letter read, per partition: what is committed at the end.
    let mut positions: BTreeMap<i32, i64> = BTreeMap::new();
    loop {
        let polled = consumer.poll(Duration::from_millis(100)).map(|r| {
            r.map(|m| {
                let next = positions.entry(m.partition()).or_insert(0);
                *next = (*next).max(m.offset() + 1);
                m.payload().map(<[u8]>::to_vec)
            })
        });
        if joined_at.is_none() && consumer.assignment().is_ok_and(|a| a.count() > 0) {
            joined_at = Some(Instant::now());
            last_message = Instant::now();
        }
        match polled {
            Some(Ok(payload)) => {
                last_message = Instant::now();
                report.read += 1;
                let Some(letter) = payload
                    .as_deref()
                    .and_then(|p| codec().decode_dead_letter(p).ok())
                else {
                    report.malformed += 1;
                    continue;
                };
                let reason: DeadLetterReason = letter.reason.into();
                let Some(transaction) = letter.transaction else {
                    report.not_replayable += 1;
                    continue;
                };
                if !config.reasons.is_empty() && !config.reasons.contains(&reason) {
                    report.skipped += 1;
                    continue;
                }
                *report
                    .replayed
                    .entry(reason.as_str().to_owned())
                    .or_default() += 1;
                if config.dry_run {
                    continue;
                }
                let value = codec().encode_transaction(&transaction);
                let record = FutureRecord::to(&config.rewarder.topic)
                    .key(transaction.card_id.as_bytes())
                    .payload(&value);
                match producer.send_result(record) {
                    Ok(delivery) => deliveries.push(delivery),
                    Err((e, _)) => {
                        failed += 1;
                        first_failure.get_or_insert(e.to_string());
                    }
                }
                if deliveries.len() >= IN_FLIGHT {
                    await_all(&mut deliveries, &mut failed, &mut first_failure);
                }
            }
            Some(Err(error)) => tracing::warn!(%error, "reading the dead-letter topic"),
            None => {}
        }
        if joined_at.is_some() && last_message.elapsed() >= config.idle {
            break;
        }
        if joined_at.is_none() && started.elapsed() >= JOIN_TIMEOUT {
            return Err(ReplayError::NotJoined(JOIN_TIMEOUT));
        }
    }
    await_all(&mut deliveries, &mut failed, &mut first_failure);
    if failed > 0 {
        return Err(ReplayError::NotDelivered {
            failed,
            first: first_failure.unwrap_or_default(),
        });
    }
    if !config.dry_run && !positions.is_empty() {
        // Every record read is re-published (or was not to be): the group may move past them.
        let mut tpl = TopicPartitionList::new();
        for (partition, next) in &positions {
            tpl.add_partition_offset(
                &config.rewarder.dlq_topic,
                *partition,
                Offset::Offset(*next),
            )?;
        }
        consumer.commit(&tpl, CommitMode::Sync)?;
    }
    Ok(report)
}

fn await_all(
    deliveries: &mut Vec<rdkafka::producer::DeliveryFuture>,
    failed: &mut u64,
    first: &mut Option<String>,
) {
    for result in futures::executor::block_on(join_all(deliveries.drain(..))) {
        match result {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => {
                *failed += 1;
                first.get_or_insert(e.to_string());
            }
            Err(_) => {
                *failed += 1;
                first.get_or_insert("the producer went away".into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_is_named_after_the_filter() {
        assert_eq!(group_for(&[]), "spend-replay-dlq");
        assert_eq!(
            group_for(&[DeadLetterReason::NoFxRate, DeadLetterReason::UnknownProgram]),
            "spend-replay-dlq.no_fx_rate+unknown_program"
        );
        assert_eq!(
            group_for(&[DeadLetterReason::UnknownProgram, DeadLetterReason::NoFxRate]),
            group_for(&[DeadLetterReason::NoFxRate, DeadLetterReason::UnknownProgram]),
        );
    }
}
