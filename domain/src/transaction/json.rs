//! The JSON form of a transaction (`POST /v1/transactions`): an object with the CSV column names
//! as fields, read into a [`RawTransaction`] with every shape error named.

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

use super::validate::validate;
use super::{display_id, shorten, Field, FieldError, RawTransaction, Rejection};
use crate::pan::redact_pans;
use crate::types::Transaction;

/// The JSON form of `POST /v1/transactions`, through [`RawTransaction::from_json`]: a body that is
/// not an object, has a missing, unknown or wrongly typed field fails deserialisation with the
/// [`Rejection`]'s message. Use [`RawTransaction::from_json`] or [`parse_json_transaction`] to get
/// the [`Rejection`] itself.
impl<'de> Deserialize<'de> for RawTransaction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        RawTransaction::from_json(&v).map_err(serde::de::Error::custom)
    }
}

impl RawTransaction {
    /// Reads the JSON form of a transaction: an object with the CSV column names as fields.
    ///
    /// - Every field is a JSON string, except `mcc` and `amount`, which may also be a JSON number
    ///   (read from its literal text, never through a float; its validity is then checked like the
    ///   string's: `5999` is mcc 5999, `59.5` and `-1` are invalid).
    /// - `type` and `original_id` may be absent or `null` (= empty); every other field is required.
    /// - A field of the wrong JSON type or missing fails as that field; unknown fields fail as
    ///   [`Field::Row`] with their names (PAN-shaped numbers masked, long names cut) in the
    ///   message; a body that is not an object fails as [`Field::Row`].
    ///
    /// Only the JSON shape is checked here: the values are checked by
    /// [`parse_transaction`](super::parse_transaction).
    pub fn from_json(v: &Value) -> Result<RawTransaction, Rejection> {
        let (raw, errors) = read_json(v);
        if errors.is_empty() {
            Ok(raw)
        } else {
            Err(Rejection {
                raw_id: display_id(raw.id.trim()),
                fields: errors,
            })
        }
    }
}

/// [`RawTransaction::from_json`] and [`parse_transaction`](super::parse_transaction) in one,
/// naming every failing field: those of the wrong JSON shape and those whose values are invalid.
pub fn parse_json_transaction(v: &Value, today: NaiveDate) -> Result<Transaction, Rejection> {
    let (raw, errors) = read_json(v);
    if !v.is_object() {
        // No fields at all: the row error says it all.
        return Err(Rejection {
            raw_id: String::new(),
            fields: errors,
        });
    }
    let skip = errors.iter().fold(0, |acc, e| acc | e.field.bit());
    validate(&raw, today, errors, skip)
}

/// Reads the JSON shape: the raw text of every field, and an error for each missing, unknown or
/// wrongly typed one (those are left empty in the raw transaction).
fn read_json(v: &Value) -> (RawTransaction, Vec<FieldError>) {
    let mut raw = RawTransaction::default();
    let mut errors = Vec::new();
    let Some(obj) = v.as_object() else {
        errors.push(FieldError {
            field: Field::Row,
            message: "a transaction must be a json object".to_owned(),
        });
        return (raw, errors);
    };

    let mut unknown: Vec<String> = Vec::new();
    for key in obj.keys() {
        if Field::from_column(key).is_none() {
            unknown.push(format!("{:?}", shorten(&redact_pans(key), 64)));
        }
    }
    if !unknown.is_empty() {
        let total = unknown.len();
        unknown.truncate(10);
        let more = if total > 10 {
            format!(" and {} more", total - 10)
        } else {
            String::new()
        };
        errors.push(FieldError {
            field: Field::Row,
            message: format!("unknown fields: {}{more}", unknown.join(", ")),
        });
    }

    for field in Field::COLUMNS {
        let name = field.as_str();
        let optional = matches!(field, Field::Type | Field::OriginalId);
        let numeric = matches!(field, Field::Mcc | Field::Amount);
        let text = match obj.get(name) {
            None | Some(Value::Null) if optional => None,
            None | Some(Value::Null) => {
                errors.push(FieldError {
                    field,
                    message: format!("{name} is missing"),
                });
                continue;
            }
            Some(Value::String(s)) => Some(s.clone()),
            // The literal text of the number (serde_json keeps it with `arbitrary_precision`).
            Some(Value::Number(n)) if numeric => Some(n.to_string()),
            Some(_) => {
                let want = if numeric {
                    "a json number or string"
                } else {
                    "a json string"
                };
                errors.push(FieldError {
                    field,
                    message: format!("{name} must be {want}"),
                });
                continue;
            }
        };
        let slot = match field {
            Field::Type => {
                raw.type_ = text;
                continue;
            }
            Field::OriginalId => {
                raw.original_id = text;
                continue;
            }
            Field::Id => &mut raw.id,
            Field::TransactionId => &mut raw.transaction_id,
            Field::Merchant => &mut raw.merchant,
            Field::Mcc => &mut raw.mcc,
            Field::Currency => &mut raw.currency,
            Field::Amount => &mut raw.amount,
            Field::TransactionDate => &mut raw.transaction_date,
            Field::CardId => &mut raw.card_id,
            Field::CardPan => &mut raw.card_pan,
            Field::CardType => &mut raw.card_type,
            Field::Row => continue,
        };
        *slot = text.unwrap_or_default();
    }
    errors.sort_by_key(|e| e.field);
    (raw, errors)
}
