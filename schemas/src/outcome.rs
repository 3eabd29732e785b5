//! The stored outcome of one record: `outcome.avsc`.

use serde::{Deserialize, Serialize};
use spend_domain::eval::{DeadLetterReason, Outcome, Reward};
use spend_domain::{Transaction, Unit};

use crate::error::{Result, SchemaError};
use crate::transaction::{TxFields, TxType};
use crate::wire;

/// `dev.spend.OutcomeStatus`, in symbol order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    Rewarded,
    DeadLetter,
}

/// `dev.spend.RewardUnit`, in symbol order. Its own type rather than the domain's [`Unit`], so
/// reordering a domain enum can never change what is on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardUnit {
    Points,
    Miles,
    Cashback,
}

impl From<Unit> for RewardUnit {
    fn from(unit: Unit) -> Self {
        match unit {
            Unit::Points => RewardUnit::Points,
            Unit::Miles => RewardUnit::Miles,
            Unit::Cashback => RewardUnit::Cashback,
        }
    }
}

impl From<RewardUnit> for Unit {
    fn from(unit: RewardUnit) -> Self {
        match unit {
            RewardUnit::Points => Unit::Points,
            RewardUnit::Miles => Unit::Miles,
            RewardUnit::Cashback => Unit::Cashback,
        }
    }
}

/// `dev.spend.DeadLetterReason`, in symbol order (the wire twin of the domain's
/// [`DeadLetterReason`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    UnknownProgram,
    NoFxRate,
    OriginalNotFound,
    CurrencyMismatch,
    Undecodable,
}

impl From<DeadLetterReason> for ReasonCode {
    fn from(reason: DeadLetterReason) -> Self {
        match reason {
            DeadLetterReason::UnknownProgram => ReasonCode::UnknownProgram,
            DeadLetterReason::NoFxRate => ReasonCode::NoFxRate,
            DeadLetterReason::OriginalNotFound => ReasonCode::OriginalNotFound,
            DeadLetterReason::CurrencyMismatch => ReasonCode::CurrencyMismatch,
            DeadLetterReason::Undecodable => ReasonCode::Undecodable,
        }
    }
}

impl From<ReasonCode> for DeadLetterReason {
    fn from(reason: ReasonCode) -> Self {
        match reason {
            ReasonCode::UnknownProgram => DeadLetterReason::UnknownProgram,
            ReasonCode::NoFxRate => DeadLetterReason::NoFxRate,
            ReasonCode::OriginalNotFound => DeadLetterReason::OriginalNotFound,
            ReasonCode::CurrencyMismatch => DeadLetterReason::CurrencyMismatch,
            ReasonCode::Undecodable => DeadLetterReason::Undecodable,
        }
    }
}

/// What the rewarder decided for one record id, with the transaction fields the read API serves
/// (`dev.spend.Outcome`). Decimals are strings with exactly 2 fractional digits, dates Avro
/// `date`s, as in [`TransactionRecord`](crate::TransactionRecord). Field order is the schema's.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct OutcomeRecord {
    pub id: String,
    pub transaction_id: String,
    pub card_id: String,
    pub card_pan: String,
    /// The transaction's `card_type`.
    pub program: String,
    pub merchant: String,
    pub mcc: i32,
    pub currency: String,
    pub amount: String,
    pub transaction_date: i32,
    #[serde(rename = "type")]
    pub kind: TxType,
    pub original_id: Option<String>,
    pub status: OutcomeStatus,
    pub reward: Option<String>,
    pub unit: Option<RewardUnit>,
    pub amount_sgd: Option<String>,
    pub base_campaign: Option<String>,
    pub promo_campaign: Option<String>,
    pub remark: Option<String>,
    pub reason: Option<ReasonCode>,
    pub config_revision: Option<i64>,
    /// Milliseconds since the Unix epoch, UTC.
    pub processed_at: i64,
}

impl OutcomeRecord {
    fn for_transaction(tx: &Transaction, status: OutcomeStatus, processed_at_ms: i64) -> Self {
        OutcomeRecord {
            id: tx.id.to_string(),
            transaction_id: tx.transaction_id.clone(),
            card_id: tx.card_id.to_string(),
            card_pan: tx.card_pan.as_str().to_owned(),
            program: tx.card_type.as_str().to_owned(),
            merchant: tx.merchant.clone(),
            mcc: i32::from(tx.mcc.get()),
            currency: tx.currency.as_str().to_owned(),
            amount: wire::format_decimal2(tx.amount.get()),
            transaction_date: wire::date_to_days(tx.transaction_date),
            kind: TxType::of(&tx.kind),
            original_id: tx.kind.original_id().map(|id| id.to_string()),
            status,
            reward: None,
            unit: None,
            amount_sgd: None,
            base_campaign: None,
            promo_campaign: None,
            remark: None,
            reason: None,
            config_revision: None,
            processed_at: processed_at_ms,
        }
    }

