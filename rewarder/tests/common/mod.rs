//! What the rewarder's service tests share: the servers `.ci/run` starts (found through
//! `SPEND_TEST_*`), fresh topics and groups, configurations loaded into a store, a rewarder run
//! by `run()` in the test process, and the dead-letter topic read back.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use spend_domain::config::Config;
use spend_domain::RecordId;
use spend_kafka::{admin_client, consumer_config, ensure_topic, KafkaArgs};
use spend_rewarder::bench::{encode_csv, produce, EncodedRecords, PartitionEnds};
use spend_rewarder::rules::config_objects;
use spend_rewarder::{RewarderConfig, RewarderDeps, Stats};
use spend_schemas::{codec, DeadLetterRecord};
use spend_store::config_store::ConfigStore;
use spend_store::reward_store::{RewardStore, StoredOutcome};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The value of a `SPEND_TEST_*` variable. Missing: under CI a failure, otherwise `None` after
/// saying the test is skipped.
pub fn server_env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{name} is not set: run the tests through .ci/run (scripts/test.sh)");
            }
            eprintln!("skipped: {name} not set");
            None
        }
    }
}

pub fn kafka() -> Option<KafkaArgs> {
    server_env("SPEND_TEST_KAFKA").map(KafkaArgs::new)
}

pub fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/spec/examples")
        .join(name)
}

pub fn fresh(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The configuration files, merged (as `spend eval --config A --config B` merges them).
pub fn load_config(files: &[&str]) -> Config {
    let mut merged = Config::default();
    for f in files {
        let text = std::fs::read_to_string(example(f)).unwrap();
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
    let admin = admin_client(kafka).unwrap();
    ensure_topic(&admin, &names.topic, partitions)
        .await
        .unwrap();
    ensure_topic(&admin, &names.dlq, partitions).await.unwrap();
}

/// The rewarder's settings for a test: small batches that do not wait long.
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
        let handle = tokio::spawn(spend_rewarder::run(config, deps, shutdown.clone()));
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
    let (kafka, topic) = (kafka.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut config = consumer_config(&kafka, &fresh("dlq-reader"));
        config
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false");
        let consumer: BaseConsumer = config.create().unwrap();
        consumer.subscribe(&[&topic]).unwrap();
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut last = Instant::now();
        loop {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    out.push(codec().decode_dead_letter(m.payload().unwrap()).unwrap());
                    last = Instant::now();
                }
                Some(Err(e)) => eprintln!("dead-letter reader: {e}"),
                None => {}
            }
            if out.len() >= at_least && last.elapsed() > Duration::from_secs(1) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "read {} of at least {at_least} dead letters",
                out.len()
            );
        }
    })
    .await
    .unwrap()
}

/// An etcd server of the test's own, on free loopback ports and a temp data dir, that the test
/// may kill and restart on the same ports and data.
pub struct EtcdProcess {
    bin: PathBuf,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl EtcdProcess {
    /// Starts one; `None` (after saying so) when `SPEND_TEST_ETCD_BIN` is unset outside CI.
    pub async fn start() -> Option<Self> {
        let bin = server_env("SPEND_TEST_ETCD_BIN")?;
        let mut etcd = EtcdProcess {
            bin: bin.into(),
            dir: tempfile::tempdir().unwrap(),
            client_port: free_port(),
            peer_port: free_port(),
            child: None,
        };
        etcd.restart().await;
        Some(etcd)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn restart(&mut self) {
        self.kill();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::File::create(self.dir.path().join("etcd.log")).unwrap();
        let child = Command::new(&self.bin)
            .args(["--name", "test"])
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &self.endpoint()])
            .args(["--advertise-client-urls", &self.endpoint()])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("test={peer}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = tokio::time::timeout(Duration::from_secs(1), async {
                let mut c = etcd_client::Client::connect([self.endpoint()], None).await?;
                c.get("ready", None).await?;
                Ok::<_, etcd_client::Error>(())
            })
            .await;
            if let Ok(Ok(())) = ready {
                return;
            }
            assert!(Instant::now() < deadline, "etcd did not get ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A stored outcome in `expected.csv`'s columns after the id: status, reward, unit, amount_sgd,
/// base_campaign, promo_campaign, remark.
pub fn expected_columns(o: &StoredOutcome) -> Vec<String> {
    use spend_domain::money::fmt2;
    match (o.reward(), o.dead_letter_reason()) {
        (Some(r), _) => vec![
            "rewarded".into(),
            fmt2(r.reward),
            r.unit.as_str().into(),
            r.amount_sgd.map(fmt2).unwrap_or_default(),
            r.base_campaign.map(|u| u.to_string()).unwrap_or_default(),
            r.promo_campaign.map(|u| u.to_string()).unwrap_or_default(),
            r.remark.clone(),
        ],
        (None, Some(reason)) => vec![
            "dead_letter".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            reason.as_str().into(),
        ],
        (None, None) => unreachable!("an outcome is rewarded or a dead letter"),
    }
}

/// The final outcome of every id of a results CSV (`expected.csv`, or `spend eval`'s output):
/// the first rewarded row of an id is final; otherwise its last dead letter stands. Rejected
/// rows have no outcome. Returns the ids in first-seen order too.
pub fn final_outcomes(results_csv: &str) -> (Vec<String>, HashMap<String, Vec<String>>) {
    let mut order = Vec::new();
    let mut finals: HashMap<String, Vec<String>> = HashMap::new();
    for line in csv::ReaderBuilder::new()
        .from_reader(results_csv.as_bytes())
        .records()
    {
        let line = line.unwrap();
        let id = line[0].to_owned();
        let columns: Vec<String> = line.iter().skip(1).map(str::to_owned).collect();
        let settled = finals.get(&id).is_some_and(|c| c[0] == "rewarded");
        if (&line[1] == "rewarded" || &line[1] == "dead_letter") && !settled {
            if !finals.contains_key(&id) {
                order.push(id.clone());
            }
            finals.insert(id, columns);
        }
    }
    (order, finals)
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
