//! Field conversions shared by the wire records: exact decimals, dates, ids and text fields.
//!
//! Decoding re-validates every field through the domain's constructors: a record that decodes is
//! only as trustworthy as whoever wrote it, and a wire type is turned into domain values only here.

use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use spend_domain::{CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId};
use uuid::Uuid;

use crate::error::{Result, SchemaError};

/// Days from 0001-01-01 (day 1 of the common era, chrono's origin) to 1970-01-01.
const UNIX_EPOCH_FROM_CE: i32 = 719_163;

fn invalid<T>(field: &'static str, expected: &'static str) -> Result<T> {
    Err(SchemaError::InvalidField { field, expected })
}

/// The Avro `date` of `date`: days since 1970-01-01. Every `NaiveDate` is within ±96 million days
/// of the epoch, so this cannot overflow.
pub(crate) fn date_to_days(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - UNIX_EPOCH_FROM_CE
}

pub(crate) fn days_to_date(field: &'static str, days: i32) -> Result<NaiveDate> {
    days.checked_add(UNIX_EPOCH_FROM_CE)
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .map_or_else(|| invalid(field, "a date within chrono's range"), Ok)
}

/// Writes an exact decimal with exactly 2 fractional digits, never `-0.00`.
///
/// Every decimal the domain hands over already has at most 2 fractional digits; one with more
/// would be a domain bug, and is rounded half to even (as `round2` does) rather than written long.
pub(crate) fn format_decimal2(value: Decimal) -> String {
    let mut d = value.round_dp(2);
    d.rescale(2);
    if d.is_zero() {
        d.set_sign_positive(true);
    }
    d.to_string()
}

/// Reads a decimal written as `-?[0-9]+\.[0-9]{2}` exactly (never through a float).
pub(crate) fn parse_decimal2(field: &'static str, s: &str) -> Result<Decimal> {
    const EXPECTED: &str = "a decimal with exactly 2 fractional digits";
    let digits = s.strip_prefix('-').unwrap_or(s);
    let Some((int, frac)) = digits.split_once('.') else {
        return invalid(field, EXPECTED);
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.len() != 2 || !all_digits(frac) {
        return invalid(field, EXPECTED);
    }
    let mut d = Decimal::from_str(s).or_else(|_| invalid(field, EXPECTED))?;
    if d.is_zero() {
        d.set_sign_positive(true);
    }
    Ok(d)
}

pub(crate) fn record_id(field: &'static str, s: &str) -> Result<RecordId> {
    RecordId::parse(s).map_or_else(|| invalid(field, "a uuid"), Ok)
}

pub(crate) fn card_id(field: &'static str, s: &str) -> Result<CardId> {
    CardId::parse(s).map_or_else(|| invalid(field, "a uuid"), Ok)
}

pub(crate) fn campaign_id(field: &'static str, s: Option<&str>) -> Result<Option<Uuid>> {
    match s {
        None => Ok(None),
        Some(s) => spend_domain::parse_uuid_strict(s)
            .map_or_else(|| invalid(field, "a uuid"), |u| Ok(Some(u))),
    }
}

pub(crate) fn mcc(field: &'static str, v: i32) -> Result<Mcc> {
    u16::try_from(v)
        .ok()
        .and_then(Mcc::new)
        .map_or_else(|| invalid(field, "an mcc in 1..=9999"), Ok)
}

pub(crate) fn currency(field: &'static str, s: &str) -> Result<CurrencyCode> {
    CurrencyCode::parse(s).map_or_else(|| invalid(field, "an iso 4217 currency code"), Ok)
}

pub(crate) fn masked_pan(field: &'static str, s: &str) -> Result<MaskedPan> {
    MaskedPan::parse_masked(s).map_or_else(|| invalid(field, "a masked pan"), Ok)
}

pub(crate) fn program(field: &'static str, s: &str) -> Result<ProgramId> {
    ProgramId::parse(s).map_or_else(|| invalid(field, "a program id ^[a-z0-9_]{1,64}$"), Ok)
}

/// A text field as validation leaves it: trimmed of white space, 1..=`max` characters.
pub(crate) fn text(
    field: &'static str,
    s: &str,
    max: usize,
    expected: &'static str,
) -> Result<String> {
    let chars = s.chars().count();
    if chars == 0 || chars > max || s.trim() != s {
        return invalid(field, expected);
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_with_two_digits() {
        assert_eq!(format_decimal2(Decimal::from_str("12.3").unwrap()), "12.30");
        assert_eq!(format_decimal2(Decimal::from_str("-0.00").unwrap()), "0.00");
        assert_eq!(format_decimal2(Decimal::from(7)), "7.00");
        assert_eq!(format_decimal2(Decimal::from_str("0.125").unwrap()), "0.12");
        assert_eq!(
            parse_decimal2("x", "1000000000.00").unwrap(),
            Decimal::from_str("1000000000.00").unwrap()
        );
        assert_eq!(parse_decimal2("x", "-1.50").unwrap().to_string(), "-1.50");
        assert_eq!(parse_decimal2("x", "-0.00").unwrap().to_string(), "0.00");
        for bad in [
            "1", "1.0", "1.000", ".10", "1.", "+1.00", "1e2", "1,00", " 1.00", "--1.00",
        ] {
            assert!(parse_decimal2("x", bad).is_err(), "{bad}");
        }
        // 40 digits overflow rust_decimal: an error, not a panic
        assert!(parse_decimal2("x", &format!("{}.00", "9".repeat(40))).is_err());
    }

    #[test]
    fn dates_count_days_from_the_unix_epoch() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(date_to_days(epoch), 0);
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(date_to_days(d), 19_782);
        assert_eq!(days_to_date("d", 19_782).unwrap(), d);
        assert_eq!(
            days_to_date("d", -1).unwrap(),
            NaiveDate::from_ymd_opt(1969, 12, 31).unwrap()
        );
        assert!(days_to_date("d", i32::MAX).is_err());
        assert!(days_to_date("d", i32::MIN).is_err());
    }

    #[test]
    fn text_fields_are_trimmed_and_bounded() {
        assert!(text("m", "Café", 4, "").is_ok());
        assert!(text("m", "Cafés", 4, "").is_err());
        assert!(text("m", "", 4, "").is_err());
        assert!(text("m", " a", 4, "").is_err());
    }
}
