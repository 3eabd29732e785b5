//! Live rules (REWARDS.md §2, §5): a campaign added mid-stream applies to the records processed
//! after the rewarder saw it — the revision on each outcome proves which — and when etcd stops,
//! rewarding goes on with the last rule set and catches up once etcd is back.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use spend_domain::RecordId;
use spend_store::config_store::{ConfigStore, Resource};
use spend_store::etcd::{EtcdConfigStore, EtcdOptions};
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store::reward_store::{RewardStore, StoredOutcome};
use spend_testkit::etcd::EtcdProcess;
use spend_testkit::kafka::wait_committed;

const PROMO: &str = "00000000-0000-4000-8000-0000000077a1";

/// The revision is recorded on every outcome, and exactly the outcomes at or after the promo's
/// revision carry it.
fn check_promo_by_revision(outcome: &StoredOutcome, promo_revision: i64) -> bool {
    let r = outcome.reward().expect("every purchase here is rewarded");
    let has_promo = r.promo_campaign.map(|u| u.to_string()).as_deref() == Some(PROMO);
    if r.config_revision >= promo_revision {
        assert!(
            has_promo,
            "{outcome:?} is at revision {} without the promo",
            r.config_revision
        );
        assert_eq!(r.reward.to_string(), "110.00");
    } else {
        assert!(!has_promo, "{outcome:?} has the promo before its revision");
        assert_eq!(r.reward.to_string(), "100.00");
    }
    has_promo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_added_mid_stream_applies_from_the_revision_the_rewarder_saw() {
    let Some(kafka) = kafka() else { return };
    let Scene {
        names,
        dir: _dir,
        config_store,
        rewards,
    } = Scene::new(&kafka, "live", 3, &["reference-config.json"]).await;
    let rewarder = Running::start(
        rewarder_config(&kafka, &names),
        config_store.clone(),
        rewards.clone(),
    );

    // 400 records on 8 cards: 100 processed before, then 300 published at 100 a second while
    // the promo is added after about a second.
    let (csv, ids) = purchases(1, 400, 8, "scis_shopping");
    let records = Arc::new(encode(csv.as_bytes()));
    let mut ends = publish(&kafka, &names.topic, records.clone(), 0..100).await;
    wait_outcomes(
        rewards.as_ref(),
        &ids[..100],
        Duration::from_secs(60),
        |_| true,
    )
    .await;
    let producer = {
        let (kafka, topic, records) = (kafka.clone(), names.topic.clone(), records.clone());
        tokio::task::spawn_blocking(move || {
            spend_rewarder::bench::produce(&kafka, &topic, &records, 100..records.len(), Some(100))
        })
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let promo_revision = config_store
        .put(Resource::Campaign, PROMO, promo(PROMO), &[])
        .await
        .unwrap();
    merge_ends(&mut ends, producer.await.unwrap().unwrap());
    wait_committed(
        &kafka,
        &names.group,
        &names.topic,
        &ends,
        Duration::from_secs(90),
    )
    .await
    .unwrap();
    rewarder.stop().await;

    let mut with_promo = 0;
    let mut by_card: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        let o = rewards.get(*id).await.unwrap().expect("stored");
        if check_promo_by_revision(&o, promo_revision) {
            with_promo += 1;
        }
        let revision = o.config_revision().unwrap();
        by_card.entry(i as u64 % 8).or_default().push(revision);
    }
    assert!(
        with_promo > 0 && with_promo < ids.len(),
        "{with_promo} of {} with the promo",
        ids.len()
    );
    // Each card's records are processed in order, and the revision never goes backwards.
    for (card, revisions) in by_card {
        assert!(
            revisions.windows(2).all(|w| w[0] <= w[1]),
            "card {card}: {revisions:?}"
        );
    }
}

/// Publishes `csv`'s rows and waits until each has an outcome; returns them in order.
async fn round(
    kafka: &spend_kafka::KafkaArgs,
    names: &Names,
    rewards: &EmbeddedRewardStore,
    csv: &str,
    ids: &[RecordId],
) -> Vec<StoredOutcome> {
    let records = Arc::new(encode(csv.as_bytes()));
    publish(kafka, &names.topic, records.clone(), 0..records.len()).await;
    let found = wait_outcomes(rewards, ids, Duration::from_secs(60), |_| true).await;
    ids.iter().map(|id| found[id].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewarding_goes_on_while_etcd_is_down_and_catches_up_when_it_returns() {
    let Some(kafka) = kafka() else { return };
    let Some(mut etcd) = EtcdProcess::start().await.unwrap() else {
        return;
    };
    let names = Names::fresh("etcd-down");
    create_topics(&kafka, &names, 2).await;
    let options = EtcdOptions {
        request_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_millis(500),
        ..EtcdOptions::default()
    };
    let config_store = Arc::new(
        EtcdConfigStore::connect(&[etcd.endpoint()], "/spend-test/config", options.clone())
            .await
            .unwrap(),
    );
    let first_revision = put_config(
        config_store.as_ref(),
        &load_config(&["reference-config.json"]),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let rewards = Arc::new(EmbeddedRewardStore::open(dir.path()).unwrap());
    let rewarder = Running::start(
        rewarder_config(&kafka, &names),
        config_store.clone(),
        rewards.clone(),
    );

    let (csv, ids) = purchases(1000, 40, 4, "scis_shopping");
    for o in round(&kafka, &names, &rewards, &csv, &ids).await {
        assert_eq!(o.config_revision(), Some(first_revision));
    }

    // etcd goes away: records keep being rewarded with the rule set in force.
    etcd.kill();
    let (csv, ids) = purchases(2000, 40, 4, "scis_shopping");
    for o in round(&kafka, &names, &rewards, &csv, &ids).await {
        assert_eq!(o.config_revision(), Some(first_revision));
        assert_eq!(o.reward().unwrap().reward.to_string(), "100.00");
    }

    // etcd is back and a promo is added: the rewarder's watch catches up on its own.
    etcd.restart().await.unwrap();
    let admin = EtcdConfigStore::connect(&[etcd.endpoint()], "/spend-test/config", options)
        .await
        .unwrap();
    let promo_revision = admin
        .put(Resource::Campaign, PROMO, promo(PROMO), &[])
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut next = 3000;
    loop {
        let (csv, ids) = purchases(next, 5, 4, "scis_shopping");
        next += 5;
        let outcomes = round(&kafka, &names, &rewards, &csv, &ids).await;
        // Every outcome is checked; the last one says whether the promo is in force yet.
        let mut caught_up = false;
        for o in &outcomes {
            caught_up = check_promo_by_revision(o, promo_revision);
        }
        if caught_up {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rewarder never saw the promo"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    rewarder.stop().await;
}
