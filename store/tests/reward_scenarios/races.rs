//! Scenarios with two writers on one store, and with a writer that crashes between deciding an
//! outcome and writing what it implies (history, summary, a reversal's claim on its original).
//!
//! Each runs on a [`Pair`]: two handles on the same data (embedded: two handles on one store, as
//! one directory opens once; remote: two HTTP clients of one server; ScyllaDB: two stores with
//! their own sessions on one keyspace, as two rewarders during a rebalance), and a way to leave
//! the state a crash after the decisions leaves. The embedded store commits a batch atomically,
//! so it has no such state: there, "decide only" is the whole apply, and the scenario checks the
//! redelivery path alone.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{ensure, Context};
use futures::future::BoxFuture;
use spend_domain::ledger::{Ledger, Prior};
use spend_domain::{CardId, RecordId, Transaction, TxKind, Unit};
use spend_store::reward_store::{Applied, DateRange, StoredOutcome, Summary};
use spend_store::scylla::ScyllaRewardStore;

use super::{
    all_history, card, d, date, dead, history_order, reversal_reward, reward, stored, tx, Rng,
    Store,
};
use spend_domain::eval::DeadLetterReason;

/// Stores a batch's decisions and none of their derived rows (see the module documentation).
pub(crate) type DecideOnly =
    Arc<dyn Fn(Vec<StoredOutcome>) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

pub(crate) struct Pair {
    pub(crate) a: Store,
    pub(crate) b: Store,
    pub(crate) decide_only: DecideOnly,
}

impl Pair {
    /// Two handles on a store whose apply is atomic.
    pub(crate) fn atomic(a: Store, b: Store) -> Self {
        let store = a.clone();
        Self {
            a,
            b,
            decide_only: Arc::new(move |batch| {
                let store = store.clone();
                Box::pin(async move {
                    store.apply(&batch).await?;
                    Ok(())
                })
            }),
        }
    }

    /// Two ScyllaDB stores on one keyspace; `a` can stop after its decisions.
    pub(crate) fn scylla(a: ScyllaRewardStore, b: ScyllaRewardStore) -> Self {
        let deciding = a.clone();
        Self {
            a: Arc::new(a),
            b: Arc::new(b),
            decide_only: Arc::new(move |batch| {
                let store = deciding.clone();
                Box::pin(async move {
                    store.decide_only(batch).await?;
                    Ok(())
                })
            }),
        }
    }
}

/// A card with one rewarded purchase `p` (500.00 points) already stored, and `n` new records
/// over three months: purchases, and every fourth a reversal of `p` of 1.00 points.
fn records(rng: &mut Rng, n: usize) -> (CardId, StoredOutcome, Vec<Transaction>) {
    let c = card(rng);
    let p = tx(rng, c, date(2024, 1, 2), "500.00", TxKind::Purchase);
    let p_out = stored(&p, &reward("500.00", Unit::Points));
    let txs = (0..n)
        .map(|i| {
            let on = date(2024, 1 + (i % 3) as u32, 1 + (i % 5) as u32);
            let kind = if i % 4 == 3 {
                TxKind::Reversal { original_id: p.id }
            } else {
                TxKind::Purchase
            };
            tx(rng, c, on, "2.00", kind)
        })
        .collect();
    (c, p_out, txs)
}

/// `t` rewarded with `amount` points (negated for a reversal).
fn rewarded(t: &Transaction, amount: &str) -> StoredOutcome {
    match t.kind {
        TxKind::Reversal { original_id } => stored(
            t,
            &reversal_reward(&format!("-{amount}"), Unit::Points, original_id),
        ),
        TxKind::Purchase => stored(t, &reward(amount, Unit::Points)),
    }
}

/// Applies `offers` in batches of `chunk`, one batch at a time; the sum of what each applied.
async fn apply_in_chunks(
    store: Store,
    offers: Vec<StoredOutcome>,
    chunk: usize,
) -> anyhow::Result<Applied> {
    let mut total = Applied::default();
    for batch in offers.chunks(chunk) {
        let applied = store.apply(batch).await?;
        total.written += applied.written;
        total.unchanged += applied.unchanged;
    }
    Ok(total)
}

