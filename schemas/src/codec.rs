//! Avro single-object encoding: `C3 01`, the writer schema's 8-byte little-endian CRC-64-AVRO
//! (Rabin) fingerprint ([`crate::fingerprint`]), then the Avro binary body.
//!
//! A [`RecordCodec`] writes with the current schema and reads any writer schema it knows by
//! fingerprint, resolving it to the current (reader) schema: records written by an older or a
//! newer release decode as long as that release's schema is listed (see `versions/README.md`).
//! Schemas are parsed once; [`codec`] holds the pipeline's three.

use std::io::{self, Read};
use std::marker::PhantomData;
use std::sync::LazyLock;

use apache_avro::headers::HeaderBuilder;
use apache_avro::schema::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::GenericSingleObjectReader;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::compose::{compose, NAMED_TYPES};
use crate::direct::{self, DirectError};
use crate::error::{Result, SchemaError};
use crate::fingerprint::fingerprint;
use crate::{DeadLetterRecord, OutcomeRecord, TransactionRecord};

/// The two bytes every single-object message starts with.
pub const MARKER: [u8; 2] = [0xC3, 0x01];
/// Marker plus fingerprint.
pub const HEADER_LEN: usize = 10;

/// The current schema files: the single source of truth for what is written.
pub const TRANSACTION_AVSC: &str = include_str!("../transaction.avsc");
pub const OUTCOME_AVSC: &str = include_str!("../outcome.avsc");
pub const DEAD_LETTER_AVSC: &str = include_str!("../dead_letter.avsc");

/// Other writer schemas each reader accepts: self-contained files under `versions/`, oldest
/// first. Empty while only one version was ever published.
const TRANSACTION_WRITERS: &[&str] = &[];
const OUTCOME_WRITERS: &[&str] = &[];
const DEAD_LETTER_WRITERS: &[&str] = &[];

/// The writer fingerprint of a single-object message, and its body.
pub fn split_header(message: &[u8]) -> Result<(u64, &[u8])> {
    if message.len() >= MARKER.len() && message[..MARKER.len()] != MARKER {
        return Err(SchemaError::BadMarker);
    }
    if message.len() < HEADER_LEN {
        return Err(SchemaError::Truncated("shorter than the 10-byte header"));
    }
    let mut fp = [0u8; 8];
    fp.copy_from_slice(&message[MARKER.len()..HEADER_LEN]);
    Ok((u64::from_le_bytes(fp), &message[HEADER_LEN..]))
}

struct KnownWriter {
    fingerprint: u64,
    reader: GenericSingleObjectReader,
    /// Another version than the reader schema: its values must be resolved.
    resolve: bool,
    /// The reader schema itself, and one [`direct`] reads: no `Value` in between.
    direct: bool,
}

/// Encodes `T` with one reader (current) schema; decodes `T` from any known writer schema.
pub struct RecordCodec<T> {
    schema: Schema,
    fingerprint: u64,
    header: [u8; HEADER_LEN],
    /// The encoder that skips building a `Value` cannot follow a reference to a named type
    /// defined earlier in the schema; a schema that has one is encoded through a `Value`.
    has_references: bool,
    /// The reader schema's own writer first: the common case is found at once.
    writers: Vec<KnownWriter>,
    _record: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> RecordCodec<T> {
    /// A codec writing `schema` and reading it and `other_writers` (self-contained schemas).
    /// Fails if a writer cannot be resolved to `schema`.
    pub fn new(schema: Schema, other_writers: Vec<Schema>) -> Result<Self> {
        let fp = fingerprint(&schema);
        let header = header(fp);
        let mut writers = vec![known_writer(schema.clone(), fp, false)?];
        for writer in other_writers {
            let wfp = fingerprint(&writer);
            if writers.iter().any(|w| w.fingerprint == wfp) {
                continue;
            }
            SchemaCompatibility::can_read(&writer, &schema).map_err(|e| {
                SchemaError::IncompatibleWriter {
                    fingerprint: wfp,
                    reason: e.to_string(),
                }
            })?;
            writers.push(known_writer(writer, wfp, true)?);
        }
        Ok(RecordCodec {
            has_references: has_references(&schema),
            schema,
            fingerprint: fp,
            header,
            writers,
            _record: PhantomData,
        })
    }

    /// As [`RecordCodec::new`], from self-contained JSON schemas.
    pub fn from_json(schema: &str, other_writers: &[&str]) -> Result<Self> {
        let parse = |json: &str| compose(json, &[]);
        let others = other_writers
            .iter()
            .map(|w| parse(w))
            .collect::<Result<Vec<_>>>()?;
        Self::new(parse(schema)?, others)
    }

    /// The reader (and writer) schema, self-contained.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The fingerprint of [`RecordCodec::schema`], as written in every header.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Every writer fingerprint this codec decodes, its own first.
    pub fn known_fingerprints(&self) -> impl Iterator<Item = u64> + '_ {
        self.writers.iter().map(|w| w.fingerprint)
    }

