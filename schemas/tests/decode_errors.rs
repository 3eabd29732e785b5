//! Bad input gives a clear error, never a panic.

mod common;

use common::*;
use proptest::prelude::*;
use spend_schemas::codec::{split_header, HEADER_LEN};
use spend_schemas::{codec, SchemaError};

#[test]
fn an_unknown_fingerprint_is_named() {
    let mut bytes = codec().encode_transaction(&transaction_record());
    bytes[2..10].copy_from_slice(&0x0123_4567_89ab_cdef_u64.to_le_bytes());
    let err = codec().decode_transaction(&bytes).unwrap_err();
    assert!(matches!(
        err,
        SchemaError::UnknownSchema {
            fingerprint: 0x0123_4567_89ab_cdef
        }
    ));
    assert_eq!(
        err.to_string(),
        "unknown writer schema: fingerprint 0x0123456789abcdef"
    );
}

#[test]
fn a_record_of_another_type_is_an_unknown_schema() {
    let outcome = codec().encode_outcome(&rewarded_outcome());
    assert!(matches!(
        codec().decode_transaction(&outcome),
        Err(SchemaError::UnknownSchema { fingerprint }) if fingerprint == codec().outcome().fingerprint()
    ));
}

#[test]
fn a_bad_marker_is_refused() {
    let mut bytes = codec().encode_transaction(&transaction_record());
    bytes[0] = 0x4f; // e.g. a JSON `O`… or an Avro container file's `Obj`
    assert!(matches!(
        codec().decode_transaction(&bytes),
        Err(SchemaError::BadMarker)
    ));
    assert!(matches!(
        codec().decode_transaction(b"{\"id\":1}"),
        Err(SchemaError::BadMarker)
    ));
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = codec().encode_dead_letter(&dead_letter());
    for len in 0..bytes.len() {
        let err = codec().decode_dead_letter(&bytes[..len]).unwrap_err();
        if len < HEADER_LEN {
            assert!(matches!(err, SchemaError::Truncated(_)), "{len}: {err}");
        } else {
            // a cut inside a length-prefixed value reads as a bad length or a short read
            assert!(
                matches!(err, SchemaError::Truncated(_) | SchemaError::Malformed(_)),
                "{len}: {err}"
            );
        }
    }
    // the last field (a nullable long) cut off: apache-avro alone would read it as null
    let tx = codec().encode_transaction(&transaction_record());
    assert!(matches!(
        codec().decode_transaction(&tx[..tx.len() - 1]),
        Err(SchemaError::Truncated(_))
    ));
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = codec().encode_transaction(&transaction_record());
    bytes.extend_from_slice(b"xy");
    assert!(matches!(
        codec().decode_transaction(&bytes),
        Err(SchemaError::TrailingBytes { count: 2 })
    ));
}

#[test]
fn a_body_that_is_not_the_schema_is_a_decode_error() {
    let header = &codec().encode_transaction(&transaction_record())[..HEADER_LEN];
    // a string length of -1
    let mut bytes = header.to_vec();
    bytes.push(0x01);
    assert!(codec().decode_transaction(&bytes).is_err());
    // an enum index out of range
    let mut record = codec().encode_transaction(&transaction_record());
    let needle = b"scis_shopping";
    let at = record
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
        + needle.len();
    record[at] = 0x08; // `type` = symbol 4 of 2
    let err = codec().decode_transaction(&record).unwrap_err();
    assert!(matches!(err, SchemaError::Malformed(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "malformed avro body: an enum index out of range"
    );
}

#[test]
fn split_header_reads_the_fingerprint() {
    let bytes = codec().encode_outcome(&rewarded_outcome());
    let (fp, body) = split_header(&bytes).unwrap();
    assert_eq!(fp, codec().outcome().fingerprint());
    assert_eq!(body.len(), bytes.len() - HEADER_LEN);
    assert!(matches!(
        split_header(&[0xC3]),
        Err(SchemaError::Truncated(_))
    ));
    assert!(matches!(split_header(&[]), Err(SchemaError::Truncated(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = codec().decode_transaction(&bytes);
        let _ = codec().decode_outcome(&bytes);
        let _ = codec().decode_dead_letter(&bytes);
    }

    /// Random bodies behind a valid header reach the Avro decoder itself.
    #[test]
    fn random_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        for (fp, decode) in [
            (codec().transaction().fingerprint(), 0),
            (codec().outcome().fingerprint(), 1),
            (codec().dead_letter().fingerprint(), 2),
        ] {
            let mut bytes = vec![0xC3, 0x01];
            bytes.extend_from_slice(&fp.to_le_bytes());
            bytes.extend_from_slice(&body);
            let _ = match decode {
                0 => codec().decode_transaction(&bytes).map(|r| { let _ = r.to_transaction(); }),
                1 => codec().decode_outcome(&bytes).map(|r| { let _ = r.to_outcome(); }),
                _ => codec().decode_dead_letter(&bytes).map(|_| ()),
            };
        }
    }

    /// Flipping bytes of a real message: an error or a record, never a panic; and whatever
    /// decodes re-validates without panicking.
    #[test]
    fn corrupted_messages_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
    ) {
        let mut bytes = codec().encode_dead_letter(&dead_letter());
        for (index, byte) in flips {
            let i = index.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(record) = codec().decode_dead_letter(&bytes) {
            if let Some(tx) = record.transaction {
                let _ = tx.to_transaction();
            }
        }
    }
}