/// What a card's history, summary and its original's `S` must be when `winners` (plus the
/// original `p`) are the final rewards, and each id's stored outcome is its winner.
async fn check_final(
    store: &Store,
    c: CardId,
    p: &StoredOutcome,
    winners: &[StoredOutcome],
) -> anyhow::Result<()> {
    for w in winners {
        let got = store.get(w.id()).await?;
        ensure!(
            got.as_ref() == Some(w),
            "{}: stored {got:?}, expected the winner",
            w.id()
        );
    }
    let mut expected: Vec<StoredOutcome> = winners.to_vec();
    expected.push(p.clone());
    history_order(&mut expected);
    let history = all_history(store, c, DateRange::ALL, 17).await?;
    ensure!(
        history == expected,
        "history holds {} rows, expected exactly the {} final rewards, each once",
        history.len(),
        expected.len()
    );
    let mut summary = Summary::default();
    for o in &expected {
        let r = o.reward().context("a final reward")?;
        summary.add(r.unit, r.reward);
    }
    assert_eq!(store.summary(c, DateRange::ALL).await?, summary.finish());
    let claimed: rust_decimal::Decimal = winners
        .iter()
        .filter_map(StoredOutcome::reversal_claim)
        .map(|(_, magnitude)| magnitude)
        .sum();
    let mut probe_rng = Rng(0xfeed);
    let probe = tx(
        &mut probe_rng,
        c,
        date(2024, 4, 1),
        "1.00",
        TxKind::Reversal {
            original_id: p.id(),
        },
    );
    let ledger = store.prefetch(std::slice::from_ref(&probe)).await?;
    let original = ledger.original(c, p.id()).context("the original")?;
    ensure!(
        original.reversed == claimed,
        "S of the original is {}, the final reversals claim {claimed}",
        original.reversed
    );
    Ok(())
}

/// Two writers offer different rewards for the same ids at once (two rewarders during a
/// rebalance, each with its own rule set): exactly one reward per id is final, written once,
/// and the history, summary and `S` hold the winners' values only.
pub(crate) async fn racing_rewards_leave_one_winner_and_only_its_rows(
    pair: Pair,
) -> anyhow::Result<()> {
    let mut rng = Rng(21);
    let (c, p, txs) = records(&mut rng, 120);
    pair.a.apply(std::slice::from_ref(&p)).await?;
    let offers_a: Vec<StoredOutcome> = txs.iter().map(|t| rewarded(t, "1.00")).collect();
    let mut offers_b: Vec<StoredOutcome> = txs.iter().map(|t| rewarded(t, "3.00")).collect();
    // Opposite orders: the two writers meet in the middle, each winning some ids.
    offers_b.reverse();
    let (applied_a, applied_b) = tokio::try_join!(
        apply_in_chunks(pair.a.clone(), offers_a.clone(), 8),
        apply_in_chunks(pair.b.clone(), offers_b, 8),
    )?;
    ensure!(
        applied_a.written + applied_b.written == txs.len()
            && applied_a.unchanged + applied_b.unchanged == txs.len(),
        "each id written exactly once: {applied_a:?} + {applied_b:?} for {}",
        txs.len()
    );
    let mut winners = Vec::new();
    for o in &offers_a {
        let stored = pair.a.get(o.id()).await?.context("an outcome")?;
        let amount = stored.reward().context("rewarded")?.reward.abs();
        ensure!(
            amount == d("1.00") || amount == d("3.00"),
            "{amount} was never offered"
        );
        winners.push(stored);
    }
    check_final(&pair.a, c, &p, &winners).await?;
    check_final(&pair.b, c, &p, &winners).await
}

