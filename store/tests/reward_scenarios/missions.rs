//! Missions in the reward store (docs/missions.md), on every backend: the mission writes an
//! outcome carries are stored with it or not at all, read back by `missions()`, and their payout
//! rows are outcomes of their own in the card's history and summary.
//!
//! Outcomes and their mission writes come from the real evaluation (`spend_domain`'s rules with
//! the example missions of `examples/missions/missions.json` over the reference configuration),
//! run the way a rewarder runs it: each batch prefetched, the batch's cards' states read with
//! `missions()`, evaluated over a `BatchLedger`, then applied.

use std::collections::BTreeMap;

use anyhow::{ensure, Context};
use rust_decimal::Decimal;
use spend_domain::config::Config;
use spend_domain::eval::Outcome;
use spend_domain::ledger::{Ledger, MemoryLedger, Prior};
use spend_domain::mission::{
    payout_id, MissionEffect, MissionPayout, MissionState, MissionStatus, PayoutKind,
};
use spend_domain::rules::RuleSet;
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind, Unit,
};
use spend_store::reward_store::{
    Applied, BatchLedger, DateRange, StoredMission, StoredOutcome, Summary,
};
use spend_testkit::fixtures::MISSION_EXAMPLES as EXAMPLES;
use spend_testkit::fixtures::REFERENCE_CONFIG as REFERENCE;
use uuid::Uuid;

use super::races::Pair;
use super::{all_history, card, d, date, now, Rng, Store};

/// "Dine SGD 100 in 7 days", 50 points (scis_shopping, MCC 5811-5814, from 2024-05-01).
const DINE: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_9000_0000_0000_d001);
/// "Two coffees in one day", 20 points (scis_shopping, merchant contains "starbucks").
const COFFEE: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_9000_0000_0000_d004);

fn json(path: &str) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {path}"))?;
    Ok(serde_json::from_str(&text)?)
}

/// The reference configuration with the example missions.
fn mission_rules() -> anyhow::Result<RuleSet> {
    let mut next = Uuid::new_v4;
    let reference =
        Config::from_json(&json(REFERENCE)?, &mut next).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let missions =
        Config::fragment_from_json(&json(&format!("{EXAMPLES}/missions.json"))?, &mut next)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    RuleSet::compile(&reference.merge(missions), 11).map_err(|e| anyhow::anyhow!("{e:?}"))
}

/// A scis_shopping purchase (or reversal) at `merchant` with MCC `mcc`.
fn spend(
    rng: &mut Rng,
    card: CardId,
    on: (u32, u32),
    amount: &str,
    (merchant, mcc): (&str, u16),
    kind: TxKind,
) -> Transaction {
    Transaction {
        id: RecordId(rng.uuid()),
        transaction_id: format!("M{}", rng.below(1_000_000)),
        merchant: merchant.into(),
        mcc: Mcc::new(mcc).expect("mcc"),
        currency: CurrencyCode::SGD,
        amount: Amount::new(d(amount)).expect("amount"),
        transaction_date: date(2024, on.0, on.1),
        card_id: card,
        card_pan: MaskedPan::mask("4111111111111111").expect("pan"),
        card_type: ProgramId::parse("scis_shopping").expect("program"),
        kind,
    }
}

const DINER: (&str, u16) = ("Din Tai Fung", 5812);

fn dine(rng: &mut Rng, card: CardId, day: u32, amount: &str) -> Transaction {
    spend(rng, card, (5, day), amount, DINER, TxKind::Purchase)
}

fn reverse(rng: &mut Rng, of: &Transaction, day: u32, amount: &str) -> Transaction {
    let kind = TxKind::Reversal { original_id: of.id };
    let (m, mcc) = (of.merchant.clone(), of.mcc.get());
    spend(rng, of.card_id, (5, day), amount, (&m, mcc), kind)
}

