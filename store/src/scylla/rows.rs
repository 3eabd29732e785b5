//! The CQL rows of the reward store and their conversions to and from [`StoredOutcome`].
//!
//! **No null binds.** Binding `null` writes a cell tombstone; a reward row has nine optional
//! columns, so inserting `None`s would leave several tombstones per record. Absent values are
//! bound *unset* instead, which writes nothing. The one deliberate `null` is `reason` when a
//! reward replaces a dead letter, so the replaced reason does not linger on a rewarded row.
//!
//! **Payout rows** (docs/missions.md) carry `mission_id`, `payout_kind` and `caused_by`, all
//! three or none; a rewarded outcome's mission writes travel to the decision in
//! `pending_missions` ([`DecideValues`], [`ReplaceValues`]), which no read of an outcome selects.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use scylla::value::{CqlDecimal, MaybeUnset};
use scylla::{DeserializeRow, SerializeRow};
use spend_domain::eval::{DeadLetterReason, Reward};
use spend_domain::mission::PayoutKind;
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind, Unit,
};
use uuid::Uuid;

use crate::reward_store::{month_of, PayoutOf, RewardStoreError, StoredOutcome, StoredStatus};

pub(super) const REWARDED: &str = "rewarded";
pub(super) const DEAD_LETTER: &str = "dead_letter";

/// The columns `outcomes` and `history` share, in [`OutcomeRow`]'s order.
pub(super) const COLUMNS: &str = "id, status, transaction_id, card_id, card_pan, program, \
    merchant, mcc, currency, amount, transaction_date, tx_type, original_id, reward, unit, \
    amount_sgd, base_campaign, promo_campaign, remark, reason, config_revision, processed_at, \
    mission_id, payout_kind, caused_by";

/// One row of `outcomes` or `history`, as read.
#[derive(DeserializeRow)]
#[scylla(flavor = "enforce_order")]
pub(super) struct OutcomeRow {
    id: Uuid,
    status: String,
    transaction_id: String,
    card_id: Uuid,
    card_pan: String,
    program: String,
    merchant: String,
    mcc: i32,
    currency: String,
    amount: CqlDecimal,
    transaction_date: NaiveDate,
    tx_type: String,
    original_id: Option<Uuid>,
    reward: Option<CqlDecimal>,
    unit: Option<String>,
    amount_sgd: Option<CqlDecimal>,
    base_campaign: Option<Uuid>,
    promo_campaign: Option<Uuid>,
    remark: Option<String>,
    reason: Option<String>,
    config_revision: Option<i64>,
    processed_at: DateTime<Utc>,
    mission_id: Option<Uuid>,
    payout_kind: Option<String>,
    caused_by: Option<Uuid>,
}

/// The values of one `outcomes` row, bound by name (`:id`, `:status`, …); absent values unset.
#[derive(SerializeRow)]
pub(super) struct OutcomeValues<'a> {
    id: Uuid,
    status: &'static str,
    transaction_id: &'a str,
    card_id: Uuid,
    card_pan: &'a str,
    program: &'a str,
    merchant: &'a str,
    mcc: i32,
    currency: &'a str,
    amount: CqlDecimal,
    transaction_date: NaiveDate,
    tx_type: &'static str,
    original_id: MaybeUnset<Uuid>,
    reward: MaybeUnset<CqlDecimal>,
    unit: MaybeUnset<&'static str>,
    amount_sgd: MaybeUnset<CqlDecimal>,
    base_campaign: MaybeUnset<Uuid>,
    promo_campaign: MaybeUnset<Uuid>,
    remark: MaybeUnset<&'a str>,
    /// `Set(None)` is a deliberate null (see the module documentation).
    reason: MaybeUnset<Option<&'static str>>,
    config_revision: MaybeUnset<i64>,
    processed_at: DateTime<Utc>,
    mission_id: MaybeUnset<Uuid>,
    payout_kind: MaybeUnset<&'static str>,
    caused_by: MaybeUnset<Uuid>,
}

/// The values of a decision (`INSERT … IF NOT EXISTS`): an outcome row and, for a reward that
/// causes mission writes, their encoding (unset otherwise).
#[derive(SerializeRow)]
pub(super) struct DecideValues<'a> {
    #[scylla(flatten)]
    pub(super) row: OutcomeValues<'a>,
    pub(super) pending_missions: MaybeUnset<Vec<u8>>,
}

impl<'a> DecideValues<'a> {
    pub(super) fn of(o: &'a StoredOutcome) -> Self {
        DecideValues {
            row: OutcomeValues::of(o),
            pending_missions: pending(o),
        }
    }
}

