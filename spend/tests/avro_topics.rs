//! The topics as an outside team reads them: a running pipeline (the ingestor and a rewarder, their
//! real `run` code, against the Kafka-protocol broker `.ci/run` starts) ingests both example
//! files, then `scripts/lib/avro_topics.py` — Python `confluent-kafka` and `fastavro`, pinned in
//! `scripts/lib/tools-requirements.txt` — fetches the writer schemas from `GET /v1/schemas` and
//! reads the transactions and dead-letter topics from the start. Every record must decode with a
//! published schema whose fingerprint fastavro computes itself, be keyed by its card, and hold
//! no full PAN.

mod rewarder_support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rewarder_support::reference_config;
use serde_json::Value;
use spend_ingestor::{IngestorConfig, IngestorDeps, KafkaSettings, KafkaSink};
use spend_kafka::KafkaArgs;
use spend_rewarder::{RewarderConfig, RewarderDeps, Stats};
use spend_runtime::jwt::{JwtAuthenticator, JwtMinter, JwtSecret, TokenSpec};
use spend_runtime::Role;
use spend_store::config_store::{objects_of, ConfigStore};
use spend_store::embedded::EmbeddedConfigStore;
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_testkit::env::server_env;
use spend_testkit::env::skip_or_fail;
use spend_testkit::fixtures::SPEC_EXAMPLES as EXAMPLES;
use spend_testkit::fresh;
use spend_testkit::kafka::create_topics;
use tokio_util::sync::CancellationToken;

const READER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/lib/avro_topics.py");

/// The tools venv's Python (scripts/services.sh installs it), or `SPEND_TEST_PYTHON`.
fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SPEND_TEST_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var_os("SPEND_TOOLS")
        .map(PathBuf::from)
        .or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(cache.join("spend-tools"))
        })?;
    let python = cache.join("venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    skip_or_fail(&format!(
        "no tools venv at {} (scripts/services.sh install makes it)",
        python.display()
    ));
    None
}

/// How many ids of an expected file end as dead letters.
fn dead_letters_in(file: &str) -> usize {
    let text = std::fs::read_to_string(format!("{EXAMPLES}/{file}")).unwrap();
    text.lines().filter(|l| l.contains(",dead_letter,")).count()
}

async fn upload(client: &reqwest::Client, url: &str, token: &str, file: &str) -> Value {
    let r = client
        .post(format!("{url}/v1/batches"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(std::fs::read(format!("{EXAMPLES}/{file}")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK, "{file}");
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_avro_client_of_another_language_reads_every_record_of_the_topics() {
    let Some(brokers) = server_env("SPEND_TEST_KAFKA") else {
        return;
    };
    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kafka = KafkaArgs::new(brokers.clone()).with_default_client_id("avro-topics-test");
    let topic = fresh("avro-transactions");
    let dlq = fresh("avro-dead-letters");
    create_topics(&kafka, &[&topic], 4).await;
    create_topics(&kafka, &[&dlq], 1).await;

    // The rewarder, on the reference configuration.
    let config_store = Arc::new(EmbeddedConfigStore::open(&dir.path().join("config")).unwrap());
    config_store
        .replace_all(objects_of(&reference_config()))
        .await
        .unwrap();
    let reward_store = Arc::new(EmbeddedRewardStore::open(dir.path()).unwrap());
    let mut rewarder_config = RewarderConfig::new(kafka.clone());
    rewarder_config.topic = topic.clone();
    rewarder_config.dlq_topic = dlq.clone();
    rewarder_config.group_id = fresh("avro-rewarder");
    let stats = Stats::default();
    let rewarder_stop = CancellationToken::new();
    let rewarder = tokio::spawn(spend_rewarder::consume(
        rewarder_config,
        RewarderDeps {
            config_store,
            reward_store,
            stats: stats.clone(),
        },
        rewarder_stop.clone(),
    ));

    // The ingestor, serving on a port of its own.
    let secret = JwtSecret::new(b"avro-topics-test-secret-of-at-least-32-bytes".to_vec()).unwrap();
    let bank = JwtMinter::hs256(&secret)
        .mint(&TokenSpec {
            role: Role::Bank,
            cards: Vec::new(),
            subject: None,
            ttl_secs: 600,
        })
        .unwrap();
    let ingest_config = IngestorConfig::default();
    let mut settings = KafkaSettings::new(brokers.clone(), &topic);
    settings.connection = kafka.clone();
    let sink = KafkaSink::connect(&settings, ingest_config.limits.max_inflight_bytes)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let ingestor = tokio::spawn(spend_ingestor::run(
        ingest_config,
        IngestorDeps {
            auth: Arc::new(JwtAuthenticator::hs256(&secret)),
            sink: Arc::new(sink),
            s3: None,
        },
        listener,
        shutdown.clone(),
    ));

    let client = reqwest::Client::new();
    let valid = upload(&client, &url, &bank, "transactions.csv").await;
    let invalid = upload(&client, &url, &bank, "invalid.csv").await;
    let accepted = valid["accepted"].as_u64().unwrap() + invalid["accepted"].as_u64().unwrap();
    assert_eq!(accepted, 43 + 2);

    // Every accepted record rewarded or dead-lettered before the topics are read.
    let deadline = Instant::now() + Duration::from_secs(90);
    while stats.records() < accepted {
        assert!(
            Instant::now() < deadline,
            "the rewarder took {} of {accepted} records",
            stats.records()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead_letters = dead_letters_in("expected.csv") + dead_letters_in("expected-invalid.csv");
    assert_eq!(dead_letters, 4);

    let out = Command::new(&python)
        .arg(READER)
        .args(["--bootstrap", &brokers])
        .args(["--schemas-url", &format!("{url}/v1/schemas")])
        .args(["--topic", &format!("{topic}=transaction")])
        .args(["--topic", &format!("{dlq}=dead_letter")])
        .args(["--expect", &format!("{topic}={accepted}")])
        .args(["--expect", &format!("{dlq}={dead_letters}")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Python reader found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("the Python reader's summary:\n{stdout}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["topics"][&topic]["decoded"], accepted);
    // The five example cards (the two valid rows of invalid.csv are card a1's).
    assert_eq!(summary["topics"][&topic]["cards"], 5);
    assert_eq!(summary["topics"][&dlq]["decoded"], dead_letters as u64);
    assert_eq!(
        summary["schemas"],
        serde_json::json!(["dead_letter", "outcome", "transaction"])
    );

    shutdown.cancel();
    ingestor.await.unwrap().unwrap();
    rewarder_stop.cancel();
    rewarder.await.unwrap().unwrap();
}
