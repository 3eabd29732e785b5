//! Properties of the engine: exact half-even rounding, the reference tiers at their boundaries,
//! the reversal caps, every condition operator against a plain reference implementation, and
//! the winner order.

use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use spend_domain::config::Config;
use spend_domain::eval::{DeadLetterReason, Outcome, Reward};
use spend_domain::ledger::MemoryLedger;
use spend_domain::money::{round2, round2_ratio};
use spend_domain::rules::RuleSet;
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind,
};
use spend_testkit::fixtures::SPEC_EXAMPLES as EXAMPLES;
use uuid::Uuid;

fn reference_rules() -> RuleSet {
    let text = std::fs::read_to_string(format!("{EXAMPLES}/reference-config.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let config = Config::from_json(&v, &mut || unreachable!()).unwrap();
    RuleSet::compile(&config, 1).unwrap()
}

fn compile(v: Value) -> RuleSet {
    let mut n = 0x1000u128;
    let mut next = || {
        n += 1;
        Uuid::from_u128(n)
    };
    let config = Config::from_json(&v, &mut next).unwrap_or_else(|e| panic!("{e}\n{v:#}"));
    RuleSet::compile(&config, 1).unwrap()
}

fn cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

struct Tx {
    n: u128,
    card: u128,
    program: &'static str,
    merchant: String,
    mcc: u16,
    currency: &'static str,
    amount_cents: i64,
    date: NaiveDate,
    kind: TxKind,
}

impl Default for Tx {
    fn default() -> Self {
        Tx {
            n: 1,
            card: 0xa1,
            program: "p",
            merchant: "Shop".into(),
            mcc: 5999,
            currency: "SGD",
            amount_cents: 100,
            date: NaiveDate::from_ymd_opt(2024, 5, 2).unwrap(),
            kind: TxKind::Purchase,
        }
    }
}

impl Tx {
    fn build(&self) -> Transaction {
        Transaction {
            id: RecordId(Uuid::from_u128(self.n)),
            transaction_id: format!("T{}", self.n),
            merchant: self.merchant.clone(),
            mcc: Mcc::new(self.mcc).unwrap(),
            currency: CurrencyCode::parse(self.currency).unwrap(),
            amount: Amount::new(cents(self.amount_cents)).unwrap(),
            transaction_date: self.date,
            card_id: CardId(Uuid::from_u128(self.card)),
            card_pan: MaskedPan::mask("4111111111111111").unwrap(),
            card_type: ProgramId::parse(self.program).unwrap(),
            kind: self.kind,
        }
    }
}

fn rewarded(o: Outcome) -> Reward {
    match o {
        Outcome::Rewarded(r) => r,
        other => panic!("expected a reward, got {other:?}"),
    }
}

/// Well-formed output money: scale 2 and never `-0.00`.
fn well_formed(x: Decimal) -> bool {
    x.scale() == 2 && !(x.is_zero() && x.is_sign_negative())
}

// --- rounding ----------------------------------------------------------------------------------

/// `n / q` rounded half to even, for q > 0: the plain reference.
fn half_even(n: i128, q: i128) -> i128 {
    let (mut quo, rem) = (n.div_euclid(q), n.rem_euclid(q));
    if 2 * rem > q || (2 * rem == q && quo % 2 != 0) {
        quo += 1;
    }
    quo
}

proptest! {
    #[test]
    fn round2_is_exact_half_even(m in -10_000_000_000i64..10_000_000_000, scale in 0u32..=8) {
        let x = Decimal::new(m, scale);
        let r = round2(x);
        prop_assert!(well_formed(r));
        let expected = if scale <= 2 {
            i128::from(m) * 10i128.pow(2 - scale)
        } else {
            half_even(i128::from(m), 10i128.pow(scale - 2))
        };
        prop_assert_eq!(r.mantissa(), expected);
        prop_assert!((x - r).abs() <= d("0.005"));
        if (x - r).abs() == d("0.005") {
            prop_assert_eq!(r.mantissa() % 2, 0, "a tie goes to the even cent");
        }
        prop_assert_eq!(round2(r), r);
        prop_assert_eq!(round2(-x), round2(-r));
    }

    #[test]
    fn round2_ratio_rounds_the_exact_fraction_once(
        r in 0i64..10_000_000_000,
        amount in 1i64..100_000_000_000,
        a in 1i64..100_000_000_000,
    ) {
        let got = round2_ratio(cents(r), cents(amount), cents(a)).unwrap();
        prop_assert!(well_formed(got));
        let n = i128::from(r) * i128::from(amount);
        prop_assert_eq!(got.mantissa(), half_even(n, i128::from(a)));
    }
}

// --- the reference tiers -----------------------------------------------------------------------

fn freedom_tier(amount_sgd: Decimal) -> (u128, &'static str) {
    if amount_sgd > d("2000") {
        (0x2001, "3")
    } else if amount_sgd > d("500") {
        (0x2002, "1")
    } else {
        (0x2003, "0.5")
    }
}

fn campaign_id(n: u128) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | n)
}

