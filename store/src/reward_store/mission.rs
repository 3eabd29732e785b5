//! Missions in the reward store (docs/missions.md): each card's state in each mission, written
//! in the same atomic write as the outcome that moved it, and the payout rows it causes.
//!
//! A mission payout is a rewarded outcome of its own in the card's history (so the history and
//! the summary show it and count it): its id is the payout's deterministic id, its transaction
//! fields are those of the record that caused it, and [`PayoutOf`] marks it as a payout. Because
//! a payout is written only together with the outcome of the record that caused it, and that
//! outcome is final once written, a redelivered record can never pay twice.

use chrono::{DateTime, Utc};
use spend_domain::eval::Reward;
use spend_domain::mission::{MissionEffect, MissionInfo, MissionPayout, MissionState, PayoutKind};
use spend_domain::{CardId, RecordId, Transaction, TxKind};
use uuid::Uuid;

use super::{truncate_to_millis, StoredOutcome, StoredStatus};

/// Marks a stored outcome as a mission payout.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PayoutOf {
    pub mission_id: Uuid,
    pub kind: PayoutKind,
    /// The record whose outcome caused the payout (its transaction fields are the payout's).
    pub caused_by: RecordId,
}

/// One card's state in one mission, with the mission's terms as they were when it last changed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredMission {
    pub card_id: CardId,
    pub mission_id: Uuid,
    pub info: MissionInfo,
    pub state: MissionState,
}

/// What an outcome does to one of its card's missions: the state to keep, and the payout row
/// it causes, if any. Written in the same atomic write as the outcome.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MissionWrite {
    pub mission: StoredMission,
    pub payout: Option<StoredOutcome>,
}

impl MissionWrite {
    /// The write for `effect`, which evaluating `tx` at `processed_at` caused.
    pub fn new(tx: &Transaction, effect: MissionEffect, processed_at: DateTime<Utc>) -> Self {
        let payout = effect
            .payout
            .as_ref()
            .map(|p| payout_outcome(tx, p, processed_at));
        MissionWrite {
            mission: StoredMission {
                card_id: effect.card_id,
                mission_id: effect.mission_id,
                info: effect.info,
                state: effect.state,
            },
            payout,
        }
    }
}

/// The payout row of `payout`, caused by `tx`: `tx`'s fields under the payout's id, as a
/// purchase (a payout is never a reversal's original: [`StoredOutcome::is_payout`]).
fn payout_outcome(
    tx: &Transaction,
    payout: &MissionPayout,
    processed_at: DateTime<Utc>,
) -> StoredOutcome {
    StoredOutcome {
        tx: Transaction {
            id: payout.id,
            kind: TxKind::Purchase,
            ..tx.clone()
        },
        status: StoredStatus::Rewarded(Reward {
            reward: payout.reward,
            unit: payout.unit,
            amount_sgd: None,
            base_campaign: None,
            promo_campaign: None,
            remark: payout.remark.clone(),
            config_revision: payout.config_revision,
            reversal_of: None,
        }),
        processed_at: truncate_to_millis(processed_at),
        payout: Some(PayoutOf {
            mission_id: payout.mission_id,
            kind: payout.kind,
            caused_by: tx.id,
        }),
        missions: Vec::new(),
    }
}
