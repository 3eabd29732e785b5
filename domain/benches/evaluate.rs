//! `RuleSet::evaluate` per transaction: the reference configuration plus 100 generated
//! promotions, over a few thousand varied transactions, against a ledger that knows nothing.
//!
//! Reports time per evaluation; it asserts nothing about wall-clock time.

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use spend_domain::config::Config;
use spend_domain::ledger::{Ledger, OriginalPurchase, Prior};
use spend_domain::rules::RuleSet;
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind,
};
use uuid::Uuid;

const REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/spec/examples/reference-config.json"
);

/// A ledger with no history: every record is new.
struct NoHistory;

impl Ledger for NoHistory {
    fn prior(&self, _: RecordId) -> Option<Prior> {
        None
    }
    fn original(&self, _: CardId, _: RecordId) -> Option<OriginalPurchase> {
        None
    }
}

/// A small deterministic generator (xorshift64*), so the bench needs no extra dependency.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const PROGRAMS: [&str; 4] = [
    "scis_shopping",
    "scis_freedom",
    "scis_premiummiles",
    "scis_platinummiles",
];
const MERCHANTS: [&str; 16] = [
    "Amazon.sg",
    "Shopee",
    "Lazada",
    "Grab Transport",
    "GrabFood",
    "Cold Storage",
    "NTUC FairPrice",
    "Shell",
    "Starbucks",
    "Kaligo.com",
    "Marriott",
    "Hilton Tokyo",
    "Din Tai Fung",
    "Uniqlo",
    "Apple Store",
    "Singapore Airlines",
];
const MCCS: [u16; 16] = [
    5999, 5399, 5411, 4121, 5812, 5542, 5814, 4722, 7011, 3504, 5651, 5732, 3001, 6051, 5311, 7995,
];
const CURRENCIES: [&str; 10] = [
    "SGD", "SGD", "SGD", "SGD", "SGD", "SGD", "USD", "EUR", "JPY", "MYR",
];
const WORDS: [&str; 8] = [
    "grab", "shop", "kaligo", "air", "star", "fair", "apple", "hotel",
];

/// 100 promotions spread over the reference programs, with the usual kinds of conditions.
fn promotions() -> Vec<Value> {
    (0..100u128)
        .map(|i| {
            let n = i as usize;
            let conditions = match n % 5 {
                0 => json!([
                    {"field": "merchant", "op": "contains", "value": WORDS[n % WORDS.len()]},
                    {"field": "amount_sgd", "op": "gte", "value": "50"}
                ]),
                1 => json!([{"field": "mcc", "op": "in",
                              "value": [MCCS[n % 16], MCCS[(n + 3) % 16], [5000 + n, 5010 + n]]}]),
                2 => json!([
                    {"field": "weekday", "op": "in", "value": ["sat", "sun"]},
                    {"field": "merchant", "op": "eq", "value": MERCHANTS[n % 16]}
                ]),
                3 => json!([
                    {"field": "currency", "op": "in", "value": ["USD", "EUR"]},
                    {"field": "amount", "op": "gt", "value": "100"}
                ]),
                _ => json!([{"field": "merchant", "op": "in",
                             "value": [MERCHANTS[n % 16], MERCHANTS[(n + 5) % 16], "Other"]}]),
            };
            let (start, end) = if n.is_multiple_of(3) {
                (
                    json!(format!("2024-{:02}-01", n % 12 + 1)),
                    json!("2024-12-31"),
                )
            } else {
                (Value::Null, Value::Null)
            };
            json!({
                "id": Uuid::from_u128(0x7000_0000 + i).to_string(),
                "name": format!("Promo {i}"),
                "program": PROGRAMS[n % 4],
                "kind": "promo",
                "priority": n % 7,
                "start_date": start,
                "end_date": end,
                "conditions": conditions,
                "rate": format!("{}", n % 9 + 1),
            })
        })
        .collect()
}

fn rules() -> RuleSet {
    let text = std::fs::read_to_string(REFERENCE).expect("reference config");
    let reference: Value = serde_json::from_str(&text).expect("json");
    let mut next = || Uuid::nil();
    let base = Config::from_json(&reference, &mut next).expect("reference config");
    let promos = Config::fragment_from_json(&json!({ "campaigns": promotions() }), &mut next)
        .expect("promotions");
    RuleSet::compile(&base.merge(promos), 1).expect("compiles")
}

fn transactions(n: usize) -> Vec<Transaction> {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    (0..n)
        .map(|i| {
            let program = if g.below(100) == 0 {
                "scis_unknowncard"
            } else {
                *g.pick(&PROGRAMS)
            };
            let cents = if g.below(20) == 0 {
                g.below(100_000_000) + 1
            } else {
                g.below(300_000) + 1
            };
            let kind = if g.below(100) == 0 {
                TxKind::Reversal {
                    original_id: RecordId(Uuid::from_u128(g.next() as u128)),
                }
            } else {
                TxKind::Purchase
            };
            let currency = *g.pick(&CURRENCIES);
            Transaction {
                id: RecordId(Uuid::from_u128(i as u128 + 1)),
                transaction_id: format!("T{i}"),
                merchant: (*g.pick(&MERCHANTS)).to_owned(),
                mcc: Mcc::new(*g.pick(&MCCS)).unwrap(),
                currency: CurrencyCode::parse(currency).unwrap(),
                amount: Amount::new(Decimal::new(cents as i64, 2)).unwrap(),
                transaction_date: start + chrono::Days::new(g.below(366) as u64),
                card_id: CardId(Uuid::from_u128(g.below(500) as u128)),
                card_pan: MaskedPan::mask("4111111111111111").unwrap(),
                card_type: ProgramId::parse(program).unwrap(),
                kind,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rules = rules();
    let txs = transactions(4096);
    let ledger = NoHistory;

    let mut group = c.benchmark_group("evaluate");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_transaction", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % txs.len();
            black_box(rules.evaluate(black_box(&txs[i]), &ledger))
        })
    });
    group.throughput(Throughput::Elements(txs.len() as u64));
    group.bench_function("batch_of_4096", |b| {
        b.iter(|| {
            for tx in &txs {
                black_box(rules.evaluate(black_box(tx), &ledger));
            }
        })
    });
    group.finish();

    c.bench_function("compile/reference_plus_100_promos", |b| {
        let text = std::fs::read_to_string(REFERENCE).unwrap();
        let reference: Value = serde_json::from_str(&text).unwrap();
        let mut next = || Uuid::nil();
        let config = Config::from_json(&reference, &mut next).unwrap().merge(
            Config::fragment_from_json(&json!({ "campaigns": promotions() }), &mut next).unwrap(),
        );
        b.iter(|| black_box(RuleSet::compile(black_box(&config), 1).unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
