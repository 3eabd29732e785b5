//! The configuration model refuses what REWARDS.md §2 refuses, naming the field that is wrong
//! with a message a program manager can act on, and reports every problem of an object at once.

use serde_json::{json, Value};
use spend_domain::config::{
    Campaign, CampaignKind, Condition, Config, Exclusion, FxRate, Invalid, Program,
};
use spend_domain::rules::RuleSet;
use spend_testkit::fixtures::SPEC_EXAMPLES as EXAMPLES;
use uuid::Uuid;

fn example(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{EXAMPLES}/{name}")).expect("example file");
    serde_json::from_str(&text).expect("valid json")
}

/// JSON as a client sends it: numbers keep their literal text.
fn lit(s: &str) -> Value {
    serde_json::from_str(s).expect("valid json")
}

const DEFAULT_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_beef);

fn no_ids() -> Uuid {
    panic!("no id should be assigned here")
}

/// Asserts that `result` was refused with (at least) an error at exactly `field` whose message
/// contains `needle`; every message must read as a lowercase sentence.
#[track_caller]
fn refused<T: std::fmt::Debug>(result: Result<T, Invalid>, field: &str, needle: &str) -> Invalid {
    let invalid = result.expect_err("should be refused");
    for e in &invalid.0 {
        assert!(
            !e.message.starts_with(|c: char| c.is_uppercase()),
            "message should be lowercase: {e:?}"
        );
        assert!(!e.message.is_empty());
    }
    assert!(
        invalid
            .0
            .iter()
            .any(|e| e.field == field && e.message.contains(needle)),
        "expected an error at {field:?} containing {needle:?}, got {:#?}",
        invalid.0
    );
    invalid
}

