//! The Kafka side of the rewarder: the consumer's settings, its rebalance callbacks, and the poll
//! loop on its own thread.
//!
//! **The poll loop does no work.** It fetches, hands records to the worker in chunks through a
//! bounded queue, commits what the writer has finished, and serves librdkafka's events — so a
//! rebalance is answered within milliseconds whatever the worker is doing. When the queue is full
//! it waits a little (the worker is busy: the common case under load); when it stays full (a
//! backend is down and the worker is retrying), it pauses every owned partition so it can keep
//! polling for events without fetching more, and resumes once the queue drains. librdkafka
//! resumes a paused partition from the record after the last one it handed out, so nothing is
//! skipped; a record handed out twice is dropped by [`OffsetBook::admit`].
//!
//! **Offsets move only after the write.** Auto-commit and the automatic offset store are off;
//! the loop commits the offsets the writer has finished, every `commit_interval`, synchronously
//! (a refused commit is retried; every written offset is committed again every few seconds). On revocation
//! the callback waits (bounded) for the revoked partitions' batches in flight and commits what
//! they wrote before letting them go; at shutdown the loop stops fetching, waits for the worker
//! and writer to finish, commits, and leaves the group.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use spend_kafka::{consumer_config, log_to_tracing};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::{Result, RewarderError};
use crate::metrics::metrics;
use crate::offsets::{OffsetBook, Polled};
use crate::RewarderConfig;

/// The consumer settings: a cooperative-sticky group member with manual offsets, reading a new
/// group's partitions from the beginning. The benchmark's raw baseline uses exactly these.
pub fn consumer_client_config(config: &RewarderConfig) -> ClientConfig {
    let kafka = config
        .kafka
        .clone()
        .with_default_client_id("spend-rewarder");
    let mut c = consumer_config(&kafka, &config.group_id);
    c.set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100");
    if let Some(id) = &config.group_instance_id {
        c.set("group.instance.id", id);
    }
    for (k, v) in &kafka.properties {
        c.set(k, v);
    }
    c
}

/// Rebalance and commit callbacks, run on the poll thread.
pub(crate) struct RewarderContext {
    pub(crate) book: Arc<OffsetBook>,
    pub(crate) topic: String,
    /// How long a revocation waits for the revoked partitions' batches in flight.
    pub(crate) revoke_wait: Duration,
    /// Told when this process has its first assignment (readiness).
    pub(crate) stats: crate::Stats,
}

impl RewarderContext {
    fn partitions_of(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements()
            .iter()
            .filter(|e| e.topic() == self.topic)
            .map(|e| e.partition())
            .collect()
    }
}

/// The offsets to commit, as librdkafka takes them.
fn offsets_list(topic: &str, offsets: &[(i32, i64)]) -> KafkaResult<TopicPartitionList> {
    let mut tpl = TopicPartitionList::with_capacity(offsets.len());
    for &(partition, offset) in offsets {
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    }
    Ok(tpl)
}

impl ClientContext for RewarderContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_to_tracing(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka client error");
    }
}

impl ConsumerContext for RewarderContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                // librdkafka keeps an application pause on a partition across unassignment: a
                // partition revoked while paused would come back paused, and stay so.
                if let Err(error) = consumer.resume(tpl) {
                    tracing::debug!(%error, "resuming revoked partitions");
                }
                let partitions = self.partitions_of(tpl);
                // Lost partitions (session expired) already belong to someone else: committing
                // for them would be refused, and waiting would only delay the rejoin.
                let lost = consumer.assignment_lost();
                let wait = if lost {
                    Duration::ZERO
                } else {
                    self.revoke_wait
                };
                let to_commit = self.book.revoke(&partitions, wait);
                metrics().assigned.set(self.book.assigned().len() as i64);
                tracing::info!(?partitions, lost, "partitions revoked");
                if lost || to_commit.is_empty() {
                    return;
                }
                let committed = offsets_list(&self.topic, &to_commit)
                    .and_then(|tpl| consumer.commit(&tpl, CommitMode::Sync));
                match committed {
                    Ok(()) => tracing::info!(offsets = ?to_commit, "committed revoked partitions"),
                    Err(error) => {
                        metrics().commit_failures.inc();
                        tracing::warn!(%error, offsets = ?to_commit, "commit on revoke failed; the new owner re-reads from the last commit");
                    }
                }
            }
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance error"),
            Rebalance::Assign(_) => {}
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            // A new partition starts fetching even if this process was paused when it last
            // owned it (see above); if the poll loop is paused now, it pauses it again as soon as
            // a record of it arrives.
            if let Err(error) = consumer.resume(tpl) {
                tracing::debug!(%error, "resuming assigned partitions");
            }
            let partitions = self.partitions_of(tpl);
            self.book.assign(&partitions);
            metrics().assigned.set(self.book.assigned().len() as i64);
            self.stats.mark_joined();
            tracing::info!(?partitions, "partitions assigned");
        }
    }
}

