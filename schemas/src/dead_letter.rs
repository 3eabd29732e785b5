//! A record on the dead-letter topic: `dead_letter.avsc`.

use serde::{Deserialize, Serialize};
use spend_domain::eval::DeadLetterReason;

use crate::outcome::ReasonCode;
use crate::transaction::TransactionRecord;

/// A record on `transactions.dlq` (`dev.spend.DeadLetter`): the original transaction, nested with
/// exactly the transactions topic's schema so a replay can re-publish it as is, and why it failed.
/// Field order is the schema's.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    /// `None` only when the message could not be decoded; then `payload` holds it.
    pub transaction: Option<TransactionRecord>,
    pub reason: ReasonCode,
    /// A lowercase explanation, e.g. the decode error. Never a PAN.
    pub detail: Option<String>,
    /// The raw message value, when it could not be decoded.
    #[serde(with = "apache_avro::serde_avro_bytes_opt", default)]
    pub payload: Option<Vec<u8>>,
    pub config_revision: Option<i64>,
    /// Milliseconds since the Unix epoch, UTC.
    pub failed_at: i64,
}

impl DeadLetterRecord {
    /// A decoded transaction the rewarder could not reward.
    pub fn for_transaction(
        transaction: TransactionRecord,
        reason: DeadLetterReason,
        config_revision: Option<i64>,
        failed_at_ms: i64,
    ) -> Self {
        DeadLetterRecord {
            transaction: Some(transaction),
            reason: reason.into(),
            detail: None,
            payload: None,
            config_revision,
            failed_at: failed_at_ms,
        }
    }

    /// A message that could not be decoded: kept byte for byte for inspection.
    pub fn undecodable(payload: &[u8], detail: String, failed_at_ms: i64) -> Self {
        DeadLetterRecord {
            transaction: None,
            reason: ReasonCode::Undecodable,
            detail: Some(detail),
            payload: Some(payload.to_vec()),
            config_revision: None,
            failed_at: failed_at_ms,
        }
    }
}
