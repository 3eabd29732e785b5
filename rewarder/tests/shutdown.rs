//! Graceful shutdown: the batch in hand is written and everything written is committed before
//! the rewarder leaves, so the next member of the group starts exactly where it stopped.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use spend_testkit::kafka::{committed_offsets, wait_committed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_rewarder_commits_what_it_wrote_and_its_successor_goes_on_from_there() {
    let Some(kafka) = kafka() else { return };
    let Scene {
        names,
        dir: _dir,
        config_store,
        rewards,
    } = Scene::new(&kafka, "drain", 2, &["reference-config.json"]).await;

    let (csv, ids) = purchases(1, 20_000, 50, "scis_shopping");
    let records = Arc::new(encode(csv.as_bytes()));
    let ends = publish(&kafka, &names.topic, records.clone(), 0..records.len()).await;

    let mut config = rewarder_config(&kafka, &names);
    config.batch_max_records = 256;
    let first = Running::start(config.clone(), config_store.clone(), rewards.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while first.stats.records() < 1000 {
        assert!(tokio::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = first.stats.clone();
    first.stop().await;
    let written = stats.records();
    assert!(written < ids.len() as u64, "stopped mid-stream");

    let committed: i64 = {
        let (kafka, group, topic) = (kafka.clone(), names.group.clone(), names.topic.clone());
        tokio::task::spawn_blocking(move || committed_offsets(&kafka, &group, &topic, 2))
            .await
            .unwrap()
            .unwrap()
            .values()
            .sum()
    };
    assert_eq!(
        committed, written as i64,
        "everything written is committed, nothing more"
    );

    let second = Running::start(config, config_store, rewards.clone());
    wait_committed(
        &kafka,
        &names.group,
        &names.topic,
        &ends,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!(
        second.stats.records(),
        ids.len() as u64 - written,
        "the successor re-read nothing"
    );
    second.stop().await;
    let found = wait_outcomes(rewards.as_ref(), &ids, Duration::from_secs(10), |o| {
        o.is_rewarded()
    })
    .await;
    assert_eq!(found.len(), ids.len());
}
