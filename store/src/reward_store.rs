//! The reward store contract: every record's outcome, stored once (REWARDS.md §3, §4, §6), and the
//! reads the informer serves from it (API.md "Rewards").
//!
//! Implementations: ScyllaDB ([`crate::scylla`]) and embedded fjall ([`crate::reward_embedded`]).
//! One scenario suite (`tests/reward_scenarios.rs`) runs on both.
//!
//! **What the store enforces itself**, whatever the caller offers it ([`RewardStore::apply`]):
//!
//! - the first *rewarded* outcome of an id is final: any later outcome for that id changes nothing;
//! - a dead letter is not final: a later outcome for the same id (rewarded or another dead letter)
//!   replaces it;
//! - a rewarded reversal adds its magnitude to its original's running total `S` exactly once, in
//!   the same write as its own outcome: re-applying it (after a crash, a redelivery) adds nothing;
//! - so re-applying a batch that was already applied is a no-op.
//!
//! **What is read back**: the history of a card is its *rewarded* outcomes (purchases, excluded
//! purchases at `0.00`, reversals), newest `transaction_date` first, ties by id descending; dead
//! letters are not in a card's history and do not count in its summary — they are visible by id
//! ([`RewardStore::get`]). Every read is one bounded page or one id.
//!
//! **Evaluation's view**: [`RewardStore::prefetch`] reads, for one batch of transactions, what
//! evaluation may ask about it (the prior outcome of every id in the batch, and each reversal's
//! original with its `S`) in one round; [`BatchLedger`] lays the outcomes decided during the batch
//! over it, so a reversal sees a purchase earlier in the same batch.

mod codec;
mod cursor;
mod ledger;
mod mission;
mod mission_codec;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use spend_domain::eval::{DeadLetterReason, Outcome, Reward};
use spend_domain::{CardId, RecordId, Transaction, TxKind, Unit};

pub(crate) use codec::{
    decode_outcome, encode_outcome, encode_reference, peek_header, reference_key, Header,
};
pub use cursor::{Cursor, CursorError};
pub use ledger::{BatchLedger, Overlay, PrefetchedLedger};
pub use mission::{MissionWrite, PayoutOf, StoredMission};
pub use mission_codec::{decode_mission, encode_mission};

/// The most items one history page may hold (API.md: `limit` ≤ 1000).
pub const MAX_PAGE: u32 = 1000;

/// What a record ended with: rewarded, or dead-lettered with a reason.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum StoredStatus {
    /// Final. For a reversal, `reward.reversal_of` is its original.
    Rewarded(Reward),
    /// Not final: a later outcome for the same id replaces it.
    DeadLetter(DeadLetterReason),
}

/// One record's stored outcome: the transaction as it was evaluated (PAN masked) and what was
/// decided, i.e. everything the read API serves (API.md "A Reward").
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredOutcome {
    pub tx: Transaction,
    pub status: StoredStatus,
    /// When the rewarder decided, UTC, kept to the millisecond (what a CQL `timestamp` holds).
    pub processed_at: DateTime<Utc>,
    /// `Some` for a mission payout row (docs/missions.md): which mission, reward or clawback,
    /// caused by which record.
    pub payout: Option<PayoutOf>,
    /// Written, never read back: the card's mission states this outcome moved, and the payouts
    /// it caused, which the store writes in the same atomic write as the outcome — or not at all
    /// when the outcome's id is already final. Empty in what reads return.
    pub missions: Vec<MissionWrite>,
}

impl StoredOutcome {
    /// The outcome to store for `tx`, or `None` for a [`Outcome::Duplicate`], which stores nothing.
    /// `processed_at` is truncated to the millisecond so what is read back equals what was written.
    pub fn new(tx: &Transaction, outcome: &Outcome, processed_at: DateTime<Utc>) -> Option<Self> {
        let status = match outcome {
            Outcome::Duplicate => return None,
            Outcome::DeadLetter(reason) => StoredStatus::DeadLetter(*reason),
            Outcome::Rewarded(reward) => StoredStatus::Rewarded(Reward {
                // The record's own field is the truth; evaluation sets the same.
                reversal_of: tx.kind.original_id(),
                ..reward.clone()
            }),
        };
        Some(Self {
            tx: tx.clone(),
            status,
            processed_at: truncate_to_millis(processed_at),
            payout: None,
            missions: Vec::new(),
        })
    }