#[test]
fn freedom_tier_boundaries() {
    let rules = reference_rules();
    let ledger = MemoryLedger::new();
    for (amount, base, reward) in [
        (50_000, 0x2003, "2.50"),
        (50_001, 0x2002, "5.00"),
        (200_000, 0x2002, "20.00"),
        (200_001, 0x2001, "60.00"),
        (100, 0x2003, "0.00"),
        (300, 0x2003, "0.02"),
    ] {
        let tx = Tx {
            program: "scis_freedom",
            amount_cents: amount,
            ..Tx::default()
        };
        let r = rewarded(rules.evaluate(&tx.build(), &ledger));
        assert_eq!(r.base_campaign, Some(campaign_id(base)), "{amount}");
        assert_eq!(r.reward.to_string(), reward, "{amount}");
    }
}

const ONLINE: [u16; 6] = [5399, 5411, 5311, 5691, 5964, 5999];
const EXCLUDED: [u16; 3] = [6051, 9399, 6540];

proptest! {
    #[test]
    fn freedom_tiers(
        amount in prop_oneof![1i64..1_000_000, 49_990i64..=50_010, 199_990i64..=200_010, 37_030i64..=37_040],
        usd in any::<bool>(),
    ) {
        let rules = reference_rules();
        let tx = Tx {
            program: "scis_freedom",
            amount_cents: amount,
            currency: if usd { "USD" } else { "SGD" },
            mcc: 5411,
            ..Tx::default()
        };
        let r = rewarded(rules.evaluate(&tx.build(), &MemoryLedger::new()));
        let amount_sgd = if usd { round2(cents(amount) * d("1.35")) } else { cents(amount) };
        prop_assert_eq!(r.amount_sgd, Some(amount_sgd));
        let (base, rate) = freedom_tier(amount_sgd);
        prop_assert_eq!(r.base_campaign, Some(campaign_id(base)));
        prop_assert_eq!(r.reward, round2(amount_sgd * d(rate) / d("100")));
        prop_assert!(well_formed(r.reward));
        prop_assert_eq!(r.unit.as_str(), "cashback");
    }

    #[test]
    fn shopping_mcc_ranges(mcc in prop_oneof![1u16..=9999, 4990u16..=5010, 5810u16..=5820, 5990u16..=6010], amount in 1i64..1_000_000) {
        let rules = reference_rules();
        let tx = Tx { program: "scis_shopping", mcc, amount_cents: amount, ..Tx::default() };
        let r = rewarded(rules.evaluate(&tx.build(), &MemoryLedger::new()));
        if EXCLUDED.contains(&mcc) {
            prop_assert_eq!(r.reward, cents(0));
            prop_assert_eq!(r.base_campaign, None);
            prop_assert!(r.remark.starts_with("excluded: "));
            return Ok(());
        }
        let (base, rate) = if ONLINE.contains(&mcc) || (5815..=5818).contains(&mcc) {
            (0x1001, 10)
        } else if (5000..=5999).contains(&mcc) {
            (0x1002, 4)
        } else {
            (0x1003, 1)
        };
        prop_assert_eq!(r.base_campaign, Some(campaign_id(base)));
        prop_assert_eq!(r.reward, round2(cents(amount) * Decimal::from(rate)));
        prop_assert!(well_formed(r.reward));
    }
}