/// One batch as a rewarder evaluates it against `store`: the outcomes to apply (each with its
/// mission writes) and the effects, in order.
async fn evaluate(
    store: &Store,
    rules: &RuleSet,
    txs: &[Transaction],
) -> anyhow::Result<(Vec<StoredOutcome>, Vec<MissionEffect>)> {
    let mut prefetched = store.prefetch(txs).await?;
    let mut cards: Vec<CardId> = txs.iter().map(|t| t.card_id).collect();
    cards.sort_unstable();
    cards.dedup();
    for m in store.missions(&cards).await? {
        prefetched.insert_mission(m.card_id, m.mission_id, m.state);
    }
    let mut ledger = BatchLedger::new(&prefetched, None);
    let (mut outcomes, mut all) = (Vec::new(), Vec::new());
    let at = now();
    for tx in txs {
        let outcome = rules.evaluate(tx, &ledger);
        ledger.record(tx, &outcome);
        let effects = rules.mission_effects(tx, &outcome, &ledger);
        ledger.record_missions(&effects);
        all.extend(effects.iter().cloned());
        if let Some(stored) = StoredOutcome::new(tx, &outcome, at) {
            outcomes.push(stored.with_missions(effects));
        }
    }
    Ok((outcomes, all))
}

/// Evaluates and applies `txs` as one batch; what it applied, and the outcomes.
async fn run(
    store: &Store,
    rules: &RuleSet,
    txs: &[Transaction],
) -> anyhow::Result<(Applied, Vec<StoredOutcome>)> {
    let (outcomes, _) = evaluate(store, rules, txs).await?;
    let applied = store.apply(&outcomes).await?;
    Ok((applied, outcomes))
}

/// The payout rows `outcomes` carry, in order.
fn payouts(outcomes: &[StoredOutcome]) -> Vec<StoredOutcome> {
    outcomes
        .iter()
        .flat_map(|o| o.missions.iter().filter_map(|w| w.payout.clone()))
        .collect()
}

fn state_of(states: &[StoredMission], mission: Uuid) -> anyhow::Result<&StoredMission> {
    states
        .iter()
        .find(|m| m.mission_id == mission)
        .with_context(|| format!("a state in {mission}"))
}

/// How many records a state has taken in: its counted purchases and their reversals.
fn taken_in(s: &MissionState) -> usize {
    s.contributions.iter().map(|c| 1 + c.reversals.len()).sum()
}

/// The summary `items` add up to (every rewarded outcome counts).
fn summary_of(items: &[StoredOutcome]) -> Summary {
    let mut s = Summary::default();
    for o in items {
        let r = o.reward().expect("history holds rewards");
        s.add(r.unit, r.reward);
    }
    s.finish()
}

// ---------------------------------------------------------------------------------------------
// Scenarios

