//! Schema evolution both ways, through the single-object path that picks the writer schema by
//! the fingerprint in the header.

mod common;

use apache_avro::types::Value;
use apache_avro::Schema;
use common::*;
use serde::{Deserialize, Serialize};
use spend_schemas::fingerprint::fingerprint;
use spend_schemas::{codec, RecordCodec, SchemaError, TransactionRecord};

const V1: &str = r#"{
  "type": "record", "name": "Spend", "namespace": "dev.spend.test",
  "fields": [
    {"name": "id", "type": "string"},
    {"name": "amount", "type": "string"},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["purchase", "reversal"]}}
  ]
}"#;

/// V1 plus an optional field and a field with a non-null default.
const V2: &str = r#"{
  "type": "record", "name": "Spend", "namespace": "dev.spend.test",
  "fields": [
    {"name": "id", "type": "string"},
    {"name": "amount", "type": "string"},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["purchase", "reversal"]}},
    {"name": "note", "type": ["null", "string"], "default": null},
    {"name": "channel", "type": "string", "default": "csv"}
  ]
}"#;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Purchase,
    Reversal,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct SpendV1 {
    id: String,
    amount: String,
    kind: Kind,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct SpendV2 {
    id: String,
    amount: String,
    kind: Kind,
    note: Option<String>,
    channel: String,
}

fn v1() -> SpendV1 {
    SpendV1 {
        id: "a1".into(),
        amount: "12.30".into(),
        kind: Kind::Reversal,
    }
}

fn v2() -> SpendV2 {
    SpendV2 {
        id: "a2".into(),
        amount: "0.01".into(),
        kind: Kind::Purchase,
        note: Some("hello".into()),
        channel: "api".into(),
    }
}

#[test]
fn the_versions_have_different_fingerprints() {
    let old = RecordCodec::<SpendV1>::from_json(V1, &[]).unwrap();
    let new = RecordCodec::<SpendV2>::from_json(V2, &[]).unwrap();
    assert_ne!(old.fingerprint(), new.fingerprint());
}

#[test]
fn a_new_reader_reads_old_records_with_defaults_filled() {
    let old_writer = RecordCodec::<SpendV1>::from_json(V1, &[]).unwrap();
    let new_reader = RecordCodec::<SpendV2>::from_json(V2, &[V1]).unwrap();
    let bytes = old_writer.encode(&v1()).unwrap();
    assert_eq!(&bytes[2..10], &old_writer.fingerprint().to_le_bytes());
    assert_eq!(
        new_reader.decode(&bytes).unwrap(),
        SpendV2 {
            id: "a1".into(),
            amount: "12.30".into(),
            kind: Kind::Reversal,
            note: None,
            channel: "csv".into(),
        }
    );
    // and its own records still
    assert_eq!(
        new_reader
            .decode(&new_reader.encode(&v2()).unwrap())
            .unwrap(),
        v2()
    );
}

#[test]
fn an_old_reader_reads_new_records_dropping_what_it_does_not_know() {
    let new_writer = RecordCodec::<SpendV2>::from_json(V2, &[]).unwrap();
    let old_reader = RecordCodec::<SpendV1>::from_json(V1, &[V2]).unwrap();
    let bytes = new_writer.encode(&v2()).unwrap();
    assert_eq!(
        old_reader.decode(&bytes).unwrap(),
        SpendV1 {
            id: "a2".into(),
            amount: "0.01".into(),
            kind: Kind::Purchase,
        }
    );
}

#[test]
fn a_reader_that_was_not_told_about_a_version_names_its_fingerprint() {
    let new_writer = RecordCodec::<SpendV2>::from_json(V2, &[]).unwrap();
    let old_reader = RecordCodec::<SpendV1>::from_json(V1, &[]).unwrap();
    let bytes = new_writer.encode(&v2()).unwrap();
    match old_reader.decode(&bytes) {
        Err(SchemaError::UnknownSchema { fingerprint }) => {
            assert_eq!(fingerprint, new_writer.fingerprint())
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_incompatible_writer_is_refused_when_the_codec_is_built() {
    // a writer without `amount`, which V1 needs and has no default for
    let no_amount = r#"{"type": "record", "name": "Spend", "namespace": "dev.spend.test",
        "fields": [{"name": "id", "type": "string"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["purchase", "reversal"]}}]}"#;
    assert!(matches!(
        RecordCodec::<SpendV1>::from_json(V1, &[no_amount]),
        Err(SchemaError::IncompatibleWriter { .. })
    ));
}

#[test]
fn an_enum_symbol_the_reader_lacks_is_an_error_not_a_guess() {
    let json = r#"{"type":"record","name":"Spend","namespace":"dev.spend.test","fields":[
        {"name":"id","type":"string"},{"name":"amount","type":"string"},
        {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["purchase","reversal","refund"]}}]}"#;
    let writer_schema = Schema::parse_str(json).unwrap();
    let body = apache_avro::to_avro_datum(
        &writer_schema,
        Value::Record(vec![
            ("id".into(), Value::String("a3".into())),
            ("amount".into(), Value::String("1.00".into())),
            ("kind".into(), Value::Enum(2, "refund".into())),
        ]),
    )
    .unwrap();
    let bytes = single_object(&writer_schema, &body);
    // The checker refuses a writer enum with more symbols; decoding without that check must
    // still not map `refund` onto a known symbol.
    assert!(RecordCodec::<SpendV1>::from_json(V1, &[json]).is_err());
    let reader = RecordCodec::<SpendV1>::from_json(V1, &[]).unwrap();
    assert!(reader.decode(&bytes).is_err());
}