    /// Appends the single-object encoding of `value` to `out` (left as it was on error).
    pub fn encode_into(&self, value: &T, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        out.extend_from_slice(&self.header);
        let written = if self.has_references {
            apache_avro::to_value(value)
                .and_then(|v| apache_avro::to_avro_datum(&self.schema, v))
                .map(|body| out.extend_from_slice(&body))
        } else {
            apache_avro::write_avro_datum_ref(&self.schema, value, out).map(drop)
        };
        written.map_err(|e| {
            out.truncate(start);
            SchemaError::Encode(e)
        })
    }

    /// The single-object encoding of `value`.
    pub fn encode(&self, value: &T) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(256);
        self.encode_into(value, &mut out)?;
        Ok(out)
    }

    /// Decodes a single-object message written with any known writer schema. Never panics on
    /// bad input: a wrong marker, an unknown fingerprint, a truncated or over-long body and a
    /// body that is not the writer schema's are each an error.
    pub fn decode(&self, message: &[u8]) -> Result<T> {
        self.decode_with(message, true)
    }

    /// As [`RecordCodec::decode`]; `allow_direct: false` forces the `Value` path (for tests
    /// comparing the two).
    pub(crate) fn decode_with(&self, message: &[u8], allow_direct: bool) -> Result<T> {
        let (fp, body) = split_header(message)?;
        let writer = self
            .writers
            .iter()
            .find(|w| w.fingerprint == fp)
            .ok_or(SchemaError::UnknownSchema { fingerprint: fp })?;
        if writer.direct && allow_direct {
            return match direct::decode(&self.schema, body) {
                Ok((value, 0)) => Ok(value),
                Ok((_, count)) => Err(SchemaError::TrailingBytes { count }),
                Err(DirectError::Truncated) => {
                    Err(SchemaError::Truncated("the body ended inside a value"))
                }
                Err(DirectError::Malformed(m)) => Err(SchemaError::Malformed(m)),
            };
        }
        let mut input = SliceReader::new(message);
        let decoded = writer.reader.read_value(&mut input);
        // apache-avro reads a string or a union cut short by the end of input as null; the
        // reader notices the short read whatever the decoder made of it.
        if input.hit_end {
            return Err(SchemaError::Truncated("the body ended inside a value"));
        }
        let mut value = decoded.map_err(SchemaError::Decode)?;
        if !input.rest.is_empty() {
            return Err(SchemaError::TrailingBytes {
                count: input.rest.len(),
            });
        }
        if writer.resolve {
            value = value.resolve(&self.schema).map_err(SchemaError::Decode)?;
        }
        apache_avro::from_value(&value).map_err(SchemaError::Decode)
    }
}

fn header(fingerprint: u64) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..MARKER.len()].copy_from_slice(&MARKER);
    header[MARKER.len()..].copy_from_slice(&fingerprint.to_le_bytes());
    header
}

/// The header apache-avro's reader expects, with our (specification) fingerprint rather than its
/// own (see [`crate::fingerprint`]).
struct Header(u64);

impl HeaderBuilder for Header {
    fn build_header(&self) -> Vec<u8> {
        header(self.0).to_vec()
    }
}

fn known_writer(schema: Schema, fingerprint: u64, resolve: bool) -> Result<KnownWriter> {
    let direct = !resolve && direct::supports(&schema);
    Ok(KnownWriter {
        fingerprint,
        reader: GenericSingleObjectReader::new_with_header_builder(schema, Header(fingerprint))
            .map_err(|e| SchemaError::InvalidSchema(e.to_string()))?,
        resolve,
        direct,
    })
}

fn has_references(schema: &Schema) -> bool {
    match schema {
        Schema::Ref { .. } => true,
        Schema::Record(record) => record.fields.iter().any(|f| has_references(&f.schema)),
        Schema::Union(union) => union.variants().iter().any(has_references),
        Schema::Array(array) => has_references(&array.items),
        Schema::Map(map) => has_references(&map.types),
        _ => false,
    }
}

/// A reader over a message that remembers whether anything tried to read past its end.
struct SliceReader<'a> {
    rest: &'a [u8],
    hit_end: bool,
}

impl<'a> SliceReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        SliceReader {
            rest: bytes,
            hit_end: false,
        }
    }
}

impl Read for SliceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.rest.is_empty() {
            self.hit_end = true;
            return Ok(0);
        }
        let n = buf.len().min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        if buf.len() > self.rest.len() {
            self.hit_end = true;
            self.rest = &[];
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let (head, tail) = self.rest.split_at(buf.len());
        buf.copy_from_slice(head);
        self.rest = tail;
        Ok(())
    }
}

/// The pipeline's codecs: transactions, outcomes and dead letters, built from the schema files.
pub struct Codec {
    transaction: RecordCodec<TransactionRecord>,
    outcome: RecordCodec<OutcomeRecord>,
    dead_letter: RecordCodec<DeadLetterRecord>,
}

