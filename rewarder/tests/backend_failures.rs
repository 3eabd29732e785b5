//! Backend trouble is retried, never skipped: while the reward store is down nothing is
//! committed, and when every other write fails *after* it was stored (the worst case: the
//! rewarder cannot know it landed), retrying it changes nothing — the examples still end exactly
//! as `expected.csv` says, reversals included.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use spend_domain::{CardId, RecordId, Transaction};
use spend_store::embedded::EmbeddedConfigStore;
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store::reward_store::{
    Applied, Cursor, DateRange, Page, PrefetchedLedger, Result, RewardStore, RewardStoreError,
    StoredMission, StoredOutcome, Summary,
};
use spend_testkit::fixtures::spec_example;
use spend_testkit::kafka::{committed_offsets, wait_committed};
use spend_testkit::outcomes::{final_outcomes, stored_columns};

/// A reward store that can be down, and that can lose the answer of a write that landed.
struct Flaky {
    inner: EmbeddedRewardStore,
    down: AtomicBool,
    /// Every other apply is stored, then reported as failed.
    lose_answers: AtomicBool,
    applies: AtomicU64,
    failures: AtomicU64,
}

impl Flaky {
    fn unavailable(&self) -> RewardStoreError {
        self.failures.fetch_add(1, Ordering::Relaxed);
        RewardStoreError::Unavailable("injected".into())
    }
}

#[async_trait::async_trait]
impl RewardStore for Flaky {
    async fn apply(&self, batch: &[StoredOutcome]) -> Result<Applied> {
        if self.down.load(Ordering::Relaxed) {
            return Err(self.unavailable());
        }
        let applied = self.inner.apply(batch).await?;
        let n = self.applies.fetch_add(1, Ordering::Relaxed);
        if self.lose_answers.load(Ordering::Relaxed) && n & 1 == 0 {
            return Err(self.unavailable());
        }
        Ok(applied)
    }

    async fn prefetch(&self, txs: &[Transaction]) -> Result<PrefetchedLedger> {
        if self.down.load(Ordering::Relaxed) {
            return Err(self.unavailable());
        }
        self.inner.prefetch(txs).await
    }

    async fn get(&self, id: RecordId) -> Result<Option<StoredOutcome>> {
        self.inner.get(id).await
    }

    async fn history(
        &self,
        card: CardId,
        range: DateRange,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<Page> {
        self.inner.history(card, range, limit, after).await
    }

    async fn summary(&self, card: CardId, range: DateRange) -> Result<Summary> {
        self.inner.summary(card, range).await
    }

    async fn missions(&self, cards: &[CardId]) -> Result<Vec<StoredMission>> {
        if self.down.load(Ordering::Relaxed) {
            return Err(self.unavailable());
        }
        self.inner.missions(cards).await
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_moves_while_the_store_is_down_and_lost_answers_are_retried_harmlessly() {
    let Some(kafka) = kafka() else { return };
    let names = Names::fresh("flaky");
    create_topics(&kafka, &names, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let config_store = Arc::new(EmbeddedConfigStore::open(&dir.path().join("config")).unwrap());
    put_config(
        config_store.as_ref(),
        &load_config(&["reference-config.json", "example-campaigns.json"]),
    )
    .await;
    let store = Arc::new(Flaky {
        inner: EmbeddedRewardStore::open(&dir.path().join("rewards")).unwrap(),
        down: AtomicBool::new(true),
        lose_answers: AtomicBool::new(false),
        applies: AtomicU64::new(0),
        failures: AtomicU64::new(0),
    });

    let records = Arc::new(encode(
        &std::fs::read(spec_example("transactions.csv")).unwrap(),
    ));
    let ends = publish(&kafka, &names.topic, records.clone(), 0..records.len()).await;
    let mut config = rewarder_config(&kafka, &names);
    // Small batches: more writes to lose answers of.
    config.batch_max_records = 4;
    config.retry_max = Duration::from_millis(300);
    let rewarder = Running::start(config, config_store, store.clone());

    // Down: records are fetched and retried, and no offset is committed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while store.failures.load(Ordering::Relaxed) < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rewarder never tried the store"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let committed = {
        let (kafka, group, topic) = (kafka.clone(), names.group.clone(), names.topic.clone());
        tokio::task::spawn_blocking(move || committed_offsets(&kafka, &group, &topic, 2))
            .await
            .unwrap()
            .unwrap_or_default()
    };
    assert!(
        committed.values().all(|o| *o == 0),
        "committed while the store was down: {committed:?}"
    );
    assert_eq!(rewarder.stats.records(), 0);

    // Back, but every other write's answer is lost after the write landed.
    store.lose_answers.store(true, Ordering::Relaxed);
    store.down.store(false, Ordering::Relaxed);
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
    assert!(
        store.applies.load(Ordering::Relaxed) >= 4,
        "writes were retried"
    );

    let (ids, finals) =
        final_outcomes(&std::fs::read_to_string(spec_example("expected.csv")).unwrap());
    for id in &ids {
        let stored = store
            .get(RecordId(id.parse().unwrap()))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} lost"));
        assert_eq!(&stored_columns(&stored), &finals[id], "outcome of {id}");
    }
}
