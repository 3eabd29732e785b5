//! Conditions compiled for evaluation: every numeric test becomes a set of integer ranges (MCCs,
//! or amounts in cents), weekdays a bit mask, merchant values lower-cased once at compile time.

use std::cell::OnceCell;

use chrono::{Datelike, NaiveDate, Weekday};
use rust_decimal::Decimal;

use crate::config::{Condition, EqualityTest, MccItem, MemberTest, NumericTest, TextTest};
use crate::types::{CurrencyCode, Transaction};

/// What conditions test, taken from a transaction once per evaluation.
pub(crate) struct Facts<'a> {
    mcc: i128,
    currency: CurrencyCode,
    foreign: bool,
    /// In cents.
    amount: i128,
    /// In cents.
    amount_sgd: i128,
    weekday: u8,
    merchant: &'a str,
    /// Trimmed and lower-cased on first use only: most rules never look at the merchant.
    merchant_lc: OnceCell<String>,
}

impl<'a> Facts<'a> {
    pub(crate) fn new(tx: &'a Transaction, amount_sgd: Decimal) -> Self {
        Facts {
            mcc: i128::from(tx.mcc.get()),
            currency: tx.currency,
            foreign: !tx.currency.is_sgd(),
            amount: cents_floor(tx.amount.get()),
            amount_sgd: cents_floor(amount_sgd),
            weekday: weekday_bit(tx.transaction_date.weekday()),
            merchant: &tx.merchant,
            merchant_lc: OnceCell::new(),
        }
    }

    fn merchant_lc(&self) -> &str {
        self.merchant_lc
            .get_or_init(|| self.merchant.trim().to_lowercase())
    }
}

fn weekday_bit(w: Weekday) -> u8 {
    1 << w.num_days_from_monday()
}

const ALL_DAYS: u8 = 0x7f;

/// `floor(x × 100)`, exactly, for any decimal.
pub(crate) fn cents_floor(x: Decimal) -> i128 {
    let (m, s) = (x.mantissa(), x.scale());
    if s <= 2 {
        m * 10i128.pow(2 - s)
    } else {
        m.div_euclid(10i128.pow(s - 2))
    }
}

/// `ceil(x × 100)`, exactly.
pub(crate) fn cents_ceil(x: Decimal) -> i128 {
    -cents_floor(-x)
}

/// A union of inclusive integer ranges, sorted and disjoint; `negate` tests non-membership.
#[derive(Clone, Debug)]
pub(crate) struct RangeSet {
    ranges: Box<[(i128, i128)]>,
    negate: bool,
}

// Bounds that leave room for ±1 without overflow.
const LOW: i128 = i128::MIN / 2;
const HIGH: i128 = i128::MAX / 2;

impl RangeSet {
    fn new(mut ranges: Vec<(i128, i128)>, negate: bool) -> Self {
        ranges.retain(|(lo, hi)| lo <= hi);
        ranges.sort_unstable();
        let mut merged: Vec<(i128, i128)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        RangeSet {
            ranges: merged.into_boxed_slice(),
            negate,
        }
    }

    /// `floor` and `ceil` map a bound to the integer domain (exact for MCCs; cents for amounts).
    fn compile<T: Copy, I>(
        t: &NumericTest<T, I>,
        floor: impl Fn(T) -> i128,
        ceil: impl Fn(T) -> i128,
        item: impl Fn(&I) -> (i128, i128),
    ) -> Self {
        let list = |l: &crate::config::NonEmpty<I>| l.as_slice().iter().map(&item).collect();
        match t {
            NumericTest::Eq(x) => Self::new(vec![(ceil(*x), floor(*x))], false),
            NumericTest::Ne(x) => Self::new(vec![(ceil(*x), floor(*x))], true),
            NumericTest::Gt(x) => Self::new(vec![(floor(*x) + 1, HIGH)], false),
            NumericTest::Gte(x) => Self::new(vec![(ceil(*x), HIGH)], false),
            NumericTest::Lt(x) => Self::new(vec![(LOW, ceil(*x) - 1)], false),
            NumericTest::Lte(x) => Self::new(vec![(LOW, floor(*x))], false),
            NumericTest::In(l) => Self::new(list(l), false),
            NumericTest::NotIn(l) => Self::new(list(l), true),
            NumericTest::Between(b) => Self::new(vec![(ceil(b.lo()), floor(b.hi()))], false),
        }
    }