/// How often every written offset is committed again, whether or not it was before.
const FULL_COMMIT_INTERVAL: Duration = Duration::from_secs(5);

/// Settings of the poll loop.
pub(crate) struct PollSettings {
    /// Records handed over at once, at most.
    pub(crate) chunk: usize,
    pub(crate) commit_interval: Duration,
    /// How long the queue may stay full before the partitions are paused.
    pub(crate) pause_after: Duration,
    /// Assign every partition instead of subscribing ([`crate::RewarderConfig::assign_all_partitions`]).
    pub(crate) assign_all: bool,
}

/// What became of a chunk offered to the worker.
enum HandOver {
    Done,
    Full(Vec<Polled>),
    Closed,
}

pub(crate) struct PollLoop {
    pub(crate) consumer: BaseConsumer<RewarderContext>,
    pub(crate) book: Arc<OffsetBook>,
    pub(crate) topic: String,
    pub(crate) records: mpsc::Sender<Vec<Polled>>,
    pub(crate) runtime: tokio::runtime::Handle,
    /// Stop fetching.
    pub(crate) stop: CancellationToken,
    /// The worker and writer have ended: commit, close.
    pub(crate) work_done: CancellationToken,
    pub(crate) settings: PollSettings,
}

impl PollLoop {
    /// Runs until stopped, then drains and leaves the group.
    pub(crate) fn run(self) -> Result<()> {
        if self.settings.assign_all {
            self.assign_all()?;
        } else {
            self.consumer
                .subscribe(&[&self.topic])
                .map_err(|e| RewarderError::kafka_setup("subscribe", e))?;
        }
        let fetched = self.fetch();
        if fetched.is_err() {
            // The worker must not wait for records that will never come.
            self.stop.cancel();
        }
        self.drain();
        fetched
    }

