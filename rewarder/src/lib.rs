//! `spend-rewarder`: consumes the `transactions` topic, rewards each record exactly once in effect
//! (REWARDS.md §3–§6), and dead-letters what it cannot reward.
//!
//! It owns the consumer group member ([`consumer`]: cooperative-sticky, manual offsets, a poll
//! loop on its own thread that never does work), batching and in-order evaluation under the live
//! rule set ([`rules`]: the configuration watch compiled into a `RuleSet`, swapped atomically),
//! writing outcomes to the reward store and dead letters to `transactions.dlq`, committing
//! offsets only after both are durable, replaying dead letters ([`replay`]), its metrics, and the
//! tools its benchmark and tests drive it with ([`bench`]).
//!
//! It serves no API: [`run`] serves `/healthz`, `/readyz` and `/metrics` beside the pipeline
//! ([`consume`]). It must never decide what a reward is (that is `spend-domain`'s `RuleSet::evaluate`), advance an offset
//! before the outcomes and dead letters of every record before it are durable, or retry a record
//! that can never succeed.
//!
//! **Exactly-once effect.** Delivery is at least once: after a crash or a rebalance, records
//! after the last commit are fetched again. Re-processing them is harmless because the store
//! enforces once-only itself (the first rewarded outcome of an id is final; a reversal's claim on
//! its original is written with its outcome, once), so a record already rewarded evaluates as a
//! duplicate and writes nothing, and a dead letter is simply decided again. Dead letters reach
//! the dead-letter topic at least once (a dead letter decided again is published again).
//!
//! One case re-processing decides differently from a single pass: a reversal dead-lettered as
//! `original_not_found` because its original came *after* it on the partition, when a crash
//! after both were written but before their offsets were committed makes both arrive again —
//! the second time the original exists, and the reversal is rewarded. REWARDS.md §6 decides by
//! what exists "when the reversal is processed", so both outcomes are ones the contract allows;
//! `spend eval`, one pass, gives the dead letter. The window is one commit interval, and only
//! out-of-order data (a reversal sent before its purchase) can hit it.
//!
//! **Failures are classified.** A record that cannot be decoded, or whose program, FX rate or
//! original is missing, is a dead letter: published to the dead-letter topic with its reason
//! (the original record, replayable) and, when it has an id, stored as that id's current
//! outcome; the partition moves on. A store or broker that fails is retried with capped
//! exponential backoff, never advancing the offset. Stored data that cannot be read back stops
//! the rewarder ([`RewarderError::StoreCorrupt`]): rewarding on top of it could break once-only.

mod backoff;
mod batch;
pub mod bench;
pub mod consumer;
mod dlq;
mod error;
mod metrics;
mod mission_cache;
mod offsets;
mod readiness;
pub mod replay;
pub mod rules;
mod worker;
mod writer;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spend_kafka::{admin_client, ensure_topic, KafkaArgs};
use spend_runtime::Backends;
use spend_store::config_store::ConfigStore;
use spend_store::readiness::RewardStoreBackend;
use spend_store::reward_store::RewardStore;
use spend_store::watch::WatchConfigOptions;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use consumer::consumer_client_config;
pub use error::{Result, RewarderError};
pub use readiness::RewarderBackend;
pub use rules::LiveRules;

use crate::backoff::Backoff;
use crate::consumer::{PollLoop, PollSettings, RewarderContext};
use crate::dlq::DeadLetterSink;
use crate::offsets::OffsetBook;
use crate::worker::Worker;
use crate::writer::{Publisher, Writer};

/// The topic transactions are published to.
pub const DEFAULT_TOPIC: &str = "transactions";
/// The dead-letter topic.
pub const DEFAULT_DLQ_TOPIC: &str = "transactions.dlq";
/// The rewarders' consumer group.
pub const DEFAULT_GROUP: &str = "spend-rewarder";