    #[inline]
    fn holds(&self, x: i128) -> bool {
        let i = self.ranges.partition_point(|r| r.1 < x);
        let member = i < self.ranges.len() && self.ranges[i].0 <= x;
        member != self.negate
    }
}

#[derive(Clone, Debug)]
pub(crate) enum MerchantCheck {
    /// Sorted, for binary search.
    OneOf {
        values: Box<[Box<str>]>,
        negate: bool,
    },
    Contains(Box<str>),
}

/// One compiled condition.
#[derive(Clone, Debug)]
pub(crate) enum Check {
    Foreign(bool),
    Weekday(u8),
    Mcc(RangeSet),
    Currency {
        set: Box<[CurrencyCode]>,
        negate: bool,
    },
    Amount(RangeSet),
    AmountSgd(RangeSet),
    Merchant(MerchantCheck),
}

fn normalise(s: &str) -> Box<str> {
    s.trim().to_lowercase().into_boxed_str()
}

fn one_of(values: &[String], negate: bool) -> Check {
    let mut values: Vec<Box<str>> = values.iter().map(|s| normalise(s)).collect();
    values.sort_unstable();
    values.dedup();
    Check::Merchant(MerchantCheck::OneOf {
        values: values.into_boxed_slice(),
        negate,
    })
}

fn mcc_item(i: &MccItem) -> (i128, i128) {
    match i {
        MccItem::One(m) => (i128::from(m.get()), i128::from(m.get())),
        MccItem::Range(b) => (i128::from(b.lo().get()), i128::from(b.hi().get())),
    }
}

fn amount_set(t: &NumericTest<Decimal, Decimal>) -> RangeSet {
    RangeSet::compile(t, cents_floor, cents_ceil, |d| {
        (cents_ceil(*d), cents_floor(*d))
    })
}

impl Check {
    pub(crate) fn compile(c: &Condition) -> Check {
        match c {
            Condition::Mcc(t) => {
                let code = |m: crate::types::Mcc| i128::from(m.get());
                Check::Mcc(RangeSet::compile(t, code, code, mcc_item))
            }
            Condition::Amount(t) => Check::Amount(amount_set(t)),
            Condition::AmountSgd(t) => Check::AmountSgd(amount_set(t)),
            Condition::Foreign(EqualityTest::Eq(b)) => Check::Foreign(*b),
            Condition::Foreign(EqualityTest::Ne(b)) => Check::Foreign(!*b),
            Condition::Weekday(t) => {
                let mask = |ds: &[Weekday]| ds.iter().fold(0, |m, d| m | weekday_bit(*d));
                Check::Weekday(match t {
                    MemberTest::Eq(d) => weekday_bit(*d),
                    MemberTest::Ne(d) => ALL_DAYS & !weekday_bit(*d),
                    MemberTest::In(l) => mask(l.as_slice()),
                    MemberTest::NotIn(l) => ALL_DAYS & !mask(l.as_slice()),
                })
            }
            Condition::Currency(t) => {
                let (set, negate): (Vec<CurrencyCode>, bool) = match t {
                    MemberTest::Eq(c) => (vec![*c], false),
                    MemberTest::Ne(c) => (vec![*c], true),
                    MemberTest::In(l) => (l.as_slice().to_vec(), false),
                    MemberTest::NotIn(l) => (l.as_slice().to_vec(), true),
                };
                Check::Currency {
                    set: set.into_boxed_slice(),
                    negate,
                }
            }
            Condition::Merchant(t) => match t {
                TextTest::Eq(s) => one_of(std::slice::from_ref(s), false),
                TextTest::Ne(s) => one_of(std::slice::from_ref(s), true),
                TextTest::In(l) => one_of(l.as_slice(), false),
                TextTest::NotIn(l) => one_of(l.as_slice(), true),
                TextTest::Contains(s) => Check::Merchant(MerchantCheck::Contains(normalise(s))),
            },
        }
    }

