//! A compact binary form of [`StoredMission`], one value per card and mission: the embedded
//! store's `missions` keyspace, the ScyllaDB store's `mission_states.state` blob and the
//! `spend store` wire all carry exactly these bytes. Every field is re-validated when read, so
//! bad stored bytes become [`RewardStoreError::Corrupt`], never a panic.
//!
//! Layout, version 1 (integers big-endian, decimals as `rust_decimal`'s 16-byte form, dates as
//! i32 days from CE):
//!
//! ```text
//! 0        version = 1
//! card_id 16, mission_id 16
//! info     name (u32 length + UTF-8), target (0 + amount decimal | 1 + count u32),
//!          reward decimal, unit u8
//! state    window_start, window_end, progress_amount_sgd, progress_count u32, completions u32,
//!          paid (0 | 1 + reward decimal + unit u8 + completed_at date),
//!          contributions u32 n, each: id 16, amount, amount_sgd, reversed_amount,
//!          reversed_sgd, reversals u32 n + ids 16 each
//! ```

use chrono::{Datelike, NaiveDate};
use spend_domain::config::MissionTarget;
use spend_domain::mission::{Contribution, MissionInfo, MissionState, Paid};
use spend_domain::{CardId, RecordId};

use super::codec::{corrupt, put_str, unit_code, unit_from, Reader};
use super::{RewardStoreError, StoredMission};

const VERSION: u8 = 1;

/// The most contributions or reversals a stored state may claim (a bound on what a corrupt
/// length can make a reader allocate).
const MAX_ITEMS: usize = 10_000_000;

pub fn encode_mission(m: &StoredMission) -> Vec<u8> {
    let s = &m.state;
    let mut b = Vec::with_capacity(128 + s.contributions.len() * 84);
    b.push(VERSION);
    b.extend_from_slice(m.card_id.0.as_bytes());
    b.extend_from_slice(m.mission_id.as_bytes());
    put_str(&mut b, &m.info.name);
    match m.info.target {
        MissionTarget::AmountSgd(d) => {
            b.push(0);
            b.extend_from_slice(&d.serialize());
        }
        MissionTarget::Count(n) => {
            b.push(1);
            b.extend_from_slice(&n.to_be_bytes());
        }
    }
    b.extend_from_slice(&m.info.reward.serialize());
    b.push(unit_code(m.info.unit));
    put_date(&mut b, s.window_start);
    put_date(&mut b, s.window_end);
    b.extend_from_slice(&s.progress_amount_sgd.serialize());
    b.extend_from_slice(&s.progress_count.to_be_bytes());
    b.extend_from_slice(&s.completions.to_be_bytes());
    match s.paid {
        None => b.push(0),
        Some(p) => {
            b.push(1);
            b.extend_from_slice(&p.reward.serialize());
            b.push(unit_code(p.unit));
            put_date(&mut b, p.completed_at);
        }
    }
    put_len(&mut b, s.contributions.len());
    for c in &s.contributions {
        b.extend_from_slice(c.id.0.as_bytes());
        for d in [c.amount, c.amount_sgd, c.reversed_amount, c.reversed_sgd] {
            b.extend_from_slice(&d.serialize());
        }
        put_len(&mut b, c.reversals.len());
        for r in &c.reversals {
            b.extend_from_slice(r.0.as_bytes());
        }
    }
    b
}