    /// Every partition of the topic, each from the group's committed offset (or the start).
    fn assign_all(&self) -> Result<()> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(&self.topic), Duration::from_secs(30))
            .map_err(|e| RewarderError::kafka_setup("read the topic's partitions", e))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == self.topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let mut tpl = TopicPartitionList::new();
        for &p in &partitions {
            tpl.add_partition_offset(&self.topic, p, Offset::Stored)
                .map_err(|e| RewarderError::kafka_setup("list the partitions", e))?;
        }
        self.consumer
            .assign(&tpl)
            .map_err(|e| RewarderError::kafka_setup("assign the partitions", e))?;
        self.book.assign(&partitions);
        metrics().assigned.set(partitions.len() as i64);
        self.consumer.context().stats.mark_joined();
        tracing::info!(
            ?partitions,
            "partitions assigned (every partition, no group join)"
        );
        Ok(())
    }

    fn fetch(&self) -> Result<()> {
        let mut pending: Option<Vec<Polled>> = None;
        let mut full_since: Option<Instant> = None;
        let mut paused = false;
        let mut last_commit = Instant::now();
        let mut last_full_commit = Instant::now();
        while !self.stop.is_cancelled() && !self.work_done.is_cancelled() {
            // After a refused commit (the group is rebalancing) the next waits a second; now
            // and then every written offset is committed again, in case an answer was lost.
            let interval = if self.book.refused_within(Duration::from_secs(1)) {
                Duration::from_secs(1)
            } else {
                self.settings.commit_interval
            };
            if last_commit.elapsed() >= interval {
                let all = last_full_commit.elapsed() >= FULL_COMMIT_INTERVAL;
                if all {
                    last_full_commit = Instant::now();
                }
                self.commit_due(all);
                last_commit = Instant::now();
            }
            if let Some(chunk) = pending.take() {
                match self.hand_over(chunk) {
                    HandOver::Done => {
                        full_since = None;
                        if paused {
                            self.set_paused(false);
                            paused = false;
                        }
                    }
                    HandOver::Closed => return Ok(()),
                    HandOver::Full(mut chunk) => {
                        let since = *full_since.get_or_insert_with(Instant::now);
                        if !paused && since.elapsed() >= self.settings.pause_after {
                            tracing::info!("worker busy; pausing fetches");
                            self.set_paused(true);
                            paused = true;
                        }
                        if paused {
                            // Serve events; a partition assigned meanwhile is not paused yet.
                            if let Some(more) = self.poll_chunk(Duration::from_millis(10))? {
                                chunk.extend(more);
                                self.set_paused(true);
                            }
                        }
                        pending = Some(chunk);
                        continue;
                    }
                }
            }
            pending = self.poll_chunk(Duration::from_millis(100))?;
        }
        Ok(())
    }

    /// Offers a chunk to the worker, waiting up to 100 ms for room.
    fn hand_over(&self, chunk: Vec<Polled>) -> HandOver {
        let chunk = match self.records.try_send(chunk) {
            Ok(()) => return HandOver::Done,
            Err(mpsc::error::TrySendError::Closed(_)) => return HandOver::Closed,
            Err(mpsc::error::TrySendError::Full(chunk)) => chunk,
        };
        let reserved = self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(100), self.records.reserve()).await
        });
        match reserved {
            Ok(Ok(permit)) => {
                permit.send(chunk);
                HandOver::Done
            }
            Ok(Err(_)) => HandOver::Closed,
            Err(_) => HandOver::Full(chunk),
        }
    }

    /// Polls up to one chunk: waits up to `timeout` for a first record, then takes what is
    /// already fetched. Serves rebalance and commit events on the way.
    fn poll_chunk(&self, timeout: Duration) -> Result<Option<Vec<Polled>>> {
        let mut chunk = Vec::new();
        let mut wait = timeout;
        while chunk.len() < self.settings.chunk {
            match self.consumer.poll(wait) {
                None => break,
                Some(Ok(m)) => chunk.push(Polled {
                    partition: m.partition(),
                    offset: m.offset(),
                    epoch: 0,
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec),
                }),
                Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                    return Err(RewarderError::KafkaFatal(code.to_string()))
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "kafka consume error");
                    break;
                }
            }
            wait = Duration::ZERO;
        }
        if chunk.is_empty() {
            return Ok(None);
        }
        self.book.tag(&mut chunk);
        Ok((!chunk.is_empty()).then_some(chunk))
    }

    fn set_paused(&self, paused: bool) {
        let Ok(assignment) = self.consumer.assignment() else {
            return;
        };
        if assignment.count() == 0 {
            return;
        }
        let done = if paused {
            self.consumer.pause(&assignment)
        } else {
            self.consumer.resume(&assignment)
        };
        if let Err(error) = done {
            tracing::warn!(%error, paused, "pausing or resuming partitions failed");
        }
    }

    /// Commits what the writer has finished (`all`: every written offset again, whether or not
    /// it was committed before), synchronously: librdkafka reports the result of a manual
    /// asynchronous commit to no one (only a warning in its log), so a refused one would never be
    /// retried. A refusal (the group is rebalancing) makes the offsets due again.
    fn commit_due(&self, all: bool) {
        metrics().lag.set(self.book.lag());
        let due = self.book.due(all);
        if due.is_empty() {
            return;
        }
        let committed = offsets_list(&self.topic, &due)
            .and_then(|tpl| self.consumer.commit(&tpl, CommitMode::Sync));
        if let Err(error) = committed {
            metrics().commit_failures.inc();
            tracing::info!(%error, offsets = ?due, "offset commit refused; committing again shortly");
            self.book.reopen(&due);
        }
    }

    /// Stops fetching, waits for the work in hand to be written, commits it and leaves the group
    /// (the revocation that leaving causes commits again, finding nothing new).
    fn drain(self) {
        self.set_paused(true);
        while !self.work_done.is_cancelled() {
            self.commit_due(false);
            // Events only: anything fetched now is not processed, and its offset not committed.
            if self.consumer.poll(Duration::from_millis(100)).is_some() {
                self.set_paused(true);
            }
        }
        self.commit_due(true);
        // Dropping the consumer closes it: it leaves the group, serving the revocation that
        // causes, and waits until librdkafka is done.
        drop(self.consumer);
        metrics().assigned.set(0);
        tracing::info!("left the consumer group");
    }
}
