//! The header's fingerprint is CRC-64-AVRO of the parsing canonical form, and every published
//! writer schema stays readable.

use spend_schemas::codec;
use spend_schemas::fingerprint::{fingerprint, parsing_canonical_form, rabin64};

/// The transaction schema's parsing canonical form as the Java reference implementation writes it
/// (logical types reduced to their primitive): what any other consumer fingerprints.
const TRANSACTION_CANONICAL: &str = concat!(
    r#"{"name":"dev.spend.Transaction","type":"record","fields":["#,
    r#"{"name":"id","type":"string"},{"name":"transaction_id","type":"string"},"#,
    r#"{"name":"merchant","type":"string"},{"name":"mcc","type":"int"},"#,
    r#"{"name":"currency","type":"string"},{"name":"amount","type":"string"},"#,
    r#"{"name":"transaction_date","type":"int"},{"name":"card_id","type":"string"},"#,
    r#"{"name":"card_pan","type":"string"},{"name":"card_type","type":"string"},"#,
    r#"{"name":"type","type":{"name":"dev.spend.TransactionType","type":"enum","symbols":["purchase","reversal"]}},"#,
    r#"{"name":"original_id","type":["null","string"]},{"name":"received_at","type":"long"},"#,
    r#"{"name":"batch_id","type":["null","string"]},{"name":"line","type":["null","long"]}]}"#,
);

#[test]
fn fingerprints_are_crc64_avro_of_the_specification_canonical_form() {
    let c = codec();
    let transaction = c.transaction().schema();
    assert_eq!(parsing_canonical_form(transaction), TRANSACTION_CANONICAL);
    assert_eq!(
        c.transaction().fingerprint(),
        rabin64(TRANSACTION_CANONICAL.as_bytes())
    );
    for (schema, fp) in [
        (c.outcome().schema(), c.outcome().fingerprint()),
        (c.dead_letter().schema(), c.dead_letter().fingerprint()),
    ] {
        let canonical = parsing_canonical_form(schema);
        assert!(
            !canonical.contains(r#"{"type":"int"}"#) && !canonical.contains(r#"{"type":"long"}"#)
        );
        assert_eq!(fingerprint(schema), fp);
    }
}

#[test]
fn the_dead_letter_nests_the_published_transaction_schema() {
    let c = codec();
    let canonical = c.dead_letter().schema().canonical_form();
    assert!(canonical.contains(&c.transaction().schema().canonical_form()));
    assert!(parsing_canonical_form(c.dead_letter().schema()).contains(TRANSACTION_CANONICAL));
}

/// Every writer schema ever published, by fingerprint. A schema file that changes gets a new
/// fingerprint: this test then fails until the previous version is saved under `versions/` and
/// listed in `src/codec.rs` (so records already in Kafka or in a store stay readable), and the
/// new fingerprint is added here.
const PUBLISHED: &[(&str, u64)] = &[
    ("transaction", 0x0fa5_ac1d_f949_00ff),
    ("outcome", 0x3486_6d5c_d430_6619),
    ("dead_letter", 0x4719_38f6_00c9_2f0f),
];

#[test]
fn published_fingerprints_stay_readable() {
    let c = codec();
    let known = |record: &str| -> Vec<u64> {
        match record {
            "transaction" => c.transaction().known_fingerprints().collect(),
            "outcome" => c.outcome().known_fingerprints().collect(),
            "dead_letter" => c.dead_letter().known_fingerprints().collect(),
            other => panic!("unknown record {other}"),
        }
    };
    for (record, fp) in PUBLISHED {
        assert!(
            known(record).contains(fp),
            "{record} schema {fp:#018x} was published but is no longer readable: \
             save it under versions/ and list it in src/codec.rs"
        );
    }
    for (record, current) in [
        ("transaction", c.transaction().fingerprint()),
        ("outcome", c.outcome().fingerprint()),
        ("dead_letter", c.dead_letter().fingerprint()),
    ] {
        assert!(
            PUBLISHED.contains(&(record, current)),
            "{record} schema changed to {current:#018x}: keep the old version readable \
             (versions/README.md) and add the new fingerprint to PUBLISHED"
        );
    }
}
