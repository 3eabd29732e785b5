//! What the pipeline already knows about a record id, behind a small trait.
//!
//! Evaluation never reads a store itself: the caller hands it a [`Ledger`]. `spend eval` and the
//! tests use the in-memory [`MemoryLedger`]; the rewarder implements the trait over what it read
//! from its reward store for the batch at hand.

use std::collections::HashMap;

use rust_decimal::Decimal;

use uuid::Uuid;

use crate::eval::{Outcome, Reward};
use crate::mission::{MissionEffect, MissionState};
use crate::types::{Amount, CardId, CurrencyCode, RecordId, Transaction, TxKind, Unit};

/// The stored outcome of an id, as far as once-only processing cares (REWARDS.md §4).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Prior {
    /// Final: a re-sent id is a duplicate.
    Rewarded,
    /// Not final: a re-sent id is processed anew and replaces it.
    DeadLetter,
}

/// A rewarded purchase that a reversal may name (REWARDS.md §6).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OriginalPurchase {
    pub card_id: CardId,
    /// `R`: the purchase's reward.
    pub reward: Decimal,
    /// `A`: the purchase's amount.
    pub amount: Amount,
    pub currency: CurrencyCode,
    pub unit: Unit,
    /// `S`: the sum of the magnitudes of its rewarded reversals so far.
    pub reversed: Decimal,
}

impl OriginalPurchase {
    /// A purchase `tx` just rewarded with `reward`: nothing reversed yet.
    pub fn rewarded(tx: &Transaction, reward: &Reward) -> Self {
        OriginalPurchase {
            card_id: tx.card_id,
            reward: reward.reward,
            amount: tx.amount,
            currency: tx.currency,
            unit: reward.unit,
            reversed: Decimal::ZERO,
        }
    }
}

/// Lookups evaluation needs. Implementations answer from whatever they hold; they never guess.
pub trait Ledger {
    /// The stored outcome of `id`, if any.
    fn prior(&self, id: RecordId) -> Option<Prior>;

    /// The rewarded purchase `id` **of card `card`**: `None` if unknown, of another card, not
    /// rewarded, or a reversal.
    fn original(&self, card: CardId, id: RecordId) -> Option<OriginalPurchase>;

    /// Card `card`'s state in mission `mission`, if its window ever opened. A ledger that knows
    /// nothing of missions answers `None`: every window is new to it.
    fn mission_state(&self, card: CardId, mission: Uuid) -> Option<&MissionState> {
        let _ = (card, mission);
        None
    }
}

/// A ledger in memory: `spend eval`, the simulator and the tests. Compact: one small entry per id.
///
/// The ids are spread over [`SHARDS`] maps so that growing the ledger rehashes one small map at a
/// time: a single map doubling at a million ids holds its old and new tables at once (~+50 % peak
/// memory), which put `spend eval` of 1M rows over its 300 MB budget.
#[derive(Debug)]
pub struct MemoryLedger {
    shards: Vec<HashMap<RecordId, Entry>>,
    missions: HashMap<(CardId, Uuid), MissionState>,
}

const SHARDS: usize = 64;

impl Default for MemoryLedger {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

#[derive(Clone, Copy, Debug)]
enum Entry {
    DeadLetter,
    Reversal,
    Purchase(OriginalPurchase),
}

impl MemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| HashMap::with_capacity(n.div_ceil(SHARDS)))
                .collect(),
            missions: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(HashMap::is_empty)
    }

    fn shard(&self, id: &RecordId) -> &HashMap<RecordId, Entry> {
        &self.shards[Self::index(id)]
    }

    fn shard_mut(&mut self, id: &RecordId) -> &mut HashMap<RecordId, Entry> {
        &mut self.shards[Self::index(id)]
    }

    /// The last byte: random for generated UUIDs, and distinct for sequential ones.
    fn index(id: &RecordId) -> usize {
        usize::from(id.0.as_bytes()[15]) % SHARDS
    }

    /// Records what evaluating `tx` decided. A duplicate changes nothing; a dead letter never
    /// replaces a reward (evaluation would have called it a duplicate); a reversal adds its magnitude
    /// to its original's `S` together with its own entry.
    pub fn record(&mut self, tx: &Transaction, outcome: &Outcome) {
        match outcome {
            Outcome::Duplicate => {}
            Outcome::DeadLetter(_) => {
                self.shard_mut(&tx.id)
                    .entry(tx.id)
                    .or_insert(Entry::DeadLetter);
            }
            Outcome::Rewarded(r) => match tx.kind {
                TxKind::Purchase => {
                    self.shard_mut(&tx.id)
                        .insert(tx.id, Entry::Purchase(OriginalPurchase::rewarded(tx, r)));
                }
                TxKind::Reversal { original_id } => {
                    self.shard_mut(&tx.id).insert(tx.id, Entry::Reversal);
                    if let Some(Entry::Purchase(p)) =
                        self.shard_mut(&original_id).get_mut(&original_id)
                    {
                        p.reversed += r.reward.abs();
                    }
                }
            },
        }
    }
}

impl MemoryLedger {
    /// Records the mission states `effects` leave (what [`RuleSet::mission_effects`] decided
    /// for the transaction just [recorded](MemoryLedger::record)).
    ///
    /// [`RuleSet::mission_effects`]: crate::rules::RuleSet::mission_effects
    pub fn record_missions(&mut self, effects: impl IntoIterator<Item = MissionEffect>) {
        for e in effects {
            self.missions.insert((e.card_id, e.mission_id), e.state);
        }
    }

    /// Every card's state in every mission, in no particular order.
    pub fn mission_states(&self) -> impl Iterator<Item = (CardId, Uuid, &MissionState)> + '_ {
        self.missions.iter().map(|((c, m), s)| (*c, *m, s))
    }
}

impl Ledger for MemoryLedger {
    fn prior(&self, id: RecordId) -> Option<Prior> {
        self.shard(&id).get(&id).map(|e| match e {
            Entry::DeadLetter => Prior::DeadLetter,
            Entry::Reversal | Entry::Purchase(_) => Prior::Rewarded,
        })
    }

    fn original(&self, card: CardId, id: RecordId) -> Option<OriginalPurchase> {
        match self.shard(&id).get(&id) {
            Some(Entry::Purchase(p)) if p.card_id == card => Some(*p),
            _ => None,
        }
    }

    fn mission_state(&self, card: CardId, mission: Uuid) -> Option<&MissionState> {
        self.missions.get(&(card, mission))
    }
}
