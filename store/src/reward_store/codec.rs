//! A compact binary form of [`StoredOutcome`] for the embedded store: fast to write and to read,
//! and every field re-validated through the domain's constructors when read, so bad stored bytes
//! become [`RewardStoreError::Corrupt`], never a panic.
//!
//! Layout, version 1 (integers big-endian, decimals as `rust_decimal`'s 16-byte form):
//!
//! ```text
//! fixed header (what summaries and priors read without decoding the rest)
//!   0       format version = 1
//!   1       status: 1 rewarded, 2 dead letter
//!   2       rewarded: unit (1 points, 2 miles, 3 cashback); dead letter: reason code
//!   3..19   reward (zero for a dead letter)
//! transaction
//!   id 16, card_id 16, transaction_date i32 (days from CE), mcc u16, currency 3, amount 16,
//!   kind u8 (0 purchase, 1 reversal + original id 16), processed_at i64 (Unix ms),
//!   transaction_id, merchant, card_pan, program: each u32 length + UTF-8
//! rewarded only
//!   amount_sgd, base_campaign, promo_campaign: each u8 present + value,
//!   config_revision i64, remark: u32 length + UTF-8
//! mission payout only (absent otherwise: rows written before missions read back unchanged)
//!   1, mission id 16, kind u8 (1 reward, 2 clawback), caused_by id 16
//! ```
//!
//! A *reference* ([`encode_reference`]) is the fixed header with status 3 (rewarded, the record
//! kept elsewhere) followed by an opaque key where the full record is: the embedded store keeps
//! a rewarded record once, in the card's history, and only a reference under its id.

use chrono::{DateTime, Datelike, NaiveDate};
use rust_decimal::Decimal;
use spend_domain::eval::{DeadLetterReason, Reward};
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind, Unit,
};
use uuid::Uuid;

use spend_domain::mission::PayoutKind;

use super::{PayoutOf, RewardStoreError, StoredOutcome, StoredStatus};

const VERSION: u8 = 1;
const REWARDED: u8 = 1;
const DEAD_LETTER: u8 = 2;
const REWARDED_REFERENCE: u8 = 3;
/// Length of the fixed header.
pub(crate) const HEADER: usize = 19;

/// What the fixed header says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Header {
    Rewarded { unit: Unit, reward: Decimal },
    DeadLetter,
}

pub(crate) fn encode_outcome(o: &StoredOutcome) -> Vec<u8> {
    let tx = &o.tx;
    let mut b = Vec::with_capacity(256);
    b.push(VERSION);
    match &o.status {
        StoredStatus::Rewarded(r) => {
            b.push(REWARDED);
            b.push(unit_code(r.unit));
            b.extend_from_slice(&r.reward.serialize());
        }
        StoredStatus::DeadLetter(reason) => {
            b.push(DEAD_LETTER);
            b.push(reason_code(*reason));
            b.extend_from_slice(&Decimal::ZERO.serialize());
        }
    }
    b.extend_from_slice(tx.id.0.as_bytes());
    b.extend_from_slice(tx.card_id.0.as_bytes());
    b.extend_from_slice(&tx.transaction_date.num_days_from_ce().to_be_bytes());
    b.extend_from_slice(&tx.mcc.get().to_be_bytes());
    b.extend_from_slice(tx.currency.as_str().as_bytes());
    b.extend_from_slice(&tx.amount.get().serialize());
    match tx.kind {
        TxKind::Purchase => b.push(0),
        TxKind::Reversal { original_id } => {
            b.push(1);
            b.extend_from_slice(original_id.0.as_bytes());
        }
    }
    b.extend_from_slice(&o.processed_at.timestamp_millis().to_be_bytes());
    put_str(&mut b, &tx.transaction_id);
    put_str(&mut b, &tx.merchant);
    put_str(&mut b, tx.card_pan.as_str());
    put_str(&mut b, tx.card_type.as_str());
    if let StoredStatus::Rewarded(r) = &o.status {
        match r.amount_sgd {
            Some(d) => {
                b.push(1);
                b.extend_from_slice(&d.serialize());
            }
            None => b.push(0),
        }
        for campaign in [r.base_campaign, r.promo_campaign] {
            match campaign {
                Some(id) => {
                    b.push(1);
                    b.extend_from_slice(id.as_bytes());
                }
                None => b.push(0),
            }
        }
        b.extend_from_slice(&r.config_revision.to_be_bytes());
        put_str(&mut b, &r.remark);
        if let Some(p) = &o.payout {
            b.push(1);
            b.extend_from_slice(p.mission_id.as_bytes());
            b.push(match p.kind {
                PayoutKind::Reward => 1,
                PayoutKind::Clawback => 2,
            });
            b.extend_from_slice(p.caused_by.0.as_bytes());
        }
    }
    b
}

