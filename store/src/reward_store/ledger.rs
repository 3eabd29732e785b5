//! Evaluation's view of the store for one batch: the facts prefetched before it, what the
//! previous batch decided (when batches are pipelined), and the outcomes decided during it.

use std::collections::HashMap;

use spend_domain::eval::Outcome;
use spend_domain::ledger::{Ledger, OriginalPurchase, Prior};
use spend_domain::mission::{MissionEffect, MissionState};
use spend_domain::{CardId, RecordId, Transaction, TxKind};
use uuid::Uuid;

/// Cards' states in missions, by card and mission.
type MissionStates = HashMap<(CardId, Uuid), MissionState>;

/// What a store knew about one batch when it was read: the prior outcome of each id in the
/// batch, and each original a reversal of the batch names (if it is a rewarded purchase), with
/// its `S` at that moment. It answers only for those ids: prefetch
/// ([`RewardStore::prefetch`](crate::reward_store::RewardStore::prefetch)) every transaction
/// that will be evaluated against it.
#[derive(Clone, Debug, Default)]
pub struct PrefetchedLedger {
    priors: HashMap<RecordId, Prior>,
    originals: HashMap<RecordId, OriginalPurchase>,
    /// The batch's cards' mission states, when the rules have missions
    /// ([`RewardStore::missions`](crate::reward_store::RewardStore::missions)).
    missions: MissionStates,
}

impl PrefetchedLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `id` has a stored outcome.
    pub fn insert_prior(&mut self, id: RecordId, prior: Prior) {
        self.priors.insert(id, prior);
    }

    /// Records that `id` is a rewarded purchase (whatever card asks).
    pub fn insert_original(&mut self, id: RecordId, original: OriginalPurchase) {
        self.priors.insert(id, Prior::Rewarded);
        self.originals.insert(id, original);
    }

    /// Records card `card`'s state in mission `mission`.
    pub fn insert_mission(&mut self, card: CardId, mission: Uuid, state: MissionState) {
        self.missions.insert((card, mission), state);
    }

    /// Every id with a stored outcome, and what it was (the originals included, as rewarded), in
    /// no particular order.
    pub fn priors(&self) -> impl ExactSizeIterator<Item = (RecordId, Prior)> + '_ {
        self.priors.iter().map(|(id, prior)| (*id, *prior))
    }

    /// Every rewarded purchase recorded with [`PrefetchedLedger::insert_original`], in no
    /// particular order.
    pub fn originals(&self) -> impl ExactSizeIterator<Item = (RecordId, OriginalPurchase)> + '_ {
        self.originals.iter().map(|(id, original)| (*id, *original))
    }
}

impl Ledger for PrefetchedLedger {
    fn prior(&self, id: RecordId) -> Option<Prior> {
        self.priors.get(&id).copied()
    }

    fn original(&self, card: CardId, id: RecordId) -> Option<OriginalPurchase> {
        self.originals
            .get(&id)
            .filter(|p| p.card_id == card)
            .copied()
    }

    fn mission_state(&self, card: CardId, mission: Uuid) -> Option<&MissionState> {
        self.missions.get(&(card, mission))
    }
}

/// What one batch decided, as evaluation of the next batch needs it: the prior of each of its
/// ids, and each original its reversals claimed with its `S` after the batch.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    entries: HashMap<RecordId, Entry>,
    /// Mission states the batch moved, as it left them.
    missions: MissionStates,
}

#[derive(Clone, Copy, Debug)]
enum Entry {
    DeadLetter,
    Reversal,
    Purchase(OriginalPurchase),
}

impl Overlay {
    /// The mission states the batch moved, as it left them, by card and mission.
    pub fn mission_states(&self) -> impl Iterator<Item = (&(CardId, Uuid), &MissionState)> {
        self.missions.iter()
    }

    /// `Some(answer)` when this layer knows the id.
    fn prior(&self, id: RecordId) -> Option<Option<Prior>> {
        self.entries.get(&id).map(|e| match e {
            Entry::DeadLetter => Some(Prior::DeadLetter),
            Entry::Reversal | Entry::Purchase(_) => Some(Prior::Rewarded),
        })
    }

    /// `Some(answer)` when this layer knows the id.
    fn original(&self, card: CardId, id: RecordId) -> Option<Option<OriginalPurchase>> {
        self.entries.get(&id).map(|e| match e {
            Entry::Purchase(p) if p.card_id == card => Some(*p),
            _ => None,
        })
    }
}

/// Evaluation's view of one batch: the store's [`PrefetchedLedger`] for it, under the previous
/// batch's [`Overlay`] when batches are pipelined, under the outcomes decided so far in this
/// batch — recorded exactly as [`spend_domain::ledger::MemoryLedger::record`] records them, so a
/// reversal later in the batch finds a purchase rewarded earlier in it and sees the `S` earlier
/// reversals added.
///
/// Pipelined, batch N+1's facts are read from the store only once batch N-1 is written, so the
/// store may or may not hold batch N yet. Every fact batch N changed is in its overlay with its
/// value after batch N, so whichever of the two states the store was in when read, the answer
/// is the same.
#[derive(Debug)]
pub struct BatchLedger<'a> {
    base: &'a PrefetchedLedger,
    previous: Option<&'a Overlay>,
    current: Overlay,
}