pub(crate) async fn a_completion_pays_once_and_reads_back(store: Store) -> anyhow::Result<()> {
    let rules = mission_rules()?;
    let mut rng = Rng(21);
    let c = card(&mut rng);
    let txs = [
        dine(&mut rng, c, 2, "40.00"),
        dine(&mut rng, c, 3, "40.00"),
        dine(&mut rng, c, 4, "30.00"),
    ];
    let (applied, outcomes) = run(&store, &rules, &txs).await?;
    // Three records and the reward payout of the third.
    assert_eq!(
        applied,
        Applied {
            written: 4,
            unchanged: 0
        }
    );
    let paid = payouts(&outcomes);
    assert_eq!(paid.len(), 1, "{paid:#?}");
    let payout = &paid[0];
    assert_eq!(payout.id(), payout_id(DINE, c, 1, PayoutKind::Reward));

    // The state reads back, as the last effect left it.
    let states = store.missions(&[c]).await?;
    assert_eq!(states.len(), 1, "{states:#?}");
    let dine_state = state_of(&states, DINE)?;
    assert_eq!(dine_state, &outcomes[2].missions[0].mission);
    assert_eq!(dine_state.state.progress_amount_sgd, d("110.00"));
    assert_eq!(dine_state.state.completions, 1);
    assert_eq!(dine_state.info.reward, d("50.00"));
    assert_eq!(
        dine_state.state.status(date(2024, 5, 5)),
        MissionStatus::Completed
    );

    // The payout is an outcome of its own: by id, marked, in the history and the summary.
    let got = store.get(payout.id()).await?.context("payout row by id")?;
    assert_eq!(&got, payout);
    let marker = got.payout.context("payout marker")?;
    assert_eq!((marker.mission_id, marker.kind), (DINE, PayoutKind::Reward));
    assert_eq!(marker.caused_by, txs[2].id);
    assert_eq!(
        got.reward().map(|r| (r.reward, r.unit)),
        Some((d("50.00"), Unit::Points))
    );
    assert_eq!(
        got.reward().map(|r| r.remark.as_str()),
        Some("mission: Dine SGD 100 in 7 days")
    );
    assert_eq!(got.tx.kind, TxKind::Purchase);
    // The causing record's own outcome carries no marker.
    assert_eq!(store.get(txs[2].id).await?.and_then(|o| o.payout), None);
    let history = all_history(&store, c, DateRange::ALL, 2).await?;
    assert_eq!(history.len(), 4);
    assert_eq!(history.iter().filter(|o| o.is_payout()).count(), 1);
    assert!(history.contains(payout));
    let summary = store.summary(c, DateRange::ALL).await?;
    assert_eq!(summary.count, 4);
    assert_eq!(summary, summary_of(&history));

    // The same batch again (a redelivery after a crash, a retried write): nothing changes.
    let again = store.apply(&outcomes).await?;
    assert_eq!(
        again,
        Applied {
            written: 0,
            unchanged: 3
        }
    );
    assert_eq!(store.missions(&[c]).await?, states);
    assert_eq!(all_history(&store, c, DateRange::ALL, 50).await?, history);
    assert_eq!(store.summary(c, DateRange::ALL).await?, summary);
    // Evaluated again, the redelivered records are duplicates and cause nothing.
    let (redelivered, effects) = evaluate(&store, &rules, &txs).await?;
    ensure!(
        redelivered.is_empty() && effects.is_empty(),
        "{redelivered:#?}"
    );

    // A card without states has none; an empty question has no answer.
    assert!(store.missions(&[card(&mut rng)]).await?.is_empty());
    assert!(store.missions(&[]).await?.is_empty());
    Ok(())
}

pub(crate) async fn an_outcome_already_final_has_its_mission_writes_skipped(
    store: Store,
) -> anyhow::Result<()> {
    let rules = mission_rules()?;
    let mut rng = Rng(22);
    let c = card(&mut rng);
    let first = dine(&mut rng, c, 2, "40.00");
    let (_, outcomes) = run(&store, &rules, std::slice::from_ref(&first)).await?;
    let kept = store.missions(&[c]).await?;
    assert_eq!(kept.len(), 1);

    // The same id offered again with other mission writes (say, evaluated by a second rewarder
    // during a rebalance): a moved state and a payout. The id is final, so none of it is stored.
    let mut other = outcomes[0].clone();
    let write = &mut other.missions[0];
    write.mission.state.progress_amount_sgd = d("999.00");
    write.mission.state.completions = 1;
    let mut payout = outcomes[0].clone();
    payout.missions.clear();
    payout.tx.id = payout_id(DINE, c, 1, PayoutKind::Reward);
    payout.payout = Some(spend_store::reward_store::PayoutOf {
        mission_id: DINE,
        kind: PayoutKind::Reward,
        caused_by: first.id,
    });
    write.payout = Some(payout.clone());
    let applied = store.apply(&[other]).await?;
    assert_eq!(
        applied,
        Applied {
            written: 0,
            unchanged: 1
        }
    );
    assert_eq!(store.missions(&[c]).await?, kept);
    assert_eq!(store.get(payout.id()).await?, None);
    assert_eq!(all_history(&store, c, DateRange::ALL, 50).await?.len(), 1);

    // A dead letter is not final: the reward that replaces it brings its own mission writes.
    let late = dine(&mut rng, c, 3, "70.00");
    let dead = StoredOutcome::new(
        &late,
        &Outcome::DeadLetter(spend_domain::eval::DeadLetterReason::NoFxRate),
        now(),
    )
    .context("a dead letter")?;
    store.apply(&[dead]).await?;
    assert_eq!(store.missions(&[c]).await?, kept);
    let (applied, outcomes) = run(&store, &rules, std::slice::from_ref(&late)).await?;
    assert_eq!(
        applied,
        Applied {
            written: 2,
            unchanged: 0
        }
    );
    let states = store.missions(&[c]).await?;
    assert_eq!(states[0], outcomes[0].missions[0].mission);
    assert_eq!(states[0].state.completions, 1);
    Ok(())
}

