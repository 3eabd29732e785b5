//! What the service tests share: the servers `.ci/run` starts (found through `SPEND_TEST_*`), an
//! ingestor served by `run()` on a free port with a fresh topic, and a consumer that reads a whole
//! topic back.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use spend_ingestor::{IngestorConfig, IngestorDeps, KafkaSettings, KafkaSink, TopicSpec};
use spend_runtime::{NoAuth, Role};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const PARTITIONS: i32 = 4;

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

pub fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/spec/examples")
        .join(name)
}

pub fn example_bytes(name: &str) -> Vec<u8> {
    std::fs::read(example(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

pub fn fresh_topic(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub fn kafka_settings(brokers: &str, topic: &str) -> KafkaSettings {
    let mut settings = KafkaSettings::new(brokers, topic);
    settings.create_topic = Some(TopicSpec {
        partitions: PARTITIONS,
        replication: None,
    });
    settings
}

/// An ingestor served by `run()` on a free loopback port.
pub struct Running {
    pub url: String,
    pub topic: String,
    pub brokers: String,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<()>>,
}

impl Running {
    pub async fn start(settings: KafkaSettings, config: IngestorConfig) -> Running {
        Self::start_with_s3(settings, config, None).await
    }

    pub async fn start_with_s3(
        settings: KafkaSettings,
        config: IngestorConfig,
        s3: Option<aws_sdk_s3::Client>,
    ) -> Running {
        let sink = KafkaSink::connect(&settings, config.limits.max_inflight_bytes)
            .await
            .expect("kafka sink");
        let deps = IngestorDeps {
            auth: Arc::new(NoAuth::as_role(Role::Bank)),
            sink: Arc::new(sink),
            s3,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let handle = tokio::spawn(async move {
            spend_ingestor::run(config, deps, listener, token)
                .await
                .expect("ingestor run");
        });
        Running {
            url,
            topic: settings.topic.clone(),
            brokers: settings.connection.brokers.clone(),
            shutdown,
            handle: Some(handle),
        }
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(60), h)
                .await
                .expect("ingestor stops")
                .unwrap();
        }
    }

    pub async fn upload(&self, body: impl Into<reqwest::Body>) -> (u16, serde_json::Value) {
        let res = reqwest::Client::new()
            .post(format!("{}/v1/batches", self.url))
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .expect("upload");
        answer(res).await
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let res = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await
            .expect("post");
        answer(res).await
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let res = reqwest::get(format!("{}{path}", self.url))
            .await
            .expect("get");
        answer(res).await
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn answer(res: reqwest::Response) -> (u16, serde_json::Value) {
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, value)
}

/// One record read back from the topic.
#[derive(Clone, Debug)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    /// Every header name and value, back to back (to scan what was produced byte by byte).
    pub headers: Vec<u8>,
}

/// Reads the topic from the beginning until `expected` records came and then nothing more for
/// `settle`; panics after `timeout`. The high watermark is not trusted (tansu's is wrong): records
/// are counted.
pub fn consume_all(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("test-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions = metadata.topics()[0].partitions().len() as i32;
    assert!(partitions > 0, "topic {topic} has no partitions");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let settle = Duration::from_millis(1500);
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut complete_at: Option<Instant> = None;
    loop {
        if let Some(t) = complete_at {
            if t.elapsed() > settle {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {expected} records arrived on {topic}",
            out.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let mut headers = Vec::new();
                if let Some(h) = m.headers() {
                    for header in h.iter() {
                        headers.extend_from_slice(header.key.as_bytes());
                        headers.extend_from_slice(header.value.unwrap_or_default());
                    }
                }
                out.push(Consumed {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().unwrap_or_default().to_vec(),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    headers,
                });
            }
            Some(Err(e)) => panic!("consume {topic}: {e}"),
            None => {}
        }
        if out.len() >= expected && complete_at.is_none() {
            complete_at = Some(Instant::now());
        }
    }
    out
}

/// Records grouped by the card id (the key).
pub fn by_key(records: &[Consumed]) -> HashMap<Vec<u8>, Vec<Consumed>> {
    let mut map: HashMap<Vec<u8>, Vec<Consumed>> = HashMap::new();
    for r in records {
        map.entry(r.key.clone()).or_default().push(r.clone());
    }
    map
}

/// A private tansu broker on a free port (for the broker-down test), stopped on drop.
pub struct PrivateBroker {
    pub brokers: String,
    child: Child,
    killed: bool,
}

impl PrivateBroker {
    pub fn start(tansu: &str) -> PrivateBroker {
        let port = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu)
            .args([
                "broker",
                "--cluster-id",
                "spend-test",
                "--listener-url",
                &url,
            ])
            .args([
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .env_remove("SCHEMA_REGISTRY")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("CLUSTER_ID")
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("STORAGE_ENGINE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {tansu}: {e}"));
        let brokers = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&brokers).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {brokers}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        PrivateBroker {
            brokers,
            child,
            killed: false,
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Freezes the broker: connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    pub fn kill(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        // A frozen process must be thawed to die promptly.
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.kill();
    }
}
