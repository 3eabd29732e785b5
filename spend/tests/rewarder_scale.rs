//! The rewarder's exactly-once effect under scale-out (REWARDS.md §4, §6), against the broker
//! `.ci/run` starts: three rewarders in one group on a 12-partition topic, 200,000 `spend gen`
//! records arriving, one rewarder stopped and one added mid-stream; then every record's stored
//! outcome equals what `spend eval` computes for the same file — none lost, none doubled.
//!
//! The rewarders run as `spend_rewarder::consume` tasks in this process, each with its own consumer,
//! because the one store they must share is the embedded store, which only one process may open;
//! the group, its rebalances and its commits are the real ones.

mod rewarder_support;

use std::sync::Arc;
use std::time::Duration;

use rewarder_support::*;
use spend_kafka::KafkaArgs;
use spend_rewarder::rules::config_objects;
use spend_rewarder::{RewarderConfig, RewarderDeps, Stats};
use spend_store::config_store::ConfigStore;
use spend_store::embedded::EmbeddedConfigStore;
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store::reward_store::RewardStore;
use spend_testkit::env::server_env;
use spend_testkit::kafka::wait_committed;
use tokio_util::sync::CancellationToken;

/// A rewarder task in this process.
struct Member {
    stats: Stats,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<spend_rewarder::Result<()>>,
}

impl Member {
    fn start(fx: &Fixture, config: Arc<dyn ConfigStore>, rewards: Arc<dyn RewardStore>) -> Member {
        let mut settings = RewarderConfig::new(fx.kafka.clone());
        settings.topic = fx.topic.clone();
        settings.dlq_topic = fx.dlq.clone();
        settings.group_id = fx.group.clone();
        settings.batch_max_records = 1024;
        let stats = Stats::default();
        let deps = RewarderDeps {
            config_store: config,
            reward_store: rewards,
            stats: stats.clone(),
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(spend_rewarder::consume(settings, deps, shutdown.clone()));
        Member {
            stats,
            shutdown,
            task,
        }
    }

    async fn stop(self) -> u64 {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("stops within a minute")
            .unwrap()
            .unwrap();
        self.stats.records()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_rewarders_one_stopped_one_added_lose_nothing_and_double_nothing() {
    let Some(brokers) = server_env("SPEND_TEST_KAFKA") else {
        return;
    };
    let logs = init_logs();
    eprintln!("rewarder logs: {}", logs.display());
    let fx = Fixture::new(KafkaArgs::new(brokers), "scale", 12, 11).await;
    let config: Arc<dyn ConfigStore> =
        Arc::new(EmbeddedConfigStore::open(&fx.dir.path().join("config")).unwrap());
    config
        .replace_all(config_objects(&reference_config()))
        .await
        .unwrap();
    let store = Arc::new(EmbeddedRewardStore::open(&fx.dir.path().join("rewards")).unwrap());
    let rewards: Arc<dyn RewardStore> = store.clone();

    let first = Member::start(&fx, config.clone(), rewards.clone());
    let second = Member::start(&fx, config.clone(), rewards.clone());
    let third = Member::start(&fx, config.clone(), rewards.clone());
    let total = fx.records.len() as i64;
    // 40 s of records, so that the member added halfway has plenty left to do.
    let producer = fx.publish(0..fx.records.len(), Some(5_000));

    fx.progress_past(total / 4, Duration::from_secs(180)).await;
    let stopped = first.stop().await;
    eprintln!("stopped one rewarder after it wrote {stopped} records");
    fx.progress_past(total / 2, Duration::from_secs(180)).await;
    let fourth = Member::start(&fx, config.clone(), rewards.clone());
    eprintln!("added a rewarder");

    let ends = producer.await.unwrap();
    wait_committed(
        &fx.kafka,
        &fx.group,
        &fx.topic,
        &ends,
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    let mut written = vec![stopped];
    for m in [second, third, fourth] {
        written.push(m.stop().await);
    }
    eprintln!("records written per rewarder: {written:?}");
    assert!(
        written.iter().all(|w| *w > 0),
        "every member took part: {written:?}"
    );
    // Re-deliveries after a rebalance are written again (as duplicates), never fewer.
    assert!(written.iter().sum::<u64>() >= ROWS);

    check_store(&fx, &store).await;
    check_dead_letter_topic(&fx).await;
}
