//! One transaction from untrusted input (a CSV row or a JSON object) to a valid [`Transaction`],
//! exactly per REWARDS.md §1.
//!
//! [`RawTransaction`] is the input as text; [`parse_transaction`] trims and checks every field and
//! either builds the [`Transaction`] or returns a [`Rejection`] naming every failing field, in
//! column order. No message ever contains a field's value, so none can echo a PAN.
//!
//! This is on the ingest hot path: the checks are hand-written (no regex) and the only allocations
//! of a valid row are the four strings a [`Transaction`] owns.

use std::borrow::Cow;
use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::pan::{mask_pan, redact_pans};
use crate::types::{
    parse_uuid_strict, Amount, CardId, CurrencyCode, Mcc, ProgramId, RecordId, Transaction, TxKind,
};

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
    /// Only the JSON shape is checked here: the values are checked by [`parse_transaction`].
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

/// [`RawTransaction::from_json`] and [`parse_transaction`] in one, naming every failing field:
/// those of the wrong JSON shape and those whose values are invalid.
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

/// Checks a received transaction (REWARDS.md §1). `today` is the UTC date the record was received:
/// a `transaction_date` after `today` + 1 day is invalid.
///
/// Every field is trimmed of Unicode `White_Space` first; a rejection names every failing field in
/// column order. When `type` is itself invalid, `original_id` is only required to be empty or a
/// UUID (which rule would apply is unknown, and the row already fails on `type`).
pub fn parse_transaction(raw: &RawTransaction, today: NaiveDate) -> Result<Transaction, Rejection> {
    validate(raw, today, Vec::new(), 0)
}

type Msg = Cow<'static, str>;

const MSG_UUID_ID: &str = "id must be a uuid: 8-4-4-4-12 hex digits";
const MSG_TRANSACTION_ID: &str = "transaction_id must be 1 to 64 characters";
const MSG_MERCHANT: &str = "merchant must be 1 to 128 characters";
const MSG_MCC: &str = "mcc must be an integer from 1 to 9999";
const MSG_CURRENCY: &str = "currency must be an iso 4217 code in upper case";
const MSG_AMOUNT_FORMAT: &str =
    "amount must be a decimal number with at most 2 fractional digits, like 12.34";
const MSG_AMOUNT_RANGE: &str = "amount must be greater than 0 and at most 1000000000";
const MSG_DATE: &str = "transaction_date must be a real date written yyyy-mm-dd";
const MSG_CARD_ID: &str = "card_id must be a uuid: 8-4-4-4-12 hex digits";
const MSG_CARD_PAN: &str = "card_pan must be 13 to 19 digits passing the Luhn check";
const MSG_CARD_TYPE: &str = "card_type must be 1 to 64 characters of a-z, 0-9 and _";
const MSG_TYPE: &str = "type must be empty, purchase or reversal";
const MSG_ORIGINAL_REVERSAL: &str = "original_id must be a uuid when type is reversal";
const MSG_ORIGINAL_PURCHASE: &str = "original_id must be empty unless type is reversal";
const MSG_ORIGINAL_EITHER: &str = "original_id must be empty or a uuid";