pub(crate) async fn a_clawback_nets_the_payouts_to_zero(store: Store) -> anyhow::Result<()> {
    let rules = mission_rules()?;
    let mut rng = Rng(23);
    let c = card(&mut rng);
    let a = dine(&mut rng, c, 2, "60.00");
    let b = dine(&mut rng, c, 3, "50.00");
    let (applied, first) = run(&store, &rules, &[a.clone(), b.clone()]).await?;
    assert_eq!(applied.written, 3);
    // The reversal of `b` takes progress below the target: one clawback of the reward paid.
    let r = reverse(&mut rng, &b, 6, "50.00");
    let (applied, second) = run(&store, &rules, std::slice::from_ref(&r)).await?;
    assert_eq!(
        applied,
        Applied {
            written: 2,
            unchanged: 0
        }
    );
    let paid = [payouts(&first), payouts(&second)].concat();
    let kinds: Vec<PayoutKind> = paid
        .iter()
        .filter_map(|p| p.payout.map(|m| m.kind))
        .collect();
    assert_eq!(kinds, [PayoutKind::Reward, PayoutKind::Clawback]);
    assert_eq!(paid[1].id(), payout_id(DINE, c, 1, PayoutKind::Clawback));
    assert_eq!(paid[1].reward().map(|r| r.reward), Some(d("-50.00")));
    assert_eq!(store.get(paid[1].id()).await?.as_ref(), Some(&paid[1]));

    let history = all_history(&store, c, DateRange::ALL, 3).await?;
    assert_eq!(history.len(), 5);
    let (payout_rows, records): (Vec<StoredOutcome>, Vec<StoredOutcome>) =
        history.iter().cloned().partition(StoredOutcome::is_payout);
    assert_eq!(payout_rows.len(), 2);
    // The payouts net to nothing: the summary is what the records alone add up to.
    assert_eq!(
        summary_of(&payout_rows),
        Summary {
            count: 2,
            totals: vec![(Unit::Points, d("0.00"))]
        }
    );
    let summary = store.summary(c, DateRange::ALL).await?;
    assert_eq!(summary.count, 5);
    assert_eq!(summary.totals, summary_of(&records).totals);

    let states = store.missions(&[c]).await?;
    let s = &state_of(&states, DINE)?.state;
    assert_eq!(s.progress_amount_sgd, d("60.00"));
    assert_eq!((s.progress_count, s.completions, s.paid), (1, 1, None));
    assert_eq!(s.status(date(2024, 5, 6)), MissionStatus::InProgress);
    Ok(())
}

pub(crate) async fn a_reversal_naming_a_payout_finds_no_original(
    store: Store,
) -> anyhow::Result<()> {
    let rules = mission_rules()?;
    let mut rng = Rng(24);
    let c = card(&mut rng);
    let purchase = dine(&mut rng, c, 2, "120.00");
    let (_, outcomes) = run(&store, &rules, std::slice::from_ref(&purchase)).await?;
    let payout = payouts(&outcomes).pop().context("a payout")?;
    let at_payout = TxKind::Reversal {
        original_id: payout.id(),
    };
    let naming_payout = spend(&mut rng, c, (5, 3), "1.00", DINER, at_payout);
    let naming_purchase = reverse(&mut rng, &purchase, 3, "1.00");
    let ledger = store
        .prefetch(&[naming_payout.clone(), naming_purchase.clone()])
        .await?;
    assert_eq!(ledger.original(c, payout.id()), None);
    assert!(ledger.original(c, purchase.id).is_some());
    // Evaluated, the reversal of a payout is dead-lettered and touches no mission.
    let (outcomes, effects) =
        evaluate(&store, &rules, std::slice::from_ref(&naming_payout)).await?;
    assert!(effects.is_empty());
    assert!(outcomes.iter().all(|o| !o.is_rewarded()), "{outcomes:#?}");
    // The payout itself is a prior like any stored outcome.
    let ledger = store.prefetch(std::slice::from_ref(&payout.tx)).await?;
    assert_eq!(ledger.prior(payout.id()), Some(Prior::Rewarded));
    Ok(())
}

