//! One transaction from untrusted input (a CSV row or a JSON object) to a valid
//! [`Transaction`](crate::types::Transaction), exactly per REWARDS.md §1.
//!
//! [`RawTransaction`] is the input as text; [`parse_transaction`] trims and checks every field and
//! either builds the `Transaction` or returns a [`Rejection`] naming every failing field, in
//! column order. No message ever contains a field's value, so none can echo a PAN.
//!
//! This is on the ingest hot path: the checks are hand-written (no regex) and the only allocations
//! of a valid row are the four strings a `Transaction` owns.
//!
//! Here: the input ([`RawTransaction`]) and the verdict ([`Field`], [`Rejection`]). The field
//! checks are in `validate`, the JSON form in `json`.

mod json;
mod validate;

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

use crate::pan::redact_pans;
use crate::types::parse_uuid_strict;

pub use json::parse_json_transaction;
pub use validate::parse_transaction;

/// A field of a transaction, or the row as a whole. Ordered as the CSV columns, so sorting
/// gives column order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Field {
    /// The record as a whole: a CSV row with the wrong number of fields, a JSON body that is not an
    /// object or has unknown fields.
    Row,
    Id,
    TransactionId,
    Merchant,
    Mcc,
    Currency,
    Amount,
    TransactionDate,
    CardId,
    CardPan,
    CardType,
    Type,
    OriginalId,
}

impl Field {
    /// The transaction's fields in column order (without [`Field::Row`]).
    pub const COLUMNS: [Field; 12] = [
        Field::Id,
        Field::TransactionId,
        Field::Merchant,
        Field::Mcc,
        Field::Currency,
        Field::Amount,
        Field::TransactionDate,
        Field::CardId,
        Field::CardPan,
        Field::CardType,
        Field::Type,
        Field::OriginalId,
    ];

    /// The CSV column (and JSON field) name; `row` for [`Field::Row`].
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Row => "row",
            Field::Id => "id",
            Field::TransactionId => "transaction_id",
            Field::Merchant => "merchant",
            Field::Mcc => "mcc",
            Field::Currency => "currency",
            Field::Amount => "amount",
            Field::TransactionDate => "transaction_date",
            Field::CardId => "card_id",
            Field::CardPan => "card_pan",
            Field::CardType => "card_type",
            Field::Type => "type",
            Field::OriginalId => "original_id",
        }
    }

    /// The field of a column name, exactly as [`Field::as_str`] writes it.
    pub fn from_column(name: &str) -> Option<Field> {
        Field::COLUMNS.into_iter().find(|f| f.as_str() == name)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One failing field and what is wrong with it, as a lowercase sentence that never contains the
/// field's value.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct FieldError {
    pub field: Field,
    pub message: String,
}

/// Why a record is not a valid transaction: every failing field, in column order.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Rejection {
    /// The trimmed `id` as sent, lower-cased if it is a UUID. Otherwise any PAN-shaped number in
    /// it is masked ([`redact_pans`]). Empty when there was no `id` text at all.
    pub raw_id: String,
    /// At least one; column order, each field at most once.
    pub fields: Vec<FieldError>,
}

impl Rejection {
    /// A rejection of the record as a whole ([`Field::Row`]).
    pub fn row(raw_id: &str, message: impl Into<String>) -> Self {
        Rejection {
            raw_id: display_id(raw_id.trim()),
            fields: vec![FieldError {
                field: Field::Row,
                message: message.into(),
            }],
        }
    }

    /// `invalid:` and the failing field names joined by `;`, as `expected-invalid.csv` writes it.
    pub fn remark(&self) -> String {
        let mut s = String::from("invalid:");
        for (i, e) in self.fields.iter().enumerate() {
            if i > 0 {
                s.push(';');
            }
            s.push_str(e.field.as_str());
        }
        s
    }

    /// Whether `field` is among the failing fields.
    pub fn has(&self, field: Field) -> bool {
        self.fields.iter().any(|e| e.field == field)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid transaction: ")?;
        for (i, e) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejection {}

/// A transaction as received: untrusted text, from a CSV row or a JSON object.
///
/// `type_` and `original_id` are `None` when the input has no such column or field (a 10-column
/// CSV, a JSON field that is absent or `null`); `None` means the same as empty.
///
/// `Debug` never shows `card_pan`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RawTransaction {
    pub id: String,
    pub transaction_id: String,
    pub merchant: String,
    pub mcc: String,
    pub currency: String,
    pub amount: String,
    pub transaction_date: String,
    pub card_id: String,
    pub card_pan: String,
    pub card_type: String,
    pub type_: Option<String>,
    pub original_id: Option<String>,
}

impl fmt::Debug for RawTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawTransaction")
            .field("id", &self.id)
            .field("transaction_id", &self.transaction_id)
            .field("merchant", &self.merchant)
            .field("mcc", &self.mcc)
            .field("currency", &self.currency)
            .field("amount", &self.amount)
            .field("transaction_date", &self.transaction_date)
            .field("card_id", &self.card_id)
            .field("card_pan", &"<redacted>")
            .field("card_type", &self.card_type)
            .field("type_", &self.type_)
            .field("original_id", &self.original_id)
            .finish()
    }
}

/// The trimmed `id` for a report: lower case if it is a UUID, PAN-shaped numbers masked otherwise.
fn display_id(id: &str) -> String {
    if parse_uuid_strict(id).is_some() {
        id.to_ascii_lowercase()
    } else {
        redact_pans(id).into_owned()
    }
}

/// At most `max` chars of `s`, with `…` when cut.
pub(crate) fn shorten(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_order_is_column_order() {
        let mut all = Field::COLUMNS.to_vec();
        all.push(Field::Row);
        all.reverse();
        all.sort();
        assert_eq!(all[0], Field::Row);
        assert_eq!(&all[1..], &Field::COLUMNS);
        assert_eq!(Field::from_column("card_pan"), Some(Field::CardPan));
        assert_eq!(Field::from_column("row"), None);
        assert_eq!(Field::TransactionDate.to_string(), "transaction_date");
    }

    #[test]
    fn shorten_cuts_on_chars() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("ééééé", 2), "éé…");
    }
}
