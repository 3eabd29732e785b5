//! Missions per card: the state one card has in one mission, and the pure function that turns
//! one transaction's outcome into that state's next value and, at most, one payout
//! (docs/missions.md).
//!
//! The state carries every transaction it counted, by id, with what it counted and which
//! reversals took from it. Stored atomically with the outcomes it causes, this is what makes a
//! mission's effects once-only: a redelivered purchase or reversal finds its own id in the state
//! and changes nothing, whatever the record's own outcome says.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::config::MissionTarget;
use crate::money::{round2, round2_ratio};
use crate::types::{CardId, RecordId, Unit};

/// One card's progress in one mission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissionState {
    /// The date of the first qualifying purchase processed for the card.
    pub window_start: NaiveDate,
    /// `window_start + window_days - 1`, fixed when the window opens (a later edit of the
    /// mission's `window_days` does not move an open window).
    pub window_end: NaiveDate,
    /// The SGD still counted: the sum of the contributions less what reversals took back.
    pub progress_amount_sgd: Decimal,
    /// The qualifying purchases still counted (a fully reversed one no longer counts).
    pub progress_count: u32,
    /// How many times the mission completed for this card: the number of reward payouts.
    pub completions: u32,
    /// The reward currently paid and not clawed back, if any.
    pub paid: Option<Paid>,
    /// Every purchase counted, in processing order.
    pub contributions: Vec<Contribution>,
}

/// A payout that stands: what was paid, in which unit, and the date of the purchase that
/// completed the mission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paid {
    pub reward: Decimal,
    pub unit: Unit,
    pub completed_at: NaiveDate,
}

/// One purchase counted towards a mission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contribution {
    pub id: RecordId,
    /// The purchase's amount in its own currency (`A` for proration).
    pub amount: Decimal,
    /// What it counted, in SGD: its `amount_sgd`.
    pub amount_sgd: Decimal,
    /// The sum of its reversals' amounts, in its own currency.
    pub reversed_amount: Decimal,
    /// What its reversals took back from progress, in SGD (never more than `amount_sgd`).
    pub reversed_sgd: Decimal,
    /// The reversals applied to it, so a redelivered one is recognised.
    pub reversals: Vec<RecordId>,
}

impl Contribution {
    /// Whether it still counts as one purchase: not fully reversed.
    pub fn counted(&self) -> bool {
        self.reversed_amount < self.amount
    }
}

/// What a card's mission shows (API: `GET /v1/cards/{card_id}/missions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissionStatus {
    InProgress,
    Completed,
    Expired,
}

impl MissionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MissionStatus::InProgress => "in_progress",
            MissionStatus::Completed => "completed",
            MissionStatus::Expired => "expired",
        }
    }
}

impl MissionState {
    /// A window opened by a purchase dated `start`.
    pub fn open(start: NaiveDate, window_days: u16) -> Self {
        MissionState {
            window_start: start,
            window_end: crate::config::window_end(start, window_days),
            progress_amount_sgd: round2(Decimal::ZERO),
            progress_count: 0,
            completions: 0,
            paid: None,
            contributions: Vec::new(),
        }
    }

    /// `completed` while a reward stands; `expired` when the window ended before `today` and
    /// the mission never completed; `in_progress` otherwise — including a mission whose reward
    /// was clawed back, which a late purchase dated inside its window may still complete again.
    pub fn status(&self, today: NaiveDate) -> MissionStatus {
        if self.paid.is_some() {
            MissionStatus::Completed
        } else if self.completions == 0 && self.window_end < today {
            MissionStatus::Expired
        } else {
            MissionStatus::InProgress
        }
    }

    /// Whether progress is at or above `target`.
    pub fn reaches(&self, target: MissionTarget) -> bool {
        match target {
            MissionTarget::AmountSgd(t) => self.progress_amount_sgd >= t,
            MissionTarget::Count(n) => self.progress_count >= n,
        }
    }

    /// A copy of everything but the contributions (left empty).
    fn clone_without_contributions(&self) -> MissionState {
        MissionState {
            contributions: Vec::new(),
            ..*self
        }
    }