    /// The same outcome, with the mission effects evaluating it caused (stored with it).
    pub fn with_missions(mut self, effects: Vec<spend_domain::mission::MissionEffect>) -> Self {
        let processed_at = self.processed_at;
        self.missions = effects
            .into_iter()
            .map(|e| MissionWrite::new(&self.tx, e, processed_at))
            .collect();
        self
    }

    /// Whether this is a mission payout row (never a reversal's original).
    pub fn is_payout(&self) -> bool {
        self.payout.is_some()
    }

    pub fn id(&self) -> RecordId {
        self.tx.id
    }

    pub fn card_id(&self) -> CardId {
        self.tx.card_id
    }

    /// The reward, if the outcome is rewarded.
    pub fn reward(&self) -> Option<&Reward> {
        match &self.status {
            StoredStatus::Rewarded(r) => Some(r),
            StoredStatus::DeadLetter(_) => None,
        }
    }

    pub fn is_rewarded(&self) -> bool {
        self.reward().is_some()
    }

    /// The dead-letter reason, if the outcome is a dead letter.
    pub fn dead_letter_reason(&self) -> Option<DeadLetterReason> {
        match self.status {
            StoredStatus::DeadLetter(reason) => Some(reason),
            StoredStatus::Rewarded(_) => None,
        }
    }

    /// The configuration revision a rewarded outcome was computed with (`None` for a dead letter).
    pub fn config_revision(&self) -> Option<i64> {
        self.reward().map(|r| r.config_revision)
    }

    /// For a rewarded reversal: its original and the magnitude it adds to the original's `S`.
    pub fn reversal_claim(&self) -> Option<(RecordId, Decimal)> {
        match (&self.status, self.tx.kind) {
            (StoredStatus::Rewarded(r), TxKind::Reversal { original_id }) => {
                Some((original_id, r.reward.abs()))
            }
            _ => None,
        }
    }

    /// The evaluation outcome this stored outcome records.
    pub fn outcome(&self) -> Outcome {
        match &self.status {
            StoredStatus::Rewarded(r) => Outcome::Rewarded(r.clone()),
            StoredStatus::DeadLetter(reason) => Outcome::DeadLetter(*reason),
        }
    }
}

pub(crate) fn truncate_to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// The month partition of a date, `yyyymm` (e.g. `202403`).
pub fn month_of(date: NaiveDate) -> i32 {
    date.year() * 100 + i32::try_from(date.month()).unwrap_or(0)
}

/// An inclusive range of transaction dates; either end may be open.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct DateRange {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl DateRange {
    /// Every date.
    pub const ALL: DateRange = DateRange {
        from: None,
        to: None,
    };

    pub fn new(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Self {
        Self { from, to }
    }

    pub fn contains(&self, date: NaiveDate) -> bool {
        self.from.is_none_or(|f| date >= f) && self.to.is_none_or(|t| date <= t)
    }

    /// `from` after `to`: nothing can match.
    pub fn is_empty(&self) -> bool {
        matches!((self.from, self.to), (Some(f), Some(t)) if f > t)
    }

    /// The lowest date in range (the earliest representable date when open).
    pub fn lowest(&self) -> NaiveDate {
        self.from.unwrap_or(NaiveDate::MIN)
    }

    /// The highest date in range (the latest representable date when open).
    pub fn highest(&self) -> NaiveDate {
        self.to.unwrap_or(NaiveDate::MAX)
    }
}

/// One page of a card's history.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Page {
    /// Rewarded outcomes, newest `transaction_date` first, ties by id descending.
    pub items: Vec<StoredOutcome>,
    /// Where the next page starts; `None` when this page holds the last item in range.
    pub next_cursor: Option<Cursor>,
}

