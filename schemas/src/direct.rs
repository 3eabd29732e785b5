//! A serde `Deserializer` that reads an Avro binary body straight into a wire type, walking the
//! writer schema, for the common case where the writer schema is the reader's own.
//!
//! apache-avro decodes into a generic `Value` (cloning every field name), and `from_value` then
//! copies every string again: about 2 µs a transaction record. Reading straight into the struct
//! costs a fraction of that. It handles the schema shapes the wire records use (primitives, the
//! date and time logical types, records, enums, unions); a schema with anything else is decoded
//! through apache-avro's `Value` instead (see [`supports`]), as is every record that needs
//! resolving to another version. A test checks both paths decode the same values.
//!
//! Lengths are checked against the input before anything is allocated, so a corrupt length costs
//! nothing.

use std::fmt;

use apache_avro::schema::{RecordSchema, Schema};
use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

/// Why a body does not decode.
#[derive(Debug)]
pub(crate) enum DirectError {
    /// The input ended inside a value.
    Truncated,
    /// Bytes that are not a value of the schema, or a value the Rust type refuses.
    Malformed(String),
}

impl fmt::Display for DirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirectError::Truncated => f.write_str("the body ended inside a value"),
            DirectError::Malformed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DirectError {}

impl de::Error for DirectError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DirectError::Malformed(msg.to_string())
    }
}

type DResult<T> = Result<T, DirectError>;

fn malformed<T>(msg: &str) -> DResult<T> {
    Err(DirectError::Malformed(msg.to_owned()))
}

/// Whether [`decode`] can read every value of `schema`.
pub(crate) fn supports(schema: &Schema) -> bool {
    match schema {
        Schema::Null
        | Schema::Boolean
        | Schema::Int
        | Schema::Long
        | Schema::Float
        | Schema::Double
        | Schema::Bytes
        | Schema::String
        | Schema::Enum(_)
        | Schema::Date
        | Schema::TimeMillis
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => true,
        Schema::Record(record) => record.fields.iter().all(|f| supports(&f.schema)),
        Schema::Union(union) => union.variants().iter().all(supports),
        _ => false,
    }
}

/// Decodes one `T` written with `schema` from the whole of `body`.
pub(crate) fn decode<T: DeserializeOwned>(schema: &Schema, body: &[u8]) -> DResult<(T, usize)> {
    let mut input = Input { rest: body };
    let value = T::deserialize(Decoder {
        schema,
        input: &mut input,
    })?;
    Ok((value, input.rest.len()))
}

struct Input<'de> {
    rest: &'de [u8],
}

impl<'de> Input<'de> {
    fn byte(&mut self) -> DResult<u8> {
        let (&b, rest) = self.rest.split_first().ok_or(DirectError::Truncated)?;
        self.rest = rest;
        Ok(b)
    }

    /// A zig-zag varint of at most 10 bytes, as apache-avro reads it.
    fn long(&mut self) -> DResult<i64> {
        let mut z = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            z |= u64::from(b & 0x7f) << (i * 7);
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        malformed("a variable-length integer longer than 10 bytes")
    }

    fn int(&mut self) -> DResult<i32> {
        i32::try_from(self.long()?).or_else(|_| malformed("an int out of range"))
    }

    fn bytes(&mut self) -> DResult<&'de [u8]> {
        let len = self.long()?;
        let len = usize::try_from(len).or_else(|_| malformed("a negative length"))?;
        if len > self.rest.len() {
            return Err(DirectError::Truncated);
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(head)
    }

    fn str(&mut self) -> DResult<&'de str> {
        std::str::from_utf8(self.bytes()?).or_else(|_| malformed("a string that is not utf-8"))
    }

    fn fixed<const N: usize>(&mut self) -> DResult<[u8; N]> {
        if self.rest.len() < N {
            return Err(DirectError::Truncated);
        }
        let (head, rest) = self.rest.split_at(N);
        self.rest = rest;
        let mut out = [0u8; N];
        out.copy_from_slice(head);
        Ok(out)
    }

    /// The branch of a union.
    fn branch<'s>(&mut self, variants: &'s [Schema]) -> DResult<&'s Schema> {
        let index = self.long()?;
        usize::try_from(index)
            .ok()
            .and_then(|i| variants.get(i))
            .map_or_else(|| malformed("a union branch out of range"), Ok)
    }

    fn symbol<'s>(&mut self, symbols: &'s [String]) -> DResult<&'s str> {
        let index = self.int()?;
        usize::try_from(index)
            .ok()
            .and_then(|i| symbols.get(i))
            .map_or_else(
                || malformed("an enum index out of range"),
                |s| Ok(s.as_str()),
            )
    }
}