    /// Whether the state already counted purchase `id`.
    pub fn counted(&self, id: RecordId) -> bool {
        self.contributions.iter().any(|c| c.id == id)
    }
}

/// A mission reward paid, or taken back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayoutKind {
    Reward,
    Clawback,
}

impl PayoutKind {
    /// The Reward `type` a payout is served with.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutKind::Reward => "mission",
            PayoutKind::Clawback => "mission_clawback",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mission" => Some(PayoutKind::Reward),
            "mission_clawback" => Some(PayoutKind::Clawback),
            _ => None,
        }
    }
}

/// One reward outcome a mission causes: written beside the outcome of the record that caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissionPayout {
    /// Deterministic: [`payout_id`] of the mission, the card, the completion number and the kind,
    /// so a retried write produces the same row.
    pub id: RecordId,
    pub mission_id: Uuid,
    pub kind: PayoutKind,
    /// Which completion of the card it pays or takes back (1 for the first).
    pub completion: u32,
    /// Positive for a reward, negative for a clawback; 2 fractional digits.
    pub reward: Decimal,
    pub unit: Unit,
    /// `mission: <name>` or `mission clawback: <name>`.
    pub remark: String,
    pub config_revision: i64,
}

/// A mission's terms as a card's view of it shows them (`GET /v1/cards/{card_id}/missions`):
/// kept beside the card's state, as they were when the state last changed, so the view needs no
/// configuration (and still shows a mission deleted since).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissionInfo {
    pub name: String,
    pub target: MissionTarget,
    /// What completing pays, 2 fractional digits.
    pub reward: Decimal,
    pub unit: Unit,
}

/// What one transaction does to one card's state in one mission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissionEffect {
    pub card_id: CardId,
    pub mission_id: Uuid,
    /// The mission's terms at the revision the transaction was evaluated with.
    pub info: MissionInfo,
    /// The state after the transaction, to be stored with its outcome and `payout`.
    pub state: MissionState,
    pub payout: Option<MissionPayout>,
}

/// The namespace of mission payout ids (UUID v5).
const PAYOUT_NAMESPACE: Uuid = Uuid::from_u128(0x6d15_5104_7a3e_4c1b_9e0f_5b3d_2a61_c0de);

/// The id of a mission payout: UUID v5 of `mission:card:completion:kind`.
pub fn payout_id(mission: Uuid, card: CardId, completion: u32, kind: PayoutKind) -> RecordId {
    let name = format!(
        "{}:{}:{completion}:{}",
        mission.hyphenated(),
        card,
        kind.as_str()
    );
    RecordId(Uuid::new_v5(&PAYOUT_NAMESPACE, name.as_bytes()))
}

/// The mission as evaluation needs it.
pub(crate) struct MissionTerms<'a> {
    pub(crate) id: Uuid,
    pub(crate) name: &'a str,
    pub(crate) window_days: u16,
    pub(crate) target: MissionTarget,
    pub(crate) reward: Decimal,
    pub(crate) unit: Unit,
    pub(crate) revision: i64,
}