fn single_object(schema: &Schema, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0xC3, 0x01];
    bytes.extend_from_slice(&fingerprint(schema).to_le_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// The real transaction schema with `field` removed (an older version) or with `extra` added (a
/// newer one).
fn transaction_schema_variant(remove: &[&str], extra: Option<serde_json::Value>) -> Schema {
    let current = codec().transaction().schema();
    let mut json: serde_json::Value = serde_json::to_value(current).unwrap();
    let fields = json["fields"].as_array_mut().unwrap();
    fields.retain(|f| !remove.contains(&f["name"].as_str().unwrap()));
    if let Some(extra) = extra {
        fields.push(extra);
    }
    Schema::parse(&json).unwrap()
}

fn record_value(record: &TransactionRecord, remove: &[&str]) -> Vec<(String, Value)> {
    let Value::Record(fields) = apache_avro::to_value(record).unwrap() else {
        panic!("a record")
    };
    fields
        .into_iter()
        .filter(|(name, _)| !remove.contains(&name.as_str()))
        .collect()
}

#[test]
fn the_transaction_reader_fills_fields_an_older_writer_lacked() {
    let removed = ["batch_id", "line"];
    let older = transaction_schema_variant(&removed, None);
    let body = apache_avro::to_avro_datum(
        &older,
        Value::Record(record_value(&transaction_record(), &removed)),
    )
    .unwrap();
    let reader = RecordCodec::<TransactionRecord>::new(
        codec().transaction().schema().clone(),
        vec![older.clone()],
    )
    .unwrap();
    let decoded = reader.decode(&single_object(&older, &body)).unwrap();
    assert_eq!(
        decoded,
        TransactionRecord {
            batch_id: None,
            line: None,
            ..transaction_record()
        }
    );
    assert_eq!(decoded.to_transaction().unwrap(), purchase());
}

#[test]
fn the_transaction_reader_reads_a_newer_writer() {
    let newer = transaction_schema_variant(
        &[],
        Some(serde_json::json!({"name": "channel", "type": ["null", "string"], "default": null})),
    );
    let mut fields = record_value(&transaction_record(), &[]);
    fields.push((
        "channel".into(),
        Value::Union(1, Box::new(Value::String("mobile".into()))),
    ));
    let body = apache_avro::to_avro_datum(&newer, Value::Record(fields)).unwrap();
    let bytes = single_object(&newer, &body);
    // the pipeline's codec was not told: a clear error …
    assert!(matches!(
        codec().decode_transaction(&bytes),
        Err(SchemaError::UnknownSchema { .. })
    ));
    // … and once the version is listed, it reads
    let reader =
        RecordCodec::<TransactionRecord>::new(codec().transaction().schema().clone(), vec![newer])
            .unwrap();
    assert_eq!(reader.decode(&bytes).unwrap(), transaction_record());
}
