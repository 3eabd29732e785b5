//! What the embedded reward store costs the rewarder per record: a batch's prefetch (a point read
//! per id) and its apply (the outcome, its history row, one fsync), on a store that already holds
//! `PRELOAD` outcomes, as it does a few seconds into `spend bench-pipeline`.
//! `cargo bench -p spend-store --bench apply`.

use std::hint::black_box;

use chrono::{NaiveDate, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use spend_domain::eval::{Outcome, Reward};
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind, Unit,
};
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store::reward_store::{RewardStore, StoredOutcome};
use uuid::Uuid;

/// Records of one rewarder batch (its default `--batch-records`).
const BATCH: usize = 8_192;
/// Outcomes in the store before the measured batches.
const PRELOAD: usize = 300_000;
const CARDS: u128 = 3_000;

struct Gen {
    rng: rand::rngs::StdRng,
    card_pan: MaskedPan,
    card_type: ProgramId,
    currency: CurrencyCode,
    mcc: Mcc,
}

impl Gen {
    fn new() -> Self {
        Self {
            rng: rand::rngs::StdRng::seed_from_u64(42),
            card_pan: MaskedPan::mask("4111111111111111").unwrap(),
            card_type: ProgramId::parse("scis_shopping").unwrap(),
            currency: CurrencyCode::parse("SGD").unwrap(),
            mcc: Mcc::new(5812).unwrap(),
        }
    }

    fn transaction(&mut self) -> Transaction {
        let cents: i64 = self.rng.gen_range(100..100_000);
        Transaction {
            id: RecordId(Uuid::from_u128(self.rng.gen())),
            transaction_id: format!("bank-ref-{:08}", self.rng.gen_range(0..100_000_000)),
            merchant: "Orchard Central Online Store".to_owned(),
            mcc: self.mcc,
            currency: self.currency,
            amount: Amount::new(Decimal::new(cents, 2)).unwrap(),
            transaction_date: NaiveDate::from_ymd_opt(2024, 5, self.rng.gen_range(1..=31)).unwrap(),
            card_id: CardId(Uuid::from_u128(0xc000_0000 + self.rng.gen_range(0..CARDS))),
            card_pan: self.card_pan.clone(),
            card_type: self.card_type.clone(),
            kind: TxKind::Purchase,
        }
    }

    fn batch(&mut self) -> (Vec<Transaction>, Vec<StoredOutcome>) {
        let txs: Vec<Transaction> = (0..BATCH).map(|_| self.transaction()).collect();
        let now = Utc::now();
        let outcomes = txs
            .iter()
            .map(|tx| {
                let reward = Outcome::Rewarded(Reward {
                    reward: tx.amount.get(),
                    unit: Unit::Points,
                    amount_sgd: Some(tx.amount.get()),
                    base_campaign: Some(Uuid::from_u128(7)),
                    promo_campaign: None,
                    remark: "Dining 1 pt/SGD".to_owned(),
                    config_revision: 3,
                    reversal_of: None,
                });
                StoredOutcome::new(tx, &reward, now).unwrap()
            })
            .collect();
        (txs, outcomes)
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedRewardStore::open(dir.path()).unwrap();
    let mut gen = Gen::new();
    runtime.block_on(async {
        for _ in 0..PRELOAD / BATCH {
            let (_, outcomes) = gen.batch();
            store.apply(&outcomes).await.unwrap();
        }
    });

    let mut group = c.benchmark_group("embedded reward store");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function("prefetch + apply, 8192 new records", |b| {
        b.iter_batched(
            || gen.batch(),
            |(txs, outcomes)| {
                runtime.block_on(async {
                    black_box(store.prefetch(&txs).await.unwrap());
                    black_box(store.apply(&outcomes).await.unwrap());
                })
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
