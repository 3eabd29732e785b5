//! `spend-schemas`: what travels between the services, byte for byte.
//!
//! Owns the Avro schemas, the wire types that match them, and their encoding:
//!
//! * the `*.avsc` files beside this crate, loaded with `include_str!` so the files are the single
//!   source of truth: `transaction.avsc` (the `transactions` topic), `outcome.avsc` (a record's
//!   stored outcome), `dead_letter.avsc` (the `transactions.dlq` topic), and the named types
//!   they share, `transaction_type.avsc` and `dead_letter_reason.avsc`, inlined where first used
//!   ([`compose`]); earlier writer versions live under `versions/`;
//! * the wire types [`TransactionRecord`], [`OutcomeRecord`] and [`DeadLetterRecord`], and their
//!   conversions to and from the domain types, re-validating every field on the way in;
//! * Avro single-object encoding with schema evolution ([`Codec`], [`codec()`], [`RecordCodec`]),
//!   fingerprinted as the Avro specification says ([`fingerprint`]).
//!
//! It must never do I/O: no Kafka, no files at run time, no network, no schema registry. Bytes
//! in, values out. The conversions write only a masked PAN and refuse anything else on the way
//! back; no error message echoes a field value.

pub mod codec;
pub mod compose;
mod dead_letter;
mod direct;
mod error;
pub mod fingerprint;
mod outcome;
mod transaction;
mod wire;

pub use codec::{codec, Codec, RecordCodec};
pub use dead_letter::DeadLetterRecord;
pub use error::{Result, SchemaError};
pub use outcome::{OutcomeRecord, OutcomeStatus, ReasonCode, RewardUnit};
pub use transaction::{TransactionRecord, TxType};
