//! The bodies that carry missions: the apply request, whose outcomes bring the mission writes
//! the store must make with them (docs/missions.md: "carried in the same apply request"), and
//! the `missions` route.
//!
//! **Apply.** Version 1 is a u32 count and that many outcomes, as it always was. Version 2 is a
//! u32 count and that many outcomes, each followed by its *mission writes*: a u32 count and, for
//! each, a u32 length and the mission state (the store's mission codec), then `0` (no payout)
//! or `1` and the payout row as an outcome, which must be a rewarded payout. A batch with no
//! mission writes and no payout row travels as version 1, byte for byte what earlier builds
//! send; one with either is version 2, which an earlier server refuses as a bad body (the
//! client retries it, so deploy `spend store` before rewarders that have missions).
//!
//! **Missions.** The request is version 1, a u32 count and that many card ids (16 each); the
//! answer is version 1, a u32 count and that many states, each a u32 length and the mission
//! codec's bytes, by card then mission id.

use spend_domain::CardId;

use super::reader::{codec_message, Reader};
use super::{bad, put_bytes, put_count, start, WireError, MIN_RECORD, VERSION};
use crate::reward_store::{
    decode_mission, encode_mission, encode_outcome, MissionWrite, StoredMission, StoredOutcome,
};

/// The apply request's version when its outcomes carry mission writes.
const APPLY_WITH_MISSIONS: u8 = 2;

/// The smallest encoded mission state (empty name, a count target, nothing paid, nothing
/// counted): bounds how many a body of a given length can claim to hold.
const MIN_MISSION: usize = 1 + 16 + 16 + 4 + 1 + 4 + 16 + 1 + 4 + 4 + 16 + 4 + 4 + 1 + 4;

/// The smallest mission write: its state's length and the payout flag.
const MIN_WRITE: usize = 4 + MIN_MISSION + 1;

pub fn encode_apply(batch: &[StoredOutcome]) -> Vec<u8> {
    let with_missions = batch
        .iter()
        .any(|o| !o.missions.is_empty() || o.is_payout());
    let mut b = start(8 + batch.len() * 256);
    if with_missions {
        b[0] = APPLY_WITH_MISSIONS;
    }
    put_count(&mut b, batch.len());
    for o in batch {
        put_bytes(&mut b, &encode_outcome(o));
        if with_missions {
            put_writes(&mut b, &o.missions);
        }
    }
    b
}

fn put_writes(b: &mut Vec<u8>, writes: &[MissionWrite]) {
    put_count(b, writes.len());
    for w in writes {
        put_bytes(b, &encode_mission(&w.mission));
        match &w.payout {
            None => b.push(0),
            Some(p) => {
                b.push(1);
                put_bytes(b, &encode_outcome(p));
            }
        }
    }
}

pub fn decode_apply(b: &[u8]) -> Result<Vec<StoredOutcome>, WireError> {
    let (mut r, version) = Reader::open_up_to(b, APPLY_WITH_MISSIONS)?;
    if version == VERSION {
        let outcomes = r.outcomes("outcome")?;
        r.finish()?;
        return Ok(outcomes);
    }
    // Each outcome is followed by at least its count of mission writes.
    let n = r.count("outcome", MIN_RECORD + 4)?;
    let mut outcomes = Vec::with_capacity(n);
    for i in 0..n {
        let mut o = r.outcome(&format!("outcome {i}"))?;
        o.missions = writes(&mut r, i)?;
        outcomes.push(o);
    }
    r.finish()?;
    Ok(outcomes)
}

/// The mission writes of outcome `i`.
fn writes(r: &mut Reader<'_>, i: usize) -> Result<Vec<MissionWrite>, WireError> {
    let n = r.count(&format!("mission write of outcome {i}"), MIN_WRITE)?;
    let mut out = Vec::with_capacity(n);
    for j in 0..n {
        let what = format!("mission write {j} of outcome {i}");
        let mission = mission(r, &what)?;
        let payout = match r.u8(&format!("{what}: payout flag"))? {
            0 => None,
            1 => {
                let p = r.outcome(&format!("{what}: payout"))?;
                if !(p.is_payout() && p.is_rewarded()) {
                    return Err(bad(format!("{what}: payout is not a rewarded payout row")));
                }
                Some(p)
            }
            other => return Err(bad(format!("{what}: payout flag {other} is not 0 or 1"))),
        };
        out.push(MissionWrite { mission, payout });
    }
    Ok(out)
}

fn mission(r: &mut Reader<'_>, what: &str) -> Result<StoredMission, WireError> {
    let len = r.u32(&format!("{what} length"))?;
    let bytes = r.take(len, what)?;
    decode_mission(bytes).map_err(|e| bad(format!("{what}: {}", codec_message(e))))
}

pub fn encode_cards(cards: &[CardId]) -> Vec<u8> {
    let mut b = start(5 + cards.len() * 16);
    put_count(&mut b, cards.len());
    for card in cards {
        b.extend_from_slice(card.0.as_bytes());
    }
    b
}

pub fn decode_cards(b: &[u8]) -> Result<Vec<CardId>, WireError> {
    let mut r = Reader::open(b)?;
    let n = r.count("card", 16)?;
    let mut cards = Vec::with_capacity(n);
    for _ in 0..n {
        cards.push(CardId(r.uuid("card id")?));
    }
    r.finish()?;
    Ok(cards)
}

pub fn encode_missions(missions: &[StoredMission]) -> Vec<u8> {
    let mut b = start(5 + missions.len() * 256);
    put_count(&mut b, missions.len());
    for m in missions {
        put_bytes(&mut b, &encode_mission(m));
    }
    b
}

pub fn decode_missions(b: &[u8]) -> Result<Vec<StoredMission>, WireError> {
    let mut r = Reader::open(b)?;
    let n = r.count("mission state", 4 + MIN_MISSION)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(mission(&mut r, &format!("mission state {i}"))?);
    }
    r.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use rust_decimal::Decimal;
    use spend_domain::config::MissionTarget;
    use spend_domain::mission::{MissionInfo, MissionState};
    use spend_domain::Unit;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn the_smallest_state_is_min_mission_bytes() {
        let day = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        let m = StoredMission {
            card_id: CardId(Uuid::nil()),
            mission_id: Uuid::nil(),
            info: MissionInfo {
                name: String::new(),
                target: MissionTarget::Count(1),
                reward: Decimal::ONE,
                unit: Unit::Points,
            },
            state: MissionState::open(day, 1),
        };
        assert_eq!(encode_mission(&m).len(), MIN_MISSION);
    }
}