/// What a reward's decision carries for its mission writes: only a reward's are repaired from
/// the stored row (a dead letter is evaluated again when redelivered), and only when it has any.
fn pending(o: &StoredOutcome) -> MaybeUnset<Vec<u8>> {
    if super::missions::leaves_pending(o) {
        MaybeUnset::Set(super::missions::encode_pending(&o.missions))
    } else {
        MaybeUnset::Unset
    }
}

/// The values of one `history` row: an outcome row, its month and its place among ties.
#[derive(SerializeRow)]
pub(super) struct HistoryValues<'a> {
    #[scylla(flatten)]
    pub(super) row: OutcomeValues<'a>,
    pub(super) month: i32,
    /// The id's 16 bytes: a `blob` clustering column orders them as unsigned bytes, which is the
    /// embedded store's tie order for every id. A `uuid` column would order by version first,
    /// then by time for version-1 ids.
    pub(super) id_order: [u8; 16],
}

/// The values of the dead-letter replacement: an outcome row, its mission writes (as
/// [`DecideValues`]; a dead letter never has any to leave behind) and the status it must still
/// have.
#[derive(SerializeRow)]
pub(super) struct ReplaceValues<'a> {
    #[scylla(flatten)]
    pub(super) row: OutcomeValues<'a>,
    pub(super) pending_missions: MaybeUnset<Vec<u8>>,
    pub(super) expected_status: &'static str,
}

impl<'a> ReplaceValues<'a> {
    /// `o` replacing a dead letter: a reward also clears the dead letter's reason.
    pub(super) fn of(o: &'a StoredOutcome) -> Self {
        let mut row = OutcomeValues::of(o);
        if o.is_rewarded() {
            row.reason = MaybeUnset::Set(None);
        }
        ReplaceValues {
            row,
            pending_missions: pending(o),
            expected_status: DEAD_LETTER,
        }
    }
}

fn unset_if_none<T>(value: Option<T>) -> MaybeUnset<T> {
    value.map_or(MaybeUnset::Unset, MaybeUnset::Set)
}

impl<'a> OutcomeValues<'a> {
    pub(super) fn of(o: &'a StoredOutcome) -> Self {
        let tx = &o.tx;
        let (status, reward, reason) = match &o.status {
            StoredStatus::Rewarded(r) => (REWARDED, Some(r), None),
            StoredStatus::DeadLetter(reason) => (DEAD_LETTER, None, Some(reason.as_str())),
        };
        OutcomeValues {
            id: tx.id.0,
            status,
            transaction_id: &tx.transaction_id,
            card_id: tx.card_id.0,
            card_pan: tx.card_pan.as_str(),
            program: tx.card_type.as_str(),
            merchant: &tx.merchant,
            mcc: i32::from(tx.mcc.get()),
            currency: tx.currency.as_str(),
            amount: to_cql_decimal(tx.amount.get()),
            transaction_date: tx.transaction_date,
            tx_type: tx.kind.type_str(),
            original_id: unset_if_none(tx.kind.original_id().map(|id| id.0)),
            reward: unset_if_none(reward.map(|r| to_cql_decimal(r.reward))),
            unit: unset_if_none(reward.map(|r| r.unit.as_str())),
            amount_sgd: unset_if_none(reward.and_then(|r| r.amount_sgd).map(to_cql_decimal)),
            base_campaign: unset_if_none(reward.and_then(|r| r.base_campaign)),
            promo_campaign: unset_if_none(reward.and_then(|r| r.promo_campaign)),
            remark: unset_if_none(reward.map(|r| r.remark.as_str())),
            reason: unset_if_none(reason.map(Some)),
            config_revision: unset_if_none(reward.map(|r| r.config_revision)),
            processed_at: o.processed_at,
            mission_id: unset_if_none(o.payout.map(|p| p.mission_id)),
            payout_kind: unset_if_none(o.payout.map(|p| p.kind.as_str())),
            caused_by: unset_if_none(o.payout.map(|p| p.caused_by.0)),
        }
    }

    pub(super) fn history(self) -> HistoryValues<'a> {
        let month = month_of(self.transaction_date);
        let id_order = *self.id.as_bytes();
        HistoryValues {
            row: self,
            month,
            id_order,
        }
    }
}

