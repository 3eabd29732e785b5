//! The cost of missions in the engine: a stream of transactions over many cards, in order, each
//! evaluated, its mission effects computed and both recorded in an in-memory ledger (what
//! `spend eval` and the rewarder do per record) — with no mission, and with 20 active missions
//! (5 per reference program, amount and count targets, the usual conditions).
//!
//! Reports throughput for both in the same run; it asserts nothing about wall-clock time.

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use spend_domain::config::Config;
use spend_domain::ledger::MemoryLedger;
use spend_domain::rules::RuleSet;
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind,
};
use uuid::Uuid;

const REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/spec/examples/reference-config.json"
);

const PROGRAMS: [&str; 4] = [
    "scis_shopping",
    "scis_freedom",
    "scis_premiummiles",
    "scis_platinummiles",
];
const MERCHANTS: [&str; 8] = [
    "Amazon.sg",
    "GrabFood",
    "Cold Storage",
    "Starbucks",
    "Marriott",
    "Din Tai Fung",
    "Uniqlo",
    "Shell",
];
const MCCS: [u16; 8] = [5999, 5812, 5411, 5814, 7011, 5812, 5651, 5542];
const CURRENCIES: [&str; 6] = ["SGD", "SGD", "SGD", "SGD", "USD", "JPY"];

/// xorshift64*: deterministic, no extra dependency.
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
}

fn missions() -> Vec<Value> {
    (0..20u128)
        .map(|i| {
            let n = i as usize;
            let conditions = match n % 4 {
                0 => json!([{"field": "mcc", "op": "in", "value": [[5811, 5814]]}]),
                1 => json!([{"field": "foreign", "op": "eq", "value": true}]),
                2 => json!([{"field": "merchant", "op": "contains", "value": "star"}]),
                _ => json!([]),
            };
            let target = if n.is_multiple_of(2) {
                json!({"amount_sgd": format!("{}", 100 + 50 * n)})
            } else {
                json!({"count": 2 + n % 5})
            };
            json!({
                "id": Uuid::from_u128(0xd000 + i).to_string(),
                "name": format!("Mission {i}"),
                "program": PROGRAMS[n % 4],
                "start_date": "2024-05-01",
                "end_date": null,
                "window_days": 7 + n,
                "target": target,
                "conditions": conditions,
                "reward": "50",
            })
        })
        .collect()
}

fn rules(with_missions: bool) -> RuleSet {
    let text = std::fs::read_to_string(REFERENCE).expect("reference config");
    let reference: Value = serde_json::from_str(&text).expect("json");
    let mut next = || Uuid::nil();
    let mut config = Config::from_json(&reference, &mut next).expect("reference config");
    if with_missions {
        let m = Config::fragment_from_json(&json!({ "missions": missions() }), &mut next)
            .expect("missions");
        config = config.merge(m);
    }
    RuleSet::compile(&config, 1).expect("compiles")
}

/// `n` records over `cards` cards in May 2024; about 3 % are reversals of an earlier purchase of
/// the same card.
fn transactions(n: usize, cards: usize) -> Vec<Transaction> {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let start = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
    let mut last_purchase: Vec<Option<(RecordId, Amount)>> = vec![None; cards];
    (0..n)
        .map(|i| {
            let card = g.below(cards);
            let m = g.below(MERCHANTS.len());
            let currency = CURRENCIES[g.below(CURRENCIES.len())];
            let mut amount = Amount::new(Decimal::new(g.below(20_000) as i64 + 100, 2)).unwrap();
            let kind = match last_purchase[card] {
                Some((original_id, a)) if g.below(33) == 0 => {
                    amount = a;
                    TxKind::Reversal { original_id }
                }
                _ => TxKind::Purchase,
            };
            let id = RecordId(Uuid::from_u128(i as u128 + 1));
            if kind == TxKind::Purchase {
                last_purchase[card] = Some((id, amount));
            }
            Transaction {
                id,
                transaction_id: format!("T{i}"),
                merchant: MERCHANTS[m].to_owned(),
                mcc: Mcc::new(MCCS[m]).unwrap(),
                currency: CurrencyCode::parse(if kind == TxKind::Purchase {
                    currency
                } else {
                    "SGD"
                })
                .unwrap(),
                amount,
                transaction_date: start + chrono::Days::new(g.below(30) as u64),
                card_id: CardId(Uuid::from_u128(card as u128 + 1)),
                card_pan: MaskedPan::mask("4111111111111111").unwrap(),
                card_type: ProgramId::parse(PROGRAMS[card % 4]).unwrap(),
                kind,
            }
        })
        .collect()
}

/// The stream through one fresh ledger, as `spend eval` runs it.
fn run(rules: &RuleSet, txs: &[Transaction]) -> usize {
    let mut ledger = MemoryLedger::with_capacity(txs.len());
    let mut payouts = 0;
    for tx in txs {
        let outcome = rules.evaluate(tx, &ledger);
        let effects = if rules.has_missions() {
            rules.mission_effects(tx, &outcome, &ledger)
        } else {
            Vec::new()
        };
        ledger.record(tx, &outcome);
        payouts += effects.iter().filter(|e| e.payout.is_some()).count();
        ledger.record_missions(effects);
    }
    payouts
}

fn bench(c: &mut Criterion) {
    let txs = transactions(20_000, 2_000);
    let mut group = c.benchmark_group("missions");
    group.throughput(Throughput::Elements(txs.len() as u64));
    group.sample_size(20);
    for (name, with) in [("none", false), ("20_active", true)] {
        let rules = rules(with);
        group.bench_function(format!("stream_of_20000/{name}"), |b| {
            b.iter(|| black_box(run(&rules, black_box(&txs))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