/// A card's rewarded outcomes in a date range: how many, and the sum of their rewards per unit
/// (reversals count, with their negative rewards; dead letters do not).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Summary {
    pub count: u64,
    /// One entry per unit that has outcomes, in the order points, miles, cashback; each total
    /// has exactly 2 fractional digits.
    pub totals: Vec<(Unit, Decimal)>,
}

impl Summary {
    /// Adds one rewarded outcome.
    pub fn add(&mut self, unit: Unit, reward: Decimal) {
        self.count += 1;
        match self.totals.iter_mut().find(|(u, _)| *u == unit) {
            Some((_, total)) => *total += reward,
            None => {
                self.totals.push((unit, reward));
                self.totals.sort_by_key(|(u, _)| unit_rank(*u));
            }
        }
    }

    /// Normalises every total to 2 fractional digits, never `-0.00`.
    pub fn finish(mut self) -> Self {
        for (_, total) in &mut self.totals {
            *total = spend_domain::money::round2(*total);
        }
        self
    }
}

fn unit_rank(unit: Unit) -> u8 {
    match unit {
        Unit::Points => 0,
        Unit::Miles => 1,
        Unit::Cashback => 2,
    }
}

/// What one [`RewardStore::apply`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Applied {
    /// Outcomes stored (new, or replacing a dead letter).
    pub written: usize,
    /// Outcomes ignored because their id already had a rewarded outcome.
    pub unchanged: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RewardStoreError {
    /// The backend cannot be reached or did not answer in time. A write may or may not have
    /// happened: retry it (every write is idempotent), and do not advance the offset.
    #[error("reward store unavailable: {0}")]
    Unavailable(String),
    /// Stored data that cannot be read back (never caused by a client).
    #[error("reward store data is corrupt: {0}")]
    Corrupt(String),
    /// A history cursor that does not belong to the card asked about.
    #[error(transparent)]
    InvalidCursor(#[from] CursorError),
}

pub type Result<T, E = RewardStoreError> = std::result::Result<T, E>;

/// Where every record's outcome is kept, once. See the module documentation for the rules each
/// implementation enforces.
#[async_trait::async_trait]
pub trait RewardStore: Send + Sync + 'static {
    /// Stores a batch of outcomes under the once-only rules, in batch order (a later outcome for
    /// the same id in the batch is offered after the earlier one). A reversal's outcome and its
    /// original's `S` change together. Idempotent: applying the same batch again changes nothing.
    /// On error, some of the batch may be stored; applying it again completes it.
    async fn apply(&self, batch: &[StoredOutcome]) -> Result<Applied>;

    /// What evaluation may ask about `txs`: the prior outcome of every id, and every original a
    /// reversal names (a rewarded purchase, with its `S`). Wrap it in a [`BatchLedger`] to evaluate
    /// the batch in order.
    async fn prefetch(&self, txs: &[Transaction]) -> Result<PrefetchedLedger>;

    /// One record's outcome, rewarded or dead letter.
    async fn get(&self, id: RecordId) -> Result<Option<StoredOutcome>>;

    /// One page of `card`'s rewarded outcomes within `range`, newest first, starting after
    /// `after` (a cursor of the same card). `limit` is clamped to `1..=`[`MAX_PAGE`].
    async fn history(
        &self,
        card: CardId,
        range: DateRange,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<Page>;

    /// The count and per-unit totals of `card`'s rewarded outcomes within `range`.
    async fn summary(&self, card: CardId, range: DateRange) -> Result<Summary>;

    /// Every state of `cards` in every mission whose window opened for them, by card then
    /// mission id (evaluation's view of a batch's cards, and `GET /v1/cards/{id}/missions`).
    async fn missions(&self, cards: &[CardId]) -> Result<Vec<StoredMission>>;

    /// Whether the backend answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;
}

/// Clamps a requested page size to `1..=MAX_PAGE`.
pub(crate) fn page_limit(limit: u32) -> usize {
    limit.clamp(1, MAX_PAGE) as usize
}

/// Refuses a cursor of another card.
pub(crate) fn check_cursor(card: CardId, after: Option<&Cursor>) -> Result<()> {
    match after {
        Some(c) if c.card() != card => Err(CursorError::OtherCard.into()),
        _ => Ok(()),
    }
}
