//! The rewarder's exactly-once effect under crashes (REWARDS.md §4, §6), against the broker and
//! etcd `.ci/run` starts: 200,000 `spend gen` records are processed by `spend rewarder`
//! processes, one at a time on one embedded store (two processes cannot open one store file),
//! each killed with SIGKILL at a random point while records are being processed — at least five
//! times — and a last one stopped with SIGTERM at the end. Then every record's stored outcome
//! equals what `spend eval` computes for the same file: none lost, none doubled.

mod rewarder_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rand::Rng;
use rewarder_support::*;
use spend_kafka::KafkaArgs;
use spend_rewarder::bench::PartitionEnds;
use spend_rewarder::rules::config_objects;
use spend_store::config_store::ConfigStore;
use spend_store::etcd::{EtcdConfigStore, EtcdOptions};
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_testkit::env::server_env;
use spend_testkit::fresh;
use spend_testkit::kafka::wait_committed;

fn start_process(fx: &Fixture, etcd: &str, prefix: &str, data: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(fx.dir.path().join("rewarder.log"))
        .unwrap();
    spend()
        .args(["rewarder", "--listen", "127.0.0.1:0"])
        .args(["--kafka-brokers", &fx.kafka.brokers])
        .args([
            "--topic",
            &fx.topic,
            "--dlq-topic",
            &fx.dlq,
            "--group",
            &fx.group,
        ])
        .args(["--no-create-topics", "--batch-records", "1024"])
        .args(["--etcd-endpoints", etcd, "--etcd-prefix", prefix])
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn terminate(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn log_tail(fx: &Fixture) -> String {
    let text = std::fs::read_to_string(fx.dir.path().join("rewarder.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewarders_killed_mid_stream_lose_nothing_and_double_nothing() {
    let Some(brokers) = server_env("SPEND_TEST_KAFKA") else {
        return;
    };
    let Some(etcd) = server_env("SPEND_TEST_ETCD") else {
        return;
    };
    let fx = Fixture::new(KafkaArgs::new(brokers), "crash", 6, 7).await;
    let prefix = format!("/{}", fresh("spend-crash"));
    let config_store =
        EtcdConfigStore::connect(std::slice::from_ref(&etcd), &prefix, EtcdOptions::default())
            .await
            .unwrap();
    config_store
        .replace_all(config_objects(&reference_config()))
        .await
        .unwrap();
    let data = fx.dir.path().join("rewards");

    // The stream arrives in 8 parts, one per cycle, so every cycle finds work; each rewarder is
    // killed at a random point after it committed something, or now and then before.
    const PARTS: usize = 8;
    let part = fx.records.len() / PARTS;
    let mut ends = PartitionEnds::new();
    let mut produced = 0usize;
    let mut kills = 0;
    let mut mid_stream = 0;
    let mut rng = rand::thread_rng();
    let mut committed = 0i64;
    for cycle in 0..20 {
        if mid_stream >= 5 && produced == fx.records.len() {
            break;
        }
        let mut child = start_process(&fx, &etcd, &prefix, &data);
        if produced < fx.records.len() {
            let next = (produced + part).min(fx.records.len());
            let part_ends = fx.publish(produced..next, None).await.unwrap();
            for (p, o) in part_ends {
                let e = ends.entry(p).or_insert(o);
                *e = (*e).max(o);
            }
            produced = next;
        }
        if cycle % 4 == 3 {
            // Killed early: while joining, or in its first batches.
            tokio::time::sleep(Duration::from_millis(rng.gen_range(500..4000))).await;
        } else {
            fx.progress_past(committed, Duration::from_secs(120)).await;
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..1200))).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        committed = fx.committed().await;
        if committed < produced as i64 {
            mid_stream += 1;
        }
        eprintln!("kill {kills}: committed {committed} of {produced} produced");
    }
    assert!(
        mid_stream >= 5,
        "only {mid_stream} of {kills} kills were mid-stream"
    );

    // A last rewarder finishes the topic and is stopped gracefully.
    let mut child = start_process(&fx, &etcd, &prefix, &data);
    let finished = wait_committed(
        &fx.kafka,
        &fx.group,
        &fx.topic,
        &ends,
        Duration::from_secs(300),
    )
    .await;
    if let Err(e) = finished {
        child.kill().unwrap();
        panic!("{e}\n{}", log_tail(&fx));
    }
    terminate(&mut child);
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the last rewarder exited with {status}\n{}",
        log_tail(&fx)
    );

    let store = EmbeddedRewardStore::open(&data).unwrap();
    check_store(&fx, &store).await;
    check_dead_letter_topic(&fx).await;
    eprintln!("{kills} kills, {mid_stream} mid-stream");
}
