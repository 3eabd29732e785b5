//! Every record type survives encode → decode, and the domain conversions are lossless.

mod common;

use apache_avro::schema::Schema;
use apache_avro::types::Value;
use common::*;
use spend_domain::eval::{DeadLetterReason, Outcome, Reward};
use spend_domain::{TxKind, Unit};
use spend_schemas::{
    codec, DeadLetterRecord, OutcomeRecord, OutcomeStatus, ReasonCode, RewardUnit, SchemaError,
    TransactionRecord, TxType,
};

#[test]
fn transaction_round_trips() {
    let record = transaction_record();
    let bytes = codec().encode_transaction(&record);
    assert_eq!(&bytes[..2], &[0xC3, 0x01]);
    assert_eq!(
        &bytes[2..10],
        &codec().transaction().fingerprint().to_le_bytes()
    );
    assert_eq!(codec().decode_transaction(&bytes).unwrap(), record);
}

#[test]
fn transaction_wire_form_is_what_the_spec_writes() {
    let r = transaction_record();
    assert_eq!(
        r.id, "6f9619ff-8b86-d011-b42d-00c04fc964ff",
        "ids are lower case"
    );
    assert_eq!(r.amount, "1234.50", "exactly 2 fractional digits");
    assert_eq!(r.mcc, 742);
    assert_eq!(r.currency, "THB");
    assert_eq!(r.transaction_date, 19_782, "days since 1970-01-01");
    assert_eq!(r.card_pan, "411111******1111");
    assert_eq!(r.kind, TxType::Purchase);
    assert_eq!(r.original_id, None);
    assert_eq!(r.batch_id.as_deref(), Some("batch-7"));
    assert_eq!(r.line, Some(42));
}

#[test]
fn a_transaction_from_domain_types_comes_back_equal() {
    for tx in [purchase(), reversal()] {
        let record = TransactionRecord::from_transaction(&tx, 0, None, None);
        let decoded = codec()
            .decode_transaction(&codec().encode_transaction(&record))
            .unwrap();
        assert_eq!(decoded.to_transaction().unwrap(), tx);
    }
    let rev = TransactionRecord::from_transaction(&reversal(), 0, None, None);
    assert_eq!(rev.kind, TxType::Reversal);
    assert_eq!(
        rev.original_id.as_deref(),
        Some("6f9619ff-8b86-d011-b42d-00c04fc964ff")
    );
}

#[test]
fn to_transaction_revalidates_every_field() {
    type Edit = fn(&mut TransactionRecord);
    let cases: &[(&str, Edit)] = &[
        ("id", |r| r.id = "not-a-uuid".into()),
        ("transaction_id", |r| r.transaction_id = String::new()),
        ("transaction_id", |r| r.transaction_id = "x".repeat(65)),
        ("merchant", |r| r.merchant = " padded".into()),
        ("mcc", |r| r.mcc = 0),
        ("mcc", |r| r.mcc = 10_000),
        ("mcc", |r| r.mcc = -742),
        ("currency", |r| r.currency = "sgd".into()),
        ("amount", |r| r.amount = "0.00".into()),
        ("amount", |r| r.amount = "12.5".into()),
        ("amount", |r| r.amount = "1e3".into()),
        ("amount", |r| r.amount = "1000000000.01".into()),
        ("transaction_date", |r| r.transaction_date = i32::MAX),
        ("card_id", |r| {
            r.card_id = "{00000000-0000-4000-8000-0000000000c1}".into()
        }),
        ("card_pan", |r| r.card_pan = PAN.into()),
        ("card_type", |r| r.card_type = "SCIS".into()),
        ("original_id", |r| r.original_id = Some(r.id.clone())),
        ("original_id", |r| r.kind = TxType::Reversal),
    ];
    for (field, edit) in cases {
        let mut record = transaction_record();
        edit(&mut record);
        match record.to_transaction() {
            Err(SchemaError::InvalidField { field: f, .. }) => assert_eq!(f, *field),
            other => panic!("{field}: expected invalid field, got {other:?}"),
        }
    }
}

#[test]
fn the_error_for_a_full_pan_does_not_echo_it() {
    let mut record = transaction_record();
    record.card_pan = PAN.into();
    let message = record.to_transaction().unwrap_err().to_string();
    assert_eq!(message, "invalid field `card_pan`: expected a masked pan");
    assert!(!message.contains(PAN));
}

