//! Evaluation's view of the store for one batch: the facts prefetched before it, and the outcomes
//! decided during it.

use std::collections::HashMap;

use rust_decimal::Decimal;
use spend_domain::eval::Outcome;
use spend_domain::ledger::{Ledger, OriginalPurchase, Prior};
use spend_domain::{CardId, RecordId, Transaction, TxKind};

/// What a store knew about one batch when it was read: the prior outcome of each id in the
/// batch, and each original a reversal of the batch names (if it is a rewarded purchase), with
/// its `S` at that moment. It answers only for those ids: prefetch
/// ([`RewardStore::prefetch`](crate::reward_store::RewardStore::prefetch)) every transaction
/// that will be evaluated against it.
#[derive(Clone, Debug, Default)]
pub struct PrefetchedLedger {
    priors: HashMap<RecordId, Prior>,
    originals: HashMap<RecordId, OriginalPurchase>,
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

    /// Evaluates a batch in order on top of these facts.
    pub fn into_batch(self) -> BatchLedger {
        BatchLedger::new(self)
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
}

/// A [`PrefetchedLedger`] with the outcomes decided so far in the batch laid over it, recorded
/// exactly as [`spend_domain::ledger::MemoryLedger::record`] records them: a reversal later in
/// the batch finds a purchase rewarded earlier in it, and sees the `S` earlier reversals in the
/// batch added.
#[derive(Clone, Debug, Default)]
pub struct BatchLedger {
    base: PrefetchedLedger,
    overlay: HashMap<RecordId, Entry>,
}

#[derive(Clone, Copy, Debug)]
enum Entry {
    DeadLetter,
    Reversal,
    Purchase(OriginalPurchase),
}

impl BatchLedger {
    pub fn new(base: PrefetchedLedger) -> Self {
        Self {
            base,
            overlay: HashMap::new(),
        }
    }

    /// Records what evaluating `tx` decided (after evaluating it against `self`).
    pub fn record(&mut self, tx: &Transaction, outcome: &Outcome) {
        match outcome {
            Outcome::Duplicate => {}
            Outcome::DeadLetter(_) => {
                // Never over a reward (evaluation would have said duplicate); over an earlier
                // dead letter it changes nothing evaluation can see.
                if self.prior(tx.id).is_none() {
                    self.overlay.insert(tx.id, Entry::DeadLetter);
                }
            }
            Outcome::Rewarded(r) => match tx.kind {
                TxKind::Purchase => {
                    self.overlay.insert(
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
                    self.overlay.insert(tx.id, Entry::Reversal);
                    let original = match self.overlay.get(&original_id) {
                        Some(Entry::Purchase(p)) => Some(*p),
                        Some(_) => None,
                        None => self.base.originals.get(&original_id).copied(),
                    };
                    if let Some(mut p) = original {
                        p.reversed += r.reward.abs();
                        self.overlay.insert(original_id, Entry::Purchase(p));
                    }
                }
            },
        }
    }
}

impl Ledger for BatchLedger {
    fn prior(&self, id: RecordId) -> Option<Prior> {
        match self.overlay.get(&id) {
            Some(Entry::DeadLetter) => Some(Prior::DeadLetter),
            Some(Entry::Reversal | Entry::Purchase(_)) => Some(Prior::Rewarded),
            None => self.base.prior(id),
        }
    }

    fn original(&self, card: CardId, id: RecordId) -> Option<OriginalPurchase> {
        match self.overlay.get(&id) {
            Some(Entry::Purchase(p)) if p.card_id == card => Some(*p),
            Some(_) => None,
            None => self.base.original(card, id),
        }
    }
}
