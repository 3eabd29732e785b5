//! Parsing a condition from JSON: the field, the operator that must fit it, and a value of
//! the field's type (the tables of REWARDS.md §2). Every bad list element is reported.

use chrono::Weekday;
use rust_decimal::Decimal;
use serde_json::Value;

use super::condition::{
    check_amount, check_merchant, list_names, Bounds, Condition, EqualityTest, Field, MccItem,
    MemberTest, NonEmpty, NumericTest, Op, TextTest, WEEKDAYS,
};
use super::json::{self, object, required, Errors};
use super::Invalid;
use crate::types::{CurrencyCode, Mcc};

impl Condition {
    /// Parses `{"field", "op", "value"}`; error paths are relative (`op`, `value`).
    pub fn from_json(v: &Value) -> Result<Condition, Invalid> {
        let mut errors = Errors::default();
        let Some(map) = object(v, &["field", "op", "value"], &mut errors) else {
            return errors.finish(|| None);
        };
        let field = required(map, "field", &mut errors, |v| {
            json::string(v).ok().and_then(Field::parse).ok_or_else(|| {
                format!("must be one of: {}", list_names(&Field::ALL, Field::as_str))
            })
        });
        let op = required(map, "op", &mut errors, |v| {
            json::string(v)
                .ok()
                .and_then(Op::parse)
                .ok_or_else(|| format!("must be one of: {}", list_names(&Op::ALL, Op::as_str)))
        });
        let value = required(map, "value", &mut errors, Ok);
        let mut condition = None;
        if let (Some(field), Some(op)) = (field, op) {
            if !field.ops().contains(&op) {
                errors.push(
                    "op",
                    format!(
                        "{op} does not apply to field {field}; it takes: {}",
                        list_names(field.ops(), Op::as_str)
                    ),
                );
            } else if let Some(value) = value {
                match build(field, op, value) {
                    Ok(c) => condition = Some(c),
                    Err(messages) => messages.into_iter().for_each(|m| errors.push("value", m)),
                }
            }
        }
        errors.finish(|| condition)
    }
}

// --- parsing the value of one field × op -------------------------------------------------------

type Parse<T> = fn(&Value) -> Result<T, String>;

fn build(field: Field, op: Op, v: &Value) -> Result<Condition, Vec<String>> {
    Ok(match field {
        Field::Mcc => Condition::Mcc(numeric(op, v, mcc, mcc_item)?),
        Field::Amount => Condition::Amount(numeric(op, v, amount, amount)?),
        Field::AmountSgd => Condition::AmountSgd(numeric(op, v, amount, amount)?),
        Field::Merchant => Condition::Merchant(text(op, v)?),
        Field::Currency => Condition::Currency(member(op, v, currency)?),
        Field::Weekday => Condition::Weekday(member(op, v, weekday)?),
        Field::Foreign => {
            let b = flag(v).map_err(|m| vec![m])?;
            Condition::Foreign(match op {
                Op::Ne => EqualityTest::Ne(b),
                _ => EqualityTest::Eq(b),
            })
        }
    })
}

fn numeric<T: PartialOrd + Copy, I>(
    op: Op,
    v: &Value,
    scalar: Parse<T>,
    item: Parse<I>,
) -> Result<NumericTest<T, I>, Vec<String>> {
    let one = |v: &Value| scalar(v).map_err(|m| vec![m]);
    Ok(match op {
        Op::Eq => NumericTest::Eq(one(v)?),
        Op::Ne => NumericTest::Ne(one(v)?),
        Op::Gt => NumericTest::Gt(one(v)?),
        Op::Gte => NumericTest::Gte(one(v)?),
        Op::Lt => NumericTest::Lt(one(v)?),
        Op::Lte => NumericTest::Lte(one(v)?),
        Op::In => NumericTest::In(list(v, item)?),
        Op::NotIn => NumericTest::NotIn(list(v, item)?),
        Op::Between => NumericTest::Between(bounds(v, scalar)?),
        Op::Contains => return Err(vec!["contains does not apply to a number".to_owned()]),
    })
}

fn text(op: Op, v: &Value) -> Result<TextTest, Vec<String>> {
    let one = |v: &Value| merchant(v).map_err(|m| vec![m]);
    Ok(match op {
        Op::Eq => TextTest::Eq(one(v)?),
        Op::Ne => TextTest::Ne(one(v)?),
        Op::Contains => TextTest::Contains(one(v)?),
        Op::In => TextTest::In(list(v, merchant)?),
        Op::NotIn => TextTest::NotIn(list(v, merchant)?),
        _ => return Err(vec![format!("{op} does not apply to merchant")]),
    })
}