// --- reversals ---------------------------------------------------------------------------------

proptest! {
    #[test]
    fn reversals_never_take_back_more_than_was_earned(
        amount in 1i64..10_000_000_000,
        returns in prop::collection::vec((0u8..4, 1i64..10_000_000_000), 1..8),
    ) {
        let rules = reference_rules();
        let mut ledger = MemoryLedger::new();
        let purchase = Tx { program: "scis_premiummiles", mcc: 4121, amount_cents: amount, ..Tx::default() };
        let purchase = purchase.build();
        let outcome = rules.evaluate(&purchase, &ledger);
        ledger.record(&purchase, &outcome);
        let r = rewarded(outcome).reward;
        prop_assert_eq!(r, round2(cents(amount) * d("1.1")));

        let mut taken = Decimal::ZERO;
        for (i, (shape, x)) in returns.into_iter().enumerate() {
            // Partial (any size), the whole amount, or more than it.
            let back = match shape {
                0 => x % amount + 1,
                1 => amount,
                2 => (amount + x).min(100_000_000_000),
                _ => (x % 100).min(amount - 1).max(1),
            };
            let tx = Tx {
                n: 100 + i as u128,
                program: "scis_unknowncard",
                mcc: 4121,
                amount_cents: back,
                kind: TxKind::Reversal { original_id: purchase.id },
                ..Tx::default()
            }
            .build();
            let outcome = rules.evaluate(&tx, &ledger);
            ledger.record(&tx, &outcome);
            let rev = rewarded(outcome);
            prop_assert!(well_formed(rev.reward), "{}", rev.reward);
            prop_assert!(rev.reward <= Decimal::ZERO);
            let v = if back >= amount {
                r
            } else {
                Decimal::new(half_even(i128::from(r.mantissa() as i64) * i128::from(back), i128::from(amount)) as i64, 2)
            };
            prop_assert_eq!(-rev.reward, v.min(r - taken));
            taken += -rev.reward;
            prop_assert!(taken <= r);
            prop_assert_eq!(rev.unit.as_str(), "miles");
            prop_assert_eq!(rev.amount_sgd, None);
            prop_assert_eq!(rev.remark.as_str(), "reversal");
            prop_assert_eq!(rev.reversal_of, Some(purchase.id));
            prop_assert_eq!((rev.base_campaign, rev.promo_campaign), (None, None));
        }
    }
}

