//! The CQL rows of the reward store and their conversions to and from [`StoredOutcome`], and the
//! schema file with its keyspace renamed.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use scylla::value::CqlDecimal;
use scylla::{DeserializeRow, SerializeRow};
use spend_domain::eval::{DeadLetterReason, Reward};
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind, Unit,
};
use uuid::Uuid;

use crate::reward_store::{month_of, RewardStoreError, StoredOutcome, StoredStatus};

/// `schemas/rewards.cql`, the single source of the CQL schema.
pub const SCHEMA_CQL: &str = include_str!("../../../schemas/rewards.cql");

/// The keyspace name the schema file is written for.
const SCHEMA_KEYSPACE: &str = "spend";

pub(super) const REWARDED: &str = "rewarded";
pub(super) const DEAD_LETTER: &str = "dead_letter";

/// The columns `outcomes` and `history` share, in [`OutcomeRow`]'s order.
pub(super) const COLUMNS: &str = "id, status, transaction_id, card_id, card_pan, program, \
    merchant, mcc, currency, amount, transaction_date, tx_type, original_id, reward, unit, \
    amount_sgd, base_campaign, promo_campaign, remark, reason, config_revision, processed_at";

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
}

/// The values of one `outcomes` row, bound by name (`:id`, `:status`, …).
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
    original_id: Option<Uuid>,
    reward: Option<CqlDecimal>,
    unit: Option<&'static str>,
    amount_sgd: Option<CqlDecimal>,
    base_campaign: Option<Uuid>,
    promo_campaign: Option<Uuid>,
    remark: Option<&'a str>,
    reason: Option<&'static str>,
    config_revision: Option<i64>,
    processed_at: DateTime<Utc>,
}

/// The values of one `history` row: an outcome row and its month.
#[derive(SerializeRow)]
pub(super) struct HistoryValues<'a> {
    #[scylla(flatten)]
    pub(super) row: OutcomeValues<'a>,
    pub(super) month: i32,
}

/// The values of the dead-letter replacement: an outcome row and the status it must still have.
#[derive(SerializeRow)]
pub(super) struct ReplaceValues<'a> {
    #[scylla(flatten)]
    pub(super) row: OutcomeValues<'a>,
    pub(super) expected_status: &'static str,
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
            original_id: tx.kind.original_id().map(|id| id.0),
            reward: reward.map(|r| to_cql_decimal(r.reward)),
            unit: reward.map(|r| r.unit.as_str()),
            amount_sgd: reward.and_then(|r| r.amount_sgd).map(to_cql_decimal),
            base_campaign: reward.and_then(|r| r.base_campaign),
            promo_campaign: reward.and_then(|r| r.promo_campaign),
            remark: reward.map(|r| r.remark.as_str()),
            reason,
            config_revision: reward.map(|r| r.config_revision),
            processed_at: o.processed_at,
        }
    }

    pub(super) fn history(self) -> HistoryValues<'a> {
        let month = month_of(self.transaction_date);
        HistoryValues { row: self, month }
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
        Ok(StoredOutcome {
            tx,
            status,
            processed_at: self.processed_at,
        })
    }
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

/// Why a keyspace name was refused.
pub(super) fn check_keyspace(name: &str) -> Result<(), RewardStoreError> {
    let ok = (1..=48).contains(&name.len())
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RewardStoreError::Unavailable(format!(
            "keyspace name {name:?} must be 1-48 of [a-z0-9_], starting with a letter"
        )))
    }
}

/// The statements that create the schema in `keyspace` with `replication_factor` replicas per
/// data center: the keyspace, then every statement of [`SCHEMA_CQL`] but its own CREATE KEYSPACE,
/// with the keyspace renamed.
pub fn schema_statements(
    keyspace: &str,
    replication_factor: u32,
) -> Result<Vec<String>, RewardStoreError> {
    check_keyspace(keyspace)?;
    let without_comments: String = SCHEMA_CQL
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut statements = vec![format!(
        "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
         {{'class': 'NetworkTopologyStrategy', 'replication_factor': {replication_factor}}}"
    )];
    let qualified = format!("{SCHEMA_KEYSPACE}.");
    for statement in without_comments.split(';') {
        let statement = statement.split_whitespace().collect::<Vec<_>>().join(" ");
        if statement.is_empty() || statement.starts_with("CREATE KEYSPACE") {
            continue;
        }
        statements.push(statement.replace(&qualified, &format!("{keyspace}.")));
    }
    Ok(statements)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn decimals_round_trip_through_cql() {
        for s in [
            "0.00",
            "0.01",
            "-0.01",
            "1.27",
            "1.28",
            "-1.28",
            "-1.29",
            "255.00",
            "-12345678901.23",
            "1000000000.00",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
        ] {
            let d = Decimal::from_str(s).unwrap();
            let c = to_cql_decimal(d);
            let back = from_cql_decimal(&c).unwrap();
            assert_eq!(back, d, "{s}");
            assert_eq!(back.scale(), d.scale(), "{s}");
        }
        // Minimal encodings: 1.27 is 127 = 0x7f (one byte); 1.28 is 128 = 0x00 0x80.
        let (b, _) =
            to_cql_decimal(Decimal::from_str("1.27").unwrap()).into_signed_be_bytes_and_exponent();
        assert_eq!(b, [0x7f]);
        let (b, _) =
            to_cql_decimal(Decimal::from_str("1.28").unwrap()).into_signed_be_bytes_and_exponent();
        assert_eq!(b, [0x00, 0x80]);
        let (b, _) =
            to_cql_decimal(Decimal::from_str("-1.28").unwrap()).into_signed_be_bytes_and_exponent();
        assert_eq!(b, [0x80]);
        let too_big = CqlDecimal::from_signed_be_bytes_and_exponent(vec![1; 17], 2);
        assert!(from_cql_decimal(&too_big).is_err());
        let negative_scale = CqlDecimal::from_signed_be_bytes_and_exponent(vec![1], -1);
        assert!(from_cql_decimal(&negative_scale).is_err());
        let empty = CqlDecimal::from_signed_be_bytes_and_exponent(vec![], 2);
        assert_eq!(from_cql_decimal(&empty).unwrap(), Decimal::new(0, 2));
    }

    #[test]
    fn schema_is_renamed_and_split() {
        let statements = schema_statements("spend_t1", 1).unwrap();
        assert_eq!(statements.len(), 5, "{statements:#?}");
        assert!(statements[0].contains("spend_t1 WITH replication"));
        assert!(statements[0].contains("'replication_factor': 1"));
        for s in &statements[1..] {
            assert!(s.starts_with("CREATE TABLE IF NOT EXISTS spend_t1."), "{s}");
            assert!(!s.contains("spend."), "{s}");
            assert!(!s.contains("--"), "{s}");
        }
        assert!(schema_statements("Spend", 1).is_err());
        assert!(schema_statements("spend; DROP", 1).is_err());
        assert!(schema_statements("", 1).is_err());
    }
}
