//! Schema fingerprints as the Avro specification and the Java reference implementation compute
//! them: CRC-64-AVRO (Rabin) of the parsing canonical form.
//!
//! apache-avro 0.21 writes a primitive carrying a logical type (`{"type": "int", "logicalType":
//! "date"}`) into the canonical form as `{"type":"int"}`; the specification's `[PRIMITIVES]` rule
//! and Java write `"int"`. Its fingerprints therefore differ from every other implementation's for
//! any schema with a logical type — ours have dates and timestamps — so a Java or Python consumer
//! would not recognise our headers. This module applies the rule.

use apache_avro::Schema;

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// The parsing canonical form of `schema`, per the specification.
pub fn parsing_canonical_form(schema: &Schema) -> String {
    let mut form = schema.canonical_form();
    // Safe as plain text: names and symbols cannot hold `{` or `"`, and docs and defaults are
    // already stripped.
    for primitive in PRIMITIVES {
        form = form.replace(
            &format!(r#"{{"type":"{primitive}"}}"#),
            &format!(r#""{primitive}""#),
        );
    }
    form
}

/// The CRC-64-AVRO fingerprint of `schema`, as a number; a header holds its little-endian bytes.
pub fn fingerprint(schema: &Schema) -> u64 {
    rabin64(parsing_canonical_form(schema).as_bytes())
}

const EMPTY: u64 = 0xc15d_213a_a4d7_a795;

const TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut fp = i as u64;
        let mut bit = 0;
        while bit < 8 {
            fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
            bit += 1;
        }
        table[i] = fp;
        i += 1;
    }
    table
};

/// The 64-bit Rabin fingerprint of the specification ("CRC-64-AVRO").
pub fn rabin64(bytes: &[u8]) -> u64 {
    let mut fp = EMPTY;
    for &b in bytes {
        fp = (fp >> 8) ^ TABLE[((fp ^ u64::from(b)) & 0xff) as usize];
    }
    fp
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::rabin::Rabin;

    #[test]
    fn rabin_matches_the_specification_vector_and_apache_avro() {
        assert_eq!(rabin64(br#""null""#), 7_195_948_357_588_979_594);
        let plain = Schema::parse_str(
            r#"{"type":"record","name":"r","namespace":"n","fields":[{"name":"a","type":"long"}]}"#,
        )
        .unwrap();
        let theirs = plain.fingerprint::<Rabin>().bytes;
        assert_eq!(
            fingerprint(&plain).to_le_bytes().as_slice(),
            theirs.as_slice()
        );
    }

    #[test]
    fn logical_types_reduce_to_their_primitive() {
        let logical = Schema::parse_str(
            r#"{"type":"record","name":"r","fields":[
                {"name":"d","type":{"type":"int","logicalType":"date"}},
                {"name":"t","type":["null",{"type":"long","logicalType":"timestamp-millis"}]}]}"#,
        )
        .unwrap();
        let plain = Schema::parse_str(
            r#"{"type":"record","name":"r","fields":[
                {"name":"d","type":"int"},{"name":"t","type":["null","long"]}]}"#,
        )
        .unwrap();
        assert_eq!(
            parsing_canonical_form(&logical),
            r#"{"name":"r","type":"record","fields":[{"name":"d","type":"int"},{"name":"t","type":["null","long"]}]}"#
        );
        assert_eq!(fingerprint(&logical), fingerprint(&plain));
    }
}
