//! The published transaction: `transaction.avsc`.

use serde::{Deserialize, Serialize};
use spend_domain::{Amount, Transaction, TxKind};

use crate::error::{Result, SchemaError};
use crate::wire;

/// `dev.spend.TransactionType`. The variant order is the schema's symbol order: the encoder writes
/// the variant index.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxType {
    Purchase,
    Reversal,
}

impl TxType {
    pub fn of(kind: &TxKind) -> Self {
        match kind {
            TxKind::Purchase => TxType::Purchase,
            TxKind::Reversal { .. } => TxType::Reversal,
        }
    }
}

/// One transaction as published on the `transactions` topic (`dev.spend.Transaction`).
///
/// The wire form: fields hold what was written, unchecked. [`TransactionRecord::to_transaction`]
/// turns it back into a validated [`Transaction`]. Field order is the schema's field order (the
/// encoder writes fields in declaration order; a test holds the two together).
///
/// * `amount` is a string with exactly 2 fractional digits, not an Avro `decimal`: it is exact,
///   it reads the same in any Avro-to-JSON tool as in the API (`"12.30"`), it parses straight into
///   `rust_decimal` with no float and no scale to carry alongside, and `apache-avro`'s decimal
///   maps to serde only as raw big-endian bytes. Decoding checks the format strictly.
/// * `transaction_date` is an Avro `date` (days since 1970-01-01): typed, compact, ordered, and
///   every value is a real calendar date, so no string format to re-check.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TransactionRecord {
    pub id: String,
    pub transaction_id: String,
    pub merchant: String,
    pub mcc: i32,
    pub currency: String,
    pub amount: String,
    pub transaction_date: i32,
    pub card_id: String,
    /// Always masked; [`TransactionRecord::to_transaction`] refuses anything else.
    pub card_pan: String,
    pub card_type: String,
    #[serde(rename = "type")]
    pub kind: TxType,
    pub original_id: Option<String>,
    /// Milliseconds since the Unix epoch, UTC.
    pub received_at: i64,
    pub batch_id: Option<String>,
    pub line: Option<i64>,
}

impl TransactionRecord {
    /// The wire form of a validated transaction, with where and when the ingestor received it.
    pub fn from_transaction(
        tx: &Transaction,
        received_at_ms: i64,
        batch_id: Option<&str>,
        line: Option<u64>,
    ) -> Self {
        TransactionRecord {
            id: tx.id.to_string(),
            transaction_id: tx.transaction_id.clone(),
            merchant: tx.merchant.clone(),
            mcc: i32::from(tx.mcc.get()),
            currency: tx.currency.as_str().to_owned(),
            amount: wire::format_decimal2(tx.amount.get()),
            transaction_date: wire::date_to_days(tx.transaction_date),
            card_id: tx.card_id.to_string(),
            card_pan: tx.card_pan.as_str().to_owned(),
            card_type: tx.card_type.as_str().to_owned(),
            kind: TxType::of(&tx.kind),
            original_id: tx.kind.original_id().map(|id| id.to_string()),
            received_at: received_at_ms,
            batch_id: batch_id.map(str::to_owned),
            // A CSV file with more than i64::MAX lines cannot exist.
            line: line.map(|l| i64::try_from(l).unwrap_or(i64::MAX)),
        }
    }

    /// Re-validates every field through the domain constructors.
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
            card_type: &self.card_type,
            kind: self.kind,
            original_id: self.original_id.as_deref(),
        }
        .to_transaction()
    }
}

/// The transaction fields as both the transaction and the outcome record carry them.
pub(crate) struct TxFields<'a> {
    pub(crate) id: &'a str,
    pub(crate) transaction_id: &'a str,
    pub(crate) merchant: &'a str,
    pub(crate) mcc: i32,
    pub(crate) currency: &'a str,
    pub(crate) amount: &'a str,
    pub(crate) transaction_date: i32,
    pub(crate) card_id: &'a str,
    pub(crate) card_pan: &'a str,
    pub(crate) card_type: &'a str,
    pub(crate) kind: TxType,
    pub(crate) original_id: Option<&'a str>,
}

impl TxFields<'_> {
    pub(crate) fn to_transaction(&self) -> Result<Transaction> {
        let amount = wire::parse_decimal2("amount", self.amount)?;
        let amount = Amount::new(amount).ok_or(SchemaError::InvalidField {
            field: "amount",
            expected: "0 < amount <= 1000000000",
        })?;
        let kind = match (self.kind, self.original_id) {
            (TxType::Purchase, None) => TxKind::Purchase,
            (TxType::Reversal, Some(original)) => TxKind::Reversal {
                original_id: wire::record_id("original_id", original)?,
            },
            (TxType::Purchase, Some(_)) => {
                return Err(SchemaError::InvalidField {
                    field: "original_id",
                    expected: "null for a purchase",
                })
            }
            (TxType::Reversal, None) => {
                return Err(SchemaError::InvalidField {
                    field: "original_id",
                    expected: "a uuid for a reversal",
                })
            }
        };
        Ok(Transaction {
            id: wire::record_id("id", self.id)?,
            transaction_id: wire::text(
                "transaction_id",
                self.transaction_id,
                64,
                "1-64 characters, trimmed",
            )?,
            merchant: wire::text("merchant", self.merchant, 128, "1-128 characters, trimmed")?,
            mcc: wire::mcc("mcc", self.mcc)?,
            currency: wire::currency("currency", self.currency)?,
            amount,
            transaction_date: wire::days_to_date("transaction_date", self.transaction_date)?,
            card_id: wire::card_id("card_id", self.card_id)?,
            card_pan: wire::masked_pan("card_pan", self.card_pan)?,
            card_type: wire::program("card_type", self.card_type)?,
            kind,
        })
    }
}