impl<'a> BatchLedger<'a> {
    pub fn new(base: &'a PrefetchedLedger, previous: Option<&'a Overlay>) -> Self {
        BatchLedger {
            base,
            previous,
            current: Overlay::default(),
        }
    }

    /// Records what evaluating `tx` decided (after evaluating it against `self`).
    pub fn record(&mut self, tx: &Transaction, outcome: &Outcome) {
        match outcome {
            Outcome::Duplicate => {}
            Outcome::DeadLetter(_) => {
                // Over an earlier dead letter it changes nothing evaluation can see; over a
                // reward it cannot happen (evaluation would have said duplicate).
                if self.prior(tx.id).is_none() {
                    self.current.entries.insert(tx.id, Entry::DeadLetter);
                }
            }
            Outcome::Rewarded(r) => match tx.kind {
                TxKind::Purchase => {
                    let purchase = OriginalPurchase::rewarded(tx, r);
                    self.current
                        .entries
                        .insert(tx.id, Entry::Purchase(purchase));
                }
                TxKind::Reversal { original_id } => {
                    self.current.entries.insert(tx.id, Entry::Reversal);
                    // A rewarded reversal found its original among its own card's records.
                    if let Some(mut p) = self.original(tx.card_id, original_id) {
                        p.reversed += r.reward.abs();
                        self.current.entries.insert(original_id, Entry::Purchase(p));
                    }
                }
            },
        }
    }

    /// Records the mission states `effects` leave (what
    /// [`RuleSet::mission_effects`](spend_domain::rules::RuleSet::mission_effects) decided for
    /// the transaction just [recorded](BatchLedger::record)).
    pub fn record_missions(&mut self, effects: &[MissionEffect]) {
        for e in effects {
            self.current
                .missions
                .insert((e.card_id, e.mission_id), e.state.clone());
        }
    }

    /// This batch's overlay, for evaluating the next batch.
    pub fn into_overlay(self) -> Overlay {
        self.current
    }
}

impl Ledger for BatchLedger<'_> {
    fn prior(&self, id: RecordId) -> Option<Prior> {
        if let Some(p) = self.current.prior(id) {
            return p;
        }
        if let Some(p) = self.previous.and_then(|o| o.prior(id)) {
            return p;
        }
        self.base.prior(id)
    }

    fn original(&self, card: CardId, id: RecordId) -> Option<OriginalPurchase> {
        if let Some(o) = self.current.original(card, id) {
            return o;
        }
        if let Some(o) = self.previous.and_then(|o| o.original(card, id)) {
            return o;
        }
        self.base.original(card, id)
    }

    fn mission_state(&self, card: CardId, mission: Uuid) -> Option<&MissionState> {
        let key = (card, mission);
        self.current
            .missions
            .get(&key)
            .or_else(|| self.previous.and_then(|o| o.missions.get(&key)))
            .or_else(|| self.base.mission_state(card, mission))
    }
}

#[cfg(test)]
mod tests {
    //! A pipelined run — batches, each prefetched from a store that holds either every batch
    //! before the previous one or also the previous one — decides exactly what one
    //! `MemoryLedger` pass over the same records decides.

    use std::collections::BTreeMap;

    use rand::{Rng, SeedableRng};
    use rust_decimal::Decimal;
    use spend_domain::config::Config;
    use spend_domain::ledger::MemoryLedger;
    use spend_domain::rules::RuleSet;
    use spend_domain::{Amount, CurrencyCode, MaskedPan, Mcc, ProgramId};
    use uuid::Uuid;

    use super::*;

    /// The store's once-only rules, in memory.
    #[derive(Default)]
    struct Store {
        outcomes: HashMap<RecordId, (Transaction, Outcome)>,
        claims: BTreeMap<(RecordId, RecordId), Decimal>,
    }

    impl Store {
        fn apply(&mut self, batch: &[(Transaction, Outcome)]) {
            for (tx, outcome) in batch {
                if matches!(outcome, Outcome::Duplicate) {
                    continue;
                }
                if matches!(self.outcomes.get(&tx.id), Some((_, Outcome::Rewarded(_)))) {
                    continue;
                }
                self.outcomes.insert(tx.id, (tx.clone(), outcome.clone()));
                if let (Outcome::Rewarded(r), TxKind::Reversal { original_id }) = (outcome, tx.kind)
                {
                    self.claims.insert((original_id, tx.id), r.reward.abs());
                }
            }
        }