/// How the rewarder behaves. The binary fills it from flags and `SPEND_*` variables.
#[derive(Clone, Debug)]
pub struct RewarderConfig {
    pub kafka: KafkaArgs,
    pub topic: String,
    pub dlq_topic: String,
    pub group_id: String,
    /// `group.instance.id`: a static member of the group (KIP-345). A restarted process with the
    /// same id takes its place at once instead of waiting for the old session to time out, and
    /// the group does not rebalance. `None`: a dynamic member.
    pub group_instance_id: Option<String>,
    /// Take every partition of the topic by assignment instead of joining the group's
    /// rebalances: for a process that is the topic's only rewarder (`spend dev`). Offsets are
    /// still read from and committed to the group, so a restart resumes where it left off; what
    /// is skipped is the group's join, and with it the wait for a crashed member's session to
    /// time out (and tansu 0.6's coordinator, which does not always hand a crashed member's
    /// partitions over).
    pub assign_all_partitions: bool,
    /// Create both topics with this many partitions when missing (brokers that do not create
    /// topics on their own, like tansu). `None`: they must exist.
    pub create_topics: Option<i32>,
    /// A batch holds at most this many records...
    pub batch_max_records: usize,
    /// ...and waits at most this long after its first record for more.
    pub batch_max_wait: Duration,
    /// Records fetched and waiting for the worker, at most (the bounded queue between the poll
    /// loop and the work).
    pub queue_records: usize,
    /// First delay after a backend failure; it doubles up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// How often written offsets are committed.
    pub commit_interval: Duration,
    /// How long a revocation waits for the revoked partitions' batches in flight.
    pub revoke_wait: Duration,
    /// After a shutdown signal, how long the batch in hand may take to be written (e.g. while a
    /// backend is down) before it is abandoned, unwritten and uncommitted.
    pub shutdown_grace: Duration,
    /// How long a dead letter may take to be acknowledged before it counts as failed (and is
    /// sent again).
    pub delivery_timeout: Duration,
}

impl RewarderConfig {
    /// The defaults, for `kafka`.
    pub fn new(kafka: KafkaArgs) -> Self {
        RewarderConfig {
            kafka,
            topic: DEFAULT_TOPIC.into(),
            dlq_topic: DEFAULT_DLQ_TOPIC.into(),
            group_id: DEFAULT_GROUP.into(),
            group_instance_id: None,
            assign_all_partitions: false,
            create_topics: None,
            batch_max_records: 8192,
            batch_max_wait: Duration::from_millis(50),
            queue_records: 32_768,
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(10),
            commit_interval: Duration::from_millis(200),
            revoke_wait: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(15),
            delivery_timeout: Duration::from_secs(30),
        }
    }
}

/// What the rewarder works with.
#[derive(Clone)]
pub struct RewarderDeps {
    pub config_store: Arc<dyn ConfigStore>,
    pub reward_store: Arc<dyn RewardStore>,
    /// Progress counters the caller may keep a clone of.
    pub stats: Stats,
}

/// What one rewarder has done, for readiness, tests and the benchmark. Cheap to clone.
#[derive(Clone, Default)]
pub struct Stats(Arc<StatsInner>);

/// Where the rewarder's time went, summed over batches (stages overlap: the writer writes one
/// batch while the worker prepares the next).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageTimes {
    /// Decoding records.
    pub decode: Duration,
    /// The worker waiting for the batch before last to be in the store.
    pub wait_store: Duration,
    /// Reading what the store knows about a batch.
    pub prefetch: Duration,
    /// Evaluating a batch in order.
    pub evaluate: Duration,
    /// Writing a batch's outcomes.
    pub apply: Duration,
    /// Publishing a batch's dead letters.
    pub dead_letters: Duration,
}

/// The stages [`StageTimes`] counts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stage {
    Decode,
    WaitStore,
    Prefetch,
    Evaluate,
    Apply,
    DeadLetters,
}

#[derive(Default)]
struct StatsInner {
    records: AtomicU64,
    batches: AtomicU64,
    /// Nanoseconds per [`Stage`].
    stages: [AtomicU64; 6],
    rules_loaded: AtomicBool,
    /// The consumer group has given this process its (first) assignment.
    joined: AtomicBool,
    /// The revision of the last batch written; meaningful once `batches > 0`.
    last_revision: AtomicI64,
    window: Mutex<(Option<Instant>, Option<Instant>)>,
}

impl Stats {
    /// Records written (rewarded, duplicates and dead letters alike).
    pub fn records(&self) -> u64 {
        self.0.records.load(Ordering::Relaxed)
    }

    pub fn batches(&self) -> u64 {
        self.0.batches.load(Ordering::Relaxed)
    }

    /// Whether a rule set is in force (the rewarder consumes only once one is).
    pub fn rules_loaded(&self) -> bool {
        self.0.rules_loaded.load(Ordering::Relaxed)
    }

    /// Whether this process has joined the consumer group and been given its partitions (possibly
    /// none, when the group has more members than partitions). Until then a record published
    /// now would wait for the group's join before anyone rewards it.
    pub fn joined_group(&self) -> bool {
        self.0.joined.load(Ordering::Relaxed)
    }

    pub(crate) fn mark_joined(&self) {
        self.0.joined.store(true, Ordering::Relaxed);
    }