fn base_campaign() -> Value {
    json!({
        "id": "00000000-0000-4000-8000-000000001001",
        "name": "Shopping: online spend",
        "program": "scis_shopping",
        "kind": "base",
        "priority": 30,
        "start_date": null,
        "end_date": null,
        "conditions": [{"field": "mcc", "op": "in", "value": [5999, [5815, 5818]]}],
        "rate": "10"
    })
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

fn campaign(v: &Value) -> Result<Campaign, Invalid> {
    Campaign::from_json(v, DEFAULT_ID)
}

/// A campaign with one condition.
fn condition(c: Value) -> Result<Campaign, Invalid> {
    campaign(&with(base_campaign(), "conditions", json!([c])))
}

fn exclusion() -> Value {
    json!({
        "id": "00000000-0000-4000-8000-000000009001",
        "name": "Quasi-cash",
        "programs": null,
        "conditions": [{"field": "mcc", "op": "eq", "value": 6051}],
        "valid_from": null,
        "valid_until": null
    })
}

// --- the reference files ---------------------------------------------------------------------

#[test]
fn reference_config_parses_and_round_trips() {
    let v = example("reference-config.json");
    let config = Config::from_json(&v, &mut no_ids).expect("reference config");
    assert_eq!(config.programs.len(), 4);
    assert_eq!(config.fx_rates.len(), 6);
    assert_eq!(config.campaigns.len(), 13);
    assert_eq!(config.exclusions.len(), 3);
    // The reference file is written canonically: to_json gives it back as it is.
    assert_eq!(config.to_json(), v);
    let again = Config::from_json(&config.to_json(), &mut no_ids).unwrap();
    assert_eq!(again, config);
    assert!(RuleSet::compile(&config, 1).is_ok());
}

#[test]
fn example_campaigns_round_trip_as_a_fragment() {
    let v = example("example-campaigns.json");
    let fragment = Config::fragment_from_json(&v, &mut no_ids).expect("fragment");
    let mut canonical = v.clone();
    canonical["programs"] = json!([]);
    canonical["fx_rates"] = json!([]);
    assert_eq!(fragment.to_json(), canonical);
    // Alone it names programs it does not hold.
    refused(
        Config::from_json(&v, &mut no_ids),
        "campaigns[0].program",
        "not a configured program",
    );
    refused(
        RuleSet::compile(&fragment, 1),
        "exclusions[0].programs",
        "scis_shopping",
    );
    let reference = Config::from_json(&example("reference-config.json"), &mut no_ids).unwrap();
    let merged = reference.clone().merge(fragment.clone());
    assert_eq!(merged.campaigns.len(), 18);
    assert_eq!(merged.exclusions.len(), 4);
    assert_eq!(merged.campaigns[13], fragment.campaigns[0]);
    merged.validate().expect("merged configuration is valid");
    // Merging a configuration with itself repeats every id.
    let twice = reference.clone().merge(reference);
    let invalid = refused(twice.validate(), "programs[4].id", "scis_shopping");
    refused(Err::<(), _>(invalid.clone()), "fx_rates[6].currency", "USD");
    refused(
        Err::<(), _>(invalid.clone()),
        "campaigns[13].id",
        "campaigns[0]",
    );
    refused(Err::<(), _>(invalid), "exclusions[3].id", "exclusions[0]");
}

#[test]
fn canonical_forms() {
    let upper = with(
        base_campaign(),
        "id",
        json!("3B1F0C2E-AAAA-4000-8000-00000000000F"),
    );
    let c = campaign(&upper).unwrap();
    assert_eq!(c.key(), "3b1f0c2e-aaaa-4000-8000-00000000000f");
    assert_eq!(
        c.to_json()["id"],
        json!("3b1f0c2e-aaaa-4000-8000-00000000000f")
    );
    // Decimals keep the form they were given; numbers are read from their literal text.
    let c = campaign(&with(base_campaign(), "rate", lit("10.50"))).unwrap();
    assert_eq!(c.to_json()["rate"], json!("10.50"));
    let c = campaign(&with(base_campaign(), "rate", json!("0.5"))).unwrap();
    assert_eq!(c.to_json()["rate"], json!("0.5"));
    let c = campaign(&with(base_campaign(), "start_date", json!("2024-01-01"))).unwrap();
    assert_eq!(c.to_json()["start_date"], json!("2024-01-01"));
    assert_eq!(c.to_json()["end_date"], Value::Null);
    let fx = FxRate::from_json(&json!({"currency": "JPY", "rate": "0.0091"})).unwrap();
    assert_eq!(fx.key(), "JPY");
    assert_eq!(fx.to_json(), json!({"currency": "JPY", "rate": "0.0091"}));
    let p = Program::from_json(&json!({"id": "p1", "name": "P", "unit": "miles"})).unwrap();
    assert_eq!(p.key(), "p1");
    assert_eq!(
        p.to_json(),
        json!({"id": "p1", "name": "P", "unit": "miles"})
    );
}

#[test]
fn ids_are_assigned_only_where_absent() {
    let doc = json!({
        "programs": [{"id": "scis_shopping", "name": "Shopping", "unit": "points"}],
        "campaigns": [
            without(base_campaign(), "id"),
            base_campaign(),
            with(base_campaign(), "id", Value::Null),
        ],
        "exclusions": [without(exclusion(), "id")]
    });
    let mut n = 0u128;
    let mut next = || {
        n += 1;
        Uuid::from_u128(n)
    };
    let config = Config::from_json(&doc, &mut next).unwrap();
    let ids: Vec<u128> = config.campaigns.iter().map(|c| c.id.as_u128()).collect();
    assert_eq!(ids, [1, 0x0000_0000_0000_4000_8000_0000_0000_1001, 2]);
    assert_eq!(config.exclusions[0].id, Uuid::from_u128(3));
    assert_eq!(config.fx_rates, []);
    // Single objects take the default id.
    let c = campaign(&without(base_campaign(), "id")).unwrap();
    assert_eq!(c.id, DEFAULT_ID);
    let x = Exclusion::from_json(&with(exclusion(), "id", Value::Null), DEFAULT_ID).unwrap();
    assert_eq!(x.id, DEFAULT_ID);
}

#[test]
fn an_empty_document_is_an_empty_configuration() {
    let config = Config::from_json(&json!({}), &mut no_ids).unwrap();
    assert_eq!(config, Config::default());
    let config = Config::from_json(&json!({"campaigns": null}), &mut no_ids).unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(
        config.to_json(),
        json!({"programs": [], "fx_rates": [], "campaigns": [], "exclusions": []})
    );
}

// --- the whole document ------------------------------------------------------------------------

#[test]
fn document_shape() {
    refused(
        Config::from_json(&json!({"revision": 3}), &mut no_ids),
        "revision",
        "not a known field",
    );
    refused(
        Config::from_json(&json!({"campaigns": {}}), &mut no_ids),
        "campaigns",
        "must be a list",
    );
    refused(
        Config::from_json(&json!([]), &mut no_ids),
        "",
        "json object",
    );
}

#[test]
fn errors_carry_their_path_in_the_document() {
    let mut bad = base_campaign();
    bad["conditions"] = json!([
        {"field": "mcc", "op": "eq", "value": 5999},
        {"field": "mcc", "op": "contains", "value": "59"}
    ]);
    let doc = json!({
        "programs": [{"id": "scis_shopping", "name": "Shopping", "unit": "points"}],
        "campaigns": [
            with(base_campaign(), "id", json!("00000000-0000-4000-8000-000000000001")),
            with(base_campaign(), "id", json!("00000000-0000-4000-8000-000000000002")),
            with(bad, "rate", json!("-1")),
        ]
    });
    let invalid = refused(
        Config::from_json(&doc, &mut no_ids),
        "campaigns[2].conditions[1].op",
        "does not apply to field mcc",
    );
    refused(
        Err::<(), _>(invalid.clone()),
        "campaigns[2].rate",
        "negative",
    );
    assert_eq!(invalid.0.len(), 2, "{invalid:#?}");
    let text = invalid.to_string();
    assert!(text.starts_with("invalid configuration: "), "{text}");
    assert!(
        text.contains("campaigns[2].rate must not be negative"),
        "{text}"
    );
}

#[test]
fn references_and_duplicates() {
    let program = json!({"id": "scis_shopping", "name": "Shopping", "unit": "points"});
    let doc = json!({
        "programs": [program, program],
        "fx_rates": [{"currency": "USD", "rate": "1.35"}, {"currency": "USD", "rate": "1.36"}],
        "campaigns": [
            base_campaign(),
            with(base_campaign(), "program", json!("scis_nothing")),
        ],
        "exclusions": [
            with(exclusion(), "programs", json!(["scis_shopping", "scis_other"])),
            exclusion(),
        ]
    });
    let invalid = Config::from_json(&doc, &mut no_ids).unwrap_err();
    let fields: Vec<&str> = invalid.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "programs[1].id",
            "fx_rates[1].currency",
            "campaigns[1].id",
            "exclusions[1].id",
            "campaigns[1].program",
            "exclusions[0].programs",
        ]
    );
    refused(
        Err::<(), _>(invalid.clone()),
        "exclusions[0].programs",
        "scis_other",
    );
    refused(
        Err::<(), _>(invalid),
        "campaigns[1].program",
        "scis_nothing",
    );
}