fn validate(
    raw: &RawTransaction,
    today: NaiveDate,
    errors: Vec<FieldError>,
    skip: u16,
) -> Result<Transaction, Rejection> {
    let mut c = Checks { errors, skip };
    let id_text = raw.id.trim();
    let id = c.opt(Field::Id, RecordId::parse(id_text), MSG_UUID_ID);
    let transaction_id = c.check(
        Field::TransactionId,
        text_field(&raw.transaction_id, 64, MSG_TRANSACTION_ID),
    );
    let merchant = c.check(
        Field::Merchant,
        text_field(&raw.merchant, 128, MSG_MERCHANT),
    );
    let mcc = c.check(Field::Mcc, parse_mcc(raw.mcc.trim()));
    let currency = c.opt(
        Field::Currency,
        CurrencyCode::parse(raw.currency.trim()),
        MSG_CURRENCY,
    );
    let amount = c.check(Field::Amount, parse_amount(raw.amount.trim()));
    let date = c.check(
        Field::TransactionDate,
        parse_date(raw.transaction_date.trim(), today),
    );
    let card_id = c.opt(
        Field::CardId,
        CardId::parse(raw.card_id.trim()),
        MSG_CARD_ID,
    );
    let card_pan = c.opt(Field::CardPan, mask_pan(raw.card_pan.trim()), MSG_CARD_PAN);
    let card_type = c.opt(
        Field::CardType,
        ProgramId::parse(raw.card_type.trim()),
        MSG_CARD_TYPE,
    );
    let reversal = match raw.type_.as_deref().unwrap_or("").trim() {
        "" | "purchase" => Some(false),
        "reversal" => Some(true),
        _ => None,
    };
    // `None` also when a JSON `type` of the wrong shape already failed.
    let reversal = c.opt(Field::Type, reversal, MSG_TYPE);
    let original = raw.original_id.as_deref().unwrap_or("").trim();
    let kind = c.check(Field::OriginalId, parse_kind(reversal, original));

    let Checks { mut errors, .. } = c;
    if let (
        true,
        Some(id),
        Some(transaction_id),
        Some(merchant),
        Some(mcc),
        Some(currency),
        Some(amount),
        Some(transaction_date),
        Some(card_id),
        Some(card_pan),
        Some(card_type),
        Some(Some(kind)),
    ) = (
        errors.is_empty(),
        id,
        transaction_id,
        merchant,
        mcc,
        currency,
        amount,
        date,
        card_id,
        card_pan,
        card_type,
        kind,
    ) {
        return Ok(Transaction {
            id,
            transaction_id: transaction_id.to_owned(),
            merchant: merchant.to_owned(),
            mcc,
            currency,
            amount,
            transaction_date,
            card_id,
            card_pan,
            card_type,
            kind,
        });
    }
    // Only the JSON path can add errors out of column order.
    errors.sort_by_key(|e| e.field);
    Err(Rejection {
        raw_id: display_id(id_text),
        fields: errors,
    })
}

/// The errors found so far, and the fields that already failed (on their JSON shape) and are not
/// checked again.
struct Checks {
    errors: Vec<FieldError>,
    skip: u16,
}

impl Checks {
    fn check<T>(&mut self, field: Field, r: Result<T, Msg>) -> Option<T> {
        if self.skip & field.bit() != 0 {
            return None;
        }
        match r {
            Ok(v) => Some(v),
            Err(msg) => {
                self.errors.push(FieldError {
                    field,
                    message: msg.into_owned(),
                });
                None
            }
        }
    }