    /// Cheap tests first, the merchant (which may have to be lower-cased) last.
    pub(crate) fn cost(&self) -> u8 {
        match self {
            Check::Foreign(_) | Check::Weekday(_) => 0,
            Check::Mcc(_) | Check::Currency { .. } => 1,
            Check::Amount(_) | Check::AmountSgd(_) => 2,
            Check::Merchant(MerchantCheck::OneOf { .. }) => 3,
            Check::Merchant(MerchantCheck::Contains(_)) => 4,
        }
    }

    #[inline]
    pub(crate) fn holds(&self, f: &Facts<'_>) -> bool {
        match self {
            Check::Foreign(b) => f.foreign == *b,
            Check::Weekday(mask) => mask & f.weekday != 0,
            Check::Mcc(r) => r.holds(f.mcc),
            Check::Currency { set, negate } => set.contains(&f.currency) != *negate,
            Check::Amount(r) => r.holds(f.amount),
            Check::AmountSgd(r) => r.holds(f.amount_sgd),
            Check::Merchant(MerchantCheck::OneOf { values, negate }) => {
                values
                    .binary_search_by(|v| (**v).cmp(f.merchant_lc()))
                    .is_ok()
                    != *negate
            }
            Check::Merchant(MerchantCheck::Contains(v)) => f.merchant_lc().contains(&**v),
        }
    }
}

/// All of a list of conditions, compiled and ordered cheapest first.
#[derive(Clone, Debug)]
pub(crate) struct Checks(Box<[Check]>);

impl Checks {
    pub(crate) fn compile(conditions: &[Condition]) -> Self {
        let mut checks: Vec<Check> = conditions.iter().map(Check::compile).collect();
        checks.sort_by_key(Check::cost);
        Checks(checks.into_boxed_slice())
    }

    #[inline]
    pub(crate) fn hold(&self, f: &Facts<'_>) -> bool {
        self.0.iter().all(|c| c.holds(f))
    }
}

/// An inclusive date window; either end may be open.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub(crate) from: Option<NaiveDate>,
    pub(crate) until: Option<NaiveDate>,
}

impl Window {
    #[inline]
    pub(crate) fn contains(&self, d: NaiveDate) -> bool {
        self.from.is_none_or(|f| f <= d) && self.until.is_none_or(|u| d <= u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn cents_rounding() {
        assert_eq!(cents_floor(d("500")), 50000);
        assert_eq!(cents_floor(d("500.5")), 50050);
        assert_eq!(cents_floor(d("500.001")), 50000);
        assert_eq!(cents_ceil(d("500.001")), 50001);
        assert_eq!(cents_ceil(d("500.00")), 50000);
        assert_eq!(cents_floor(d("-0.001")), -1);
        assert_eq!(cents_ceil(d("-0.001")), 0);
    }

    #[test]
    fn ranges_merge() {
        let r = RangeSet::new(vec![(5, 9), (1, 3), (4, 4), (20, 10), (12, 15)], false);
        assert_eq!(&*r.ranges, &[(1, 9), (12, 15)]);
        assert!(r.holds(1) && r.holds(9) && r.holds(12) && !r.holds(10) && !r.holds(16));
        let n = RangeSet::new(vec![(5, 9)], true);
        assert!(n.holds(4) && !n.holds(5));
        let empty = RangeSet::new(vec![], false);
        assert!(!empty.holds(0));
    }
}
