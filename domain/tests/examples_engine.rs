//! The normative examples (`shared/spec/examples`) through the configuration parser, the rule
//! compiler and the engine: `reference-config.json` + `example-campaigns.json`, every row of
//! `transactions.csv` in file order against one in-memory ledger, compared with `expected.csv`.
//!
//! The rows are built straight from their columns here (every example row is valid); the CSV
//! validation itself is tested on its own.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;
use spend_domain::config::Config;
use spend_domain::eval::Outcome;
use spend_domain::ledger::MemoryLedger;
use spend_domain::rules::RuleSet;
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind,
};

use spend_testkit::fixtures::SPEC_EXAMPLES as EXAMPLES;

fn read(name: &str) -> String {
    let path = format!("{EXAMPLES}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn json(name: &str) -> Value {
    serde_json::from_str(&read(name)).expect("valid json")
}

fn no_ids() -> uuid::Uuid {
    panic!("every example object has an id")
}

fn config(name: &str) -> Config {
    Config::from_json(&json(name), &mut no_ids).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn rules() -> RuleSet {
    // The promotions name the reference programs: alone they are only a part of a configuration.
    let promos = Config::fragment_from_json(&json("example-campaigns.json"), &mut no_ids)
        .expect("example-campaigns.json");
    assert!(Config::from_json(&json("example-campaigns.json"), &mut no_ids).is_err());
    let merged = config("reference-config.json").merge(promos);
    RuleSet::compile(&merged, 7).expect("the examples compile")
}

fn transaction(r: &csv::StringRecord) -> Transaction {
    let col = |i: usize| r.get(i).expect("column").trim();
    let kind = match col(10) {
        "" | "purchase" => TxKind::Purchase,
        "reversal" => TxKind::Reversal {
            original_id: RecordId::parse(col(11)).expect("original_id"),
        },
        other => panic!("type {other}"),
    };
    Transaction {
        id: RecordId::parse(col(0)).expect("id"),
        transaction_id: col(1).to_owned(),
        merchant: col(2).to_owned(),
        mcc: Mcc::new(col(3).parse().expect("mcc")).expect("mcc"),
        currency: CurrencyCode::parse(col(4)).expect("currency"),
        amount: Amount::new(Decimal::from_str(col(5)).expect("amount")).expect("amount"),
        transaction_date: col(6).parse().expect("date"),
        card_id: CardId::parse(col(7)).expect("card_id"),
        card_pan: MaskedPan::mask(col(8)).expect("pan"),
        card_type: ProgramId::parse(col(9)).expect("card_type"),
        kind,
    }
}

/// The `expected.csv` columns after `id`.
fn result_row(outcome: &Outcome) -> Vec<String> {
    let id = |u: Option<uuid::Uuid>| u.map(|u| u.hyphenated().to_string()).unwrap_or_default();
    match outcome {
        Outcome::Rewarded(r) => vec![
            "rewarded".into(),
            r.reward.to_string(),
            r.unit.to_string(),
            r.amount_sgd.map(|d| d.to_string()).unwrap_or_default(),
            id(r.base_campaign),
            id(r.promo_campaign),
            r.remark.clone(),
        ],
        Outcome::DeadLetter(reason) => {
            let mut row = vec!["dead_letter".to_owned()];
            row.extend(std::iter::repeat_n(String::new(), 5));
            row.push(reason.to_string());
            row
        }
        Outcome::Duplicate => {
            let mut row = vec!["duplicate".to_owned()];
            row.extend(std::iter::repeat_n(String::new(), 6));
            row
        }
    }
}

fn records(name: &str) -> Vec<csv::StringRecord> {
    let text = read(name);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .records()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn transactions_give_the_expected_results() {
    let rules = rules();
    let input = records("transactions.csv");
    let expected = records("expected.csv");
    assert_eq!(input.len(), expected.len(), "one result per row");

    let mut ledger = MemoryLedger::new();
    let mut failures = Vec::new();
    for (row, want) in input.iter().zip(&expected) {
        let tx = transaction(row);
        let outcome = rules.evaluate(&tx, &ledger);
        ledger.record(&tx, &outcome);
        if let Outcome::Rewarded(r) = &outcome {
            assert_eq!(r.config_revision, 7);
            assert_eq!(r.reward.scale(), 2, "{}: reward scale", tx.id);
        }
        let mut got = vec![tx.id.to_string()];
        got.extend(result_row(&outcome));
        let want: Vec<String> = want.iter().map(str::to_owned).collect();
        if got != want {
            failures.push(format!("want {want:?}\n got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn results_do_not_depend_on_the_order_across_cards() {
    // Within a card the file order holds; across cards any interleaving gives the same outcomes.
    let rules = rules();
    let input = records("transactions.csv");
    let expected = records("expected.csv");
    let mut order: Vec<usize> = (0..input.len()).collect();
    // Cards in reverse order of first appearance, each card's rows in file order.
    order.sort_by_key(|&i| std::cmp::Reverse(input[i].get(7).unwrap().to_owned()));
    let mut ledger = MemoryLedger::new();
    for i in order {
        let tx = transaction(&input[i]);
        let outcome = rules.evaluate(&tx, &ledger);
        ledger.record(&tx, &outcome);
        let mut got = vec![tx.id.to_string()];
        got.extend(result_row(&outcome));
        let want: Vec<String> = expected[i].iter().map(str::to_owned).collect();
        assert_eq!(got, want, "row {}", i + 2);
    }
}

#[test]
fn the_reference_config_alone_has_no_promotions() {
    let rules = RuleSet::compile(&config("reference-config.json"), 1).unwrap();
    let input = records("transactions.csv");
    let shopee = input
        .iter()
        .map(transaction)
        .find(|t| t.merchant == "Shopee")
        .unwrap();
    let Outcome::Rewarded(r) = rules.evaluate(&shopee, &MemoryLedger::new()) else {
        panic!("rewarded");
    };
    assert_eq!(r.promo_campaign, None);
    assert_eq!(r.remark, "Shopping: online spend");
}