#[test]
fn once_only_and_reversal_checks() {
    let rules = reference_rules();
    let mut ledger = MemoryLedger::new();
    let purchase = Tx {
        program: "scis_premiummiles",
        currency: "USD",
        amount_cents: 10_000,
        ..Tx::default()
    }
    .build();
    let first = rules.evaluate(&purchase, &ledger);
    ledger.record(&purchase, &first);
    // A rewarded id is final, whatever the new copy says.
    let mut again = purchase.clone();
    again.amount = Amount::new(cents(1)).unwrap();
    assert_eq!(rules.evaluate(&again, &ledger), Outcome::Duplicate);

    let reversal = |n: u128, card: u128, currency: &'static str, original: RecordId| {
        Tx {
            n,
            card,
            currency,
            program: "scis_premiummiles",
            kind: TxKind::Reversal {
                original_id: original,
            },
            ..Tx::default()
        }
        .build()
    };
    let dead = |o: Outcome| match o {
        Outcome::DeadLetter(r) => r,
        other => panic!("expected a dead letter, got {other:?}"),
    };
    // Another card's purchase is not found.
    let other_card = reversal(10, 0xb2, "USD", purchase.id);
    assert_eq!(
        dead(rules.evaluate(&other_card, &ledger)),
        DeadLetterReason::OriginalNotFound
    );
    // Currencies must match.
    let sgd = reversal(11, 0xa1, "SGD", purchase.id);
    assert_eq!(
        dead(rules.evaluate(&sgd, &ledger)),
        DeadLetterReason::CurrencyMismatch
    );
    // A rewarded reversal cannot itself be reversed.
    let ok = reversal(12, 0xa1, "USD", purchase.id);
    let outcome = rules.evaluate(&ok, &ledger);
    assert_eq!(rewarded(outcome.clone()).reward.to_string(), "-2.97");
    ledger.record(&ok, &outcome);
    let of_reversal = reversal(13, 0xa1, "USD", ok.id);
    assert_eq!(
        dead(rules.evaluate(&of_reversal, &ledger)),
        DeadLetterReason::OriginalNotFound
    );

    // A dead letter is not final: the same id is processed anew once the program exists.
    let orphan = Tx {
        n: 20,
        program: "scis_new",
        ..Tx::default()
    }
    .build();
    let outcome = rules.evaluate(&orphan, &ledger);
    assert_eq!(dead(outcome.clone()), DeadLetterReason::UnknownProgram);
    ledger.record(&orphan, &outcome);
    let with_program = compile(json!({
        "programs": [{"id": "scis_new", "name": "New", "unit": "points"}],
        "campaigns": [{"name": "All", "program": "scis_new", "kind": "base", "priority": 1,
                       "conditions": [], "rate": "2"}]
    }));
    let r = rewarded(with_program.evaluate(&orphan, &ledger));
    assert_eq!(r.reward.to_string(), "2.00");
    assert_eq!(r.remark, "All");

    // No FX rate: a dead letter.
    let thb = Tx {
        n: 21,
        program: "scis_premiummiles",
        currency: "THB",
        ..Tx::default()
    }
    .build();
    assert_eq!(
        dead(rules.evaluate(&thb, &ledger)),
        DeadLetterReason::NoFxRate
    );
}

// --- conditions against a reference implementation ------------------------------------------

const FIELDS: [&str; 7] = [
    "mcc",
    "merchant",
    "currency",
    "foreign",
    "amount",
    "amount_sgd",
    "weekday",
];
const CURRENCIES: [&str; 5] = ["SGD", "USD", "EUR", "JPY", "MYR"];
const FX: [(&str, &str); 4] = [
    ("USD", "1.35"),
    ("EUR", "1.46"),
    ("JPY", "0.0091"),
    ("MYR", "0.29"),
];
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MERCHANTS: [&str; 12] = [
    "Grab",
    "grab",
    " GRAB ",
    "GrabFood",
    "Shopee",
    "İstanbul Kebab",
    "istanbul",
    "ΣΊΣΥΦΟΣ",
    "σίσυφος",
    "Kaligo.com",
    "ka",
    "Straße",
];

fn ops(field: &str) -> &'static [&'static str] {
    match field {
        "mcc" | "amount" | "amount_sgd" => &[
            "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between",
        ],
        "merchant" => &["eq", "ne", "in", "not_in", "contains"],
        "currency" | "weekday" => &["eq", "ne", "in", "not_in"],
        _ => &["eq", "ne"],
    }
}

/// Raw random material for one value.
#[derive(Clone, Debug)]
struct Atom {
    mcc: u16,
    cents: i64,
    pick: usize,
    digits: u8,
    number: bool,
}

fn mcc_strategy() -> impl Strategy<Value = u16> {
    prop_oneof![1u16..=12, 4995u16..=5005, 9990u16..=9999]
}

/// Amounts in cents from a small universe, so that transactions and conditions often meet.
fn cents_strategy() -> impl Strategy<Value = i64> {
    prop_oneof![1i64..=12, 95i64..=105, 1990i64..=2010, 1i64..=4000]
}

