//! Dead letters: a record that cannot be decoded is dead-lettered once and the partition moves
//! on; a record that cannot be rewarded yet is stored as a dead letter, published with its
//! reason, and rewarded once replayed after the configuration is fixed (REWARDS.md §4).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use spend_domain::eval::DeadLetterReason;
use spend_rewarder::bench::EncodedRecords;
use spend_rewarder::replay::{replay_dead_letters, ReplayConfig, ReplayReport};
use spend_schemas::{codec, ReasonCode, TransactionRecord, TxType};
use spend_store::config_store::{ConfigStore, Resource};
use spend_store::reward_store::RewardStore;
use spend_testkit::fresh;
use spend_testkit::kafka::wait_committed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_record_is_dead_lettered_once_and_the_partition_moves_on() {
    let Some(kafka) = kafka() else { return };
    let Scene {
        names,
        dir: _dir,
        config_store,
        rewards,
    } = Scene::new(&kafka, "undecodable", 1, &["reference-config.json"]).await;

    // One partition, in this order: good, garbage, good, a record whose fields do not validate
    // (an unmasked PAN), an empty message, good.
    let (csv, ids) = purchases(1, 3, 1, "scis_shopping");
    let good = encode(csv.as_bytes());
    let mut bad_fields = codec().decode_transaction(good.get(0).1).unwrap();
    bad_fields.card_pan = "4111111111111111".into();
    let mut records = EncodedRecords::default();
    records.push(good.get(0).0, good.get(0).1);
    records.push(b"k1", b"\xc3\x01not avro at all");
    records.push(good.get(1).0, good.get(1).1);
    records.push(b"k2", &codec().encode_transaction(&bad_fields));
    records.push(b"k3", b"");
    records.push(good.get(2).0, good.get(2).1);
    let records = Arc::new(records);
    let ends = publish(&kafka, &names.topic, records.clone(), 0..records.len()).await;

    let rewarder = Running::start(
        rewarder_config(&kafka, &names),
        config_store,
        rewards.clone(),
    );
    wait_committed(
        &kafka,
        &names.group,
        &names.topic,
        &ends,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(rewarder.stats.records(), 6);
    rewarder.stop().await;

    for id in &ids {
        assert!(rewards.get(*id).await.unwrap().unwrap().is_rewarded());
    }
    let letters = read_dead_letters(&kafka, &names.dlq, 3, Duration::from_secs(30)).await;
    assert_eq!(
        letters.len(),
        3,
        "each undecodable record dead-lettered once: {letters:?}"
    );
    assert!(letters.iter().all(|l| l.reason == ReasonCode::Undecodable
        && l.transaction.is_none()
        && l.detail
            .as_deref()
            .is_some_and(|d| !d.contains("4111111111111111"))));
    let payloads: Vec<&[u8]> = letters
        .iter()
        .map(|l| l.payload.as_deref().unwrap())
        .collect();
    assert_eq!(payloads[0], b"\xc3\x01not avro at all");
    assert_eq!(
        payloads[1],
        codec().encode_transaction(&bad_fields).as_slice()
    );
    assert_eq!(payloads[2], b"");
}

async fn replay(config: ReplayConfig) -> ReplayReport {
    tokio::task::spawn_blocking(move || replay_dead_letters(&config))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_dead_letter_is_processed_anew_and_replaced() {
    let Some(kafka) = kafka() else { return };
    let Scene {
        names,
        dir: _dir,
        config_store,
        rewards,
    } = Scene::new(&kafka, "replay", 2, &["reference-config.json"]).await;
    let rewarder = Running::start(
        rewarder_config(&kafka, &names),
        config_store.clone(),
        rewards.clone(),
    );

    // Cards on a program that does not exist yet, two in a currency with no FX rate, and one
    // undecodable message.
    let (csv, unknown) = purchases(1, 6, 3, "scis_newcard");
    let mut records = encode(csv.as_bytes());
    let fx_ids: Vec<_> = (0..2)
        .map(|i| {
            let mut r: TransactionRecord = codec().decode_transaction(records.get(0).1).unwrap();
            r.id = format!("00000000-0000-4000-8000-0000000fe{i:03}");
            r.card_type = "scis_shopping".into();
            r.currency = "XAF".into();
            r.kind = TxType::Purchase;
            let id = r.to_transaction().unwrap().id;
            records.push(r.card_id.as_bytes(), &codec().encode_transaction(&r));
            id
        })
        .collect();
    records.push(b"k", b"junk");
    let records = Arc::new(records);
    let ends = publish(&kafka, &names.topic, records.clone(), 0..records.len()).await;
    wait_committed(
        &kafka,
        &names.group,
        &names.topic,
        &ends,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    for id in &unknown {
        let o = rewards.get(*id).await.unwrap().unwrap();
        assert_eq!(
            o.dead_letter_reason(),
            Some(DeadLetterReason::UnknownProgram)
        );
    }
    for id in &fx_ids {
        let o = rewards.get(*id).await.unwrap().unwrap();
        assert_eq!(o.dead_letter_reason(), Some(DeadLetterReason::NoFxRate));
    }

    // The program is added; only unknown_program is replayed.
    config_store
        .put(
            Resource::Program,
            "scis_newcard",
            serde_json::json!({"id": "scis_newcard", "name": "New", "unit": "points"}),
            &[],
        )
        .await
        .unwrap();
    let campaign = "00000000-0000-4000-8000-00000000ca01";
    config_store
        .put(
            Resource::Campaign,
            campaign,
            serde_json::json!({"id": campaign, "name": "New base", "program": "scis_newcard",
                               "kind": "base", "priority": 1, "conditions": [], "rate": "2"}),
            &[],
        )
        .await
        .unwrap();
    let mut rewarder_settings = rewarder_config(&kafka, &names);
    rewarder_settings.group_id = fresh("unused");
    let replay_config = ReplayConfig {
        rewarder: rewarder_settings,
        reasons: vec![DeadLetterReason::UnknownProgram],
        group: Some(fresh("replay-group")),
        idle: Duration::from_secs(2),
        dry_run: false,
    };
    let report = replay(replay_config.clone()).await;
    assert_eq!(report.replayed_total(), 6, "{report:?}");
    assert_eq!(report.skipped, 2);
    assert_eq!(report.not_replayable, 1);

    let found = wait_outcomes(rewards.as_ref(), &unknown, Duration::from_secs(60), |o| {
        o.is_rewarded()
    })
    .await;
    for o in found.values() {
        assert_eq!(o.reward().unwrap().reward.to_string(), "20.00");
    }
    // The no_fx_rate ones were not replayed.
    for id in &fx_ids {
        let o = rewards.get(*id).await.unwrap().unwrap();
        assert_eq!(o.dead_letter_reason(), Some(DeadLetterReason::NoFxRate));
    }

    // A second run of the same replay finds nothing new.
    let again = replay(replay_config).await;
    assert_eq!((again.read, again.replayed_total()), (0, 0), "{again:?}");
    rewarder.stop().await;
}
