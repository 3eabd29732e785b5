//! What the pipeline already knows about a record id, behind a small trait.
//!
//! Evaluation never reads a store itself: the caller hands it a [`Ledger`]. `spend eval` and the
//! tests use the in-memory [`MemoryLedger`]; the rewarder implements the trait over what it read
//! from its reward store for the batch at hand.

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::eval::Outcome;
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

/// Lookups evaluation needs. Implementations answer from whatever they hold; they never guess.
pub trait Ledger {
    /// The stored outcome of `id`, if any.
    fn prior(&self, id: RecordId) -> Option<Prior>;

    /// The rewarded purchase `id` **of card `card`**: `None` if unknown, of another card, not
    /// rewarded, or a reversal.
    fn original(&self, card: CardId, id: RecordId) -> Option<OriginalPurchase>;
}

/// A ledger in memory: `spend eval`, the simulator and the tests. Compact: one small entry per id.
#[derive(Default, Debug)]
pub struct MemoryLedger {
    entries: HashMap<RecordId, Entry>,
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
            entries: HashMap::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records what evaluating `tx` decided. A duplicate changes nothing; a dead letter never
    /// replaces a reward (evaluation would have called it a duplicate); a reversal adds its magnitude
    /// to its original's `S` together with its own entry.
    pub fn record(&mut self, tx: &Transaction, outcome: &Outcome) {
        match outcome {
            Outcome::Duplicate => {}
            Outcome::DeadLetter(_) => {
                self.entries.entry(tx.id).or_insert(Entry::DeadLetter);
            }
            Outcome::Rewarded(r) => match tx.kind {
                TxKind::Purchase => {
                    self.entries.insert(
                        tx.id,
                        Entry::Purchase(OriginalPurchase {
                            card_id: tx.card_id,
                            reward: r.reward,
                            amount: tx.amount,
                            currency: tx.currency,
                            unit: r.unit,
                            reversed: Decimal::ZERO,
                        }),
                    );
                }
                TxKind::Reversal { original_id } => {
                    self.entries.insert(tx.id, Entry::Reversal);
                    if let Some(Entry::Purchase(p)) = self.entries.get_mut(&original_id) {
                        p.reversed += r.reward.abs();
                    }
                }
            },
        }
    }
}

impl Ledger for MemoryLedger {
    fn prior(&self, id: RecordId) -> Option<Prior> {
        self.entries.get(&id).map(|e| match e {
            Entry::DeadLetter => Prior::DeadLetter,
            Entry::Reversal | Entry::Purchase(_) => Prior::Rewarded,
        })
    }

    fn original(&self, card: CardId, id: RecordId) -> Option<OriginalPurchase> {
        match self.entries.get(&id) {
            Some(Entry::Purchase(p)) if p.card_id == card => Some(*p),
            _ => None,
        }
    }
}