fn atom() -> impl Strategy<Value = Atom> {
    (
        mcc_strategy(),
        cents_strategy(),
        0usize..1000,
        0u8..3,
        any::<bool>(),
    )
        .prop_map(|(mcc, cents, pick, digits, number)| Atom {
            mcc,
            cents,
            pick,
            digits,
            number,
        })
}

/// A decimal written with 0, 1 or 2 fractional digits when exact, as a string or a JSON number.
fn decimal_json(cents: i64, digits: u8, number: bool) -> Value {
    let text = match digits {
        0 if cents % 100 == 0 => format!("{}", cents / 100),
        1 if cents % 10 == 0 => format!("{}.{}", cents / 100, (cents % 100) / 10),
        _ => format!("{}.{:02}", cents / 100, cents % 100),
    };
    if number {
        serde_json::from_str(&text).unwrap()
    } else {
        json!(text)
    }
}

fn scalar(field: &str, a: &Atom) -> Value {
    match field {
        "mcc" => json!(a.mcc),
        "merchant" => json!(MERCHANTS[a.pick % MERCHANTS.len()]),
        "currency" => json!(CURRENCIES[a.pick % CURRENCIES.len()]),
        "weekday" => json!(DAYS[a.pick % DAYS.len()]),
        "foreign" => json!(a.number),
        _ => decimal_json(a.cents, a.digits, a.number),
    }
}

fn list_item(field: &str, a: &Atom) -> Value {
    if field == "mcc" && a.digits == 0 {
        let hi = (a.mcc as usize + a.pick % 8).min(9999);
        return json!([a.mcc, hi]);
    }
    scalar(field, a)
}

#[derive(Clone, Debug)]
struct Spec {
    field: &'static str,
    op: &'static str,
    value: Value,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0usize..FIELDS.len(),
        0usize..100,
        prop::collection::vec(atom(), 1..5),
    )
        .prop_map(|(f, o, atoms)| {
            let field = FIELDS[f];
            let op = ops(field)[o % ops(field).len()];
            let value = match op {
                "in" | "not_in" => {
                    Value::Array(atoms.iter().map(|a| list_item(field, a)).collect())
                }
                "between" => {
                    let b = atoms.get(1).unwrap_or(&atoms[0]);
                    let (mut lo, mut hi) = (atoms[0].clone(), b.clone());
                    if field == "mcc" && lo.mcc > hi.mcc || field != "mcc" && lo.cents > hi.cents {
                        std::mem::swap(&mut lo, &mut hi);
                    }
                    json!([scalar(field, &lo), scalar(field, &hi)])
                }
                _ => scalar(field, &atoms[0]),
            };
            Spec { field, op, value }
        })
}

/// The facts of a transaction, computed the plain way.
struct Facts {
    mcc: u16,
    merchant: String,
    currency: &'static str,
    amount: Decimal,
    amount_sgd: Decimal,
    weekday: &'static str,
}

fn number(v: &Value) -> Decimal {
    match v {
        Value::String(s) => d(s),
        Value::Number(n) => d(&n.to_string()),
        other => panic!("not a number: {other}"),
    }
}

fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