/// The process-wide [`Codec`], built on first use.
pub fn codec() -> &'static Codec {
    static CODEC: LazyLock<Codec> = LazyLock::new(|| {
        Codec::new().unwrap_or_else(|e| panic!("bug: the schema files do not build: {e}"))
    });
    &CODEC
}

impl Codec {
    /// Composes and parses the schema files; fails only if they are broken (a test builds it).
    pub fn new() -> Result<Self> {
        let versions = |files: &[&str]| {
            files
                .iter()
                .map(|f| compose(f, &[]))
                .collect::<Result<Vec<_>>>()
        };
        Ok(Codec {
            transaction: RecordCodec::new(
                compose(TRANSACTION_AVSC, NAMED_TYPES)?,
                versions(TRANSACTION_WRITERS)?,
            )?,
            outcome: RecordCodec::new(
                compose(OUTCOME_AVSC, NAMED_TYPES)?,
                versions(OUTCOME_WRITERS)?,
            )?,
            dead_letter: RecordCodec::new(
                compose(DEAD_LETTER_AVSC, NAMED_TYPES)?,
                versions(DEAD_LETTER_WRITERS)?,
            )?,
        })
    }

    pub fn transaction(&self) -> &RecordCodec<TransactionRecord> {
        &self.transaction
    }

    pub fn outcome(&self) -> &RecordCodec<OutcomeRecord> {
        &self.outcome
    }

    pub fn dead_letter(&self) -> &RecordCodec<DeadLetterRecord> {
        &self.dead_letter
    }

    pub fn encode_transaction(&self, record: &TransactionRecord) -> Vec<u8> {
        infallible(self.transaction.encode(record), "TransactionRecord")
    }

    pub fn decode_transaction(&self, message: &[u8]) -> Result<TransactionRecord> {
        self.transaction.decode(message)
    }

    pub fn encode_outcome(&self, record: &OutcomeRecord) -> Vec<u8> {
        infallible(self.outcome.encode(record), "OutcomeRecord")
    }

    pub fn decode_outcome(&self, message: &[u8]) -> Result<OutcomeRecord> {
        self.outcome.decode(message)
    }

    pub fn encode_dead_letter(&self, record: &DeadLetterRecord) -> Vec<u8> {
        infallible(self.dead_letter.encode(record), "DeadLetterRecord")
    }

    pub fn decode_dead_letter(&self, message: &[u8]) -> Result<DeadLetterRecord> {
        self.dead_letter.decode(message)
    }
}

/// Every field type of the wire records can hold any value its Rust type can (strings, `i32`,
/// `i64`, enums whose variants are the schema's symbols), so encoding fails only if a record type
/// and its schema file disagree: a bug the tests catch, not a data error.
fn infallible(encoded: Result<Vec<u8>>, record: &str) -> Vec<u8> {
    encoded.unwrap_or_else(|e| panic!("bug: {record} does not match its schema: {e}"))
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pair {
        first: Point,
        second: Option<Point>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Point {
        x: i64,
    }

    /// `Point` is defined once and then referenced: the schema shape the fast paths leave to
    /// apache-avro's `Value`.
    const PAIR: &str = r#"{"type":"record","name":"Pair","namespace":"t","fields":[
        {"name":"first","type":{"type":"record","name":"Point","fields":[{"name":"x","type":"long"}]}},
        {"name":"second","type":["null","t.Point"]}]}"#;

    #[test]
    fn schemas_with_references_take_the_value_paths() {
        let codec = RecordCodec::<Pair>::from_json(PAIR, &[]).unwrap();
        assert!(codec.has_references);
        assert!(!codec.writers[0].direct);
        let pair = Pair {
            first: Point { x: -3 },
            second: Some(Point { x: 1 << 40 }),
        };
        let bytes = codec.encode(&pair).unwrap();
        assert_eq!(codec.decode(&bytes).unwrap(), pair);
    }

    #[test]
    fn a_failed_encode_leaves_the_buffer_as_it_was() {
        #[derive(Serialize, Deserialize)]
        struct Wrong {
            first: String,
        }
        let codec = RecordCodec::<Wrong>::from_json(PAIR, &[]).unwrap();
        let mut out = vec![1, 2, 3];
        let wrong = Wrong {
            first: "not a point".into(),
        };
        assert!(matches!(
            codec.encode_into(&wrong, &mut out),
            Err(SchemaError::Encode(_))
        ));
        assert_eq!(out, [1, 2, 3]);
    }

    #[test]
    fn the_pipeline_codec_builds_and_reads_its_own_schemas_directly() {
        let codec = Codec::new().unwrap();
        for direct in [
            codec.transaction.writers[0].direct,
            codec.outcome.writers[0].direct,
            codec.dead_letter.writers[0].direct,
        ] {
            assert!(direct);
        }
        assert!(!codec.transaction.has_references);
        assert!(!codec.outcome.has_references);
        assert!(!codec.dead_letter.has_references);
    }
}