struct Decoder<'a, 'de> {
    schema: &'a Schema,
    input: &'a mut Input<'de>,
}

impl<'de> de::Deserializer<'de> for Decoder<'_, 'de> {
    type Error = DirectError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> DResult<V::Value> {
        match self.schema {
            Schema::Null => visitor.visit_unit(),
            Schema::Boolean => match self.input.byte()? {
                0 => visitor.visit_bool(false),
                1 => visitor.visit_bool(true),
                _ => malformed("a boolean that is neither 0 nor 1"),
            },
            Schema::Int | Schema::Date | Schema::TimeMillis => visitor.visit_i32(self.input.int()?),
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => visitor.visit_i64(self.input.long()?),
            Schema::Float => visitor.visit_f32(f32::from_le_bytes(self.input.fixed()?)),
            Schema::Double => visitor.visit_f64(f64::from_le_bytes(self.input.fixed()?)),
            Schema::Bytes => visitor.visit_borrowed_bytes(self.input.bytes()?),
            Schema::String => visitor.visit_borrowed_str(self.input.str()?),
            Schema::Enum(e) => visitor.visit_str(self.input.symbol(&e.symbols)?),
            Schema::Union(union) => {
                let schema = self.input.branch(union.variants())?;
                Decoder {
                    schema,
                    input: self.input,
                }
                .deserialize_any(visitor)
            }
            Schema::Record(record) => visitor.visit_map(Fields {
                record,
                next: 0,
                input: self.input,
            }),
            _ => malformed("a schema the direct decoder does not read"),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> DResult<V::Value> {
        match self.schema {
            Schema::Null => visitor.visit_none(),
            Schema::Union(union) => match self.input.branch(union.variants())? {
                Schema::Null => visitor.visit_none(),
                schema => visitor.visit_some(Decoder {
                    schema,
                    input: self.input,
                }),
            },
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> DResult<V::Value> {
        match self.schema {
            Schema::Enum(e) => {
                let symbol: StrDeserializer<'_, DirectError> =
                    self.input.symbol(&e.symbols)?.into_deserializer();
                visitor.visit_enum(symbol)
            }
            Schema::String => {
                let symbol: StrDeserializer<'_, DirectError> =
                    self.input.str()?.into_deserializer();
                visitor.visit_enum(symbol)
            }
            _ => malformed("an enum written with a schema that is not an enum"),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> DResult<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// A record's fields in schema order; the names come from the schema.
struct Fields<'a, 'de> {
    record: &'a RecordSchema,
    next: usize,
    input: &'a mut Input<'de>,
}

impl<'de> MapAccess<'de> for Fields<'_, 'de> {
    type Error = DirectError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> DResult<Option<K::Value>> {
        let Some(field) = self.record.fields.get(self.next) else {
            return Ok(None);
        };
        let name: StrDeserializer<'_, DirectError> = field.name.as_str().into_deserializer();
        seed.deserialize(name).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> DResult<V::Value> {
        let Some(field) = self.record.fields.get(self.next) else {
            return malformed("a value asked for after the last field");
        };
        self.next += 1;
        seed.deserialize(Decoder {
            schema: &field.schema,
            input: self.input,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.record.fields.len() - self.next)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::{
        codec, DeadLetterRecord, OutcomeRecord, OutcomeStatus, ReasonCode, RewardUnit, SchemaError,
        TransactionRecord, TxType,
    };

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![".{0,40}", "[0-9a-f-]{36}", Just(String::new())]
    }

    fn transaction() -> impl Strategy<Value = TransactionRecord> {
        (
            (text(), text(), text(), any::<i32>(), text(), text()),
            (any::<i32>(), text(), text(), text(), any::<bool>()),
            (
                proptest::option::of(text()),
                any::<i64>(),
                proptest::option::of(text()),
                proptest::option::of(any::<i64>()),
            ),
        )
            .prop_map(|(a, b, c)| TransactionRecord {
                id: a.0,
                transaction_id: a.1,
                merchant: a.2,
                mcc: a.3,
                currency: a.4,
                amount: a.5,
                transaction_date: b.0,
                card_id: b.1,
                card_pan: b.2,
                card_type: b.3,
                kind: if b.4 {
                    TxType::Reversal
                } else {
                    TxType::Purchase
                },
                original_id: c.0,
                received_at: c.1,
                batch_id: c.2,
                line: c.3,
            })
    }

    fn reason() -> impl Strategy<Value = ReasonCode> {
        prop_oneof![
            Just(ReasonCode::UnknownProgram),
            Just(ReasonCode::NoFxRate),
            Just(ReasonCode::OriginalNotFound),
            Just(ReasonCode::CurrencyMismatch),
            Just(ReasonCode::Undecodable),
        ]
    }

    fn outcome() -> impl Strategy<Value = OutcomeRecord> {
        let opt = || proptest::option::of(text());
        (
            transaction(),
            (
                any::<bool>(),
                opt(),
                proptest::option::of(0..3u8),
                opt(),
                opt(),
                opt(),
                opt(),
            ),
            (
                proptest::option::of(reason()),
                proptest::option::of(any::<i64>()),
                any::<i64>(),
            ),
        )
            .prop_map(|(t, a, b)| OutcomeRecord {
                id: t.id,
                transaction_id: t.transaction_id,
                card_id: t.card_id,
                card_pan: t.card_pan,
                program: t.card_type,
                merchant: t.merchant,
                mcc: t.mcc,
                currency: t.currency,
                amount: t.amount,
                transaction_date: t.transaction_date,
                kind: t.kind,
                original_id: t.original_id,
                status: if a.0 {
                    OutcomeStatus::Rewarded
                } else {
                    OutcomeStatus::DeadLetter
                },
                reward: a.1,
                unit: a.2.map(|u| match u {
                    0 => RewardUnit::Points,
                    1 => RewardUnit::Miles,
                    _ => RewardUnit::Cashback,
                }),
                amount_sgd: a.3,
                base_campaign: a.4,
                promo_campaign: a.5,
                remark: a.6,
                reason: b.0,
                config_revision: b.1,
                processed_at: b.2,
            })
    }

    fn dead_letter() -> impl Strategy<Value = DeadLetterRecord> {
        (
            proptest::option::of(transaction()),
            reason(),
            proptest::option::of(text()),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
            proptest::option::of(any::<i64>()),
            any::<i64>(),
        )
            .prop_map(
                |(transaction, reason, detail, payload, config_revision, failed_at)| {
                    DeadLetterRecord {
                        transaction,
                        reason,
                        detail,
                        payload,
                        config_revision,
                        failed_at,
                    }
                },
            )
    }

    /// Either both paths fail or both give the same value.
    fn agree<T: PartialEq + std::fmt::Debug>(
        direct: Result<T, SchemaError>,
        via_value: Result<T, SchemaError>,
    ) -> Result<(), TestCaseError> {
        match (direct, via_value) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            (a, b) => prop_assert!(false, "direct {:?} but value path {:?}", a, b),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn both_paths_decode_any_record_alike(
            t in transaction(), o in outcome(), d in dead_letter()
        ) {
            let c = codec();
            let bytes = c.encode_transaction(&t);
            prop_assert_eq!(c.transaction().decode_with(&bytes, true).unwrap(), t.clone());
            prop_assert_eq!(c.transaction().decode_with(&bytes, false).unwrap(), t);
            let bytes = c.encode_outcome(&o);
            prop_assert_eq!(c.outcome().decode_with(&bytes, true).unwrap(), o.clone());
            prop_assert_eq!(c.outcome().decode_with(&bytes, false).unwrap(), o);
            let bytes = c.encode_dead_letter(&d);
            prop_assert_eq!(c.dead_letter().decode_with(&bytes, true).unwrap(), d.clone());
            prop_assert_eq!(c.dead_letter().decode_with(&bytes, false).unwrap(), d);
        }

        #[test]
        fn both_paths_accept_and_refuse_the_same_bodies(
            body in proptest::collection::vec(any::<u8>(), 0..200),
            cut in any::<prop::sample::Index>(),
            d in dead_letter(),
        ) {
            let c = codec();
            for (fp, which) in [
                (c.transaction().fingerprint(), 0),
                (c.outcome().fingerprint(), 1),
                (c.dead_letter().fingerprint(), 2),
            ] {
                let mut bytes = vec![0xC3, 0x01];
                bytes.extend_from_slice(&fp.to_le_bytes());
                bytes.extend_from_slice(&body);
                match which {
                    0 => agree(c.transaction().decode_with(&bytes, true), c.transaction().decode_with(&bytes, false))?,
                    1 => agree(c.outcome().decode_with(&bytes, true), c.outcome().decode_with(&bytes, false))?,
                    _ => agree(c.dead_letter().decode_with(&bytes, true), c.dead_letter().decode_with(&bytes, false))?,
                }
            }
            // a real record cut anywhere
            let bytes = c.encode_dead_letter(&d);
            let cut = &bytes[..cut.index(bytes.len())];
            agree(c.dead_letter().decode_with(cut, true), c.dead_letter().decode_with(cut, false))?;
            prop_assert!(c.dead_letter().decode_with(cut, true).is_err());
        }
    }
}
