//! What the service tests share, besides what `spend_testkit` has (the servers found through
//! `SPEND_TEST_*`, a topic read back whole): an ingestor served by `run()` on a free port
//! with a fresh topic, and a private broker to freeze and kill.
#![allow(dead_code, unreachable_pub)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spend_ingestor::{IngestorConfig, IngestorDeps, KafkaSettings, KafkaSink, TopicSpec};
use spend_runtime::{NoAuth, Role};
use spend_testkit::http::answer;
use spend_testkit::net::free_port;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const PARTITIONS: i32 = 4;

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

/// A private tansu broker on a free port (for the broker-down test), stopped on drop.
pub struct PrivateBroker {
    pub brokers: String,
    child: Child,
    killed: bool,
}

impl PrivateBroker {
    pub fn start(tansu: &str) -> PrivateBroker {
        let port = free_port();
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