pub(super) fn put_str(b: &mut Vec<u8>, s: &str) {
    // Every string stored is far below 4 GiB (fields are validated to at most a few hundred
    // characters; remarks are campaign names).
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&s.as_bytes()[..len as usize]);
}

/// A rewarded outcome's fixed header followed by `key`, where its full record is kept.
pub(crate) fn encode_reference(o: &StoredOutcome, key: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER + key.len());
    b.push(VERSION);
    match &o.status {
        StoredStatus::Rewarded(r) => {
            b.push(REWARDED_REFERENCE);
            b.push(unit_code(r.unit));
            b.extend_from_slice(&r.reward.serialize());
        }
        // Never asked for; a dead letter is always kept whole.
        StoredStatus::DeadLetter(reason) => {
            b.push(DEAD_LETTER);
            b.push(reason_code(*reason));
            b.extend_from_slice(&Decimal::ZERO.serialize());
        }
    }
    b.extend_from_slice(key);
    b
}

/// The key a reference points to, or `None` if `b` is a whole record.
pub(crate) fn reference_key(b: &[u8]) -> Option<&[u8]> {
    (b.len() >= HEADER && b[0] == VERSION && b[1] == REWARDED_REFERENCE).then(|| &b[HEADER..])
}

/// Reads only the fixed header.
pub(crate) fn peek_header(b: &[u8]) -> Result<Header, RewardStoreError> {
    if b.len() < HEADER || b[0] != VERSION {
        return Err(corrupt("unknown outcome format"));
    }
    match b[1] {
        REWARDED | REWARDED_REFERENCE => {
            let unit = unit_from(b[2]).ok_or_else(|| corrupt("unknown unit"))?;
            let mut d = [0u8; 16];
            d.copy_from_slice(&b[3..19]);
            Ok(Header::Rewarded {
                unit,
                reward: Decimal::deserialize(d),
            })
        }
        DEAD_LETTER => Ok(Header::DeadLetter),
        _ => Err(corrupt("unknown outcome status")),
    }
}

