//! Reading configuration JSON by hand rather than through serde: every error of an object is
//! collected with its path, and a JSON number is read from its literal text, never through a
//! binary float (REWARDS.md §2).

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{FieldError, Invalid};

/// The errors found so far in one object, with paths relative to it.
#[derive(Default, Debug)]
pub(crate) struct Errors(Vec<FieldError>);

impl Errors {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Takes the errors of a nested object found at `prefix`.
    pub(crate) fn nest(&mut self, prefix: &str, inner: Invalid) {
        for e in inner.0 {
            self.0.push(FieldError {
                field: join(prefix, &e.field),
                message: e.message,
            });
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// `Ok(build())` when no error was found.
    pub(crate) fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, Invalid> {
        if !self.0.is_empty() {
            return Err(Invalid(self.0));
        }
        // Every field that failed to parse recorded an error, so `build` finds all its parts.
        build().ok_or_else(|| {
            Invalid(vec![FieldError {
                field: String::new(),
                message: "is not a valid object".to_owned(),
            }])
        })
    }
}

/// `prefix` + `field` as a JSON path: `campaigns[2]` + `rate` is `campaigns[2].rate`.
pub(crate) fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else if field.is_empty() {
        prefix.to_owned()
    } else if field.starts_with('[') {
        format!("{prefix}{field}")
    } else {
        format!("{prefix}.{field}")
    }
}

/// The members of an object whose keys must all be among `allowed`; unknown keys are errors.
pub(crate) fn object<'a>(
    v: &'a Value,
    allowed: &[&str],
    errors: &mut Errors,
) -> Option<&'a Map<String, Value>> {
    let Value::Object(map) = v else {
        errors.push("", "must be a json object");
        return None;
    };
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            errors.push(
                key.as_str(),
                format!(
                    "is not a known field; the fields are: {}",
                    allowed.join(", ")
                ),
            );
        }
    }
    Some(map)
}

/// A required member: absent or `null` is an error.
pub(crate) fn required<'a, T>(
    map: &'a Map<String, Value>,
    key: &str,
    errors: &mut Errors,
    parse: impl FnOnce(&'a Value) -> Result<T, String>,
) -> Option<T> {
    match map.get(key) {
        None | Some(Value::Null) => {
            errors.push(key, "is required");
            None
        }
        Some(v) => parse(v).map_err(|m| errors.push(key, m)).ok(),
    }
}

/// An optional member: absent or `null` is `Some(None)`; `None` means it was invalid.
pub(crate) fn optional<'a, T>(
    map: &'a Map<String, Value>,
    key: &str,
    errors: &mut Errors,
    parse: impl FnOnce(&'a Value) -> Result<T, String>,
) -> Option<Option<T>> {
    match map.get(key) {
        None | Some(Value::Null) => Some(None),
        Some(v) => parse(v).map(Some).map_err(|m| errors.push(key, m)).ok(),
    }
}

pub(crate) fn string(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| "must be a string".to_owned())
}

/// Longest name accepted for a program, campaign or exclusion, in characters.
pub(crate) const NAME_MAX: usize = 200;

/// A display name: it ends up in remarks and reports, so it must be printable on one line.
pub(crate) fn check_name(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if s.chars().count() > NAME_MAX {
        return Err(format!("must be at most {NAME_MAX} characters long"));
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters such as line breaks".to_owned());
    }
    Ok(())
}

pub(crate) fn name(v: &Value) -> Result<String, String> {
    let s = string(v)?;
    check_name(s)?;
    Ok(s.to_owned())
}

/// A date written `YYYY-MM-DD`, a real proleptic-Gregorian date.
pub(crate) fn date(v: &Value) -> Result<NaiveDate, String> {
    const MSG: &str = "must be a date written YYYY-MM-DD, like \"2024-12-31\"";
    let s = v.as_str().ok_or_else(|| MSG.to_owned())?;
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return Err(MSG.to_owned());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("must be a real date, and {s} is not"))
}

/// An id: a UUID written `8-4-4-4-12`, either case; kept (and written) in lower case.
pub(crate) fn uuid(v: &Value) -> Result<Uuid, String> {
    const MSG: &str = "must be a uuid written as 36 characters 8-4-4-4-12, like \"3b1f0c2e-0000-4000-8000-000000000001\"";
    let s = v.as_str().ok_or_else(|| MSG.to_owned())?;
    crate::types::parse_uuid_strict(s).ok_or_else(|| MSG.to_owned())
}

