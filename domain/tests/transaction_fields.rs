//! The field rules of REWARDS.md §1 through the public API: the normative `invalid.csv` example,
//! every rule of every field, and the JSON form.

use chrono::NaiveDate;
use serde_json::{json, Value};
use spend_domain::csv::CsvReader;
use spend_domain::transaction::{
    parse_json_transaction, parse_transaction, Field, RawTransaction, Rejection,
};
use spend_domain::TxKind;
use spend_testkit::fixtures::SPEC_EXAMPLES as EXAMPLES;

const PAN: &str = "4111117777777772";

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

fn valid() -> RawTransaction {
    RawTransaction {
        id: "00000000-0000-4000-8000-000000000701".into(),
        transaction_id: "T1".into(),
        merchant: "Shop".into(),
        mcc: "5999".into(),
        currency: "SGD".into(),
        amount: "10.00".into(),
        transaction_date: "2024-05-02".into(),
        card_id: "00000000-0000-4000-8000-0000000000A1".into(),
        card_pan: PAN.into(),
        card_type: "scis_shopping".into(),
        type_: None,
        original_id: None,
    }
}

fn failing(raw: &RawTransaction) -> Vec<Field> {
    match parse_transaction(raw, today()) {
        Ok(_) => Vec::new(),
        Err(r) => r.fields.iter().map(|e| e.field).collect(),
    }
}

fn with(f: impl FnOnce(&mut RawTransaction)) -> RawTransaction {
    let mut r = valid();
    f(&mut r);
    r
}

/// `(id, status, remark)` of each row of an `expected*.csv`.
fn read_expected(name: &str) -> Vec<(String, String, String)> {
    let mut r = csv::Reader::from_path(format!("{EXAMPLES}/{name}")).unwrap();
    let headers = r.headers().unwrap().clone();
    assert_eq!(&headers[0], "id");
    assert_eq!(&headers[1], "status");
    assert_eq!(&headers[7], "remark");
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec[0].to_owned(), rec[1].to_owned(), rec[7].to_owned())
        })
        .collect()
}

/// Frames and parses an example file as the ingestor would: line and outcome of each row.
fn parse_example(name: &str) -> Vec<(u64, Result<spend_domain::Transaction, Rejection>)> {
    let today = chrono::Utc::now().date_naive();
    let file = std::fs::File::open(format!("{EXAMPLES}/{name}")).unwrap();
    CsvReader::new(file)
        .map(|row| {
            let row = row.unwrap();
            (
                row.line,
                row.raw.and_then(|raw| parse_transaction(&raw, today)),
            )
        })
        .collect()
}

#[test]
fn invalid_csv_example_names_exactly_the_expected_fields() {
    let expected = read_expected("expected-invalid.csv");
    let parsed = parse_example("invalid.csv");
    assert_eq!(parsed.len(), 26);
    assert_eq!(parsed.len(), expected.len());
    let mut rejected = 0;
    for (k, ((line, result), (id, status, remark))) in parsed.iter().zip(&expected).enumerate() {
        assert_eq!(*line, k as u64 + 2, "rows start on line 2");
        match (status.as_str(), result) {
            ("rejected", Err(rejection)) => {
                rejected += 1;
                assert_eq!(&rejection.remark(), remark, "line {line}");
                assert_eq!(&rejection.raw_id, id, "line {line}");
                assert!(!rejection.fields.is_empty());
            }
            ("rejected", Ok(_)) => panic!("line {line} should be rejected: {remark}"),
            (_, Ok(t)) => assert_eq!(&t.id.to_string(), id, "line {line}"),
            (_, Err(rejection)) => panic!("line {line} should be valid: {rejection}"),
        }
    }
    assert_eq!(rejected, 24);
    // The control written with dashes is valid and masked like the plain one.
    let Ok(t) = &parsed[20].1 else {
        panic!("line 22 is valid")
    };
    assert_eq!(t.card_pan.as_str(), "411111******7772");
}

#[test]
fn every_row_of_transactions_csv_is_valid() {
    let expected = read_expected("expected.csv");
    let parsed = parse_example("transactions.csv");
    assert_eq!(parsed.len(), 43);
    assert_eq!(parsed.len(), expected.len());
    let mut reversals = 0;
    for ((line, result), (id, _, _)) in parsed.iter().zip(&expected) {
        let t = match result {
            Ok(t) => t,
            Err(rejection) => panic!("line {line}: {rejection}"),
        };
        assert_eq!(&t.id.to_string(), id, "line {line}");
        assert!(t.card_pan.as_str().contains('*'));
        if matches!(t.kind, TxKind::Reversal { .. }) {
            reversals += 1;
        }
    }
    assert!(reversals > 0, "the examples hold reversals");
}