pub(crate) fn decode_outcome(b: &[u8]) -> Result<StoredOutcome, RewardStoreError> {
    if reference_key(b).is_some() {
        return Err(corrupt("record: a reference where a whole record belongs"));
    }
    let header = peek_header(b)?;
    let reason_byte = b[2];
    let mut r = Reader { b, at: HEADER };
    let id = RecordId(r.uuid()?);
    let card_id = CardId(r.uuid()?);
    let transaction_date = NaiveDate::from_num_days_from_ce_opt(r.i32()?)
        .ok_or_else(|| corrupt("transaction_date"))?;
    let mcc = Mcc::new(r.u16()?).ok_or_else(|| corrupt("mcc"))?;
    let currency = std::str::from_utf8(r.take(3)?)
        .ok()
        .and_then(CurrencyCode::parse)
        .ok_or_else(|| corrupt("currency"))?;
    let amount = Amount::new(r.decimal()?).ok_or_else(|| corrupt("amount"))?;
    let kind = match r.u8()? {
        0 => TxKind::Purchase,
        1 => TxKind::Reversal {
            original_id: RecordId(r.uuid()?),
        },
        _ => return Err(corrupt("type")),
    };
    let processed_at =
        DateTime::from_timestamp_millis(r.i64()?).ok_or_else(|| corrupt("processed_at"))?;
    let transaction_id = r.string()?;
    let merchant = r.string()?;
    let card_pan = MaskedPan::parse_masked(&r.string()?).ok_or_else(|| corrupt("card_pan"))?;
    let card_type = ProgramId::parse(&r.string()?).ok_or_else(|| corrupt("program"))?;
    let tx = Transaction {
        id,
        transaction_id,
        merchant,
        mcc,
        currency,
        amount,
        transaction_date,
        card_id,
        card_pan,
        card_type,
        kind,
    };
    let mut payout = None;
    let status = match header {
        Header::DeadLetter => StoredStatus::DeadLetter(
            reason_from(reason_byte).ok_or_else(|| corrupt("dead letter reason"))?,
        ),
        Header::Rewarded { unit, reward } => {
            let amount_sgd = match r.u8()? {
                0 => None,
                1 => Some(r.decimal()?),
                _ => return Err(corrupt("amount_sgd")),
            };
            let base_campaign = r.opt_uuid()?;
            let promo_campaign = r.opt_uuid()?;
            let config_revision = r.i64()?;
            let remark = r.string()?;
            if r.at < b.len() {
                if r.u8()? != 1 {
                    return Err(corrupt("mission payout"));
                }
                let mission_id = r.uuid()?;
                let kind = match r.u8()? {
                    1 => PayoutKind::Reward,
                    2 => PayoutKind::Clawback,
                    _ => return Err(corrupt("mission payout kind")),
                };
                let caused_by = RecordId(r.uuid()?);
                payout = Some(PayoutOf {
                    mission_id,
                    kind,
                    caused_by,
                });
            }
            StoredStatus::Rewarded(Reward {
                reward,
                unit,
                amount_sgd,
                base_campaign,
                promo_campaign,
                remark,
                config_revision,
                reversal_of: kind.original_id(),
            })
        }
    };
    if r.at != b.len() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(StoredOutcome {
        tx,
        status,
        processed_at,
        payout,
        missions: Vec::new(),
    })
}

pub(super) struct Reader<'a> {
    pub(super) b: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], RewardStoreError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.b.len())
            .ok_or_else(|| corrupt("truncated outcome"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], RewardStoreError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub(super) fn u8(&mut self) -> Result<u8, RewardStoreError> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn u16(&mut self) -> Result<u16, RewardStoreError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(super) fn u32(&mut self) -> Result<u32, RewardStoreError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(super) fn i32(&mut self) -> Result<i32, RewardStoreError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub(super) fn i64(&mut self) -> Result<i64, RewardStoreError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    pub(super) fn uuid(&mut self) -> Result<Uuid, RewardStoreError> {
        Ok(Uuid::from_bytes(self.array()?))
    }

    pub(super) fn opt_uuid(&mut self) -> Result<Option<Uuid>, RewardStoreError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.uuid()?)),
            _ => Err(corrupt("campaign id")),
        }
    }

    pub(super) fn decimal(&mut self) -> Result<Decimal, RewardStoreError> {
        Ok(Decimal::deserialize(self.array()?))
    }

    pub(super) fn string(&mut self) -> Result<String, RewardStoreError> {
        let len = u32::from_be_bytes(self.array()?) as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| corrupt("text is not UTF-8"))
    }
}

pub(super) fn corrupt(what: &str) -> RewardStoreError {
    RewardStoreError::Corrupt(format!("stored outcome: bad {what}"))
}

pub(super) fn unit_code(unit: Unit) -> u8 {
    match unit {
        Unit::Points => 1,
        Unit::Miles => 2,
        Unit::Cashback => 3,
    }
}

pub(super) fn unit_from(code: u8) -> Option<Unit> {
    Some(match code {
        1 => Unit::Points,
        2 => Unit::Miles,
        3 => Unit::Cashback,
        _ => return None,
    })
}

fn reason_code(reason: DeadLetterReason) -> u8 {
    match reason {
        DeadLetterReason::UnknownProgram => 1,
        DeadLetterReason::NoFxRate => 2,
        DeadLetterReason::OriginalNotFound => 3,
        DeadLetterReason::CurrencyMismatch => 4,
        DeadLetterReason::Undecodable => 5,
    }
}