/// REWARDS.md §2, read literally.
fn reference_holds(s: &Spec, f: &Facts) -> bool {
    let v = &s.value;
    match s.field {
        "mcc" | "amount" | "amount_sgd" => {
            let x = match s.field {
                "mcc" => Decimal::from(f.mcc),
                "amount" => f.amount,
                _ => f.amount_sgd,
            };
            let member = |items: &Vec<Value>| {
                items.iter().any(|e| match e {
                    Value::Array(r) => number(&r[0]) <= x && x <= number(&r[1]),
                    e => number(e) == x,
                })
            };
            match s.op {
                "eq" => x == number(v),
                "ne" => x != number(v),
                "gt" => x > number(v),
                "gte" => x >= number(v),
                "lt" => x < number(v),
                "lte" => x <= number(v),
                "in" => member(v.as_array().unwrap()),
                "not_in" => !member(v.as_array().unwrap()),
                "between" => number(&v[0]) <= x && x <= number(&v[1]),
                op => panic!("{op}"),
            }
        }
        "merchant" => {
            let m = norm(&f.merchant);
            let member = || {
                v.as_array()
                    .unwrap()
                    .iter()
                    .any(|e| norm(e.as_str().unwrap()) == m)
            };
            match s.op {
                "eq" => m == norm(v.as_str().unwrap()),
                "ne" => m != norm(v.as_str().unwrap()),
                "in" => member(),
                "not_in" => !member(),
                "contains" => m.contains(&norm(v.as_str().unwrap())),
                op => panic!("{op}"),
            }
        }
        "foreign" => {
            let foreign = f.currency != "SGD";
            match s.op {
                "eq" => foreign == v.as_bool().unwrap(),
                _ => foreign != v.as_bool().unwrap(),
            }
        }
        field => {
            let x = if field == "currency" {
                f.currency
            } else {
                f.weekday
            };
            let member = || v.as_array().unwrap().iter().any(|e| e.as_str() == Some(x));
            match s.op {
                "eq" => v.as_str() == Some(x),
                "ne" => v.as_str() != Some(x),
                "in" => member(),
                _ => !member(),
            }
        }
    }
}