#[test]
fn validate_checks_objects_built_in_code() {
    let mut config = Config::from_json(&example("reference-config.json"), &mut no_ids).unwrap();
    config.campaigns[2].rate = -config.campaigns[2].rate;
    config.campaigns[3].end_date = Some("2020-01-01".parse().unwrap());
    config.campaigns[3].start_date = Some("2021-01-01".parse().unwrap());
    config.exclusions[1].programs = Some(vec![]);
    config.fx_rates[0].rate = rust_decimal::Decimal::ZERO;
    config.programs[0].name = String::new();
    let invalid = refused(config.validate(), "campaigns[2].rate", "negative");
    refused(
        Err::<(), _>(invalid.clone()),
        "campaigns[3].end_date",
        "before start_date",
    );
    refused(
        Err::<(), _>(invalid.clone()),
        "exclusions[1].programs",
        "non-empty",
    );
    refused(
        Err::<(), _>(invalid.clone()),
        "fx_rates[0].rate",
        "greater than 0",
    );
    refused(Err::<(), _>(invalid), "programs[0].name", "empty");
    refused(
        RuleSet::compile(&config, 1),
        "campaigns[2].rate",
        "negative",
    );
}

// --- programs and FX rates ---------------------------------------------------------------------

#[test]
fn programs() {
    let p = |v: Value| Program::from_json(&v);
    for bad in ["Scis", "", "scis-shopping", "scis shopping"] {
        refused(
            p(json!({"id": bad, "name": "n", "unit": "points"})),
            "id",
            "program id",
        );
    }
    let long = "a".repeat(65);
    refused(
        p(json!({"id": long, "name": "n", "unit": "points"})),
        "id",
        "1 to 64",
    );
    assert!(p(json!({"id": "a".repeat(64), "name": "n", "unit": "points"})).is_ok());
    refused(
        p(json!({"id": "p", "name": "n", "unit": "cash"})),
        "unit",
        "points, miles, cashback",
    );
    refused(
        p(json!({"id": "p", "name": " ", "unit": "miles"})),
        "name",
        "must not be empty",
    );
    refused(
        p(json!({"id": "p", "name": "x".repeat(201), "unit": "miles"})),
        "name",
        "200",
    );
    refused(
        p(json!({"id": "p", "name": "a\nb", "unit": "miles"})),
        "name",
        "control",
    );
    refused(
        p(json!({"id": "p", "name": 5, "unit": "miles"})),
        "name",
        "string",
    );
    refused(
        p(json!({"id": "p", "unit": "miles"})),
        "name",
        "is required",
    );
    refused(
        p(json!({"id": "p", "name": null, "unit": "miles"})),
        "name",
        "is required",
    );
    refused(
        p(json!({"id": "p", "name": "n", "unit": "miles", "colour": "red"})),
        "colour",
        "not a known field",
    );
    refused(p(json!("scis_shopping")), "", "json object");
    // Every problem at once.
    let invalid = p(json!({"id": "X", "unit": "y", "extra": 1})).unwrap_err();
    let mut fields: Vec<&str> = invalid.0.iter().map(|e| e.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["extra", "id", "name", "unit"]);
}

