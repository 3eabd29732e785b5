//! The field checks of REWARDS.md §1: every field of a [`RawTransaction`] trimmed and checked by
//! hand (no regex), into a [`Transaction`] or a [`Rejection`] naming every failing field.

use std::borrow::Cow;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{display_id, Field, FieldError, RawTransaction, Rejection};
use crate::pan::mask_pan;
use crate::types::{
    parse_uuid_strict, Amount, CardId, CurrencyCode, Mcc, ProgramId, RecordId, Transaction, TxKind,
};

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

pub(super) fn validate(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