#[test]
fn a_valid_row_parses_with_every_value() {
    let t = parse_transaction(&valid(), today()).unwrap();
    assert_eq!(t.id.to_string(), "00000000-0000-4000-8000-000000000701");
    assert_eq!(
        t.card_id.to_string(),
        "00000000-0000-4000-8000-0000000000a1"
    );
    assert_eq!(t.transaction_id, "T1");
    assert_eq!(t.merchant, "Shop");
    assert_eq!(t.mcc.get(), 5999);
    assert_eq!(t.currency.as_str(), "SGD");
    assert_eq!(t.amount.to_string(), "10.00");
    assert_eq!(
        t.transaction_date,
        NaiveDate::from_ymd_opt(2024, 5, 2).unwrap()
    );
    assert_eq!(t.card_pan.as_str(), "411111******7772");
    assert_eq!(t.card_type.as_str(), "scis_shopping");
    assert_eq!(t.kind, TxKind::Purchase);
}

#[test]
fn every_field_is_trimmed_of_unicode_white_space() {
    let t = parse_transaction(
        // U+FEFF (a BOM) is not White_Space: it is not trimmed.
        &with(|r| r.id = format!("\u{feff}{}", r.id)),
        today(),
    );
    assert!(t.is_err());
    let r = with(|r| {
        r.id = format!("\u{3000}{}\u{a0}", r.id);
        r.transaction_id = "\t T1 \n".into();
        r.merchant = "\u{2003}Café\u{2003}".into();
        r.mcc = " 0742 ".into();
        r.currency = " SGD\r".into();
        r.amount = "\u{85}10.5\u{85}".into();
        r.transaction_date = " 2024-05-02 ".into();
        r.card_pan = " 4111 1177-7777 7772 ".into();
        r.card_type = " scis_shopping ".into();
        r.type_ = Some(" reversal ".into());
        r.original_id = Some(" 00000000-0000-4000-8000-0000000000FF ".into());
    });
    let t = parse_transaction(&r, today()).unwrap();
    assert_eq!(t.merchant, "Café");
    assert_eq!(t.transaction_id, "T1");
    assert_eq!(t.mcc.get(), 742);
    assert_eq!(t.amount.to_string(), "10.50");
    assert_eq!(
        t.kind.original_id().unwrap().to_string(),
        "00000000-0000-4000-8000-0000000000ff"
    );
}

#[test]
fn lengths_count_scalar_values() {
    assert!(failing(&with(|r| r.transaction_id = "é".repeat(64))).is_empty());
    assert_eq!(
        failing(&with(|r| r.transaction_id = "é".repeat(65))),
        [Field::TransactionId]
    );
    assert!(failing(&with(|r| r.merchant = "😀".repeat(128))).is_empty());
    assert_eq!(
        failing(&with(|r| r.merchant = "a".repeat(129))),
        [Field::Merchant]
    );
    assert_eq!(
        failing(&with(|r| r.merchant = " \u{2028} ".into())),
        [Field::Merchant]
    );
}

#[test]
fn mcc_rules() {
    for ok in ["1", "0001", "9999", "742", "0742"] {
        assert!(failing(&with(|r| r.mcc = ok.into())).is_empty(), "{ok}");
    }
    for bad in [
        "0", "0000", "10000", "59a9", "", "+1", "-1", "1.0", "٥٩٩٩", "00001",
    ] {
        assert_eq!(
            failing(&with(|r| r.mcc = bad.into())),
            [Field::Mcc],
            "{bad}"
        );
    }
}

#[test]
fn amount_rules() {
    for (ok, shown) in [
        ("0.01", "0.01"),
        ("1", "1.00"),
        ("1.5", "1.50"),
        ("007.10", "7.10"),
        ("1000000000", "1000000000.00"),
        ("1000000000.00", "1000000000.00"),
    ] {
        let t = parse_transaction(&with(|r| r.amount = ok.into()), today()).unwrap();
        assert_eq!(t.amount.to_string(), shown);
    }
    let huge = "9".repeat(10_000);
    let zeros = format!("{}1.00", "0".repeat(10_000));
    for bad in [
        "0",
        "0.00",
        "-5.00",
        "10.005",
        "1e3",
        "1,000.00",
        "10.",
        ".5",
        "",
        "1000000000.01",
        "1000000001",
        "+1",
        "1 000",
        "NaN",
        "inf",
        &huge,
        "١٠",
    ] {
        assert_eq!(
            failing(&with(|r| r.amount = bad.into())),
            [Field::Amount],
            "{bad:.20}"
        );
    }
    assert!(failing(&with(|r| r.amount = zeros.clone())).is_empty());
}