    /// The configuration revision the last written batch was evaluated with.
    pub fn last_revision(&self) -> Option<i64> {
        (self.batches() > 0).then(|| self.0.last_revision.load(Ordering::Relaxed))
    }

    /// From the first record taken off the queue to the last batch written.
    pub fn busy_window(&self) -> Option<(Instant, Instant)> {
        let window = self.0.window.lock().unwrap_or_else(|p| p.into_inner());
        match *window {
            (Some(first), Some(last)) => Some((first, last)),
            _ => None,
        }
    }

    /// Time spent per stage so far.
    pub fn stage_times(&self) -> StageTimes {
        let d = |s: Stage| Duration::from_nanos(self.0.stages[s as usize].load(Ordering::Relaxed));
        StageTimes {
            decode: d(Stage::Decode),
            wait_store: d(Stage::WaitStore),
            prefetch: d(Stage::Prefetch),
            evaluate: d(Stage::Evaluate),
            apply: d(Stage::Apply),
            dead_letters: d(Stage::DeadLetters),
        }
    }

    /// Adds the time since `since` to `stage`; returns now.
    pub(crate) fn time(&self, stage: Stage, since: Instant) -> Instant {
        let now = Instant::now();
        let nanos = u64::try_from((now - since).as_nanos()).unwrap_or(u64::MAX);
        self.0.stages[stage as usize].fetch_add(nanos, Ordering::Relaxed);
        now
    }

    fn record_taken(&self, at: Instant) {
        let mut window = self.0.window.lock().unwrap_or_else(|p| p.into_inner());
        window.0.get_or_insert(at);
    }

    fn record_written(&self, records: u64, revision: i64) {
        self.0.last_revision.store(revision, Ordering::Relaxed);
        self.0.records.fetch_add(records, Ordering::Relaxed);
        self.0.batches.fetch_add(1, Ordering::Relaxed);
        let mut window = self.0.window.lock().unwrap_or_else(|p| p.into_inner());
        window.1 = Some(Instant::now());
    }
}

/// Runs a rewarder as a service, shaped like the other three: serves `/healthz`, `/readyz` and
/// `/metrics` on `listener` and runs the pipeline ([`consume`]) until `shutdown` fires (then
/// drains) or the pipeline fails; the health server stops with it.
///
/// Ready once the reward store answers, a rule set is in force and the group has given this
/// process its partitions ([`RewarderBackend`]). The configuration store being down does not
/// make it unready: it keeps rewarding under the last rule set.
pub async fn run(
    config: RewarderConfig,
    deps: RewarderDeps,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let readiness = Backends::new(READY_TIMEOUT)
        .with(Arc::new(RewardStoreBackend::new(deps.reward_store.clone())))
        .with(Arc::new(RewarderBackend::new(deps.stats.clone())));
    let stop_serving = shutdown.child_token();
    let health = tokio::spawn(spend_runtime::serve_health(
        "rewarder",
        Arc::new(readiness),
        listener,
        stop_serving.clone(),
    ));
    let result = consume(config, deps, shutdown).await;
    stop_serving.cancel();
    let served = match health.await {
        Ok(served) => served.map_err(RewarderError::Serve),
        Err(e) => Err(RewarderError::Bug(format!(
            "the health server panicked: {e}"
        ))),
    };
    result.and(served)
}