fn reason_from(code: u8) -> Option<DeadLetterReason> {
    Some(match code {
        1 => DeadLetterReason::UnknownProgram,
        2 => DeadLetterReason::NoFxRate,
        3 => DeadLetterReason::OriginalNotFound,
        4 => DeadLetterReason::CurrencyMismatch,
        5 => DeadLetterReason::Undecodable,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::Utc;
    use spend_domain::eval::Outcome;

    use super::*;

    fn tx(kind: TxKind) -> Transaction {
        Transaction {
            id: RecordId(Uuid::from_u128(1)),
            transaction_id: "T-1".into(),
            merchant: "Café ☕".into(),
            mcc: Mcc::new(5999).unwrap(),
            currency: CurrencyCode::parse("USD").unwrap(),
            amount: Amount::new(Decimal::from_str("12.30").unwrap()).unwrap(),
            transaction_date: NaiveDate::from_ymd_opt(2024, 3, 31).unwrap(),
            card_id: CardId(Uuid::from_u128(2)),
            card_pan: MaskedPan::mask("4111111111111111").unwrap(),
            card_type: ProgramId::parse("scis_shopping").unwrap(),
            kind,
        }
    }

    #[test]
    fn round_trips_every_shape() {
        let now = Utc::now();
        let reward = Reward {
            reward: Decimal::from_str("-1.25").unwrap(),
            unit: Unit::Miles,
            amount_sgd: Some(Decimal::from_str("16.61").unwrap()),
            base_campaign: Some(Uuid::from_u128(9)),
            promo_campaign: None,
            remark: "a + b".into(),
            config_revision: 42,
            reversal_of: None,
        };
        let reversal = TxKind::Reversal {
            original_id: RecordId(Uuid::from_u128(3)),
        };
        let cases = [
            (tx(TxKind::Purchase), Outcome::Rewarded(reward.clone())),
            (tx(reversal), Outcome::Rewarded(reward)),
            (
                tx(TxKind::Purchase),
                Outcome::DeadLetter(DeadLetterReason::NoFxRate),
            ),
            (
                tx(reversal),
                Outcome::DeadLetter(DeadLetterReason::OriginalNotFound),
            ),
        ];
        for (tx, outcome) in cases {
            let stored = StoredOutcome::new(&tx, &outcome, now).unwrap();
            let bytes = encode_outcome(&stored);
            assert_eq!(decode_outcome(&bytes).unwrap(), stored);
            // Every truncation and every trailing byte is refused without a panic.
            for n in 0..bytes.len() {
                assert!(decode_outcome(&bytes[..n]).is_err());
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(decode_outcome(&longer).is_err());
        }
    }

    #[test]
    fn references_carry_the_header_and_a_key() {
        let reward = Reward {
            reward: Decimal::from_str("7.50").unwrap(),
            unit: Unit::Cashback,
            amount_sgd: None,
            base_campaign: None,
            promo_campaign: None,
            remark: String::new(),
            config_revision: 1,
            reversal_of: None,
        };
        let stored = StoredOutcome::new(
            &tx(TxKind::Purchase),
            &Outcome::Rewarded(reward),
            Utc::now(),
        )
        .unwrap();
        let b = encode_reference(&stored, b"key");
        assert_eq!(reference_key(&b), Some(&b"key"[..]));
        assert_eq!(
            peek_header(&b).unwrap(),
            Header::Rewarded {
                unit: Unit::Cashback,
                reward: Decimal::from_str("7.50").unwrap()
            }
        );
        assert!(decode_outcome(&b).is_err());
        assert_eq!(reference_key(&encode_outcome(&stored)), None);
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        let stored = StoredOutcome::new(
            &tx(TxKind::Purchase),
            &Outcome::DeadLetter(DeadLetterReason::UnknownProgram),
            Utc::now(),
        )
        .unwrap();
        let bytes = encode_outcome(&stored);
        for i in 0..bytes.len() {
            for v in [0u8, 0xff, 0x7f] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = decode_outcome(&b);
            }
        }
    }
}