#[test]
fn date_rules() {
    assert!(failing(&with(|r| r.transaction_date = "2026-11-23".into())).is_empty());
    assert!(failing(&with(|r| r.transaction_date = "2024-02-29".into())).is_empty());
    for bad in [
        "2026-11-24",
        "2999-01-01",
        "2023-02-29",
        "2024-02-30",
        "2024-13-01",
        "2024-00-10",
        "2024-01-00",
        "02-05-24",
        "2024-5-2",
        "2024/05/02",
        "20240502",
        "yesterday",
        "",
    ] {
        assert_eq!(
            failing(&with(|r| r.transaction_date = bad.into())),
            [Field::TransactionDate],
            "{bad}"
        );
    }
    let e = parse_transaction(&with(|r| r.transaction_date = "2999-01-01".into()), today())
        .unwrap_err();
    assert!(
        e.fields[0].message.contains("2026-11-23"),
        "{}",
        e.fields[0].message
    );
}

#[test]
fn ids_and_card_type() {
    for bad in ["not-a-uuid", "{00000000-0000-4000-8000-000000000701}", ""] {
        assert_eq!(failing(&with(|r| r.id = bad.into())), [Field::Id]);
        assert_eq!(failing(&with(|r| r.card_id = bad.into())), [Field::CardId]);
    }
    for bad in ["SCIS Shopping", "scis-shopping", "", &"a".repeat(65)] {
        assert_eq!(
            failing(&with(|r| r.card_type = bad.into())),
            [Field::CardType]
        );
    }
    assert!(failing(&with(|r| r.card_type = "a".repeat(64))).is_empty());
    assert_eq!(
        failing(&with(|r| r.currency = "sgd".into())),
        [Field::Currency]
    );
    assert_eq!(
        failing(&with(|r| r.currency = "ABC".into())),
        [Field::Currency]
    );
}

#[test]
fn card_pan_is_checked_and_never_echoed() {
    for bad in [
        "4111117777777773",
        "411111777777",
        "4111 1177 7777 777x",
        "",
    ] {
        let e = parse_transaction(&with(|r| r.card_pan = bad.into()), today()).unwrap_err();
        assert_eq!(e.remark(), "invalid:card_pan");
        assert_eq!(
            e.fields[0].message,
            "card_pan must be 13 to 19 digits passing the Luhn check"
        );
        assert!(!format!("{e:?} {e}").contains("41111177"));
    }
    let raw = valid();
    assert!(!format!("{raw:?}").contains(PAN));
    let t = parse_transaction(&raw, today()).unwrap();
    assert!(!format!("{t:?}").contains(PAN));
}

#[test]
fn type_and_original_id() {
    let orig = "00000000-0000-4000-8000-000000000701";
    let f = |t: Option<&str>, o: Option<&str>| {
        failing(&with(|r| {
            r.type_ = t.map(Into::into);
            r.original_id = o.map(Into::into);
        }))
    };
    assert!(f(None, None).is_empty());
    assert!(f(Some(""), Some("")).is_empty());
    assert!(f(Some("purchase"), Some("  ")).is_empty());
    assert!(f(Some("reversal"), Some(orig)).is_empty());
    assert_eq!(f(Some("reversal"), Some("")), [Field::OriginalId]);
    assert_eq!(f(Some("reversal"), None), [Field::OriginalId]);
    assert_eq!(f(Some("purchase"), Some(orig)), [Field::OriginalId]);
    assert_eq!(f(None, Some(orig)), [Field::OriginalId]);
    assert_eq!(f(Some("refund"), Some("")), [Field::Type]);
    assert_eq!(f(Some("Reversal"), Some(orig)), [Field::Type]);
    assert_eq!(
        f(Some("refund"), Some("x")),
        [Field::Type, Field::OriginalId]
    );
}

#[test]
fn every_failing_field_in_column_order() {
    let raw = RawTransaction {
        id: "bad".into(),
        transaction_id: "".into(),
        merchant: "".into(),
        mcc: "0".into(),
        currency: "xx".into(),
        amount: "abc".into(),
        transaction_date: "yesterday".into(),
        card_id: "bad".into(),
        card_pan: "123".into(),
        card_type: "".into(),
        type_: Some("".into()),
        original_id: Some("".into()),
    };
    let e = parse_transaction(&raw, today()).unwrap_err();
    assert_eq!(e.raw_id, "bad");
    assert_eq!(
        e.remark(),
        "invalid:id;transaction_id;merchant;mcc;currency;amount;transaction_date;card_id;card_pan;card_type"
    );
    for fe in &e.fields {
        assert!(fe.message.starts_with(fe.field.as_str()), "{}", fe.message);
        assert_eq!(
            fe.message,
            fe.message.to_lowercase().replace("luhn", "Luhn")
        );
    }
}

