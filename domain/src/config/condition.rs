//! Conditions: a field of the transaction, an operator and a typed value (REWARDS.md §2).
//!
//! Only the combinations of the table in §2 can be built: each field has its own test type, and
//! each test type has only the operators that fit the field. Lists are never empty and ranges
//! never run backwards, by construction.

use std::fmt;

use chrono::Weekday;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::json::{self, decimal_json};
use crate::types::{CurrencyCode, Mcc};

/// A parsed condition. A list of conditions holds when every condition holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Mcc(NumericTest<Mcc, MccItem>),
    /// Compared case-insensitively; the values are kept as written.
    Merchant(TextTest),
    Currency(MemberTest<CurrencyCode>),
    /// `currency != SGD`.
    Foreign(EqualityTest<bool>),
    /// The amount in the transaction's own currency.
    Amount(NumericTest<Decimal, Decimal>),
    AmountSgd(NumericTest<Decimal, Decimal>),
    /// Of `transaction_date` as written.
    Weekday(MemberTest<Weekday>),
}

/// `[lo, hi]` with `lo ≤ hi`, both inclusive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds<T> {
    pub(super) lo: T,
    pub(super) hi: T,
}

impl<T: PartialOrd + Copy> Bounds<T> {
    pub fn new(lo: T, hi: T) -> Option<Self> {
        (lo <= hi).then_some(Self { lo, hi })
    }
}

impl<T: Copy> Bounds<T> {
    pub fn lo(&self) -> T {
        self.lo
    }
    pub fn hi(&self) -> T {
        self.hi
    }
}

/// A list with at least one element.
#[derive(Clone, Debug, PartialEq)]
pub struct NonEmpty<T>(pub(super) Vec<T>);

impl<T> NonEmpty<T> {
    pub fn new(items: Vec<T>) -> Option<Self> {
        (!items.is_empty()).then_some(Self(items))
    }
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }
}

/// An element of an `mcc` `in`/`not_in` list: one code or an inclusive range of codes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MccItem {
    One(Mcc),
    Range(Bounds<Mcc>),
}

/// The tests of a number (`mcc`, `amount`, `amount_sgd`); `I` is a list element.
#[derive(Clone, Debug, PartialEq)]
pub enum NumericTest<T, I> {
    Eq(T),
    Ne(T),
    Gt(T),
    Gte(T),
    Lt(T),
    Lte(T),
    In(NonEmpty<I>),
    NotIn(NonEmpty<I>),
    Between(Bounds<T>),
}

/// The tests of `merchant`.
#[derive(Clone, Debug, PartialEq)]
pub enum TextTest {
    Eq(String),
    Ne(String),
    In(NonEmpty<String>),
    NotIn(NonEmpty<String>),
    Contains(String),
}

/// The tests of a value from a closed set (`currency`, `weekday`).
#[derive(Clone, Debug, PartialEq)]
pub enum MemberTest<T> {
    Eq(T),
    Ne(T),
    In(NonEmpty<T>),
    NotIn(NonEmpty<T>),
}

/// The tests of a flag (`foreign`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EqualityTest<T> {
    Eq(T),
    Ne(T),
}

/// The fields a condition can test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Mcc,
    Merchant,
    Currency,
    Foreign,
    Amount,
    AmountSgd,
    Weekday,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::Mcc,
        Field::Merchant,
        Field::Currency,
        Field::Foreign,
        Field::Amount,
        Field::AmountSgd,
        Field::Weekday,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Mcc => "mcc",
            Field::Merchant => "merchant",
            Field::Currency => "currency",
            Field::Foreign => "foreign",
            Field::Amount => "amount",
            Field::AmountSgd => "amount_sgd",
            Field::Weekday => "weekday",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The operators that fit this field (the table of REWARDS.md §2).
    pub fn ops(self) -> &'static [Op] {
        use Op::*;
        match self {
            Field::Mcc | Field::Amount | Field::AmountSgd => {
                &[Eq, Ne, Gt, Gte, Lt, Lte, In, NotIn, Between]
            }
            Field::Merchant => &[Eq, Ne, In, NotIn, Contains],
            Field::Currency | Field::Weekday => &[Eq, Ne, In, NotIn],
            Field::Foreign => &[Eq, Ne],
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operators of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    NotIn,
    Between,
    Contains,
}