        fn prefetch(&self, txs: &[Transaction]) -> PrefetchedLedger {
            let mut ledger = PrefetchedLedger::new();
            for tx in txs {
                match self.outcomes.get(&tx.id) {
                    Some((_, Outcome::Rewarded(_))) => ledger.insert_prior(tx.id, Prior::Rewarded),
                    Some(_) => ledger.insert_prior(tx.id, Prior::DeadLetter),
                    None => {}
                }
                let Some(original_id) = tx.kind.original_id() else {
                    continue;
                };
                if let Some((otx, Outcome::Rewarded(r))) = self.outcomes.get(&original_id) {
                    if otx.kind != TxKind::Purchase {
                        continue;
                    }
                    let reversed = self
                        .claims
                        .range((original_id, RecordId(Uuid::nil()))..)
                        .take_while(|((o, _), _)| *o == original_id)
                        .map(|(_, m)| *m)
                        .sum();
                    ledger.insert_original(
                        original_id,
                        OriginalPurchase {
                            card_id: otx.card_id,
                            reward: r.reward,
                            amount: otx.amount,
                            currency: otx.currency,
                            unit: r.unit,
                            reversed,
                        },
                    );
                }
            }
            ledger
        }
    }

    fn rules() -> RuleSet {
        let config = Config::from_json(
            &serde_json::json!({
                "programs": [{"id": "p", "name": "P", "unit": "points"}],
                "campaigns": [{"name": "C", "program": "p", "kind": "base", "priority": 0,
                               "conditions": [], "rate": "3"}]
            }),
            &mut Uuid::new_v4,
        )
        .unwrap();
        RuleSet::compile(&config, 1).unwrap()
    }

    /// Purchases, reversals (of earlier purchases, of later ones, of unknown ids), exact
    /// re-sends and records of an unknown program, on a few cards.
    fn records(rng: &mut rand::rngs::StdRng, n: usize) -> Vec<Transaction> {
        let cards: Vec<CardId> = (0..4).map(|_| CardId(Uuid::new_v4())).collect();
        let mut out: Vec<Transaction> = Vec::new();
        let mut future_ids: Vec<RecordId> = Vec::new();
        for i in 0..n {
            let card = cards[rng.gen_range(0..cards.len())];
            let roll = rng.gen_range(0..100);
            if roll < 8 && !out.is_empty() {
                let copy = out[rng.gen_range(0..out.len())].clone();
                out.push(copy);
                continue;
            }
            let (id, kind) = match roll {
                8..20 if !future_ids.is_empty() => (future_ids.swap_remove(0), TxKind::Purchase),
                20..30 => {
                    let original_id = RecordId(Uuid::new_v4());
                    future_ids.push(original_id);
                    (RecordId(Uuid::new_v4()), TxKind::Reversal { original_id })
                }
                30..60 => {
                    let purchases: Vec<RecordId> = out
                        .iter()
                        .filter(|t| t.kind == TxKind::Purchase && t.card_id == card)
                        .map(|t| t.id)
                        .collect();
                    let kind = match purchases.get(rng.gen_range(0..purchases.len().max(1))) {
                        Some(&original_id) => TxKind::Reversal { original_id },
                        None => TxKind::Purchase,
                    };
                    (RecordId(Uuid::new_v4()), kind)
                }
                _ => (RecordId(Uuid::new_v4()), TxKind::Purchase),
            };
            let program = if roll % 17 == 0 { "unknown" } else { "p" };
            out.push(Transaction {
                id,
                transaction_id: format!("t{i}"),
                merchant: "M".into(),
                mcc: Mcc::new(5999).unwrap(),
                currency: CurrencyCode::parse("SGD").unwrap(),
                amount: Amount::new(Decimal::new(rng.gen_range(1..20_000), 2)).unwrap(),
                transaction_date: chrono::NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
                card_id: card,
                card_pan: MaskedPan::mask("4111111111111111").unwrap(),
                card_type: ProgramId::parse(program).unwrap(),
                kind,
            });
        }
        out
    }

    #[test]
    fn pipelined_batches_decide_what_one_pass_decides() {
        let rules = rules();
        for seed in 0..40u64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let txs = records(&mut rng, 300);

            let mut memory = MemoryLedger::new();
            let expected: Vec<Outcome> = txs
                .iter()
                .map(|tx| {
                    let o = rules.evaluate(tx, &memory);
                    memory.record(tx, &o);
                    o
                })
                .collect();

            let mut store = Store::default();
            let mut got = Vec::new();
            let mut previous: Option<(Overlay, Vec<(Transaction, Outcome)>)> = None;
            let mut rest = &txs[..];
            while !rest.is_empty() {
                let n = rng.gen_range(1..=rest.len().min(25));
                let (batch, tail) = rest.split_at(n);
                rest = tail;
                // The previous batch may or may not have reached the store yet.
                let landed = rng.gen_bool(0.5);
                if landed {
                    if let Some((_, written)) = &previous {
                        store.apply(written);
                    }
                }
                let prefetched = store.prefetch(batch);
                let mut ledger = BatchLedger::new(&prefetched, previous.as_ref().map(|p| &p.0));
                let mut decided = Vec::new();
                for tx in batch {
                    let o = rules.evaluate(tx, &ledger);
                    ledger.record(tx, &o);
                    got.push(o.clone());
                    decided.push((tx.clone(), o));
                }
                let overlay = ledger.into_overlay();
                if !landed {
                    if let Some((_, written)) = &previous {
                        store.apply(written);
                    }
                }
                previous = Some((overlay, decided));
            }
            assert_eq!(got, expected, "seed {seed}");
        }
    }
}