    /// A rewarded outcome (a purchase, excluded or not, or a reversal).
    pub fn rewarded(tx: &Transaction, reward: &Reward, processed_at_ms: i64) -> Self {
        OutcomeRecord {
            reward: Some(wire::format_decimal2(reward.reward)),
            unit: Some(reward.unit.into()),
            amount_sgd: reward.amount_sgd.map(wire::format_decimal2),
            base_campaign: reward.base_campaign.map(|id| id.hyphenated().to_string()),
            promo_campaign: reward.promo_campaign.map(|id| id.hyphenated().to_string()),
            remark: Some(reward.remark.clone()),
            config_revision: Some(reward.config_revision),
            ..Self::for_transaction(tx, OutcomeStatus::Rewarded, processed_at_ms)
        }
    }

    /// A dead-lettered outcome: a reason and no reward.
    pub fn dead_letter(
        tx: &Transaction,
        reason: DeadLetterReason,
        config_revision: Option<i64>,
        processed_at_ms: i64,
    ) -> Self {
        OutcomeRecord {
            reason: Some(reason.into()),
            config_revision,
            ..Self::for_transaction(tx, OutcomeStatus::DeadLetter, processed_at_ms)
        }
    }

    /// The transaction the outcome is about, re-validated.
    pub fn to_transaction(&self) -> Result<Transaction> {
        TxFields {
            id: &self.id,
            transaction_id: &self.transaction_id,
            merchant: &self.merchant,
            mcc: self.mcc,
            currency: &self.currency,
            amount: &self.amount,
            transaction_date: self.transaction_date,
            card_id: &self.card_id,
            card_pan: &self.card_pan,
            card_type: &self.program,
            kind: self.kind,
            original_id: self.original_id.as_deref(),
        }
        .to_transaction()
    }

    /// The decision, re-validated: [`Outcome::Rewarded`] or [`Outcome::DeadLetter`] (a stored
    /// outcome is never a `Duplicate`). Fields that contradict the status are refused.
    pub fn to_outcome(&self) -> Result<Outcome> {
        let contradicts = |field: &'static str, expected: &'static str| {
            Err(SchemaError::InvalidField { field, expected })
        };
        match self.status {
            OutcomeStatus::DeadLetter => {
                if self.reward.is_some() {
                    return contradicts("reward", "null for a dead letter");
                }
                match self.reason {
                    Some(reason) => Ok(Outcome::DeadLetter(reason.into())),
                    None => contradicts("reason", "a reason for a dead letter"),
                }
            }
            OutcomeStatus::Rewarded => {
                if self.reason.is_some() {
                    return contradicts("reason", "null for a rewarded outcome");
                }
                let Some(reward) = self.reward.as_deref() else {
                    return contradicts("reward", "a reward for a rewarded outcome");
                };
                let Some(unit) = self.unit else {
                    return contradicts("unit", "a unit for a rewarded outcome");
                };
                let Some(config_revision) = self.config_revision else {
                    return contradicts("config_revision", "a revision for a rewarded outcome");
                };
                let reversal_of = match (self.kind, self.original_id.as_deref()) {
                    (TxType::Reversal, Some(id)) => Some(wire::record_id("original_id", id)?),
                    _ => None,
                };
                Ok(Outcome::Rewarded(Reward {
                    reward: wire::parse_decimal2("reward", reward)?,
                    unit: unit.into(),
                    amount_sgd: self
                        .amount_sgd
                        .as_deref()
                        .map(|s| wire::parse_decimal2("amount_sgd", s))
                        .transpose()?,
                    base_campaign: wire::campaign_id(
                        "base_campaign",
                        self.base_campaign.as_deref(),
                    )?,
                    promo_campaign: wire::campaign_id(
                        "promo_campaign",
                        self.promo_campaign.as_deref(),
                    )?,
                    remark: self.remark.clone().unwrap_or_default(),
                    config_revision,
                    reversal_of,
                }))
            }
        }
    }
}