impl OutcomeRow {
    /// The stored outcome, every field re-validated.
    pub(super) fn into_outcome(self) -> Result<StoredOutcome, RewardStoreError> {
        let kind = match (self.tx_type.as_str(), self.original_id) {
            ("purchase", None) => TxKind::Purchase,
            ("reversal", Some(id)) => TxKind::Reversal {
                original_id: RecordId(id),
            },
            _ => return Err(corrupt("tx_type")),
        };
        let tx = Transaction {
            id: RecordId(self.id),
            transaction_id: self.transaction_id,
            merchant: self.merchant,
            mcc: u16::try_from(self.mcc)
                .ok()
                .and_then(Mcc::new)
                .ok_or_else(|| corrupt("mcc"))?,
            currency: CurrencyCode::parse(&self.currency).ok_or_else(|| corrupt("currency"))?,
            amount: Amount::new(from_cql_decimal(&self.amount)?)
                .ok_or_else(|| corrupt("amount"))?,
            transaction_date: self.transaction_date,
            card_id: CardId(self.card_id),
            card_pan: MaskedPan::parse_masked(&self.card_pan).ok_or_else(|| corrupt("card_pan"))?,
            card_type: ProgramId::parse(&self.program).ok_or_else(|| corrupt("program"))?,
            kind,
        };
        let status = match self.status.as_str() {
            REWARDED => StoredStatus::Rewarded(Reward {
                reward: from_cql_decimal(self.reward.as_ref().ok_or_else(|| corrupt("reward"))?)?,
                unit: self
                    .unit
                    .as_deref()
                    .and_then(Unit::parse)
                    .ok_or_else(|| corrupt("unit"))?,
                amount_sgd: self.amount_sgd.as_ref().map(from_cql_decimal).transpose()?,
                base_campaign: self.base_campaign,
                promo_campaign: self.promo_campaign,
                remark: self.remark.unwrap_or_default(),
                config_revision: self
                    .config_revision
                    .ok_or_else(|| corrupt("config_revision"))?,
                reversal_of: kind.original_id(),
            }),
            DEAD_LETTER => StoredStatus::DeadLetter(
                self.reason
                    .as_deref()
                    .and_then(DeadLetterReason::parse)
                    .ok_or_else(|| corrupt("reason"))?,
            ),
            _ => return Err(corrupt("status")),
        };
        let payout = match (self.mission_id, self.payout_kind, self.caused_by) {
            (None, None, None) => None,
            (Some(mission_id), Some(kind), Some(caused_by)) if status_is_reward(&status) => {
                Some(PayoutOf {
                    mission_id,
                    kind: PayoutKind::parse(&kind).ok_or_else(|| corrupt("payout_kind"))?,
                    caused_by: RecordId(caused_by),
                })
            }
            _ => return Err(corrupt("mission payout columns")),
        };
        Ok(StoredOutcome {
            tx,
            status,
            processed_at: self.processed_at,
            payout,
            missions: Vec::new(),
        })
    }
}

fn status_is_reward(status: &StoredStatus) -> bool {
    matches!(status, StoredStatus::Rewarded(_))
}

fn corrupt(column: &str) -> RewardStoreError {
    RewardStoreError::Corrupt(format!("stored outcome: bad {column}"))
}

/// A decimal as CQL's `decimal`: the mantissa as a minimal two's-complement big-endian varint.
pub(super) fn to_cql_decimal(d: Decimal) -> CqlDecimal {
    let bytes = d.mantissa().to_be_bytes();
    let mut start = 0;
    // Drop sign-extension bytes the next byte's top bit already implies.
    while start < bytes.len() - 1
        && ((bytes[start] == 0x00 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    // A scale is at most 28.
    let scale = i32::try_from(d.scale()).unwrap_or(28);
    CqlDecimal::from_signed_be_bytes_slice_and_exponent(&bytes[start..], scale)
}

/// A CQL `decimal` as a [`Decimal`]; one that does not fit (more than 96 bits, a negative or
/// over-large scale) is corrupt data here, since the store only ever writes exact money.
pub(super) fn from_cql_decimal(c: &CqlDecimal) -> Result<Decimal, RewardStoreError> {
    let (bytes, scale) = c.as_signed_be_bytes_slice_and_exponent();
    let scale = u32::try_from(scale)
        .ok()
        .filter(|&s| s <= 28)
        .ok_or_else(|| corrupt("decimal scale"))?;
    if bytes.len() > 16 {
        return Err(corrupt("decimal size"));
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut full = if negative { [0xff; 16] } else { [0u8; 16] };
    full[16 - bytes.len()..].copy_from_slice(bytes);
    Decimal::try_from_i128_with_scale(i128::from_be_bytes(full), scale)
        .map_err(|_| corrupt("decimal size"))
}

#[cfg(test)]
mod tests;
