//! One batch, from fetched bytes to what must be written: decoding, evaluation in order, and the
//! outcomes and dead letters that result. No I/O here.

use std::time::Instant;

use chrono::{DateTime, Utc};
use spend_domain::eval::{DeadLetterReason, Outcome};
use spend_domain::rules::RuleSet;
use spend_domain::Transaction;
use spend_schemas::{codec, DeadLetterRecord, TransactionRecord};
use spend_store::reward_store::{BatchLedger, Overlay, PrefetchedLedger, StoredOutcome};

use crate::offsets::{Claim, Polled};

/// The most bytes of an undecodable message a dead letter keeps. The message fitted on the
/// transactions topic; a dead letter of a message at the size limit would not fit on the
/// dead-letter topic, and a write that can never succeed would stop the partition.
pub(crate) const MAX_KEPT_PAYLOAD: usize = 512 * 1024;

/// What a fetched message is.
enum Slot {
    /// Index into the batch's transactions.
    Transaction(usize),
    /// Why it could not be decoded.
    Undecodable(String),
}

/// A batch's records decoded, in fetch order.
pub(crate) struct Decoded {
    slots: Vec<(Polled, Slot)>,
    /// The decodable records, in order: what the store is asked about.
    pub(crate) transactions: Vec<Transaction>,
    /// Each transaction's wire form, kept for its dead letter.
    records: Vec<Option<TransactionRecord>>,
}

/// Decodes every record; a record that cannot be decoded (bytes that are not a transaction, or
/// a transaction whose fields do not validate) becomes an undecodable dead letter.
pub(crate) fn decode(batch: Vec<Polled>) -> Decoded {
    let mut decoded = Decoded {
        slots: Vec::with_capacity(batch.len()),
        transactions: Vec::with_capacity(batch.len()),
        records: Vec::with_capacity(batch.len()),
    };
    for polled in batch {
        let slot = match decode_one(polled.payload.as_deref()) {
            Ok((record, tx)) => {
                decoded.transactions.push(tx);
                decoded.records.push(Some(record));
                Slot::Transaction(decoded.transactions.len() - 1)
            }
            Err(detail) => Slot::Undecodable(detail),
        };
        decoded.slots.push((polled, slot));
    }
    decoded
}

fn decode_one(payload: Option<&[u8]>) -> Result<(TransactionRecord, Transaction), String> {
    let bytes = payload.ok_or_else(|| "the message has no value".to_owned())?;
    let record = codec()
        .decode_transaction(bytes)
        .map_err(|e| format!("not a transaction record: {e}"))?;
    let tx = record
        .to_transaction()
        .map_err(|e| format!("invalid transaction record: {e}"))?;
    Ok((record, tx))
}

/// A dead letter ready for the dead-letter topic.
#[derive(Clone, Debug)]
pub(crate) struct DeadLetterMessage {
    /// The card id for a transaction (so a replay keys it the same way); the original key for an
    /// undecodable message.
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Vec<u8>,
}

/// How many records of a batch ended how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) rewarded: u64,
    pub(crate) duplicate: u64,
    pub(crate) dead_letters: Vec<DeadLetterReason>,
    /// Mission rewards and clawbacks the batch caused.
    pub(crate) mission_payouts: u64,
}

/// A batch evaluated: everything the writer must make durable, in this order — outcomes, then
/// dead letters — before the claim's offsets may move.
pub(crate) struct Evaluated {
    pub(crate) seq: u64,
    pub(crate) claim: Claim,
    pub(crate) records: usize,
    pub(crate) outcomes: Vec<StoredOutcome>,
    pub(crate) dead_letters: Vec<DeadLetterMessage>,
    pub(crate) counts: Counts,
    pub(crate) revision: i64,
    pub(crate) started: Instant,
}

/// Evaluates the batch in fetch order (which is each card's order) against what the store knew
/// (`prefetched`) under what the previous batch decided (`previous`). Returns the batch's
/// outcomes and dead letters, and its overlay for the next batch.
pub(crate) fn evaluate(
    rules: &RuleSet,
    decoded: Decoded,
    prefetched: &PrefetchedLedger,
    previous: Option<&Overlay>,
    now: DateTime<Utc>,
) -> (Vec<StoredOutcome>, Vec<DeadLetterMessage>, Counts, Overlay) {
    let Decoded {
        slots,
        transactions,
        mut records,
    } = decoded;
    let now_ms = now.timestamp_millis();
    let mut ledger = BatchLedger::new(prefetched, previous);
    let mut outcomes = Vec::with_capacity(transactions.len());
    let mut dead_letters = Vec::new();
    let mut counts = Counts::default();
    let with_missions = rules.has_missions();
    for (polled, slot) in slots {
        let i = match slot {
            Slot::Transaction(i) => i,
            Slot::Undecodable(detail) => {
                let mut payload = polled.payload.unwrap_or_default();
                payload.truncate(MAX_KEPT_PAYLOAD);
                let record = DeadLetterRecord::undecodable(&payload, detail, now_ms);
                dead_letters.push(DeadLetterMessage {
                    key: polled.key,
                    value: codec().encode_dead_letter(&record),
                });
                counts.dead_letters.push(DeadLetterReason::Undecodable);
                continue;
            }
        };
        let tx = &transactions[i];
        let outcome = rules.evaluate(tx, &ledger);
        ledger.record(tx, &outcome);
        let effects = if with_missions {
            let effects = rules.mission_effects(tx, &outcome, &ledger);
            ledger.record_missions(&effects);
            counts.mission_payouts += effects.iter().filter(|e| e.payout.is_some()).count() as u64;
            effects
        } else {
            Vec::new()
        };
        match &outcome {
            Outcome::Duplicate => counts.duplicate += 1,
            Outcome::Rewarded(_) => counts.rewarded += 1,
            Outcome::DeadLetter(reason) => {
                counts.dead_letters.push(*reason);
                if let Some(record) = records[i].take() {
                    let letter = DeadLetterRecord::for_transaction(
                        record,
                        *reason,
                        Some(rules.revision()),
                        now_ms,
                    );
                    dead_letters.push(DeadLetterMessage {
                        key: Some(tx.card_id.to_string().into_bytes()),
                        value: codec().encode_dead_letter(&letter),
                    });
                }
            }
        }
        if let Some(stored) = StoredOutcome::new(tx, &outcome, now) {
            outcomes.push(stored.with_missions(effects));
        }
    }
    (outcomes, dead_letters, counts, ledger.into_overlay())
}

