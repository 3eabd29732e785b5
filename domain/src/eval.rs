//! Evaluating one transaction against a [`RuleSet`](crate::rules::RuleSet): purchases (REWARDS.md
//! §3), reversals (§6) and the once-only rule (§4).
//!
//! The outcome types live here; the evaluation itself is `RuleSet::evaluate`.

use std::fmt;

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::types::{RecordId, Unit};

/// Why a record could not be rewarded (yet). Not final: a re-sent or replayed copy is processed anew.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DeadLetterReason {
    UnknownProgram,
    NoFxRate,
    OriginalNotFound,
    CurrencyMismatch,
    /// The pipeline could not decode the record (never produced by evaluation).
    Undecodable,
}

impl DeadLetterReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::UnknownProgram => "unknown_program",
            DeadLetterReason::NoFxRate => "no_fx_rate",
            DeadLetterReason::OriginalNotFound => "original_not_found",
            DeadLetterReason::CurrencyMismatch => "currency_mismatch",
            DeadLetterReason::Undecodable => "undecodable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unknown_program" => Self::UnknownProgram,
            "no_fx_rate" => Self::NoFxRate,
            "original_not_found" => Self::OriginalNotFound,
            "currency_mismatch" => Self::CurrencyMismatch,
            "undecodable" => Self::Undecodable,
            _ => return None,
        })
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rewarded outcome: a purchase (possibly excluded, reward `0.00`) or a reversal.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Reward {
    /// Exactly 2 fractional digits; negative (or `0.00`) for a reversal.
    pub reward: Decimal,
    pub unit: Unit,
    /// The amount in SGD, 2 fractional digits; `None` for a reversal.
    pub amount_sgd: Option<Decimal>,
    pub base_campaign: Option<Uuid>,
    pub promo_campaign: Option<Uuid>,
    pub remark: String,
    /// The configuration revision the outcome was computed with.
    pub config_revision: i64,
    /// For a reversal: the original purchase.
    pub reversal_of: Option<RecordId>,
}

/// What evaluation decided for one record.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    Rewarded(Reward),
    DeadLetter(DeadLetterReason),
    /// The id already has a rewarded outcome: nothing changes.
    Duplicate,
}