impl MissionTerms<'_> {
    fn info(&self) -> MissionInfo {
        MissionInfo {
            name: self.name.to_owned(),
            target: self.target,
            reward: round2(self.reward),
            unit: self.unit,
        }
    }

    fn payout(&self, card: CardId, state: &MissionState, kind: PayoutKind) -> MissionPayout {
        let (reward, unit, remark) = match kind {
            PayoutKind::Reward => (
                round2(self.reward),
                self.unit,
                format!("mission: {}", self.name),
            ),
            PayoutKind::Clawback => {
                // Take back exactly what stands, whatever the mission pays now.
                let paid = state.paid.expect("a clawback takes back a standing reward");
                (
                    round2(-paid.reward),
                    paid.unit,
                    format!("mission clawback: {}", self.name),
                )
            }
        };
        MissionPayout {
            id: payout_id(self.id, card, state.completions, kind),
            mission_id: self.id,
            kind,
            completion: state.completions,
            reward,
            unit,
            remark,
            config_revision: self.revision,
        }
    }

    /// A qualifying purchase `id` dated `date`, of `amount` (own currency) and `amount_sgd`.
    /// `None` when it changes nothing: counted before, or dated outside the window.
    pub(crate) fn purchase(
        &self,
        card: CardId,
        prior: Option<&MissionState>,
        (id, date, amount, amount_sgd): (RecordId, NaiveDate, Decimal, Decimal),
    ) -> Option<MissionEffect> {
        let mut state = match prior {
            Some(s) if s.counted(id) || date < s.window_start || date > s.window_end => {
                return None;
            }
            Some(s) => {
                // Room for the contribution below: a cloned Vec has no spare capacity.
                let mut contributions = Vec::with_capacity(s.contributions.len() + 1);
                contributions.extend_from_slice(&s.contributions);
                MissionState {
                    contributions,
                    ..s.clone_without_contributions()
                }
            }
            None => MissionState::open(date, self.window_days),
        };
        state.contributions.push(Contribution {
            id,
            amount,
            amount_sgd,
            reversed_amount: Decimal::ZERO,
            reversed_sgd: Decimal::ZERO,
            reversals: Vec::new(),
        });
        state.progress_amount_sgd = round2(state.progress_amount_sgd + amount_sgd);
        state.progress_count += 1;
        let mut payout = None;
        if state.paid.is_none() && state.reaches(self.target) {
            state.completions += 1;
            let p = self.payout(card, &state, PayoutKind::Reward);
            state.paid = Some(Paid {
                reward: p.reward,
                unit: p.unit,
                completed_at: date,
            });
            payout = Some(p);
        }
        Some(MissionEffect {
            card_id: card,
            mission_id: self.id,
            info: self.info(),
            state,
            payout,
        })
    }

    /// A rewarded reversal `id` of `amount` naming `original`. `None` when it changes nothing:
    /// the original was not counted, or this reversal was applied before.
    pub(crate) fn reversal(
        &self,
        card: CardId,
        prior: Option<&MissionState>,
        (id, original, amount): (RecordId, RecordId, Decimal),
    ) -> Option<MissionEffect> {
        let prior = prior?;
        let i = prior.contributions.iter().position(|c| c.id == original)?;
        if prior.contributions[i].reversals.contains(&id) {
            return None;
        }
        let mut state = prior.clone();
        let c = &mut state.contributions[i];
        let was_counted = c.counted();
        let v = if amount >= c.amount {
            c.amount_sgd
        } else {
            round2_ratio(c.amount_sgd, amount, c.amount).unwrap_or(c.amount_sgd)
        };
        let taken = v.min(c.amount_sgd - c.reversed_sgd).max(Decimal::ZERO);
        c.reversals.push(id);
        c.reversed_sgd = round2(c.reversed_sgd + taken);
        c.reversed_amount = (c.reversed_amount + amount).min(c.amount);
        let uncounted = was_counted && !c.counted();
        state.progress_amount_sgd = round2(state.progress_amount_sgd - taken);
        if uncounted {
            state.progress_count -= 1;
        }
        let mut payout = None;
        if state.paid.is_some() && !state.reaches(self.target) {
            payout = Some(self.payout(card, &state, PayoutKind::Clawback));
            state.paid = None;
        }
        Some(MissionEffect {
            card_id: card,
            mission_id: self.id,
            info: self.info(),
            state,
            payout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn date(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 5, day).unwrap()
    }

    fn rid(n: u128) -> RecordId {
        RecordId(Uuid::from_u128(n))
    }

    fn terms(target: MissionTarget) -> MissionTerms<'static> {
        MissionTerms {
            id: Uuid::from_u128(0xabc),
            name: "Dine",
            window_days: 7,
            target,
            reward: d("50"),
            unit: Unit::Points,
            revision: 9,
        }
    }

    const CARD: CardId = CardId(Uuid::from_u128(0xca));

    #[test]
    fn completes_once_claws_back_and_completes_again() {
        let t = terms(MissionTarget::AmountSgd(d("100")));
        let buy = |s: Option<&MissionState>, id, day, amt: &str| {
            t.purchase(CARD, s, (rid(id), date(day), d(amt), d(amt)))
        };
        let e1 = buy(None, 1, 2, "40.00").unwrap();
        assert_eq!(e1.state.window_end, date(8));
        let e2 = buy(Some(&e1.state), 2, 3, "40.00").unwrap();
        assert_eq!(e2.state.progress_amount_sgd.to_string(), "80.00");
        assert!(e2.payout.is_none());
        let e3 = buy(Some(&e2.state), 3, 4, "30.00").unwrap();
        let paid = e3.payout.clone().unwrap();
        assert_eq!(
            (paid.reward.to_string(), paid.completion),
            ("50.00".into(), 1)
        );
        assert_eq!(paid.id, payout_id(t.id, CARD, 1, PayoutKind::Reward));
        assert_eq!(e3.state.status(date(5)), MissionStatus::Completed);
        // Redelivered: nothing. Outside the window: nothing.
        assert!(buy(Some(&e3.state), 3, 4, "30.00").is_none());
        assert!(buy(Some(&e3.state), 4, 9, "30.00").is_none());
        // Reversal of the third: back to 80, clawed back.
        let r = t
            .reversal(CARD, Some(&e3.state), (rid(10), rid(3), d("30.00")))
            .unwrap();
        let claw = r.payout.clone().unwrap();
        assert_eq!(claw.reward.to_string(), "-50.00");
        assert_eq!(claw.kind, PayoutKind::Clawback);
        assert_eq!(r.state.progress_amount_sgd.to_string(), "80.00");
        assert_eq!(r.state.progress_count, 2);
        assert_eq!(r.state.status(date(30)), MissionStatus::InProgress);
        // The same reversal again: nothing.
        assert!(t
            .reversal(CARD, Some(&r.state), (rid(10), rid(3), d("30.00")))
            .is_none());
        // A late purchase inside the window completes it again, under a new payout id.
        let again = buy(Some(&r.state), 5, 8, "20.00").unwrap();
        let p2 = again.payout.unwrap();
        assert_eq!(p2.completion, 2);
        assert_ne!(p2.id, paid.id);
    }

    #[test]
    fn partial_reversals_prorate_and_cap_and_count_targets() {
        let t = terms(MissionTarget::Count(2));
        // 100 USD counted as 134.50 SGD.
        let e1 = t
            .purchase(CARD, None, (rid(1), date(2), d("100.00"), d("134.50")))
            .unwrap();
        let e2 = t
            .purchase(
                CARD,
                Some(&e1.state),
                (rid(2), date(2), d("1.00"), d("1.00")),
            )
            .unwrap();
        assert!(e2.payout.is_some());
        let r1 = t
            .reversal(CARD, Some(&e2.state), (rid(11), rid(1), d("33.33")))
            .unwrap();
        // round2(134.50 × 33.33 / 100) = 44.83; still counted as one purchase.
        assert_eq!(r1.state.progress_amount_sgd.to_string(), "90.67");
        assert_eq!(r1.state.progress_count, 2);
        assert!(r1.payout.is_none());
        let r2 = t
            .reversal(CARD, Some(&r1.state), (rid(12), rid(1), d("100.00")))
            .unwrap();
        // Capped at what is left of the 134.50; now fully reversed: the count drops.
        assert_eq!(r2.state.progress_amount_sgd.to_string(), "1.00");
        assert_eq!(r2.state.progress_count, 1);
        assert_eq!(r2.payout.unwrap().reward.to_string(), "-50.00");
        // A reversal of a purchase the mission never counted changes nothing.
        assert!(t
            .reversal(CARD, Some(&r2.state), (rid(13), rid(99), d("1.00")))
            .is_none());
        assert!(t
            .reversal(CARD, None, (rid(13), rid(1), d("1.00")))
            .is_none());
    }

    #[test]
    fn expiry_is_for_a_window_that_never_completed() {
        let mut s = MissionState::open(date(2), 7);
        assert_eq!(s.status(date(8)), MissionStatus::InProgress);
        assert_eq!(s.status(date(9)), MissionStatus::Expired);
        s.completions = 1;
        assert_eq!(s.status(date(9)), MissionStatus::InProgress);
        assert_eq!(
            MissionState::open(date(2), 1).window_end,
            date(2),
            "a one-day window is its opening day"
        );
    }
}
