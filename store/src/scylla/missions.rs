//! Missions on ScyllaDB (docs/missions.md): each card's state in each mission, and the payout
//! rows a reward causes, made as safe as the reward itself.
//!
//! **Decided with the reward.** A conditional statement of ScyllaDB or Cassandra (and so a
//! logged batch with one) may only touch one partition, and a reward's `outcomes` partition is
//! its id, not its card: a mission state can never share the reward's LWT. What can is the
//! reward's own row. So a reward's mission writes ([`StoredOutcome::missions`]) are encoded into
//! its `outcomes.pending_missions` ([`encode_pending`]) and decided *with* it, by the LWT that
//! makes it final — or not at all, when the id was already final: the loser of that LWT writes
//! nothing of its own. Once the reward is final its mission writes are made like its other
//! derived rows, and the column is then cleared:
//!
//! - **payout rows** are outcomes of their own, decided by their own LWT (the payout id is
//!   deterministic, so one payout is one row however often it is written) and then given their
//!   history and month rows like any reward;
//! - **states** are written to `mission_states` `USING TIMESTAMP` their version
//!   ([`state_version`]): the number of records the state has taken in. Every move of a state
//!   takes in exactly one record (a counted purchase, or a reversal applied to one), so of two
//!   states of the same card and mission the later one has the larger version and wins by
//!   last-write-wins, whatever order the writes land in. Outcomes of the same card written
//!   concurrently in one batch therefore cannot regress a state, and neither can a repair that
//!   rewrites an older reward's state long after; rewriting a state is a no-op. (That every
//!   move takes in one record is the domain's evaluation; the scenario suite checks it. Two
//!   states of equal version are two rewarders evaluating one card at once, which the
//!   one-owner-per-card flow excludes: the cluster would keep one of them.)
//!
//! **Crash.** A crash after the decision and before the writes leaves the reward final with its
//! mission writes still in `pending_missions`. Its record is redelivered (the offset was not
//! committed), and the prefetch that reads its prior outcome repairs its derived rows and makes
//! its pending mission writes before it answers — before the rewarder reads the batch's mission
//! states, and before any later record of the card is evaluated. A batch applied again finds
//! each id final and completes the stored winner's writes the same way, so it neither pays twice
//! (the payout's own LWT) nor loses a state (the state's version).
//!
//! **Clearing** `pending_missions` is a plain write on a row an LWT wrote. If it loses to the
//! LWT's timestamp (a client clock behind the coordinator's), the writes stay pending and are
//! made again by the next repair, which changes nothing: harmless either way. A dead letter's
//! mission writes (evaluation gives it none) are made right after its decision and never
//! pending: a redelivered dead letter is evaluated again, and its states recognise it.

use futures::{StreamExt, TryStreamExt};
use spend_domain::mission::MissionState;
use spend_domain::{CardId, RecordId};
use uuid::Uuid;

use super::{corrupt, ScyllaRewardStore};
use crate::reward_store::{
    decode_mission, decode_outcome, encode_mission, encode_outcome, Applied, MissionWrite, Result,
    RewardStoreError, StoredMission, StoredOutcome,
};

/// The first byte of `pending_missions`.
const PENDING_VERSION: u8 = 1;

/// The write timestamp of a state: how many records it has taken in (counted purchases, plus
/// the reversals applied to them). See the module documentation.
pub(super) fn state_version(s: &MissionState) -> i64 {
    let taken: usize = s.contributions.iter().map(|c| 1 + c.reversals.len()).sum();
    i64::try_from(taken).unwrap_or(i64::MAX)
}

/// `pending_missions`: version 1 · u32 n · n × (u32 length · state (the store's mission codec)
/// · payout 0 | 1 · u32 length · outcome (the store's outcome codec)).
pub(super) fn encode_pending(writes: &[MissionWrite]) -> Vec<u8> {
    let mut b = vec![PENDING_VERSION];
    put_len(&mut b, writes.len());
    for w in writes {
        put_bytes(&mut b, &encode_mission(&w.mission));
        match &w.payout {
            None => b.push(0),
            Some(p) => {
                b.push(1);
                put_bytes(&mut b, &encode_outcome(p));
            }
        }
    }
    b
}