pub(crate) async fn the_later_state_of_a_batch_wins(store: Store) -> anyhow::Result<()> {
    let rules = mission_rules()?;
    let mut rng = Rng(25);
    let cards = [card(&mut rng), card(&mut rng), card(&mut rng)];
    // Many outcomes of the same cards in one batch, each moving its card's states (two
    // missions for coffee purchases): written together, the last state of each must stay.
    let mut txs = Vec::new();
    for i in 0..24u32 {
        let c = cards[(i % 3) as usize];
        let merchant = if i % 2 == 0 {
            ("Starbucks Orchard", 5814)
        } else {
            DINER
        };
        txs.push(spend(
            &mut rng,
            c,
            (5, 6),
            "7.00",
            merchant,
            TxKind::Purchase,
        ));
    }
    let (outcomes, effects) = evaluate(&store, &rules, &txs).await?;
    let mut last: BTreeMap<(CardId, Uuid), MissionState> = BTreeMap::new();
    for e in &effects {
        last.insert((e.card_id, e.mission_id), e.state.clone());
    }
    assert_eq!(last.len(), 6, "both missions on every card");
    store.apply(&outcomes).await?;
    let mut asked = cards.to_vec();
    asked.reverse();
    asked.push(cards[0]);
    let states = store.missions(&asked).await?;
    let got: Vec<((CardId, Uuid), MissionState)> = states
        .into_iter()
        .map(|m| ((m.card_id, m.mission_id), m.state))
        .collect();
    // By card, then mission id; each card once however often it is asked for.
    assert_eq!(got, last.into_iter().collect::<Vec<_>>());
    let dine_of = |c: CardId| got.iter().find(|((k, m), _)| *k == c && *m == DINE);
    let (_, s) = dine_of(cards[0]).context("dine state")?;
    assert_eq!(s.contributions.len(), 8);
    let (_, s) = got
        .iter()
        .find(|((k, m), _)| *k == cards[0] && *m == COFFEE)
        .context("coffee state")?;
    assert_eq!(s.completions, 1);
    Ok(())
}

