//! The product in distributed mode, as an operator runs it: `spend campaignex`, `spend ingestor`,
//! two `spend rewarder`s and `spend informer`, each its own process, against the real etcd and
//! Kafka-protocol broker that `.ci/run` starts. No ScyllaDB can run on these machines, so the
//! rewards live in the embedded store, which one process owns: `spend store` serves it, and the
//! rewarders and the informer use it with `--reward-store-url` and a `service` token.
//!
//! The same checks as `spend dev`'s end-to-end test: the reference configuration is loaded with
//! `PUT /v1/config` and the example campaigns through the campaign API, both example files are
//! uploaded to the ingestor, and every id's outcome, read through the informer, equals
//! `expected.csv`. Then every process is stopped with SIGTERM (each must exit cleanly) and started
//! again on the same store, etcd prefix and topics, and the outcomes are checked again. Logs,
//! answers and the store's files are scanned for full PANs.

mod e2e_support;
mod rewarder_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e_support::{
    assert_no_pan, assert_no_pan_in_dir, check_histories, check_outcomes, load_example_campaigns,
    metric_sum, upload_examples, Service,
};
use serde_json::Value;
use spend_testkit::env::server_env;
use spend_testkit::fixtures::SPEC_EXAMPLES as EXAMPLES;
use spend_testkit::fresh;
use spend_testkit::net::free_port;

const SECRET: &str = "distributed-e2e-test-secret-of-at-least-32-bytes";

/// `spend` with the test's JWT key and verbose logs (scanned for PANs afterwards).
fn spend() -> Command {
    let mut c = e2e_support::spend();
    c.env(
        "RUST_LOG",
        "debug,h2=info,hyper=info,fjall=info,lsm_tree=info,rdkafka=info",
    )
    .env("SPEND_JWT_SECRET", SECRET);
    c
}