fn member<T>(op: Op, v: &Value, scalar: Parse<T>) -> Result<MemberTest<T>, Vec<String>> {
    let one = |v: &Value| scalar(v).map_err(|m| vec![m]);
    Ok(match op {
        Op::Eq => MemberTest::Eq(one(v)?),
        Op::Ne => MemberTest::Ne(one(v)?),
        Op::In => MemberTest::In(list(v, scalar)?),
        Op::NotIn => MemberTest::NotIn(list(v, scalar)?),
        _ => return Err(vec![format!("{op} does not apply here")]),
    })
}

/// A non-empty list; every bad element is reported, numbered from 1.
fn list<I>(v: &Value, item: Parse<I>) -> Result<NonEmpty<I>, Vec<String>> {
    let items = json::non_empty_list(v).map_err(|m| vec![m])?;
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, e) in items.iter().enumerate() {
        match item(e) {
            Ok(x) => out.push(x),
            Err(m) => errors.push(format!("item {} {m}", i + 1)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(NonEmpty(out))
}

/// `[lo, hi]` with lo ≤ hi.
fn bounds<T: PartialOrd + Copy>(v: &Value, scalar: Parse<T>) -> Result<Bounds<T>, Vec<String>> {
    let pair = match v {
        Value::Array(a) if a.len() == 2 => a,
        _ => return Err(vec!["must be a list of two values [lo, hi]".to_owned()]),
    };
    let lo = scalar(&pair[0]).map_err(|m| format!("lo {m}"));
    let hi = scalar(&pair[1]).map_err(|m| format!("hi {m}"));
    match (lo, hi) {
        (Ok(lo), Ok(hi)) => Bounds::new(lo, hi)
            .ok_or_else(|| vec!["must have lo less than or equal to hi".to_owned()]),
        (lo, hi) => Err(lo.err().into_iter().chain(hi.err()).collect()),
    }
}

const MCC_MSG: &str = "must be an mcc: a whole number from 1 to 9999";

fn mcc(v: &Value) -> Result<Mcc, String> {
    json::integer(v)
        .ok()
        .and_then(|i| u16::try_from(i).ok())
        .and_then(Mcc::new)
        .ok_or_else(|| MCC_MSG.to_owned())
}

fn mcc_item(v: &Value) -> Result<MccItem, String> {
    const MSG: &str = "must be an mcc (a whole number from 1 to 9999) or a range [lo, hi] of them";
    match v {
        Value::Array(pair) if pair.len() == 2 => {
            let (lo, hi) = (mcc(&pair[0]), mcc(&pair[1]));
            let (Ok(lo), Ok(hi)) = (lo, hi) else {
                return Err(MSG.to_owned());
            };
            Bounds::new(lo, hi)
                .map(MccItem::Range)
                .ok_or_else(|| format!("must be a range [lo, hi] with lo ≤ hi, not [{lo}, {hi}]"))
        }
        Value::Number(_) => mcc(v).map(MccItem::One),
        _ => Err(MSG.to_owned()),
    }
}

fn merchant(v: &Value) -> Result<String, String> {
    let s = v.as_str().ok_or_else(|| "must be a string".to_owned())?;
    check_merchant(s)?;
    Ok(s.to_owned())
}

fn currency(v: &Value) -> Result<CurrencyCode, String> {
    v.as_str()
        .and_then(CurrencyCode::parse)
        .ok_or_else(|| "must be an upper-case ISO 4217 currency code, like \"USD\"".to_owned())
}

fn weekday(v: &Value) -> Result<Weekday, String> {
    v.as_str()
        .and_then(|s| WEEKDAYS.iter().find(|(n, _)| *n == s))
        .map(|(_, w)| *w)
        .ok_or_else(|| "must be one of: mon, tue, wed, thu, fri, sat, sun".to_owned())
}

fn flag(v: &Value) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| "must be true or false (a json boolean, not a string)".to_owned())
}

fn amount(v: &Value) -> Result<Decimal, String> {
    let d = json::decimal(v)?;
    check_amount(d)?;
    Ok(d)
}