impl Op {
    pub const ALL: [Op; 10] = [
        Op::Eq,
        Op::Ne,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
        Op::In,
        Op::NotIn,
        Op::Between,
        Op::Contains,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Between => "between",
            Op::Contains => "contains",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest merchant value, in characters: a transaction's merchant is at most 128 (§1).
pub(crate) const MERCHANT_MAX: usize = 128;

pub(super) const WEEKDAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

pub(super) fn list_names<T: Copy>(items: &[T], name: impl Fn(T) -> &'static str) -> String {
    items
        .iter()
        .map(|i| name(*i))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Condition {
    pub fn field(&self) -> Field {
        match self {
            Condition::Mcc(_) => Field::Mcc,
            Condition::Merchant(_) => Field::Merchant,
            Condition::Currency(_) => Field::Currency,
            Condition::Foreign(_) => Field::Foreign,
            Condition::Amount(_) => Field::Amount,
            Condition::AmountSgd(_) => Field::AmountSgd,
            Condition::Weekday(_) => Field::Weekday,
        }
    }

    pub fn to_json(&self) -> Value {
        let (op, value) = match self {
            Condition::Mcc(t) => t.to_json(|m| json!(m.get()), mcc_item_json),
            Condition::Amount(t) | Condition::AmountSgd(t) => {
                t.to_json(|d| decimal_json(*d), |d| decimal_json(*d))
            }
            Condition::Merchant(t) => t.to_json(),
            Condition::Currency(t) => t.to_json(|c| json!(c.as_str())),
            Condition::Weekday(t) => t.to_json(|w| json!(weekday_str(*w))),
            Condition::Foreign(EqualityTest::Eq(b)) => (Op::Eq, json!(b)),
            Condition::Foreign(EqualityTest::Ne(b)) => (Op::Ne, json!(b)),
        };
        let mut m = Map::new();
        m.insert("field".into(), json!(self.field().as_str()));
        m.insert("op".into(), json!(op.as_str()));
        m.insert("value".into(), value);
        Value::Object(m)
    }

    /// Value rules the types do not enforce (for a condition built in code rather than parsed).
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            Condition::Merchant(t) => t.each(|s| out.extend(check_merchant(s).err())),
            Condition::Amount(t) | Condition::AmountSgd(t) => {
                t.each(|d| out.extend(check_amount(*d).err()))
            }
            _ => {}
        }
        out
    }
}

fn weekday_str(w: Weekday) -> &'static str {
    WEEKDAYS
        .iter()
        .find(|(_, d)| *d == w)
        .map_or("mon", |(s, _)| s)
}

fn mcc_item_json(i: &MccItem) -> Value {
    match i {
        MccItem::One(m) => json!(m.get()),
        MccItem::Range(b) => json!([b.lo.get(), b.hi.get()]),
    }
}

impl<T, I> NumericTest<T, I> {
    fn to_json(&self, scalar: impl Fn(&T) -> Value, item: impl Fn(&I) -> Value) -> (Op, Value) {
        let list = |l: &NonEmpty<I>| Value::Array(l.0.iter().map(&item).collect());
        match self {
            NumericTest::Eq(v) => (Op::Eq, scalar(v)),
            NumericTest::Ne(v) => (Op::Ne, scalar(v)),
            NumericTest::Gt(v) => (Op::Gt, scalar(v)),
            NumericTest::Gte(v) => (Op::Gte, scalar(v)),
            NumericTest::Lt(v) => (Op::Lt, scalar(v)),
            NumericTest::Lte(v) => (Op::Lte, scalar(v)),
            NumericTest::In(l) => (Op::In, list(l)),
            NumericTest::NotIn(l) => (Op::NotIn, list(l)),
            NumericTest::Between(b) => (
                Op::Between,
                Value::Array(vec![scalar(&b.lo), scalar(&b.hi)]),
            ),
        }
    }
}

impl<T> NumericTest<T, T> {
    fn each(&self, mut f: impl FnMut(&T)) {
        match self {
            NumericTest::Eq(v)
            | NumericTest::Ne(v)
            | NumericTest::Gt(v)
            | NumericTest::Gte(v)
            | NumericTest::Lt(v)
            | NumericTest::Lte(v) => f(v),
            NumericTest::In(l) | NumericTest::NotIn(l) => l.0.iter().for_each(f),
            NumericTest::Between(b) => {
                f(&b.lo);
                f(&b.hi);
            }
        }
    }
}

impl TextTest {
    fn to_json(&self) -> (Op, Value) {
        let list = |l: &NonEmpty<String>| json!(l.0);
        match self {
            TextTest::Eq(s) => (Op::Eq, json!(s)),
            TextTest::Ne(s) => (Op::Ne, json!(s)),
            TextTest::In(l) => (Op::In, list(l)),
            TextTest::NotIn(l) => (Op::NotIn, list(l)),
            TextTest::Contains(s) => (Op::Contains, json!(s)),
        }
    }

    fn each(&self, mut f: impl FnMut(&str)) {
        match self {
            TextTest::Eq(s) | TextTest::Ne(s) | TextTest::Contains(s) => f(s),
            TextTest::In(l) | TextTest::NotIn(l) => l.0.iter().for_each(|s| f(s)),
        }
    }
}

impl<T> MemberTest<T> {
    fn to_json(&self, scalar: impl Fn(&T) -> Value) -> (Op, Value) {
        match self {
            MemberTest::Eq(v) => (Op::Eq, scalar(v)),
            MemberTest::Ne(v) => (Op::Ne, scalar(v)),
            MemberTest::In(l) => (Op::In, Value::Array(l.0.iter().map(&scalar).collect())),
            MemberTest::NotIn(l) => (Op::NotIn, Value::Array(l.0.iter().map(&scalar).collect())),
        }
    }
}

pub(crate) fn check_merchant(s: &str) -> Result<(), String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("must be a non-empty merchant name".to_owned());
    }
    if t.chars().count() > MERCHANT_MAX {
        return Err(format!("must be at most {MERCHANT_MAX} characters long"));
    }
    Ok(())
}

/// Amounts are compared with values of at most 2 fractional digits, like the amounts themselves.
pub(crate) fn check_amount(d: Decimal) -> Result<(), String> {
    if d.is_sign_negative() {
        return Err(format!("must not be negative, but is {d}"));
    }
    if json::fraction_digits(d) > 2 {
        return Err(format!(
            "must have at most 2 fractional digits, but {d} has more"
        ));
    }
    Ok(())
}