#[test]
fn encoded_bytes_never_hold_the_full_pan() {
    let needle = PAN.as_bytes();
    let contains = |hay: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    let tx = codec().encode_transaction(&transaction_record());
    let outcome = codec().encode_outcome(&rewarded_outcome());
    let dlq = codec().encode_dead_letter(&dead_letter());
    for bytes in [&tx, &outcome, &dlq] {
        assert!(!contains(bytes));
        // the masked form is there: the test looks at the right bytes
        assert!(bytes.windows(16).any(|w| w == b"411111******1111"));
    }
}

#[test]
fn outcomes_round_trip_and_convert_back() {
    for record in [rewarded_outcome(), dead_letter_outcome()] {
        let decoded = codec()
            .decode_outcome(&codec().encode_outcome(&record))
            .unwrap();
        assert_eq!(decoded, record);
        assert_eq!(decoded.to_transaction().unwrap(), purchase());
    }
    let rewarded = rewarded_outcome();
    assert_eq!(rewarded.status, OutcomeStatus::Rewarded);
    assert_eq!(rewarded.reward.as_deref(), Some("12345.60"));
    assert_eq!(rewarded.amount_sgd.as_deref(), Some("45.67"));
    assert_eq!(rewarded.program, "scis_shopping");
    assert_eq!(rewarded.to_outcome().unwrap(), Outcome::Rewarded(reward()));
    assert_eq!(
        dead_letter_outcome().to_outcome().unwrap(),
        Outcome::DeadLetter(DeadLetterReason::NoFxRate)
    );
    assert_eq!(dead_letter_outcome().reward, None);
}

#[test]
fn a_reversal_outcome_keeps_its_original() {
    let reward = Reward {
        reward: dec("-0.00"),
        unit: Unit::Miles,
        amount_sgd: None,
        base_campaign: None,
        promo_campaign: None,
        remark: "reversal".to_owned(),
        config_revision: 3,
        reversal_of: Some(purchase().id),
    };
    let record = OutcomeRecord::rewarded(&reversal(), &reward, 5);
    assert_eq!(record.reward.as_deref(), Some("0.00"), "never -0.00");
    let decoded = codec()
        .decode_outcome(&codec().encode_outcome(&record))
        .unwrap();
    let Outcome::Rewarded(back) = decoded.to_outcome().unwrap() else {
        panic!("rewarded")
    };
    assert_eq!(
        back,
        Reward {
            reward: dec("0.00"),
            ..reward
        }
    );
    assert!(matches!(
        decoded.to_transaction().unwrap().kind,
        TxKind::Reversal { .. }
    ));
}

#[test]
fn contradictory_outcomes_are_refused() {
    let mut no_reason = dead_letter_outcome();
    no_reason.reason = None;
    let mut reward_on_dead_letter = dead_letter_outcome();
    reward_on_dead_letter.reward = Some("1.00".into());
    let mut no_reward = rewarded_outcome();
    no_reward.reward = None;
    let mut reason_on_rewarded = rewarded_outcome();
    reason_on_rewarded.reason = Some(ReasonCode::NoFxRate);
    let mut bad_campaign = rewarded_outcome();
    bad_campaign.base_campaign = Some("base".into());
    for record in [
        no_reason,
        reward_on_dead_letter,
        no_reward,
        reason_on_rewarded,
        bad_campaign,
    ] {
        assert!(
            matches!(record.to_outcome(), Err(SchemaError::InvalidField { .. })),
            "{record:?}"
        );
    }
}

#[test]
fn dead_letters_round_trip() {
    let undecodable = DeadLetterRecord::undecodable(
        &[0xC3, 0x01, 0xde, 0xad],
        "message truncated: shorter than the 10-byte header".to_owned(),
        7,
    );
    for record in [dead_letter(), undecodable] {
        let decoded = codec()
            .decode_dead_letter(&codec().encode_dead_letter(&record))
            .unwrap();
        assert_eq!(decoded, record);
    }
    // the nested transaction is the published record itself: a replay re-publishes it as is
    let replay = dead_letter().transaction.unwrap();
    assert_eq!(
        codec()
            .decode_transaction(&codec().encode_transaction(&replay))
            .unwrap()
            .to_transaction()
            .unwrap(),
        purchase()
    );
}

