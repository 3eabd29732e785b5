//! What the rewarder's service tests share, besides what `spend_testkit` has: the
//! broker of `SPEND_TEST_KAFKA`, fresh topics and groups, configurations loaded into a store, a
//! rewarder run by `run()` in the test process, and the dead-letter topic read back.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spend_domain::config::Config;
use spend_domain::RecordId;
use spend_kafka::KafkaArgs;
use spend_rewarder::bench::{encode_csv, produce, EncodedRecords, PartitionEnds};
use spend_rewarder::rules::config_objects;
use spend_rewarder::{RewarderConfig, RewarderDeps, Stats};
use spend_schemas::{codec, DeadLetterRecord};
use spend_store::config_store::ConfigStore;
use spend_store::embedded::EmbeddedConfigStore;
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store::reward_store::{RewardStore, StoredOutcome};
use spend_testkit::env::server_env;
use spend_testkit::fixtures::spec_example;
use spend_testkit::fresh;
use spend_testkit::kafka::read_payloads;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub fn kafka() -> Option<KafkaArgs> {
    server_env("SPEND_TEST_KAFKA").map(KafkaArgs::new)
}

/// The configuration files, merged (as `spend eval --config A --config B` merges them).
pub fn load_config(files: &[&str]) -> Config {
    let mut merged = Config::default();
    for f in files {
        let text = std::fs::read_to_string(spec_example(f)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let c = Config::fragment_from_json(&v, &mut uuid::Uuid::new_v4).unwrap();
        merged = merged.merge(c);
    }
    merged.validate().unwrap();
    merged
}

/// Replaces what `store` holds with `config`; returns the revision.
pub async fn put_config(store: &dyn ConfigStore, config: &Config) -> i64 {
    store.replace_all(config_objects(config)).await.unwrap()
}

/// Topic, dead-letter topic and group, fresh for one test.
#[derive(Clone, Debug)]
pub struct Names {
    pub topic: String,
    pub dlq: String,
    pub group: String,
}

impl Names {
    pub fn fresh(test: &str) -> Self {
        Names {
            topic: fresh(&format!("rw-{test}")),
            dlq: fresh(&format!("rw-{test}-dlq")),
            group: fresh(&format!("rw-{test}-group")),
        }
    }
}

pub async fn create_topics(kafka: &KafkaArgs, names: &Names, partitions: i32) {
    spend_testkit::kafka::create_topics(kafka, &[&names.topic, &names.dlq], partitions).await;
}

/// The rewarder's settings for a test: small batches that do not wait long.
/// What most scenarios start from: fresh topics, and the embedded stores in a temporary
/// directory with the configuration of `files` (spec examples) in force.
pub struct Scene {
    pub names: Names,
    /// Holds the stores' directory for the test's length.
    pub dir: tempfile::TempDir,
    pub config_store: Arc<EmbeddedConfigStore>,
    pub rewards: Arc<EmbeddedRewardStore>,
}

impl Scene {
    /// Topics named after `prefix` with `partitions`, and the stores, `files` put in force.
    pub async fn new(kafka: &KafkaArgs, prefix: &str, partitions: i32, files: &[&str]) -> Scene {
        let names = Names::fresh(prefix);
        create_topics(kafka, &names, partitions).await;
        let dir = tempfile::tempdir().unwrap();
        let config_store = Arc::new(EmbeddedConfigStore::open(&dir.path().join("config")).unwrap());
        put_config(config_store.as_ref(), &load_config(files)).await;
        let rewards = Arc::new(EmbeddedRewardStore::open(&dir.path().join("rewards")).unwrap());
        Scene {
            names,
            dir,
            config_store,
            rewards,
        }
    }
}

pub fn rewarder_config(kafka: &KafkaArgs, names: &Names) -> RewarderConfig {
    let mut config = RewarderConfig::new(kafka.clone());
    config.topic = names.topic.clone();
    config.dlq_topic = names.dlq.clone();
    config.group_id = names.group.clone();
    config.batch_max_records = 64;
    config.batch_max_wait = Duration::from_millis(20);
    config.retry_max = Duration::from_secs(1);
    config
}

/// Encodes a CSV's valid rows as the ingestor would.
pub fn encode(csv: &[u8]) -> EncodedRecords {
    encode_csv(csv, chrono::Utc::now().date_naive()).unwrap()
}

/// Produces `records[range]`; returns the partitions' end offsets.
pub async fn publish(
    kafka: &KafkaArgs,
    topic: &str,
    records: Arc<EncodedRecords>,
    range: std::ops::Range<usize>,
) -> PartitionEnds {
    let (kafka, topic) = (kafka.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || produce(&kafka, &topic, &records, range, None))
        .await
        .unwrap()
        .unwrap()
}

/// Merges end offsets (the later of the two per partition).
pub fn merge_ends(a: &mut PartitionEnds, b: PartitionEnds) {
    for (p, o) in b {
        let e = a.entry(p).or_insert(o);
        *e = (*e).max(o);
    }
}

/// A rewarder run by `run()` in this process.
pub struct Running {
    pub stats: Stats,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<spend_rewarder::Result<()>>>,
}

impl Running {
    pub fn start(
        config: RewarderConfig,
        config_store: Arc<dyn ConfigStore>,
        reward_store: Arc<dyn RewardStore>,
    ) -> Running {
        let stats = Stats::default();
        let deps = RewarderDeps {
            config_store,
            reward_store,
            stats: stats.clone(),
        };
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(spend_rewarder::consume(config, deps, shutdown.clone()));
        Running {
            stats,
            shutdown,
            handle: Some(handle),
        }
    }

    /// Signals shutdown and waits for the drain.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(60), h)
                .await
                .expect("the rewarder stops within a minute")
                .expect("the rewarder task")
                .expect("the rewarder ends without error");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Waits until every id has a stored outcome satisfying `done`; returns them.
pub async fn wait_outcomes(
    store: &dyn RewardStore,
    ids: &[RecordId],
    timeout: Duration,
    done: impl Fn(&StoredOutcome) -> bool,
) -> HashMap<RecordId, StoredOutcome> {
    let deadline = Instant::now() + timeout;
    let mut found = HashMap::new();
    loop {
        for id in ids {
            if found.contains_key(id) {
                continue;
            }
            if let Some(o) = store.get(*id).await.unwrap() {
                if done(&o) {
                    found.insert(*id, o);
                }
            }
        }
        if found.len() == ids.len() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} ids have the outcome awaited after {timeout:?}",
            found.len(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads the dead-letter topic from the start (a fresh group) until `at_least` records arrived
/// and nothing more came for a second.
pub async fn read_dead_letters(
    kafka: &KafkaArgs,
    topic: &str,
    at_least: usize,
    timeout: Duration,
) -> Vec<DeadLetterRecord> {
    let quiet = Duration::from_secs(1);
    read_payloads(kafka, topic, at_least, quiet, Some(timeout))
        .await
        .iter()
        .map(|p| codec().decode_dead_letter(p).unwrap())
        .collect()
}

/// A CSV of `n` valid online purchases (`scis_shopping`, MCC 5999, 10.00 SGD: 100.00 points
/// under the reference configuration) on `cards` cards (or on `program`), ids numbered from
/// `first`. Row `i` is on card `i % cards`.
pub fn purchases(first: u64, n: u64, cards: u64, program: &str) -> (String, Vec<RecordId>) {
    let mut csv = String::from(
        "id,transaction_id,merchant,mcc,currency,amount,transaction_date,card_id,card_pan,card_type\n",
    );
    let mut ids = Vec::new();
    for i in first..first + n {
        let id = format!("00000000-0000-4000-8000-{i:012x}");
        let card = format!("00000000-0000-4000-9000-{:012x}", i % cards.max(1));
        csv.push_str(&format!(
            "{id},t{i},Shop {i},5999,SGD,10.00,2024-06-03,{card},4111111111111111,{program}\n"
        ));
        ids.push(RecordId(id.parse().unwrap()));
    }
    (csv, ids)
}

/// A promo campaign on `scis_shopping`: 1 point per SGD on every purchase.
pub fn promo(id: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id, "name": "Everything +1", "program": "scis_shopping", "kind": "promo",
        "priority": 1, "conditions": [], "rate": "1"
    })
}