/// One writer rewards ids while another dead-letters the same ids (one rewarder saw the
/// configuration, the other did not yet). Whatever the interleaving, the reward is final (a dead
/// letter before it is replaced, one after it is ignored), and nothing of the reward is lost:
/// its history row, its place in the summary and a reversal's claim on its original.
pub(crate) async fn racing_a_reward_and_a_dead_letter_keeps_the_reward_whole(
    pair: Pair,
) -> anyhow::Result<()> {
    let mut rng = Rng(22);
    let (c, p, txs) = records(&mut rng, 120);
    pair.a.apply(std::slice::from_ref(&p)).await?;
    let rewards: Vec<StoredOutcome> = txs.iter().map(|t| rewarded(t, "1.00")).collect();
    let mut dead_letters: Vec<StoredOutcome> = txs
        .iter()
        .map(|t| stored(t, &dead(DeadLetterReason::NoFxRate)))
        .collect();
    dead_letters.reverse();
    // Twice over, so dead letters also land on ids whose reward is already final.
    let mut twice = dead_letters.clone();
    twice.extend(dead_letters);
    let (applied_rewards, _) = tokio::try_join!(
        apply_in_chunks(pair.a.clone(), rewards.clone(), 6),
        apply_in_chunks(pair.b.clone(), twice, 6),
    )?;
    ensure!(
        applied_rewards.written == txs.len(),
        "every reward is written: {applied_rewards:?}"
    );
    check_final(&pair.a, c, &p, &rewards).await?;
    check_final(&pair.b, c, &p, &rewards).await
}

/// A writer decides a batch, then dies before writing the rows those decisions imply. The
/// record is redelivered: the rewarder's prefetch finds the rewards (so it evaluates them as
/// duplicates and never offers them again), and by then the history, the summary and the
/// original's `S` are whole. A second writer retrying the same batch changes nothing.
pub(crate) async fn a_crash_between_decision_and_derived_rows_is_repaired(
    pair: Pair,
) -> anyhow::Result<()> {
    let mut rng = Rng(23);
    let (c, p, txs) = records(&mut rng, 24);
    pair.a.apply(std::slice::from_ref(&p)).await?;
    let dl = tx(&mut rng, c, date(2024, 2, 9), "9.00", TxKind::Purchase);
    let mut batch: Vec<StoredOutcome> = txs.iter().map(|t| rewarded(t, "1.00")).collect();
    batch.push(stored(&dl, &dead(DeadLetterReason::UnknownProgram)));
    (pair.decide_only)(batch.clone()).await?;
    for o in &batch {
        ensure!(
            pair.a.get(o.id()).await?.as_ref() == Some(o),
            "the decision for {} is stored",
            o.id()
        );
    }

    // Redelivery: the batch's records come back, and evaluation first prefetches them.
    let mut redelivered = txs.clone();
    redelivered.push(dl.clone());
    let ledger = pair.b.prefetch(&redelivered).await?;
    let priors: HashMap<RecordId, Option<Prior>> = redelivered
        .iter()
        .map(|t| (t.id, ledger.prior(t.id)))
        .collect();
    for t in &txs {
        ensure!(
            priors[&t.id] == Some(Prior::Rewarded),
            "{} is a duplicate now",
            t.id
        );
    }
    ensure!(priors[&dl.id] == Some(Prior::DeadLetter));
    // The batch's own reversals see their original with every final claim counted.
    let claimed: rust_decimal::Decimal = batch
        .iter()
        .filter_map(StoredOutcome::reversal_claim)
        .map(|(_, m)| m)
        .sum();
    let original = ledger.original(c, p.id()).context("the original")?;
    ensure!(
        original.reversed == claimed,
        "S after the repair is {}, expected {claimed}",
        original.reversed
    );

    let rewards: Vec<StoredOutcome> = batch.iter().filter(|o| o.is_rewarded()).cloned().collect();
    check_final(&pair.a, c, &p, &rewards).await?;
    // The crashed writer's batch, retried elsewhere: every id is already decided.
    let retried = pair.b.apply(&batch).await?;
    ensure!(
        retried.written == 1 && retried.unchanged == batch.len() - 1,
        "only the dead letter is replaced by itself: {retried:?}"
    );
    check_final(&pair.b, c, &p, &rewards).await
}