pub(crate) async fn missions_through_the_store_match_the_examples(
    store: Store,
) -> anyhow::Result<()> {
    let rules = mission_rules()?;
    let today = chrono::Utc::now().date_naive();
    let text = std::fs::read_to_string(format!("{EXAMPLES}/transactions.csv"))?;
    let mut txs = Vec::new();
    for row in spend_domain::csv::CsvReader::new(text.as_bytes()) {
        let raw = row
            .context("framed")?
            .raw
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        txs.push(
            spend_domain::transaction::parse_transaction(&raw, today)
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        );
    }
    // The same file in one pass over memory, as `spend eval` runs it.
    let mut memory = MemoryLedger::new();
    let mut expected_payouts = Vec::new();
    for tx in &txs {
        let outcome = rules.evaluate(tx, &memory);
        let effects = rules.mission_effects(tx, &outcome, &memory);
        // Every move of a state takes in exactly one record: the ScyllaDB store orders the
        // writes of a state by that count (its write timestamp).
        for e in &effects {
            let before = memory
                .mission_state(e.card_id, e.mission_id)
                .map_or(0, taken_in);
            assert_eq!(taken_in(&e.state), before + 1, "{e:#?}");
        }
        memory.record(tx, &outcome);
        expected_payouts.extend(effects.iter().filter_map(|e| e.payout.clone()));
        memory.record_missions(effects);
    }
    // Through the store in batches of 4 (a03's duplicate opens the second: a stored prior).
    let mut stored_payouts = Vec::new();
    for batch in txs.chunks(4) {
        let (_, outcomes) = run(&store, &rules, batch).await?;
        stored_payouts.extend(payouts(&outcomes));
    }
    let ids = |p: &[MissionPayout]| p.iter().map(|p| p.id).collect::<Vec<_>>();
    let stored_ids: Vec<RecordId> = stored_payouts.iter().map(StoredOutcome::id).collect();
    assert_eq!(stored_ids, ids(&expected_payouts));
    assert_eq!(expected_payouts.len(), 8);

    let mut cards: Vec<CardId> = txs.iter().map(|t| t.card_id).collect();
    cards.sort_unstable();
    cards.dedup();
    let got: Vec<(CardId, Uuid, MissionState)> = store
        .missions(&cards)
        .await?
        .into_iter()
        .map(|m| (m.card_id, m.mission_id, m.state))
        .collect();
    let mut want: Vec<(CardId, Uuid, MissionState)> = memory
        .mission_states()
        .map(|(c, m, s)| (c, m, s.clone()))
        .collect();
    want.sort_by_key(|(c, m, _)| (*c, *m));
    assert_eq!(got, want);

    // Every payout is in its card's history; card A's four net to nothing.
    for p in &stored_payouts {
        let history = all_history(&store, p.card_id(), DateRange::ALL, 7).await?;
        assert!(history.contains(p), "{p:#?}");
    }
    let card_a = txs[0].card_id;
    let history = all_history(&store, card_a, DateRange::ALL, 50).await?;
    let net: Decimal = history
        .iter()
        .filter(|o| o.is_payout())
        .filter_map(|o| o.reward().map(|r| r.reward))
        .sum();
    assert_eq!(net, Decimal::ZERO);
    assert_eq!(history.iter().filter(|o| o.is_payout()).count(), 4);
    Ok(())
}

/// A writer that decides a batch and crashes before its mission writes (ScyllaDB: the state
/// and payouts stay pending in the rewards' rows): the redelivery's prefetch makes them before
/// the rewarder reads the card's states, and the batch applied again adds nothing.
pub(crate) async fn a_crash_before_mission_writes_is_repaired(pair: Pair) -> anyhow::Result<()> {
    let rules = mission_rules()?;
    let mut rng = Rng(26);
    let c = card(&mut rng);
    let txs = [
        dine(&mut rng, c, 2, "40.00"),
        dine(&mut rng, c, 3, "40.00"),
        dine(&mut rng, c, 4, "30.00"),
    ];
    let (outcomes, effects) = evaluate(&pair.a, &rules, &txs).await?;
    (pair.decide_only)(outcomes.clone()).await?;

    // Redelivered to the other writer: all three are duplicates, and its prefetch repairs.
    let ledger = pair.b.prefetch(&txs).await?;
    for t in &txs {
        assert_eq!(ledger.prior(t.id), Some(Prior::Rewarded));
    }
    let states = pair.b.missions(&[c]).await?;
    let last = effects.last().context("effects")?;
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].state, last.state);
    let payout = payouts(&outcomes).pop().context("a payout")?;
    assert_eq!(pair.b.get(payout.id()).await?.as_ref(), Some(&payout));
    let history = all_history(&pair.b, c, DateRange::ALL, 50).await?;
    assert_eq!(history.len(), 4);
    assert_eq!(
        pair.b.summary(c, DateRange::ALL).await?,
        summary_of(&history)
    );

    let again = pair.b.apply(&outcomes).await?;
    assert_eq!(
        again,
        Applied {
            written: 0,
            unchanged: 3
        }
    );
    assert_eq!(pair.a.missions(&[c]).await?, states);
    assert_eq!(all_history(&pair.a, c, DateRange::ALL, 50).await?, history);
    Ok(())
}