fn mint(role: &str) -> String {
    let out = spend()
        .args(["token", "--role", role, "--ttl-secs", "3600"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Where everything of one test run lives: fresh names on the shared servers, a store directory.
struct Deployment {
    etcd: String,
    brokers: String,
    prefix: String,
    topic: String,
    dlq_topic: String,
    group: String,
    store_dir: PathBuf,
    logs: PathBuf,
    service_token: String,
}

/// The running services.
struct Running {
    store: Service,
    campaignex: Service,
    ingestor: Service,
    rewarders: Vec<Service>,
    informer: Service,
}

impl Deployment {
    fn etcd_args(&self, c: &mut Command) {
        c.args([
            "--etcd-endpoints",
            &self.etcd,
            "--etcd-prefix",
            &self.prefix,
        ]);
    }

    fn remote_store_args(&self, c: &mut Command, store: &Service) {
        c.args(["--reward-store-url", &store.url])
            .env("SPEND_REWARD_STORE_TOKEN", &self.service_token);
    }

    /// Starts `command` as `name`, its log in the logs directory (appended across restarts).
    fn service(&self, name: &str, command: Command, port: u16) -> Service {
        Service::start(name, command, port, self.logs.join(format!("{name}.log")))
    }

    async fn start(&self, client: &reqwest::Client) -> Running {
        let port = free_port();
        let mut c = spend();
        c.args([
            "store",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&self.store_dir);
        let mut store = self.service("store", c, port);
        store.wait_ready(client).await;

        let port = free_port();
        let mut c = spend();
        c.args(["campaignex", "--listen", &format!("127.0.0.1:{port}")]);
        self.etcd_args(&mut c);
        let mut campaignex = self.service("campaignex", c, port);
        campaignex.wait_ready(client).await;

        let port = free_port();
        let mut c = spend();
        c.args(["ingestor", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--kafka-brokers", &self.brokers, "--topic", &self.topic])
            .args(["--partitions", "4"]);
        let mut ingestor = self.service("ingestor", c, port);
        ingestor.wait_ready(client).await;

        let mut rewarders = Vec::new();
        for name in ["rewarder-1", "rewarder-2"] {
            let port = free_port();
            let mut c = spend();
            c.args(["rewarder", "--listen", &format!("127.0.0.1:{port}")])
                .args(["--kafka-brokers", &self.brokers])
                .args(["--topic", &self.topic, "--dlq-topic", &self.dlq_topic])
                .args(["--group", &self.group, "--partitions", "4"]);
            self.etcd_args(&mut c);
            self.remote_store_args(&mut c, &store);
            rewarders.push(self.service(name, c, port));
        }

        let port = free_port();
        let mut c = spend();
        c.args(["informer", "--listen", &format!("127.0.0.1:{port}")]);
        self.remote_store_args(&mut c, &store);
        let mut informer = self.service("informer", c, port);
        informer.wait_ready(client).await;

        for r in &mut rewarders {
            r.wait_ready(client).await;
        }
        Running {
            store,
            campaignex,
            ingestor,
            rewarders,
            informer,
        }
    }
}

impl Running {
    /// SIGTERM to each, clients before the store they use; each must exit cleanly. The rewarders
    /// stop as a rolling update does: the second takes over every partition the first gave back
    /// before it stops too.
    ///
    /// Waiting for the hand-over is also what keeps the test broker's group usable: tansu 0.6.0
    /// keeps a group's leader when the leader leaves while the group is re-forming, and then no
    /// member that joins later is ever made leader, so nobody is ever assigned a partition.
    async fn stop(self, client: &reqwest::Client) {
        self.ingestor.stop("TERM");
        let mut rewarders = self.rewarders.into_iter();
        let (first, second) = (rewarders.next().unwrap(), rewarders.next().unwrap());
        first.stop("TERM");
        wait_for_partitions(client, &second.url, 4).await;
        second.stop("TERM");
        self.informer.stop("TERM");
        self.campaignex.stop("TERM");
        self.store.stop("TERM");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_services_reward_the_examples_and_keep_them_across_a_restart() {
    let Some(etcd) = server_env("SPEND_TEST_ETCD") else {
        return;
    };
    let Some(brokers) = server_env("SPEND_TEST_KAFKA") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let deployment = Deployment {
        etcd,
        brokers,
        prefix: format!("/{}/config", fresh("spend-e2e")),
        topic: fresh("transactions-e2e"),
        dlq_topic: fresh("dead-letters-e2e"),
        group: fresh("rewarder-e2e"),
        store_dir: root.path().join("store"),
        logs: logs.clone(),
        service_token: mint("service"),
    };
    let admin = mint("admin");
    let bank = mint("bank");
    let client = reqwest::Client::new();

    let running = deployment.start(&client).await;

    // An operator's first step: the whole reference configuration, in one PUT.
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{EXAMPLES}/reference-config.json")).unwrap(),
    )
    .unwrap();
    let r = client
        .put(format!("{}/v1/config", running.campaignex.url))
        .bearer_auth(&admin)
        .json(&reference)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    load_example_campaigns(&client, &running.campaignex.url, &admin).await;
    // Both rewarders follow etcd live: give them the new campaigns before the records arrive.
    let revision = client
        .get(format!("{}/v1/config", running.campaignex.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["revision"]
        .as_i64()
        .unwrap();
    for rewarder in &running.rewarders {
        wait_for_revision(&client, &rewarder.url, revision).await;
    }

    upload_examples(&client, &running.ingestor.url, &bank).await;
    check_outcomes(&client, &running.informer.url, &admin).await;
    check_histories(&client, &running.informer.url, &admin).await;

    // A customer reads their own card through the informer, and no other.
    let customer = {
        let out = spend()
            .args(["token", "--role", "customer", "--card"])
            .arg("00000000-0000-4000-8000-0000000000a1")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let card = |c: &str| {
        format!(
            "{}/v1/cards/00000000-0000-4000-8000-0000000000{c}/summary",
            running.informer.url
        )
    };
    let r = client
        .get(card("a1"))
        .bearer_auth(&customer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let r = client
        .get(card("a2"))
        .bearer_auth(&customer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN);

    // Every process stops cleanly on SIGTERM; everything starts again on the same data.
    running.stop(&client).await;
    let running = deployment.start(&client).await;
    check_outcomes(&client, &running.informer.url, &admin).await;
    running.stop(&client).await;

    assert_no_pan_in_dir(&deployment.store_dir);
    for entry in std::fs::read_dir(&logs).unwrap() {
        let path = entry.unwrap().path();
        let log = std::fs::read(&path).unwrap();
        assert!(!log.is_empty(), "{} is empty", path.display());
        assert_no_pan(&path.display().to_string(), &log);
    }
}

/// Waits until the rewarder at `url` owns `count` partitions (`spend_rewarder_assigned_partitions`).
async fn wait_for_partitions(client: &reqwest::Client, url: &str, count: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let owned = metric_sum(client, url, "spend_rewarder_assigned_partitions").await;
        if owned == Some(count) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} owns {owned:?} partitions, not all {count}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the rewarder at `url` is rewarding with configuration `revision` or later
/// (`spend_rewarder_rule_set_revision` on its `/metrics`).
async fn wait_for_revision(client: &reqwest::Client, url: &str, revision: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let current = metric_sum(client, url, "spend_rewarder_rule_set_revision").await;
        if current.is_some_and(|c| c >= revision) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} still rewards with revision {current:?}, not {revision}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ingestor and the rewarder read one topic variable, `SPEND_TOPIC`. A deployment that
/// still sets the ingestor's old name must not start on the default topic while its rewarders
/// read another: the ingestor refuses, naming the variable to set.
#[test]
fn the_ingestor_refuses_the_topic_variable_of_earlier_versions() {
    for (old, new) in [
        ("SPEND_INGEST_TOPIC", "SPEND_TOPIC"),
        ("SPEND_INGEST_PARTITIONS", "SPEND_PARTITIONS"),
    ] {
        let out = e2e_support::spend()
            .args(["ingestor", "--listen", "127.0.0.1:0"])
            .env(old, "8")
            // Nowhere to connect: the refusal must come first.
            .env("SPEND_KAFKA_BROKERS", "127.0.0.1:1")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{old}: the ingestor started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{old} is no longer read")) && stderr.contains(new),
            "{old}: {stderr}"
        );
    }
}