#[test]
fn raw_id_is_lowercased_uuid_or_redacted_text() {
    let e = parse_transaction(
        &with(|r| {
            r.id = " 00000000-0000-4000-8000-0000000000AB ".into();
            r.mcc = "0".into();
        }),
        today(),
    )
    .unwrap_err();
    assert_eq!(e.raw_id, "00000000-0000-4000-8000-0000000000ab");
    let e = parse_transaction(&with(|r| r.id = PAN.into()), today()).unwrap_err();
    assert_eq!(e.raw_id, "411111******7772");
}

fn json_valid() -> Value {
    json!({
        "id": "00000000-0000-4000-8000-000000000701",
        "transaction_id": "T1",
        "merchant": "Shop",
        "mcc": 5999,
        "currency": "SGD",
        "amount": "10.00",
        "transaction_date": "2024-05-02",
        "card_id": "00000000-0000-4000-8000-0000000000a1",
        "card_pan": PAN,
        "card_type": "scis_shopping"
    })
}

#[test]
fn json_reads_the_csv_fields_by_name() {
    let raw = RawTransaction::from_json(&json_valid()).unwrap();
    assert_eq!(raw.mcc, "5999");
    assert_eq!(raw.type_, None);
    let t = parse_transaction(&raw, today()).unwrap();
    assert_eq!(t.mcc.get(), 5999);

    let mut v = json_valid();
    v["mcc"] = json!("0742");
    v["amount"] = serde_json::from_str("10.10").unwrap();
    v["type"] = json!("reversal");
    v["original_id"] = json!("00000000-0000-4000-8000-000000000700");
    let t = parse_json_transaction(&v, today()).unwrap();
    assert_eq!(t.mcc.get(), 742);
    assert_eq!(t.amount.to_string(), "10.10");
    assert!(matches!(t.kind, TxKind::Reversal { .. }));

    let mut v = json_valid();
    v["type"] = Value::Null;
    v["original_id"] = Value::Null;
    assert!(parse_json_transaction(&v, today()).is_ok());

    let raw: RawTransaction = serde_json::from_value(json_valid()).unwrap();
    assert_eq!(raw.card_type, "scis_shopping");
}

#[test]
fn json_numbers_are_read_from_their_literal_text() {
    for (lit, ok) in [
        ("5999", true),
        ("5999.0", false),
        ("-1", false),
        ("1e3", false),
    ] {
        let mut v = json_valid();
        v["mcc"] = serde_json::from_str(lit).unwrap();
        assert_eq!(parse_json_transaction(&v, today()).is_ok(), ok, "{lit}");
    }
    let mut v = json_valid();
    v["amount"] = serde_json::from_str("1e2").unwrap();
    let e = parse_json_transaction(&v, today()).unwrap_err();
    assert_eq!(e.remark(), "invalid:amount");
}

#[test]
fn json_shape_errors_name_every_field() {
    let mut v = json_valid();
    v["mcc"] = json!(true);
    v["merchant"] = json!(["x"]);
    v.as_object_mut().unwrap().remove("currency");
    v["amount"] = json!("0");
    v["type"] = json!(1);
    v["card_number"] = json!(PAN);
    v[PAN] = json!(1);

    let e = RawTransaction::from_json(&v).unwrap_err();
    assert_eq!(e.remark(), "invalid:row;merchant;mcc;currency;type");
    assert_eq!(e.raw_id, "00000000-0000-4000-8000-000000000701");

    let e = parse_json_transaction(&v, today()).unwrap_err();
    assert_eq!(e.remark(), "invalid:row;merchant;mcc;currency;amount;type");
    let by = |f: Field| {
        e.fields
            .iter()
            .find(|x| x.field == f)
            .unwrap()
            .message
            .clone()
    };
    assert_eq!(by(Field::Mcc), "mcc must be a json number or string");
    assert_eq!(by(Field::Merchant), "merchant must be a json string");
    assert_eq!(by(Field::Currency), "currency is missing");
    let row = by(Field::Row);
    assert!(row.contains("\"card_number\""), "{row}");
    assert!(row.contains("411111******7772"), "{row}");
    assert!(!format!("{e:?}").contains(PAN));

    let err = serde_json::from_value::<RawTransaction>(v)
        .unwrap_err()
        .to_string();
    assert!(err.contains("mcc must be"), "{err}");
    assert!(!err.contains(PAN));

    let e = parse_json_transaction(&json!([1, 2]), today()).unwrap_err();
    assert_eq!(e.remark(), "invalid:row");
    assert_eq!(e.raw_id, "");
}

#[test]
fn json_shape_of_a_bad_type_is_reported_once() {
    let mut v = json_valid();
    v["type"] = json!(false);
    v["original_id"] = json!("00000000-0000-4000-8000-000000000700");
    let e = parse_json_transaction(&v, today()).unwrap_err();
    assert_eq!(e.remark(), "invalid:type");
}