pub(super) fn decode_pending(b: &[u8]) -> Result<Vec<MissionWrite>> {
    let mut r = Bytes { b, at: 0 };
    if r.take(1)? != [PENDING_VERSION] {
        return Err(bad_pending("version"));
    }
    let n = r.len()?;
    // Each write takes at least 5 bytes: no count makes this allocate past its input.
    let mut writes = Vec::with_capacity(n.min(b.len() / 5));
    for _ in 0..n {
        let size = r.len()?;
        let mission = decode_mission(r.take(size)?)?;
        let payout = match r.take(1)? {
            [0] => None,
            [1] => {
                let size = r.len()?;
                Some(decode_outcome(r.take(size)?)?)
            }
            _ => return Err(bad_pending("payout flag")),
        };
        writes.push(MissionWrite { mission, payout });
    }
    if r.at != b.len() {
        return Err(bad_pending("trailing bytes"));
    }
    Ok(writes)
}

fn bad_pending(what: &str) -> RewardStoreError {
    corrupt(format!("pending mission writes: bad {what}"))
}

struct Bytes<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| bad_pending("length"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn len(&mut self) -> Result<usize> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(a) as usize)
    }
}

fn put_len(b: &mut Vec<u8>, n: usize) {
    b.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_bytes(b: &mut Vec<u8>, bytes: &[u8]) {
    put_len(b, bytes.len());
    b.extend_from_slice(bytes);
}

impl ScyllaRewardStore {
    /// Makes `writes` (of an outcome that is stored): each payout decided and given its rows,
    /// each state written at its version. What the payouts did.
    pub(super) async fn write_missions(&self, writes: &[MissionWrite]) -> Result<Applied> {
        let done = futures::future::try_join_all(writes.iter().map(|w| self.write_mission(w)));
        let mut applied = Applied::default();
        for payout in done.await?.into_iter().flatten() {
            if payout {
                applied.written += 1;
            } else {
                applied.unchanged += 1;
            }
        }
        Ok(applied)
    }

    /// One write; for its payout, whether it was written (`None`: no payout).
    async fn write_mission(&self, w: &MissionWrite) -> Result<Option<bool>> {
        let m = &w.mission;
        let state = self.run(
            &self.st.insert_mission_state,
            (
                m.card_id.0,
                m.mission_id,
                encode_mission(m),
                state_version(&m.state),
            ),
        );
        let payout = async {
            match &w.payout {
                Some(p) => self.settle(p).await.map(Some),
                None => Ok(None),
            }
        };
        let (_, payout) = tokio::try_join!(state, payout)?;
        Ok(payout)
    }

    /// The mission writes `id`'s reward left pending, if any (`serial`: see [`Self::read`]).
    pub(super) async fn pending(
        &self,
        id: RecordId,
        serial: bool,
    ) -> Result<Option<Vec<MissionWrite>>> {
        let st = if serial {
            &self.st.get_pending_serial
        } else {
            &self.st.get_pending
        };
        let rows: Vec<(Option<Vec<u8>>,)> = self.rows(st, (id.0,)).await?;
        match rows.into_iter().next().and_then(|(b,)| b) {
            Some(b) => decode_pending(&b).map(Some),
            None => Ok(None),
        }
    }

    /// Marks `id`'s mission writes as made.
    pub(super) async fn clear_pending(&self, id: RecordId) -> Result<()> {
        self.run(&self.st.clear_pending, (id.0,)).await.map(drop)
    }

    /// Every state of `cards`, by card then mission id.
    pub(super) async fn card_missions(&self, cards: &[CardId]) -> Result<Vec<StoredMission>> {
        let mut cards = cards.to_vec();
        cards.sort_unstable();
        cards.dedup();
        let found: Vec<Vec<StoredMission>> = futures::stream::iter(cards)
            .map(|card| self.states_of(card))
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn states_of(&self, card: CardId) -> Result<Vec<StoredMission>> {
        let rows: Vec<(Uuid, Option<Vec<u8>>)> =
            self.rows(&self.st.mission_states_of, (card.0,)).await?;
        let mut out = Vec::with_capacity(rows.len());
        for (mission_id, state) in rows {
            let state = state.ok_or_else(|| corrupt("a mission state row without its state"))?;
            let m = decode_mission(&state)?;
            if m.card_id != card || m.mission_id != mission_id {
                return Err(RewardStoreError::Corrupt(format!(
                    "scylla: the state under card {card}, mission {mission_id} is card {}'s in \
                     mission {}",
                    m.card_id, m.mission_id
                )));
            }
            out.push(m);
        }
        // The clustering order of a `uuid` column is not byte order; the contract's is.
        out.sort_by_key(|m| m.mission_id);
        Ok(out)
    }
}

/// Whether `o` leaves mission writes pending until they are made.
pub(super) fn leaves_pending(o: &StoredOutcome) -> bool {
    o.is_rewarded() && !o.missions.is_empty()
}

#[cfg(test)]
pub(super) mod tests {
    use chrono::NaiveDate;
    use rust_decimal::Decimal;
    use spend_domain::config::MissionTarget;
    use spend_domain::mission::{Contribution, MissionInfo};
    use spend_domain::Unit;

    use super::*;

    /// A state of `card` that has taken in `n` purchases, the last one reversed.
    pub(in crate::scylla) fn sample_mission(card: CardId, n: u128) -> StoredMission {
        let day = NaiveDate::from_ymd_opt(2024, 5, 2).unwrap();
        let contributions = (0..n)
            .map(|i| Contribution {
                id: RecordId(Uuid::from_u128(100 + i)),
                amount: Decimal::new(4000, 2),
                amount_sgd: Decimal::new(4000, 2),
                reversed_amount: Decimal::ZERO,
                reversed_sgd: Decimal::ZERO,
                reversals: if i + 1 == n {
                    vec![RecordId(Uuid::from_u128(200 + i))]
                } else {
                    Vec::new()
                },
            })
            .collect();
        StoredMission {
            card_id: card,
            mission_id: Uuid::from_u128(0xd001),
            info: MissionInfo {
                name: "Dine SGD 100 in 7 days".into(),
                target: MissionTarget::AmountSgd(Decimal::new(100, 0)),
                reward: Decimal::new(5000, 2),
                unit: Unit::Points,
            },
            state: MissionState {
                window_start: day,
                window_end: day + chrono::Days::new(6),
                progress_amount_sgd: Decimal::new(4000, 2),
                progress_count: 1,
                completions: 0,
                paid: None,
                contributions,
            },
        }
    }

    fn payout_row(card: CardId) -> StoredOutcome {
        use spend_domain::eval::{Outcome, Reward};
        use spend_domain::mission::PayoutKind;
        use spend_domain::{Amount, CurrencyCode, MaskedPan, Mcc, ProgramId, Transaction, TxKind};
        let tx = Transaction {
            id: RecordId(Uuid::from_u128(7)),
            transaction_id: "T-7".into(),
            merchant: "m".into(),
            mcc: Mcc::new(5812).unwrap(),
            currency: CurrencyCode::SGD,
            amount: Amount::new(Decimal::new(3000, 2)).unwrap(),
            transaction_date: NaiveDate::from_ymd_opt(2024, 5, 4).unwrap(),
            card_id: card,
            card_pan: MaskedPan::mask("4111111111111111").unwrap(),
            card_type: ProgramId::parse("scis_shopping").unwrap(),
            kind: TxKind::Purchase,
        };
        let reward = Reward {
            reward: Decimal::new(5000, 2),
            unit: Unit::Points,
            amount_sgd: None,
            base_campaign: None,
            promo_campaign: None,
            remark: "mission: Dine".into(),
            config_revision: 3,
            reversal_of: None,
        };
        let mut o =
            StoredOutcome::new(&tx, &Outcome::Rewarded(reward), chrono::Utc::now()).unwrap();
        o.payout = Some(crate::reward_store::PayoutOf {
            mission_id: Uuid::from_u128(0xd001),
            kind: PayoutKind::Reward,
            caused_by: RecordId(Uuid::from_u128(6)),
        });
        o
    }

    #[test]
    fn a_state_moved_once_more_has_a_larger_version() {
        let card = CardId(Uuid::from_u128(1));
        let v = |n| state_version(&sample_mission(card, n).state);
        // n purchases and one reversal.
        assert_eq!(v(1), 2);
        assert_eq!(v(3), 4);
        let mut s = sample_mission(card, 3).state;
        let before = state_version(&s);
        s.contributions[0]
            .reversals
            .push(RecordId(Uuid::from_u128(9)));
        assert_eq!(state_version(&s), before + 1);
    }

    #[test]
    fn pending_writes_round_trip_and_damage_is_corrupt() {
        let card = CardId(Uuid::from_u128(1));
        let writes = vec![
            MissionWrite {
                mission: sample_mission(card, 2),
                payout: None,
            },
            MissionWrite {
                mission: sample_mission(card, 3),
                payout: Some(payout_row(card)),
            },
        ];
        let bytes = encode_pending(&writes);
        assert_eq!(decode_pending(&bytes).unwrap(), writes);
        assert_eq!(decode_pending(&encode_pending(&[])).unwrap(), vec![]);
        for cut in 0..bytes.len() {
            assert!(decode_pending(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_pending(&longer).is_err());
        let mut count = bytes;
        count[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode_pending(&count).is_err());
    }
}