#[test]
fn every_enum_symbol_round_trips() {
    // The encoder writes a variant's index and the decoder reads a symbol's name: a Rust enum
    // out of step with its schema's symbols would come back as another variant, or fail.
    let units = [RewardUnit::Points, RewardUnit::Miles, RewardUnit::Cashback];
    let reasons = [
        ReasonCode::UnknownProgram,
        ReasonCode::NoFxRate,
        ReasonCode::OriginalNotFound,
        ReasonCode::CurrencyMismatch,
        ReasonCode::Undecodable,
    ];
    for unit in units {
        let record = OutcomeRecord {
            unit: Some(unit),
            ..rewarded_outcome()
        };
        let back = codec()
            .decode_outcome(&codec().encode_outcome(&record))
            .unwrap();
        assert_eq!(back.unit, Some(unit));
        assert_eq!(Unit::from(unit).as_str(), symbol(&unit));
    }
    for reason in reasons {
        let outcome = OutcomeRecord {
            reason: Some(reason),
            ..dead_letter_outcome()
        };
        let back = codec()
            .decode_outcome(&codec().encode_outcome(&outcome))
            .unwrap();
        assert_eq!(back.reason, Some(reason));
        let dlq = DeadLetterRecord {
            reason,
            ..dead_letter()
        };
        let back = codec()
            .decode_dead_letter(&codec().encode_dead_letter(&dlq))
            .unwrap();
        assert_eq!(back.reason, reason);
        assert_eq!(DeadLetterReason::from(reason).as_str(), symbol(&reason));
    }
    for kind in [TxType::Purchase, TxType::Reversal] {
        let record = TransactionRecord {
            kind,
            ..transaction_record()
        };
        let back = codec()
            .decode_transaction(&codec().encode_transaction(&record))
            .unwrap();
        assert_eq!(back.kind, kind);
        let outcome = OutcomeRecord {
            kind,
            ..rewarded_outcome()
        };
        let back = codec()
            .decode_outcome(&codec().encode_outcome(&outcome))
            .unwrap();
        assert_eq!(back.kind, kind);
    }
    for status in [OutcomeStatus::Rewarded, OutcomeStatus::DeadLetter] {
        let outcome = OutcomeRecord {
            status,
            ..rewarded_outcome()
        };
        let back = codec()
            .decode_outcome(&codec().encode_outcome(&outcome))
            .unwrap();
        assert_eq!(back.status, status);
    }
}

fn symbol<T: serde::Serialize>(v: &T) -> String {
    match apache_avro::to_value(v).unwrap() {
        Value::Enum(_, s) | Value::String(s) => s,
        other => panic!("{other:?}"),
    }
}

/// The fast encoder writes fields in the order serde hands them over, unchecked; the `Value`
/// encoder places them by name. Equal bytes prove every struct declares the schema's fields, in
/// the schema's order.
#[test]
fn wire_types_declare_the_schema_fields_in_order() {
    fn check<T: serde::Serialize>(schema: &Schema, record: &T, fast: &[u8]) {
        let value = apache_avro::to_value(record).unwrap();
        field_names_match(schema, &value);
        let by_name = apache_avro::to_avro_datum(schema, value).unwrap();
        assert_eq!(&fast[10..], &by_name[..]);
    }
    let c = codec();
    check(
        c.transaction().schema(),
        &transaction_record(),
        &c.encode_transaction(&transaction_record()),
    );
    for o in [rewarded_outcome(), dead_letter_outcome()] {
        check(c.outcome().schema(), &o, &c.encode_outcome(&o));
    }
    check(
        c.dead_letter().schema(),
        &dead_letter(),
        &c.encode_dead_letter(&dead_letter()),
    );
}

fn field_names_match(schema: &Schema, value: &Value) {
    match (schema, value) {
        (Schema::Record(record), Value::Record(fields)) => {
            let schema_names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
            let value_names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(value_names, schema_names, "fields of {}", record.name);
            for (field, (_, v)) in record.fields.iter().zip(fields) {
                field_names_match(&field.schema, v);
            }
        }
        (Schema::Union(union), Value::Union(i, v)) => {
            field_names_match(&union.variants()[*i as usize], v);
        }
        (Schema::Union(union), v) => {
            for variant in union.variants() {
                if matches!(variant, Schema::Record(_)) {
                    field_names_match(variant, v);
                }
            }
        }
        _ => {}
    }
}