#[test]
fn fx_rates() {
    let fx = |v: Value| FxRate::from_json(&v);
    let ok = fx(lit(r#"{"currency": "USD", "rate": 1.35}"#)).unwrap();
    assert_eq!(ok.rate.to_string(), "1.35");
    assert!(fx(json!({"currency": "USD", "rate": "1000000"})).is_ok());
    assert!(fx(json!({"currency": "USD", "rate": "0.000001"})).is_ok());
    refused(
        fx(json!({"currency": "SGD", "rate": "1"})),
        "currency",
        "SGD is always 1",
    );
    refused(
        fx(json!({"currency": "usd", "rate": "1"})),
        "currency",
        "upper-case",
    );
    refused(
        fx(json!({"currency": "ABC", "rate": "1"})),
        "currency",
        "ISO 4217",
    );
    refused(
        fx(json!({"currency": "USD", "rate": "0"})),
        "rate",
        "greater than 0",
    );
    refused(
        fx(json!({"currency": "USD", "rate": "-1.2"})),
        "rate",
        "greater than 0",
    );
    refused(
        fx(json!({"currency": "USD", "rate": "1000000.000001"})),
        "rate",
        "at most 1000000",
    );
    refused(
        fx(json!({"currency": "USD", "rate": "0.0000001"})),
        "rate",
        "6 fractional digits",
    );
    refused(
        fx(lit(r#"{"currency": "USD", "rate": 1e2}"#)),
        "rate",
        "exponent",
    );
    refused(
        fx(json!({"currency": "USD", "rate": "1.35 "})),
        "rate",
        "decimal",
    );
    refused(
        fx(json!({"currency": "USD", "rate": true})),
        "rate",
        "decimal",
    );
    refused(fx(json!({"currency": "USD"})), "rate", "is required");
}

// --- campaigns ---------------------------------------------------------------------------------

#[test]
fn campaign_fields() {
    let c = campaign(&base_campaign()).unwrap();
    assert_eq!(c.kind, CampaignKind::Base);
    assert_eq!(c.priority, 30);
    assert_eq!(c.to_json(), base_campaign());

    let b = base_campaign;
    refused(
        campaign(&with(b(), "id", json!("not-a-uuid"))),
        "id",
        "uuid",
    );
    refused(
        campaign(&with(
            b(),
            "id",
            json!("{00000000-0000-4000-8000-000000001001}"),
        )),
        "id",
        "uuid",
    );
    refused(
        campaign(&with(b(), "id", json!("000000000000400080000000000010010"))),
        "id",
        "uuid",
    );
    refused(
        campaign(&with(b(), "kind", json!("bonus"))),
        "kind",
        "\"base\" or \"promo\"",
    );
    refused(
        campaign(&with(b(), "program", json!("Shopping"))),
        "program",
        "program id",
    );
    refused(campaign(&without(b(), "program")), "program", "is required");
    refused(
        campaign(&with(b(), "name", json!(""))),
        "name",
        "must not be empty",
    );
    refused(
        campaign(&with(b(), "bonus", json!(1))),
        "bonus",
        "not a known field",
    );
    refused(campaign(&json!(null)), "", "json object");
}

#[test]
fn campaign_priority_is_an_integer() {
    let b = base_campaign;
    assert_eq!(
        campaign(&with(b(), "priority", lit("-5")))
            .unwrap()
            .priority,
        -5
    );
    refused(
        campaign(&with(b(), "priority", lit("1.5"))),
        "priority",
        "whole number",
    );
    refused(
        campaign(&with(b(), "priority", lit("30.0"))),
        "priority",
        "whole number",
    );
    refused(
        campaign(&with(b(), "priority", lit("3e1"))),
        "priority",
        "whole number",
    );
    refused(
        campaign(&with(b(), "priority", json!("30"))),
        "priority",
        "whole number",
    );
    refused(
        campaign(&with(b(), "priority", lit("9223372036854775808"))),
        "priority",
        "too large",
    );
    refused(
        campaign(&without(b(), "priority")),
        "priority",
        "is required",
    );
}

#[test]
fn campaign_rate() {
    let b = base_campaign;
    let rate = |v: Value| campaign(&with(b(), "rate", v)).map(|c| c.rate.to_string());
    assert_eq!(rate(json!("0")).unwrap(), "0");
    assert_eq!(rate(json!("10000")).unwrap(), "10000");
    assert_eq!(rate(json!("0.0001")).unwrap(), "0.0001");
    assert_eq!(rate(lit("10.5")).unwrap(), "10.5");
    assert_eq!(rate(lit("2.2")).unwrap(), "2.2");
    refused(rate(json!("-1")), "rate", "must not be negative");
    refused(rate(lit("-0.5")), "rate", "must not be negative");
    refused(rate(json!("10000.0001")), "rate", "at most 10000");
    refused(rate(json!("1.23456")), "rate", "4 fractional digits");
    refused(rate(lit("1e2")), "rate", "exponent");
    refused(rate(lit("1.5E1")), "rate", "exponent");
    refused(rate(json!("ten")), "rate", "decimal");
    refused(rate(json!(null)), "rate", "is required");
}

#[test]
fn campaign_dates() {
    let b = base_campaign;
    let dated = |s: Value, e: Value| campaign(&with(with(b(), "start_date", s), "end_date", e));
    assert!(dated(json!("2024-01-01"), json!("2024-01-01")).is_ok());
    assert!(dated(json!("2024-01-01"), Value::Null).is_ok());
    refused(
        dated(json!("2024-02-01"), json!("2024-01-31")),
        "end_date",
        "before start_date",
    );
    refused(
        dated(json!("2024-02-30"), Value::Null),
        "start_date",
        "real date",
    );
    refused(
        dated(json!("2024/01/01"), Value::Null),
        "start_date",
        "YYYY-MM-DD",
    );
    refused(
        dated(Value::Null, json!("2024-1-1")),
        "end_date",
        "YYYY-MM-DD",
    );
    refused(
        dated(lit("20240101"), Value::Null),
        "start_date",
        "YYYY-MM-DD",
    );
}

#[test]
fn campaign_collects_every_error() {
    let mut v = with(base_campaign(), "rate", json!("-1"));
    v["kind"] = json!("bonus");
    v["conditions"] = json!([
        {"field": "mcc", "op": "eq", "value": 0},
        {"field": "colour", "op": "eq", "value": "red"},
    ]);
    let invalid = campaign(&v).unwrap_err();
    let fields: Vec<&str> = invalid.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["kind", "conditions[0].value", "conditions[1].field", "rate"]
    );
}

// --- conditions --------------------------------------------------------------------------------

#[test]
fn condition_shape() {
    refused(
        campaign(&with(base_campaign(), "conditions", json!({}))),
        "conditions",
        "list",
    );
    refused(
        campaign(&without(base_campaign(), "conditions")),
        "conditions",
        "is required",
    );
    refused(
        condition(json!("mcc = 5999")),
        "conditions[0]",
        "json object",
    );
    refused(
        condition(json!({"field": "colour", "op": "eq", "value": 1})),
        "conditions[0].field",
        "merchant",
    );
    refused(
        condition(json!({"field": "mcc", "op": "like", "value": 1})),
        "conditions[0].op",
        "between",
    );
    refused(
        condition(json!({"field": "mcc", "op": "eq"})),
        "conditions[0].value",
        "is required",
    );
    refused(
        condition(json!({"op": "eq", "value": 1})),
        "conditions[0].field",
        "is required",
    );
    refused(
        condition(json!({"field": "mcc", "op": "eq", "values": [1]})),
        "conditions[0].values",
        "not a known field",
    );
}

#[test]
fn ops_must_fit_their_field() {
    let misfits = [
        ("mcc", "contains", json!("59")),
        ("amount", "contains", json!("1")),
        ("amount_sgd", "contains", json!("1")),
        ("merchant", "gt", json!("a")),
        ("merchant", "between", json!(["a", "b"])),
        ("currency", "lt", json!("USD")),
        ("currency", "contains", json!("US")),
        ("weekday", "between", json!(["mon", "fri"])),
        ("weekday", "gte", json!("mon")),
        ("foreign", "in", json!([true])),
        ("foreign", "not_in", json!([true])),
        ("foreign", "gt", json!(false)),
        ("foreign", "contains", json!(true)),
    ];
    for (field, op, value) in misfits {
        refused(
            condition(json!({"field": field, "op": op, "value": value})),
            "conditions[0].op",
            &format!("{op} does not apply to field {field}"),
        );
    }
}

#[test]
fn condition_values_must_fit_their_field() {
    let bad = [
        // mcc: JSON integers 1..=9999, ranges [lo, hi] only in lists.
        ("mcc", "eq", json!("5999"), "mcc"),
        ("mcc", "eq", json!(0), "1 to 9999"),
        ("mcc", "eq", json!(10000), "1 to 9999"),
        ("mcc", "eq", lit("5999.0"), "whole number"),
        ("mcc", "gt", json!([1, 2]), "mcc"),
        ("mcc", "in", json!([]), "non-empty list"),
        ("mcc", "in", json!(5999), "non-empty list"),
        ("mcc", "in", json!([5999, "x"]), "item 2"),
        ("mcc", "in", json!([[5818, 5815]]), "lo ≤ hi"),
        ("mcc", "in", json!([[1, 2, 3]]), "range [lo, hi]"),
        ("mcc", "in", json!([[0, 2]]), "item 1"),
        (
            "mcc",
            "between",
            json!([5999, 5000]),
            "lo less than or equal to hi",
        ),
        ("mcc", "between", json!([5000]), "two values"),
        ("mcc", "between", json!([5000, "x"]), "hi must be an mcc"),
        // merchant: non-empty strings.
        ("merchant", "eq", json!(5), "string"),
        ("merchant", "eq", json!(""), "non-empty"),
        ("merchant", "contains", json!("   "), "non-empty"),
        ("merchant", "in", json!(["a", 1]), "item 2"),
        ("merchant", "eq", json!("x".repeat(129)), "128"),
        // currency: upper-case ISO codes.
        ("currency", "eq", json!("usd"), "upper-case"),
        ("currency", "eq", json!("XYZ"), "ISO 4217"),
        ("currency", "in", json!(["USD", "eur"]), "item 2"),
        // foreign: JSON booleans.
        ("foreign", "eq", json!("true"), "true or false"),
        ("foreign", "eq", json!(1), "true or false"),
        // amounts: decimals, at most 2 fractional digits, not negative, no exponent.
        ("amount", "gt", json!("abc"), "decimal"),
        ("amount", "gt", lit("1e2"), "exponent"),
        ("amount", "gt", json!("100.005"), "2 fractional digits"),
        ("amount", "gt", json!("-5"), "negative"),
        ("amount", "eq", json!(true), "decimal"),
        (
            "amount_sgd",
            "between",
            json!(["100", "50"]),
            "lo less than or equal to hi",
        ),
        ("amount_sgd", "in", json!(["1", "x"]), "item 2"),
        // weekday: mon..sun.
        ("weekday", "eq", json!("monday"), "mon, tue"),
        ("weekday", "in", json!(["sat", "Sun"]), "item 2"),
        ("weekday", "eq", json!(1), "mon, tue"),
    ];
    for (field, op, value, needle) in bad {
        let c = json!({"field": field, "op": op, "value": value});
        refused(condition(c.clone()), "conditions[0].value", needle);
        // The same through Condition itself, with a path relative to the condition.
        refused(Condition::from_json(&c), "value", needle);
    }
}

#[test]
fn every_valid_field_and_op_round_trips() {
    let good = [
        ("mcc", "eq", json!(5999)),
        ("mcc", "ne", json!(1)),
        ("mcc", "gt", json!(9999)),
        ("mcc", "gte", json!(1)),
        ("mcc", "lt", json!(5000)),
        ("mcc", "lte", json!(5000)),
        ("mcc", "in", json!([5399, [5815, 5818], [7011, 7011]])),
        ("mcc", "not_in", json!([6051])),
        ("mcc", "between", json!([5000, 5000])),
        ("merchant", "eq", json!("Shopee")),
        ("merchant", "ne", json!(" Grab ")),
        ("merchant", "in", json!(["a", "b", "a"])),
        ("merchant", "not_in", json!(["Kaligo.com"])),
        ("merchant", "contains", json!("grab")),
        ("currency", "eq", json!("USD")),
        ("currency", "ne", json!("SGD")),
        ("currency", "in", json!(["USD", "EUR"])),
        ("currency", "not_in", json!(["MYR"])),
        ("foreign", "eq", json!(true)),
        ("foreign", "ne", json!(false)),
        ("amount", "eq", json!("100")),
        ("amount", "ne", json!("99.5")),
        ("amount", "gt", json!("0")),
        ("amount", "gte", json!("500.00")),
        ("amount", "lt", json!("1000000000")),
        ("amount", "lte", json!("0.01")),
        ("amount", "in", json!(["1", "2.50"])),
        ("amount", "not_in", json!(["3"])),
        ("amount", "between", json!(["100", "100"])),
        ("amount_sgd", "gt", json!("2000")),
        ("amount_sgd", "between", json!(["0", "99.99"])),
        ("weekday", "eq", json!("mon")),
        ("weekday", "ne", json!("sun")),
        ("weekday", "in", json!(["sat", "sun"])),
        ("weekday", "not_in", json!(["tue", "wed", "thu", "fri"])),
    ];
    for (field, op, value) in good {
        let v = json!({"field": field, "op": op, "value": value});
        let c = Condition::from_json(&v).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_eq!(c.field().as_str(), field);
        assert_eq!(c.to_json(), v);
        assert_eq!(Condition::from_json(&c.to_json()).unwrap(), c);
    }
    // Numbers are accepted for decimals, read from their literal text and written as strings.
    let c = Condition::from_json(&lit(r#"{"field": "amount", "op": "gt", "value": 100.5}"#));
    assert_eq!(c.unwrap().to_json()["value"], json!("100.5"));
}

// --- exclusions --------------------------------------------------------------------------------

#[test]
fn exclusions() {
    let x = |v: Value| Exclusion::from_json(&v, DEFAULT_ID);
    let parsed = x(exclusion()).unwrap();
    assert_eq!(parsed.programs, None);
    assert_eq!(parsed.to_json(), exclusion());
    let scoped = x(with(exclusion(), "programs", json!(["scis_shopping"]))).unwrap();
    assert_eq!(
        scoped.programs.as_ref().unwrap()[0].as_str(),
        "scis_shopping"
    );
    assert_eq!(scoped.to_json()["programs"], json!(["scis_shopping"]));

    refused(
        x(with(exclusion(), "programs", json!([]))),
        "programs",
        "non-empty list",
    );
    refused(
        x(with(exclusion(), "programs", json!("scis_shopping"))),
        "programs",
        "non-empty list",
    );
    refused(
        x(with(exclusion(), "programs", json!(["ok", "Bad"]))),
        "programs",
        "item 2",
    );
    refused(
        x(without(exclusion(), "programs")),
        "programs",
        "is required",
    );
    refused(
        x(without(exclusion(), "conditions")),
        "conditions",
        "is required",
    );
    refused(x(with(exclusion(), "name", json!(""))), "name", "empty");
    refused(x(with(exclusion(), "id", json!("x"))), "id", "uuid");
    refused(
        x(with(exclusion(), "programs_", json!(null))),
        "programs_",
        "not a known field",
    );
    let window = |f: &str, u: &str| {
        x(with(
            with(exclusion(), "valid_from", json!(f)),
            "valid_until",
            json!(u),
        ))
    };
    assert!(window("2024-01-01", "2024-12-31").is_ok());
    assert!(window("2024-01-01", "2024-01-01").is_ok());
    refused(
        window("2024-12-31", "2024-01-01"),
        "valid_until",
        "before valid_from",
    );
    refused(
        window("2024-13-01", "2024-12-01"),
        "valid_from",
        "real date",
    );
    refused(
        x(with(
            exclusion(),
            "conditions",
            json!([{"field": "foreign", "op": "eq", "value": "yes"}]),
        )),
        "conditions[0].value",
        "true or false",
    );
}

#[test]
fn keys_follow_the_reference_order_when_serde_json_keeps_order() {
    // `to_json` inserts keys in the order of reference-config.json; serde_json keeps that order
    // only with its `preserve_order` feature (otherwise its maps are sorted).
    let mut probe = serde_json::Map::new();
    probe.insert("b".into(), Value::Null);
    probe.insert("a".into(), Value::Null);
    if probe.keys().next().map(String::as_str) != Some("b") {
        return;
    }
    let config = Config::from_json(&example("reference-config.json"), &mut no_ids).unwrap();
    let text = std::fs::read_to_string(format!("{EXAMPLES}/reference-config.json")).unwrap();
    let ours = serde_json::to_string_pretty(&config.to_json()).unwrap();
    assert_eq!(ours.trim(), text.trim());
}
