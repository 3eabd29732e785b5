//! The one error type of the crate.

/// What can go wrong turning bytes into a wire record, or a wire record into domain values.
///
/// Messages never echo a field's value: a value that fails validation could be a full PAN.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The message does not start with the Avro single-object marker `C3 01`.
    #[error("not an avro single-object message: bad marker bytes")]
    BadMarker,

    /// The message ended before its header or body did.
    #[error("message truncated: {0}")]
    Truncated(&'static str),

    /// The header names a writer schema this codec does not know.
    #[error("unknown writer schema: fingerprint {fingerprint:#018x}")]
    UnknownSchema { fingerprint: u64 },

    /// The body decoded but bytes were left over.
    #[error("{count} trailing bytes after the record")]
    TrailingBytes { count: usize },

    /// The body is not a valid Avro datum of the writer schema, or cannot be resolved to the
    /// reader schema.
    #[error("avro decoding failed: {0}")]
    Decode(#[source] apache_avro::Error),

    /// The body is not a valid Avro datum of the writer schema (read without resolution).
    #[error("malformed avro body: {0}")]
    Malformed(String),

    /// A value could not be written with its schema: a wire type and its schema disagree (a bug).
    #[error("avro encoding failed: {0}")]
    Encode(#[source] apache_avro::Error),

    /// A schema file is invalid, or two schemas cannot be composed (a bug, caught by the tests).
    #[error("invalid schema: {0}")]
    InvalidSchema(String),

    /// A known writer schema cannot be read with the reader schema (schema evolution broken).
    #[error("writer schema {fingerprint:#018x} is not readable by the reader schema: {reason}")]
    IncompatibleWriter { fingerprint: u64, reason: String },

    /// A decoded field does not hold a valid domain value.
    #[error("invalid field `{field}`: expected {expected}")]
    InvalidField {
        field: &'static str,
        expected: &'static str,
    },
}

/// The crate's result type.
pub type Result<T, E = SchemaError> = std::result::Result<T, E>;