/// A JSON integer (a number literal without fraction or exponent) that fits an `i64`.
pub(crate) fn integer(v: &Value) -> Result<i64, String> {
    const MSG: &str = "must be a whole number written as a json number, like 30";
    let Value::Number(n) = v else {
        return Err(MSG.to_owned());
    };
    let text = n.to_string();
    let digits = text.strip_prefix('-').unwrap_or(&text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MSG.to_owned());
    }
    i64::from_str(&text).map_err(|_| "is too large".to_owned())
}

/// A decimal written as a JSON string, or as a JSON number read from its literal text. The
/// written scale is kept (`"10.50"` stays `10.50`); an exponent is refused.
pub(crate) fn decimal(v: &Value) -> Result<Decimal, String> {
    const MSG: &str = "must be a decimal number written as a string, like \"12.5\"";
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(MSG.to_owned()),
    };
    if text.bytes().any(|b| b == b'e' || b == b'E') && text.bytes().any(|b| b.is_ascii_digit()) {
        return Err("must be written without an exponent, like \"100\" rather than 1e2".to_owned());
    }
    let unsigned = text.strip_prefix('-').unwrap_or(&text);
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) {
        return Err(MSG.to_owned());
    }
    Decimal::from_str_exact(&text).map_err(|_| "has too many digits".to_owned())
}

/// How many fractional digits a decimal was written with.
pub(crate) fn fraction_digits(d: Decimal) -> u32 {
    d.scale()
}

/// A non-empty JSON list.
pub(crate) fn non_empty_list(v: &Value) -> Result<&Vec<Value>, String> {
    match v {
        Value::Array(a) if !a.is_empty() => Ok(a),
        _ => Err("must be a non-empty list".to_owned()),
    }
}

/// The literal text of a decimal as the product writes it back: as given, in a JSON string.
pub(crate) fn decimal_json(d: Decimal) -> Value {
    Value::String(d.to_string())
}

pub(crate) fn date_json(d: Option<NaiveDate>) -> Value {
    match d {
        Some(d) => Value::String(d.format("%Y-%m-%d").to_string()),
        None => Value::Null,
    }
}

pub(crate) fn uuid_json(id: Uuid) -> Value {
    Value::String(id.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lit(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn decimals_from_literal_text() {
        assert_eq!(decimal(&lit("10.50")).unwrap().to_string(), "10.50");
        assert_eq!(decimal(&json!("0.5")).unwrap().to_string(), "0.5");
        // Through an f64 this would not be exactly one tenth.
        assert_eq!(decimal(&lit("0.1")).unwrap(), Decimal::new(1, 1));
        assert!(decimal(&json!("0.12345678901234567890123456789")).is_err());
        assert!(decimal(&lit("1e2")).unwrap_err().contains("exponent"));
        assert!(decimal(&json!("1E2")).unwrap_err().contains("exponent"));
        for bad in [
            "", ".5", "5.", "+5", " 5", "5 ", "1,5", "abc", "--1", "0x10",
        ] {
            assert!(decimal(&json!(bad)).is_err(), "{bad:?}");
        }
        assert!(decimal(&json!(true)).is_err());
        assert_eq!(decimal(&json!("-1.25")).unwrap().to_string(), "-1.25");
    }

    #[test]
    fn integers_only_from_integer_literals() {
        assert_eq!(integer(&lit("30")).unwrap(), 30);
        assert_eq!(integer(&lit("-7")).unwrap(), -7);
        assert!(integer(&lit("30.0")).is_err());
        assert!(integer(&lit("3e1")).is_err());
        assert!(integer(&json!("30")).is_err());
        assert!(integer(&lit("99999999999999999999")).is_err());
    }

    #[test]
    fn dates_strict() {
        assert!(date(&json!("2024-02-29")).is_ok());
        assert!(date(&json!("2023-02-29")).is_err());
        assert!(date(&json!("2024-2-01")).is_err());
        assert!(date(&json!("+2024-02-01")).is_err());
        assert!(date(&json!(20240201)).is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(join("campaigns[2]", "rate"), "campaigns[2].rate");
        assert_eq!(join("campaigns", "[2]"), "campaigns[2]");
        assert_eq!(join("campaigns[2]", ""), "campaigns[2]");
        assert_eq!(join("", "rate"), "rate");
    }

    #[test]
    fn names() {
        assert!(check_name("Quasi-cash").is_ok());
        assert!(check_name("   ").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(NAME_MAX)).is_ok());
        assert!(check_name(&"x".repeat(NAME_MAX + 1)).is_err());
    }
}