    fn opt<T>(&mut self, field: Field, v: Option<T>, msg: &'static str) -> Option<T> {
        self.check(field, v.ok_or(Cow::Borrowed(msg)))
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

/// Trimmed, 1 to `max` Unicode scalar values.
fn text_field<'a>(s: &'a str, max: usize, msg: &'static str) -> Result<&'a str, Msg> {
    let s = s.trim();
    // A string of at most `max` bytes has at most `max` chars: count only longer ones.
    let ok = !s.is_empty() && (s.len() <= max || s.chars().take(max + 1).count() <= max);
    if ok {
        Ok(s)
    } else {
        Err(msg.into())
    }
}

/// `^[0-9]{1,4}$` and 1..=9999.
fn parse_mcc(s: &str) -> Result<Mcc, Msg> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 4 || !b.iter().all(u8::is_ascii_digit) {
        return Err(MSG_MCC.into());
    }
    let v = b
        .iter()
        .fold(0u16, |acc, &c| acc * 10 + u16::from(c - b'0'));
    Mcc::new(v).ok_or(MSG_MCC.into())
}

/// `^[0-9]+(\.[0-9]{1,2})?$` and 0 < amount ≤ 1,000,000,000. Any number of digits is safe: the
/// value is checked against the limit as it is read.
fn parse_amount(s: &str) -> Result<Amount, Msg> {
    const MAX_UNITS: u64 = 1_000_000_000;
    let b = s.as_bytes();
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(p) => (&b[..p], &b[p + 1..]),
        None => (b, &b[b.len()..]),
    };
    let has_point = int.len() < b.len();
    let format_ok = !int.is_empty()
        && int.iter().all(u8::is_ascii_digit)
        && (!has_point || (1..=2).contains(&frac.len()))
        && frac.iter().all(u8::is_ascii_digit);
    if !format_ok {
        return Err(MSG_AMOUNT_FORMAT.into());
    }
    let mut units: u64 = 0;
    for &c in int {
        units = units * 10 + u64::from(c - b'0');
        if units > MAX_UNITS {
            return Err(MSG_AMOUNT_RANGE.into());
        }
    }
    let mut cents = units * 100;
    let mut scale = 10;
    for &c in frac {
        cents += u64::from(c - b'0') * scale;
        scale /= 10;
    }
    if cents == 0 || cents > MAX_UNITS * 100 {
        return Err(MSG_AMOUNT_RANGE.into());
    }
    // At most 1e11 cents: fits an i64.
    let d = Decimal::new(i64::try_from(cents).map_err(|_| MSG_AMOUNT_RANGE)?, 2);
    Amount::new(d).ok_or(MSG_AMOUNT_RANGE.into())
}

/// `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`, a real proleptic-Gregorian date, not after `today` + 1 day.
fn parse_date(s: &str, today: NaiveDate) -> Result<NaiveDate, Msg> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(MSG_DATE.into());
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter()
            .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
    };
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    // `y` < 10000 always fits an i32.
    let date = i32::try_from(y)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, m, d))
        .ok_or(MSG_DATE)?;
    let latest = today.succ_opt().unwrap_or(today);
    if date > latest {
        return Err(
            format!("transaction_date must not be after {latest} (today + 1 day, utc)").into(),
        );
    }
    Ok(date)
}

/// `original_id` given what `type` said (`None`: `type` itself is invalid). `Ok(None)` when the
/// original id is acceptable but `type` is not, so there is no kind.
fn parse_kind(reversal: Option<bool>, original: &str) -> Result<Option<TxKind>, Msg> {
    match reversal {
        Some(true) => RecordId::parse(original)
            .map(|original_id| Some(TxKind::Reversal { original_id }))
            .ok_or(MSG_ORIGINAL_REVERSAL.into()),
        Some(false) if original.is_empty() => Ok(Some(TxKind::Purchase)),
        Some(false) => Err(MSG_ORIGINAL_PURCHASE.into()),
        None if original.is_empty() || parse_uuid_strict(original).is_some() => Ok(None),
        None => Err(MSG_ORIGINAL_EITHER.into()),
    }
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
    fn amount_digits_are_bounded_not_overflowed() {
        assert_eq!(
            parse_amount(&"9".repeat(100_000)).unwrap_err(),
            MSG_AMOUNT_RANGE
        );
        let padded = format!("{}1000000000.00", "0".repeat(100_000));
        assert_eq!(parse_amount(&padded).unwrap().to_string(), "1000000000.00");
        assert_eq!(
            parse_amount("18446744073709551616").unwrap_err(),
            MSG_AMOUNT_RANGE
        );
        assert_eq!(parse_amount("1.").unwrap_err(), MSG_AMOUNT_FORMAT);
    }

    #[test]
    fn latest_date_is_tomorrow_even_at_the_end_of_time() {
        let today = NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
        assert!(parse_date("2025-01-01", today).is_ok());
        assert!(parse_date("2025-01-02", today).is_err());
        assert!(parse_date("0000-01-01", today).is_ok(), "proleptic year 0");
        assert!(parse_date("9999-12-31", NaiveDate::MAX).is_ok());
    }

    #[test]
    fn shorten_cuts_on_chars() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("ééééé", 2), "éé…");
    }
}
