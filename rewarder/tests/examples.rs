//! The normative examples through the real pipeline: `transactions.csv` published to a fresh
//! topic on the broker `.ci/run` starts, consumed by a rewarder under `reference-config.json` +
//! `example-campaigns.json`, and every id's stored outcome compared with `expected.csv`.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use spend_domain::RecordId;
use spend_schemas::ReasonCode;
use spend_store::embedded::EmbeddedConfigStore;
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store::reward_store::RewardStore;
use spend_testkit::fixtures::spec_example;
use spend_testkit::kafka::wait_committed;
use spend_testkit::outcomes::{final_outcomes, stored_columns};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_end_as_expected_csv_says() {
    let Some(kafka) = kafka() else { return };
    let names = Names::fresh("examples");
    create_topics(&kafka, &names, 4).await;
    let dir = tempfile::tempdir().unwrap();
    let config_store = Arc::new(EmbeddedConfigStore::open(&dir.path().join("config")).unwrap());
    let config = load_config(&["reference-config.json", "example-campaigns.json"]);
    let revision = put_config(config_store.as_ref(), &config).await;
    let rewards = Arc::new(EmbeddedRewardStore::open(&dir.path().join("rewards")).unwrap());

    let records = Arc::new(encode(
        &std::fs::read(spec_example("transactions.csv")).unwrap(),
    ));
    assert_eq!((records.len(), records.rejected), (43, 0));
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
        Duration::from_secs(90),
    )
    .await
    .unwrap();
    assert_eq!(rewarder.stats.records(), 43);
    rewarder.stop().await;

    let expected = std::fs::read_to_string(spec_example("expected.csv")).unwrap();
    let (ids, finals) = final_outcomes(&expected);
    assert_eq!(ids.len(), 42, "43 rows, one duplicate");
    let mut dead_lettered = HashSet::new();
    for id in &ids {
        let record_id = RecordId(id.parse().unwrap());
        let stored = rewards
            .get(record_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} has no stored outcome"));
        assert_eq!(&stored_columns(&stored), &finals[id], "outcome of {id}");
        match stored.config_revision() {
            Some(r) => assert_eq!(r, revision, "revision of {id}"),
            None => {
                dead_lettered.insert((id.clone(), finals[id][6].clone()));
            }
        }
    }
    assert_eq!(dead_lettered.len(), 4);

    // Every dead letter is on the dead-letter topic with its reason and the original record.
    let letters = read_dead_letters(&kafka, &names.dlq, 4, Duration::from_secs(30)).await;
    let on_topic: HashSet<(String, String)> = letters
        .iter()
        .map(|l| {
            let tx = l.transaction.as_ref().expect("a decodable record");
            let reason: spend_domain::eval::DeadLetterReason = l.reason.into();
            assert_ne!(l.reason, ReasonCode::Undecodable);
            assert_eq!(l.config_revision, Some(revision));
            (tx.id.clone(), reason.as_str().to_owned())
        })
        .collect();
    assert_eq!(on_topic, dead_lettered);

    // Counted by outcome on /metrics (the registry is shared by the tests of this binary, so
    // only presence is checked).
    let text = spend_runtime::metrics::global().render();
    let by_outcome: HashMap<&str, bool> = ["rewarded", "dead_letter", "duplicate"]
        .into_iter()
        .map(|o| {
            (
                o,
                text.contains(&format!("spend_rewarder_records_total{{outcome=\"{o}\"}}")),
            )
        })
        .collect();
    assert!(by_outcome.values().all(|v| *v), "{text}");
    assert!(text.contains("spend_rewarder_rule_set_revision"));
}