/// How long `/readyz` waits for the reward store's answer.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The rewarder's pipeline alone, without the health server (`spend dev` serves health once for
/// every service; tests and the benchmark drive it directly). Runs until `shutdown` fires (then
/// drains: the batch in hand is written and its offsets committed, within
/// [`RewarderConfig::shutdown_grace`]) or until it fails for a reason retrying cannot fix.
///
/// It consumes nothing before the first rule set is in force. The Kafka consumer is created here
/// from `config`.
pub async fn consume(
    config: RewarderConfig,
    deps: RewarderDeps,
    shutdown: CancellationToken,
) -> Result<()> {
    if let Some(partitions) = config.create_topics {
        let admin = admin_client(&config.kafka)
            .map_err(|e| RewarderError::kafka_setup("admin client", e))?;
        for topic in [&config.topic, &config.dlq_topic] {
            ensure_topic(&admin, topic, partitions)
                .await
                .map_err(|e| RewarderError::kafka_setup(&format!("create topic {topic}"), e))?;
        }
    }

    // Stops everything: the caller's shutdown, or a part that failed.
    let stop = shutdown.child_token();
    let Some((rules, rules_task)) = LiveRules::follow(
        deps.config_store.clone(),
        WatchConfigOptions::default(),
        stop.clone(),
    )
    .await
    else {
        return Ok(());
    };
    deps.stats.0.rules_loaded.store(true, Ordering::Relaxed);

    let dead_letters = DeadLetterSink::new(&config)
        .map_err(|e| RewarderError::kafka_setup("dead-letter producer", e))?;
    let book = Arc::new(OffsetBook::new());
    let context = RewarderContext {
        book: book.clone(),
        topic: config.topic.clone(),
        revoke_wait: config.revoke_wait,
        stats: deps.stats.clone(),
    };
    let consumer = consumer_client_config(&config)
        .create_with_context(context)
        .map_err(|e| RewarderError::kafka_setup("consumer", e))?;

    let chunk = (config.batch_max_records / 8).clamp(64, 1024);
    let (records_tx, records_rx) = mpsc::channel((config.queue_records / chunk).max(2));
    let (batches_tx, batches_rx) = mpsc::channel(1);
    let (applied_tx, applied_rx) = watch::channel(0u64);
    let abort = CancellationToken::new();
    let work_done = CancellationToken::new();
    let backoff = Backoff::new(config.retry_min, config.retry_max);

    let worker = Worker {
        records: records_rx,
        book: book.clone(),
        rules,
        store: deps.reward_store.clone(),
        writer: batches_tx,
        applied: applied_rx,
        max_records: config.batch_max_records.max(1),
        max_wait: config.batch_max_wait,
        backoff: backoff.clone(),
        stats: deps.stats.clone(),
        shutdown: stop.clone(),
        abort: abort.clone(),
    };
    let (stored_tx, stored_rx) = mpsc::channel(2);
    let writer = Writer {
        batches: batches_rx,
        store: deps.reward_store.clone(),
        book: book.clone(),
        applied: applied_tx,
        publisher: stored_tx,
        backoff: backoff.clone(),
        stats: deps.stats.clone(),
        abort: abort.clone(),
    };
    let publisher = Publisher {
        batches: stored_rx,
        dead_letters,
        book: book.clone(),
        backoff,
        stats: deps.stats.clone(),
        abort: abort.clone(),
    };
    let poll_loop = PollLoop {
        consumer,
        book,
        topic: config.topic.clone(),
        records: records_tx,
        runtime: tokio::runtime::Handle::current(),
        stop: stop.clone(),
        work_done: work_done.clone(),
        settings: PollSettings {
            chunk,
            commit_interval: config.commit_interval,
            pause_after: Duration::from_secs(1),
            assign_all: config.assign_all_partitions,
        },
    };

    let poll_thread = std::thread::Builder::new()
        .name("rewarder-poll".into())
        .spawn(move || poll_loop.run())
        .map_err(|e| RewarderError::Bug(format!("cannot start the poll thread: {e}")))?;
    // The grace period starts when the stop does.
    let grace = {
        let (stop, abort, grace) = (stop.clone(), abort.clone(), config.shutdown_grace);
        tokio::spawn(async move {
            stop.cancelled().await;
            tokio::time::sleep(grace).await;
            abort.cancel();
        })
    };
    tracing::info!(topic = %config.topic, group = %config.group_id, "rewarder started");

    let worker = tokio::spawn(with_stop(worker.run(), stop.clone()));
    let writer = tokio::spawn(with_stop(writer.run(), stop.clone()));
    let publisher = tokio::spawn(with_stop(publisher.run(), stop.clone()));
    let worker_result = joined(worker.await, "worker");
    let writer_result = joined(writer.await, "writer");
    let publisher_result = joined(publisher.await, "publisher");
    work_done.cancel();
    let poll_result = match tokio::task::spawn_blocking(move || poll_thread.join()).await {
        Ok(Ok(result)) => result,
        _ => Err(RewarderError::Bug("the poll thread panicked".into())),
    };
    grace.abort();
    stop.cancel();
    let _ = rules_task.await;
    tracing::info!("rewarder stopped");
    worker_result
        .and(writer_result)
        .and(publisher_result)
        .and(poll_result)
}

/// Runs a part; its failure stops the others.
async fn with_stop(
    part: impl std::future::Future<Output = Result<()>>,
    stop: CancellationToken,
) -> Result<()> {
    let result = part.await;
    if let Err(error) = &result {
        tracing::error!(%error, "rewarder failed; stopping");
        stop.cancel();
    }
    result
}

fn joined(
    joined: std::result::Result<Result<()>, tokio::task::JoinError>,
    part: &str,
) -> Result<()> {
    joined.unwrap_or_else(|e| Err(RewarderError::Bug(format!("the {part} task failed: {e}"))))
}