pub fn decode_mission(b: &[u8]) -> Result<StoredMission, RewardStoreError> {
    let mut r = Reader { b, at: 0 };
    if r.u8()? != VERSION {
        return Err(corrupt("unknown mission state format"));
    }
    let card_id = CardId(r.uuid()?);
    let mission_id = r.uuid()?;
    let name = r.string()?;
    let target = match r.u8()? {
        0 => MissionTarget::AmountSgd(r.decimal()?),
        1 => MissionTarget::Count(r.u32()?),
        _ => return Err(corrupt("mission target")),
    };
    let reward = r.decimal()?;
    let unit = unit_from(r.u8()?).ok_or_else(|| corrupt("mission unit"))?;
    let window_start = date(&mut r)?;
    let window_end = date(&mut r)?;
    let progress_amount_sgd = r.decimal()?;
    let progress_count = r.u32()?;
    let completions = r.u32()?;
    let paid = match r.u8()? {
        0 => None,
        1 => Some(Paid {
            reward: r.decimal()?,
            unit: unit_from(r.u8()?).ok_or_else(|| corrupt("mission paid unit"))?,
            completed_at: date(&mut r)?,
        }),
        _ => return Err(corrupt("mission paid")),
    };
    let n = len(&mut r)?;
    let mut contributions = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let id = RecordId(r.uuid()?);
        let amount = r.decimal()?;
        let amount_sgd = r.decimal()?;
        let reversed_amount = r.decimal()?;
        let reversed_sgd = r.decimal()?;
        let m = len(&mut r)?;
        let mut reversals = Vec::with_capacity(m.min(64));
        for _ in 0..m {
            reversals.push(RecordId(r.uuid()?));
        }
        contributions.push(Contribution {
            id,
            amount,
            amount_sgd,
            reversed_amount,
            reversed_sgd,
            reversals,
        });
    }
    if r.at != b.len() {
        return Err(corrupt("mission state: trailing bytes"));
    }
    Ok(StoredMission {
        card_id,
        mission_id,
        info: MissionInfo {
            name,
            target,
            reward,
            unit,
        },
        state: MissionState {
            window_start,
            window_end,
            progress_amount_sgd,
            progress_count,
            completions,
            paid,
            contributions,
        },
    })
}

fn put_date(b: &mut Vec<u8>, d: NaiveDate) {
    b.extend_from_slice(&d.num_days_from_ce().to_be_bytes());
}

fn put_len(b: &mut Vec<u8>, n: usize) {
    b.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn date(r: &mut Reader<'_>) -> Result<NaiveDate, RewardStoreError> {
    NaiveDate::from_num_days_from_ce_opt(r.i32()?).ok_or_else(|| corrupt("mission date"))
}

fn len(r: &mut Reader<'_>) -> Result<usize, RewardStoreError> {
    let n = r.u32()? as usize;
    if n > MAX_ITEMS {
        return Err(corrupt("mission state: a list too long"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use rust_decimal::Decimal;
    use spend_domain::Unit;
    use uuid::Uuid;

    use super::*;

    fn sample() -> StoredMission {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        let day = |n| NaiveDate::from_ymd_opt(2024, 5, n).unwrap();
        StoredMission {
            card_id: CardId(Uuid::from_u128(1)),
            mission_id: Uuid::from_u128(2),
            info: MissionInfo {
                name: "Dine SGD 100 in 7 days".into(),
                target: MissionTarget::AmountSgd(d("100")),
                reward: d("50.00"),
                unit: Unit::Points,
            },
            state: MissionState {
                window_start: day(2),
                window_end: day(8),
                progress_amount_sgd: d("80.00"),
                progress_count: 2,
                completions: 1,
                paid: Some(Paid {
                    reward: d("50.00"),
                    unit: Unit::Points,
                    completed_at: day(4),
                }),
                contributions: vec![Contribution {
                    id: RecordId(Uuid::from_u128(3)),
                    amount: d("30.00"),
                    amount_sgd: d("30.00"),
                    reversed_amount: d("30.00"),
                    reversed_sgd: d("30.00"),
                    reversals: vec![RecordId(Uuid::from_u128(4))],
                }],
            },
        }
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(decode_mission(&encode_mission(&m)).unwrap(), m);
        let mut count = sample();
        count.info.target = MissionTarget::Count(3);
        count.state.paid = None;
        count.state.contributions.clear();
        assert_eq!(decode_mission(&encode_mission(&count)).unwrap(), count);
    }

    #[test]
    fn damage_is_corrupt_never_a_panic() {
        let bytes = encode_mission(&sample());
        for cut in 0..bytes.len() {
            assert!(decode_mission(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_mission(&longer).is_err());
        let mut version = bytes;
        version[0] = 9;
        assert!(decode_mission(&version).is_err());
    }
}