#[cfg(test)]
mod tests {
    use super::*;
    use spend_domain::config::Config;
    use spend_schemas::ReasonCode;
    use spend_store::reward_store::StoredStatus;
    use uuid::Uuid;

    fn rules() -> RuleSet {
        let config = Config::from_json(
            &serde_json::json!({
                "programs": [{"id": "scis_shopping", "name": "S", "unit": "points"}],
                "campaigns": [{"name": "C", "program": "scis_shopping", "kind": "base",
                               "priority": 0, "conditions": [], "rate": "2"}]
            }),
            &mut Uuid::new_v4,
        )
        .unwrap();
        RuleSet::compile(&config, 42).unwrap()
    }

    fn record(id: &str, card_type: &str) -> TransactionRecord {
        TransactionRecord {
            id: id.into(),
            transaction_id: "t".into(),
            merchant: "Shop".into(),
            mcc: 5999,
            currency: "SGD".into(),
            amount: "10.00".into(),
            transaction_date: 19_800,
            card_id: "00000000-0000-4000-8000-0000000000c1".into(),
            card_pan: "411111******1111".into(),
            card_type: card_type.into(),
            kind: spend_schemas::TxType::Purchase,
            original_id: None,
            received_at: 0,
            batch_id: None,
            line: None,
        }
    }

    fn polled(offset: i64, payload: Option<Vec<u8>>) -> Polled {
        Polled {
            partition: 0,
            offset,
            epoch: 1,
            key: Some(b"k".to_vec()),
            payload,
        }
    }

    #[test]
    fn a_batch_is_evaluated_in_order_with_dead_letters_and_duplicates() {
        let id = "00000000-0000-4000-8000-000000000001";
        let good = codec().encode_transaction(&record(id, "scis_shopping"));
        let unknown =
            codec().encode_transaction(&record("00000000-0000-4000-8000-000000000002", "nobody"));
        let batch = vec![
            polled(0, Some(good.clone())),
            polled(1, Some(b"garbage".to_vec())),
            polled(2, Some(good)),
            polled(3, Some(unknown)),
            polled(4, None),
        ];
        let decoded = decode(batch);
        assert_eq!(decoded.transactions.len(), 3);
        let (outcomes, letters, counts, _) = evaluate(
            &rules(),
            decoded,
            &PrefetchedLedger::new(),
            None,
            Utc::now(),
        );
        assert_eq!(counts.rewarded, 1);
        assert_eq!(counts.duplicate, 1);
        assert_eq!(
            counts.dead_letters,
            [
                DeadLetterReason::Undecodable,
                DeadLetterReason::UnknownProgram,
                DeadLetterReason::Undecodable
            ]
        );
        assert_eq!(outcomes.len(), 2, "a duplicate stores nothing");
        match &outcomes[0].status {
            StoredStatus::Rewarded(r) => assert_eq!(r.config_revision, 42),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            outcomes[1].dead_letter_reason(),
            Some(DeadLetterReason::UnknownProgram)
        );

        let decoded: Vec<DeadLetterRecord> = letters
            .iter()
            .map(|m| codec().decode_dead_letter(&m.value).unwrap())
            .collect();
        assert_eq!(decoded[0].reason, ReasonCode::Undecodable);
        assert_eq!(decoded[0].payload.as_deref(), Some(&b"garbage"[..]));
        assert_eq!(letters[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(decoded[1].reason, ReasonCode::UnknownProgram);
        assert_eq!(decoded[1].config_revision, Some(42));
        assert_eq!(
            decoded[1]
                .transaction
                .as_ref()
                .map(|t| t.card_type.as_str()),
            Some("nobody")
        );
        assert_eq!(
            letters[1].key.as_deref(),
            Some(&b"00000000-0000-4000-8000-0000000000c1"[..])
        );
        assert_eq!(decoded[2].payload.as_deref(), Some(&b""[..]));
    }

    #[test]
    fn an_oversized_undecodable_payload_is_cut() {
        let decoded = decode(vec![polled(0, Some(vec![0u8; MAX_KEPT_PAYLOAD + 10]))]);
        let (_, letters, _, _) = evaluate(
            &rules(),
            decoded,
            &PrefetchedLedger::new(),
            None,
            Utc::now(),
        );
        let letter = codec().decode_dead_letter(&letters[0].value).unwrap();
        assert_eq!(letter.payload.map(|p| p.len()), Some(MAX_KEPT_PAYLOAD));
    }
}