fn config_with(conditions: &[Spec]) -> Value {
    let conditions: Vec<Value> = conditions
        .iter()
        .map(|s| json!({"field": s.field, "op": s.op, "value": s.value}))
        .collect();
    let fx: Vec<Value> = FX
        .iter()
        .map(|(c, r)| json!({"currency": c, "rate": r}))
        .collect();
    json!({
        "programs": [{"id": "p", "name": "P", "unit": "points"}],
        "fx_rates": fx,
        "campaigns": [{"name": "C", "program": "p", "kind": "base", "priority": 0,
                       "conditions": conditions, "rate": "1"}],
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn conditions_match_the_reference(
        specs in prop::collection::vec(spec(), 1..4),
        mcc in mcc_strategy(),
        merchant in 0usize..MERCHANTS.len(),
        currency in 0usize..CURRENCIES.len(),
        amount in cents_strategy(),
        day in 0i64..14,
    ) {
        let rules = compile(config_with(&specs));
        let tx = Tx {
            merchant: MERCHANTS[merchant].trim().to_owned(),
            mcc,
            currency: CURRENCIES[currency],
            amount_cents: amount,
            date: NaiveDate::from_ymd_opt(2024, 5, 1).unwrap() + chrono::Days::new(day as u64),
            ..Tx::default()
        };
        let rate = FX.iter().find(|(c, _)| *c == tx.currency).map_or(Decimal::ONE, |(_, r)| d(r));
        let facts = Facts {
            mcc,
            merchant: tx.merchant.clone(),
            currency: tx.currency,
            amount: cents(amount),
            amount_sgd: round2(cents(amount) * rate),
            weekday: DAYS[tx.date.weekday().num_days_from_monday() as usize],
        };
        let want = specs.iter().all(|s| reference_holds(s, &facts));
        let r = rewarded(rules.evaluate(&tx.build(), &MemoryLedger::new()));
        prop_assert_eq!(r.base_campaign.is_some(), want, "{:?}", specs);
        prop_assert_eq!(r.amount_sgd, Some(facts.amount_sgd));
    }

    #[test]
    fn exclusions_use_the_same_conditions(spec in spec(), mcc in mcc_strategy(), amount in cents_strategy()) {
        let mut config = config_with(&[]);
        config["exclusions"] = json!([{"name": "X", "programs": null, "conditions":
            [{"field": spec.field, "op": spec.op, "value": spec.value}]}]);
        let rules = compile(config);
        let tx = Tx { mcc, amount_cents: amount, merchant: "Grab".into(), ..Tx::default() };
        let facts = Facts {
            mcc,
            merchant: tx.merchant.clone(),
            currency: "SGD",
            amount: cents(amount),
            amount_sgd: cents(amount),
            weekday: "thu",
        };
        let r = rewarded(rules.evaluate(&tx.build(), &MemoryLedger::new()));
        prop_assert_eq!(r.remark == "excluded: X", reference_holds(&spec, &facts), "{:?}", spec);
    }
}

// --- winner order ------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Candidate {
    id: u128,
    promo: bool,
    priority: i64,
    rate: &'static str,
    start: Option<i64>,
    end: Option<i64>,
}

const RATES: [&str; 5] = ["1", "1.0", "2", "0.5", "1.00"];

fn candidate() -> impl Strategy<Value = Candidate> {
    (
        1u128..40,
        any::<bool>(),
        -1i64..2,
        0usize..RATES.len(),
        prop::option::of(-3i64..3),
        prop::option::of(-3i64..3),
    )
        .prop_map(|(id, promo, priority, r, start, end)| {
            let (start, end) = match (start, end) {
                (Some(s), Some(e)) if s > e => (Some(e), Some(s)),
                other => other,
            };
            Candidate {
                id,
                promo,
                priority,
                rate: RATES[r],
                start,
                end,
            }
        })
}

proptest! {
    #[test]
    fn the_winner_is_the_highest_priority_then_rate_then_smallest_id(
        mut candidates in prop::collection::vec(candidate(), 0..8),
        cashback in any::<bool>(),
        amount in 1i64..100_000,
    ) {
        candidates.sort_by_key(|c| c.id);
        candidates.dedup_by_key(|c| c.id);
        let today = NaiveDate::from_ymd_opt(2024, 6, 15).unwrap();
        let day = |o: Option<i64>| o.map(|n| (today + chrono::TimeDelta::days(n)).to_string());
        let campaigns: Vec<Value> = candidates.iter().map(|c| json!({
            "id": Uuid::from_u128(c.id).to_string(),
            "name": format!("c{}", c.id),
            "program": "p",
            "kind": if c.promo { "promo" } else { "base" },
            "priority": c.priority,
            "start_date": day(c.start),
            "end_date": day(c.end),
            "conditions": [],
            "rate": c.rate,
        })).collect();
        let unit = if cashback { "cashback" } else { "points" };
        let rules = compile(json!({
            "programs": [{"id": "p", "name": "P", "unit": unit}],
            "campaigns": campaigns,
        }));
        let tx = Tx { amount_cents: amount, date: today, ..Tx::default() };
        let r = rewarded(rules.evaluate(&tx.build(), &MemoryLedger::new()));

        let winner = |promo: bool| {
            candidates
                .iter()
                .filter(|c| c.promo == promo)
                .filter(|c| c.start.is_none_or(|s| s <= 0) && c.end.is_none_or(|e| e >= 0))
                .max_by(|a, b| {
                    a.priority
                        .cmp(&b.priority)
                        .then(d(a.rate).cmp(&d(b.rate)))
                        .then(b.id.cmp(&a.id))
                })
        };
        let (base, promo) = (winner(false), winner(true));
        prop_assert_eq!(r.base_campaign, base.map(|c| Uuid::from_u128(c.id)));
        prop_assert_eq!(r.promo_campaign, promo.map(|c| Uuid::from_u128(c.id)));
        let value = |c: Option<&Candidate>| c.map_or(Decimal::ZERO, |c| {
            let v = cents(amount) * d(c.rate);
            round2(if cashback { v / d("100") } else { v })
        });
        prop_assert_eq!(r.reward, value(base) + value(promo));
        prop_assert!(well_formed(r.reward));
        let names: Vec<String> = [base, promo].iter().flatten().map(|c| format!("c{}", c.id)).collect();
        let remark = if names.is_empty() { "no campaign matched".to_owned() } else { names.join(" + ") };
        prop_assert_eq!(r.remark, remark);
    }
}
