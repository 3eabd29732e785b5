//! The mission examples (`examples/missions/`) through the real CSV framing, validation, engine
//! and mission evaluation, exactly as `spend eval` runs them: every row in file order against one
//! in-memory ledger, compared with `expected.csv` (record rows and mission payout rows) and
//! `expected-missions.csv` (each card's final state in each mission).

use spend_domain::config::Config;
use spend_domain::csv::CsvReader;
use spend_domain::eval::Outcome;
use spend_domain::ledger::{Ledger, MemoryLedger};
use spend_domain::mission::{payout_id, MissionEffect, MissionStatus, PayoutKind};
use spend_domain::money::fmt2;
use spend_domain::rules::RuleSet;
use spend_domain::transaction::parse_transaction;
use spend_domain::{CardId, Transaction};
use spend_testkit::fixtures::MISSION_EXAMPLES as MISSIONS;
use spend_testkit::fixtures::SPEC_EXAMPLES as SPEC;

fn read(path: String) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn no_ids() -> uuid::Uuid {
    panic!("every example object has an id")
}

fn rules() -> RuleSet {
    let json = |p: String| serde_json::from_str::<serde_json::Value>(&read(p)).unwrap();
    let reference = Config::from_json(&json(format!("{SPEC}/reference-config.json")), &mut no_ids)
        .expect("reference-config.json");
    let missions =
        Config::fragment_from_json(&json(format!("{MISSIONS}/missions.json")), &mut no_ids)
            .expect("missions.json");
    assert_eq!(missions.missions.len(), 4);
    RuleSet::compile(&reference.merge(missions), 0).expect("the examples compile")
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn transactions() -> Vec<Transaction> {
    let text = read(format!("{MISSIONS}/transactions.csv"));
    CsvReader::new(text.as_bytes())
        .map(|row| {
            let raw = row.expect("framed").raw.expect("a valid row");
            parse_transaction(&raw, today()).expect("a valid row")
        })
        .collect()
}

/// The `spend eval` rows for one record and the payouts it caused.
fn rows(tx: &Transaction, outcome: &Outcome, effects: &[MissionEffect]) -> Vec<String> {
    let id = |u: Option<uuid::Uuid>| u.map(|u| u.hyphenated().to_string()).unwrap_or_default();
    let mut out = vec![match outcome {
        Outcome::Rewarded(r) => format!(
            "{},rewarded,{},{},{},{},{},{}",
            tx.id,
            fmt2(r.reward),
            r.unit,
            r.amount_sgd.map(fmt2).unwrap_or_default(),
            id(r.base_campaign),
            id(r.promo_campaign),
            r.remark
        ),
        Outcome::DeadLetter(reason) => format!("{},dead_letter,,,,,,{reason}", tx.id),
        Outcome::Duplicate => format!("{},duplicate,,,,,,", tx.id),
    }];
    for p in effects.iter().filter_map(|e| e.payout.as_ref()) {
        out.push(format!(
            "{},{},{},{},,,,{}",
            p.id,
            p.kind.as_str(),
            fmt2(p.reward),
            p.unit,
            p.remark
        ));
    }
    out
}

fn run(rules: &RuleSet, txs: &[Transaction], ledger: &mut MemoryLedger) -> Vec<String> {
    let mut out = Vec::new();
    for tx in txs {
        let outcome = rules.evaluate(tx, &*ledger);
        let effects = rules.mission_effects(tx, &outcome, &*ledger);
        ledger.record(tx, &outcome);
        out.extend(rows(tx, &outcome, &effects));
        ledger.record_missions(effects);
    }
    out
}

fn states(ledger: &MemoryLedger) -> Vec<String> {
    let mut s: Vec<_> = ledger.mission_states().collect();
    s.sort_by_key(|(c, m, _)| (*c, *m));
    s.into_iter()
        .map(|(card, mission, s)| {
            format!(
                "{card},{},{},{},{},{},{},{},{}",
                mission.hyphenated(),
                s.status(today()).as_str(),
                fmt2(s.progress_amount_sgd),
                s.progress_count,
                s.window_start,
                s.window_end,
                s.completions,
                s.paid
                    .map(|p| p.completed_at.to_string())
                    .unwrap_or_default()
            )
        })
        .collect()
}

fn expected(name: &str) -> Vec<String> {
    read(format!("{MISSIONS}/{name}"))
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_examples_give_the_expected_rows_and_states() {
    let rules = rules();
    let mut ledger = MemoryLedger::new();
    let got = run(&rules, &transactions(), &mut ledger);
    assert_eq!(got, expected("expected.csv"), "\n{}", got.join("\n"));
    let got = states(&ledger);
    assert_eq!(
        got,
        expected("expected-missions.csv"),
        "\n{}",
        got.join("\n")
    );
}

#[test]
fn a_redelivered_file_changes_no_mission() {
    let rules = rules();
    let txs = transactions();
    let mut ledger = MemoryLedger::new();
    run(&rules, &txs, &mut ledger);
    let before = states(&ledger);
    let again = run(&rules, &txs, &mut ledger);
    assert_eq!(states(&ledger), before);
    // Every record is a duplicate or an unchanged dead letter; no payout row appears.
    assert!(again
        .iter()
        .all(|r| r.contains(",duplicate,") || r.contains(",dead_letter,")));
}

#[test]
fn the_order_across_cards_does_not_matter() {
    let rules = rules();
    let txs = transactions();
    let mut in_order = MemoryLedger::new();
    let mut want = run(&rules, &txs, &mut in_order);
    let mut by_card = txs.clone();
    // Stable: each card keeps its file order.
    by_card.sort_by_key(|t| std::cmp::Reverse(t.card_id));
    let mut ledger = MemoryLedger::new();
    let mut got = run(&rules, &by_card, &mut ledger);
    assert_eq!(states(&ledger), states(&in_order));
    want.sort();
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn payouts_carry_the_mission_and_net_at_most_one_reward() {
    let rules = rules();
    let txs = transactions();
    let mut ledger = MemoryLedger::new();
    let mut payouts = Vec::new();
    for tx in &txs {
        let outcome = rules.evaluate(tx, &ledger);
        let effects = rules.mission_effects(tx, &outcome, &ledger);
        ledger.record(tx, &outcome);
        payouts.extend(
            effects
                .iter()
                .filter_map(|e| Some((e.card_id, e.payout.clone()?))),
        );
        ledger.record_missions(effects);
    }
    for (card, p) in &payouts {
        assert_eq!(p.id, payout_id(p.mission_id, *card, p.completion, p.kind));
        assert_eq!(p.reward.scale(), 2);
        assert_eq!(p.kind == PayoutKind::Reward, p.reward.is_sign_positive());
    }
    // Per card and mission, the running net is always 0 or one reward.
    let mut net = std::collections::HashMap::<(CardId, uuid::Uuid), rust_decimal::Decimal>::new();
    for (card, p) in &payouts {
        let n = net.entry((*card, p.mission_id)).or_default();
        *n += p.reward;
        assert!(
            n.is_zero() || *n == p.reward.abs(),
            "{card} {}",
            p.mission_id
        );
    }
    // Card A of the dining mission: paid, clawed back, paid again, clawed back again.
    let card_a = CardId::parse("00000000-0000-4000-9000-00000000ca01").unwrap();
    let dine = uuid::Uuid::parse_str("00000000-0000-4000-9000-00000000d001").unwrap();
    let kinds: Vec<_> = payouts
        .iter()
        .filter(|(c, p)| *c == card_a && p.mission_id == dine)
        .map(|(_, p)| (p.kind, p.completion))
        .collect();
    assert_eq!(
        kinds,
        [
            (PayoutKind::Reward, 1),
            (PayoutKind::Clawback, 1),
            (PayoutKind::Reward, 2),
            (PayoutKind::Clawback, 2)
        ]
    );
    let state = ledger.mission_state(card_a, dine).unwrap();
    assert_eq!(state.status(today()), MissionStatus::InProgress);
}

#[test]
fn a_configuration_names_each_bad_mission_field() {
    let doc = serde_json::json!({
        "programs": [{"id": "p", "name": "P", "unit": "points"}],
        "missions": [
            {"id": "00000000-0000-4000-9000-00000000d001", "name": "ok", "program": "p",
             "start_date": "2024-05-01", "window_days": 7, "target": {"count": 1},
             "conditions": [], "reward": "1"},
            {"id": "00000000-0000-4000-9000-00000000d001", "name": "same id", "program": "q",
             "start_date": "2024-05-01", "window_days": 7, "target": {"count": 1},
             "conditions": [], "reward": "1"},
            {"name": "bad", "program": "p", "start_date": "2024-05-01", "window_days": 0,
             "target": {"amount_sgd": "-1"}, "conditions": [{"field": "mcc", "op": "nope",
             "value": 1}], "reward": "1,5", "extra": 1}
        ]
    });
    let err = Config::from_json(&doc, &mut uuid::Uuid::new_v4).unwrap_err();
    let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "missions[2].extra",
            "missions[2].window_days",
            "missions[2].target.amount_sgd",
            "missions[2].conditions[0].op",
            "missions[2].reward",
            "missions[1].id",
            "missions[1].program",
        ],
        "{err}"
    );
    // A configuration without missions writes no `missions` key: its document is unchanged.
    let plain = Config::from_json(&serde_json::json!({}), &mut no_ids).unwrap();
    assert!(plain.to_json().get("missions").is_none());
    let rules = RuleSet::compile(&plain, 1).unwrap();
    assert!(!rules.has_missions());
}

mod properties {
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use spend_domain::config::{Config, MissionTarget};
    use spend_domain::eval::Outcome;
    use spend_domain::ledger::{Ledger, MemoryLedger};
    use spend_domain::mission::PayoutKind;
    use spend_domain::rules::RuleSet;
    use spend_domain::{
        Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind,
    };
    use uuid::Uuid;

    const MISSION: Uuid = Uuid::from_u128(0xd1);
    const CARD: CardId = CardId(Uuid::from_u128(0xca));

    fn rules(target: &serde_json::Value) -> RuleSet {
        let doc = serde_json::json!({
            "programs": [{"id": "p", "name": "P", "unit": "points"}],
            "fx_rates": [{"currency": "USD", "rate": "1.35"}],
            "campaigns": [{"id": "00000000-0000-4000-8000-000000000001", "name": "C",
                "program": "p", "kind": "base", "priority": 1, "conditions": [], "rate": "1"}],
            "missions": [{"id": MISSION.to_string(), "name": "M", "program": "p",
                "start_date": "2024-05-01", "window_days": 10, "target": target,
                "conditions": [], "reward": "50"}]
        });
        let config = Config::from_json(&doc, &mut Uuid::new_v4).unwrap();
        RuleSet::compile(&config, 1).unwrap()
    }

    /// One step: a purchase (cents, day of May, foreign), a reversal of the n-th purchase so far
    /// (cents), or the redelivery of the n-th record so far.
    #[derive(Clone, Debug)]
    enum Step {
        Buy(u32, u32, bool),
        Reverse(usize, u32),
        Again(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (1u32..8_000, 1u32..=20, any::<bool>()).prop_map(|(c, d, f)| Step::Buy(c, d, f)),
            2 => (any::<usize>(), 1u32..8_000).prop_map(|(i, c)| Step::Reverse(i, c)),
            1 => any::<usize>().prop_map(Step::Again),
        ]
    }

    fn tx(n: u128, cents: u32, day: u32, currency: &str, kind: TxKind) -> Transaction {
        Transaction {
            id: RecordId(Uuid::from_u128(n)),
            transaction_id: format!("T{n}"),
            merchant: "M".into(),
            mcc: Mcc::new(5812).unwrap(),
            currency: CurrencyCode::parse(currency).unwrap(),
            amount: Amount::new(Decimal::new(i64::from(cents), 2)).unwrap(),
            transaction_date: chrono::NaiveDate::from_ymd_opt(2024, 5, day).unwrap(),
            card_id: CARD,
            card_pan: MaskedPan::mask("4111111111111111").unwrap(),
            card_type: ProgramId::parse("p").unwrap(),
            kind,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn net_paid_is_zero_or_one_reward_and_progress_adds_up(
            steps in prop::collection::vec(step(), 1..60),
            count_target in any::<bool>(),
        ) {
            let target = if count_target {
                serde_json::json!({"count": 3})
            } else {
                serde_json::json!({"amount_sgd": "100"})
            };
            let rules = rules(&target);
            let mut ledger = MemoryLedger::new();
            let mut records: Vec<Transaction> = Vec::new();
            let mut purchases: Vec<Transaction> = Vec::new();
            let mut net = Decimal::ZERO;
            let mut last_kind = None;
            for (n, s) in steps.into_iter().enumerate() {
                let t = match s {
                    Step::Buy(c, d, foreign) => {
                        tx(n as u128 + 1, c, d, if foreign { "USD" } else { "SGD" }, TxKind::Purchase)
                    }
                    Step::Reverse(i, c) if !purchases.is_empty() => {
                        let o = &purchases[i % purchases.len()];
                        let kind = TxKind::Reversal { original_id: o.id };
                        tx(n as u128 + 1, c, 25, o.currency.as_str(), kind)
                    }
                    Step::Again(i) if !records.is_empty() => records[i % records.len()].clone(),
                    _ => continue,
                };
                let before = ledger.mission_state(CARD, MISSION).cloned();
                let outcome = rules.evaluate(&t, &ledger);
                let effects = rules.mission_effects(&t, &outcome, &ledger);
                if matches!(outcome, Outcome::Duplicate) {
                    prop_assert!(effects.is_empty(), "a redelivery changed a mission");
                }
                ledger.record(&t, &outcome);
                for e in &effects {
                    if let Some(p) = &e.payout {
                        // Payouts alternate: reward, clawback, reward, ...
                        prop_assert_ne!(Some(p.kind), last_kind);
                        prop_assert_eq!(p.kind == PayoutKind::Clawback, before.as_ref().is_some_and(|b| b.paid.is_some()));
                        last_kind = Some(p.kind);
                        net += p.reward;
                    }
                }
                ledger.record_missions(effects);
                if t.kind == TxKind::Purchase && !matches!(outcome, Outcome::Duplicate) {
                    purchases.push(t.clone());
                }
                records.push(t);
                prop_assert!(net.is_zero() || net == Decimal::new(5000, 2), "net {}", net);
                if let Some(s) = ledger.mission_state(CARD, MISSION) {
                    let amount: Decimal =
                        s.contributions.iter().map(|c| c.amount_sgd - c.reversed_sgd).sum();
                    let count = s.contributions.iter().filter(|c| c.counted()).count();
                    prop_assert_eq!(amount, s.progress_amount_sgd);
                    prop_assert_eq!(count as u32, s.progress_count);
                    prop_assert!(s.progress_amount_sgd >= Decimal::ZERO);
                    let target = if count_target {
                        MissionTarget::Count(3)
                    } else {
                        MissionTarget::AmountSgd(Decimal::new(100, 0))
                    };
                    prop_assert_eq!(s.paid.is_some(), s.reaches(target));
                    prop_assert_eq!(s.paid.is_some(), !net.is_zero());
                    for c in &s.contributions {
                        prop_assert!(c.reversed_sgd <= c.amount_sgd);
                    }
                }
            }
        }
    }
}
