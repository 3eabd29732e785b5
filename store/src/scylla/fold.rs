//! A batch as the once-only rules see it, so the store can write its ids concurrently.

use crate::reward_store::StoredOutcome;

/// One id's offers in a batch, as the once-only rules see them.
pub(super) struct Folded {
    /// What applying the offers in order would leave: the first reward, else the last dead
    /// letter; with the mission writes of every offer up to it, in order (applying the offers
    /// in order makes each one's).
    pub(super) outcome: StoredOutcome,
    /// Offers up to and including the first reward (all of them if none is a reward): written
    /// when the id was not final before the batch.
    pub(super) before_final: usize,
    /// Offers after the first reward: never written.
    pub(super) after_final: usize,
}

/// Folds a batch to one outcome per id, in first-seen order, so ids can be written
/// concurrently with the same result as applying the batch in order.
pub(super) fn fold_batch(batch: Vec<StoredOutcome>) -> Vec<Folded> {
    let mut out: Vec<Folded> = Vec::with_capacity(batch.len());
    let mut index = std::collections::HashMap::with_capacity(batch.len());
    for mut o in batch {
        match index.get(&o.id()) {
            None => {
                index.insert(o.id(), out.len());
                out.push(Folded {
                    outcome: o,
                    before_final: 1,
                    after_final: 0,
                });
            }
            Some(&i) => {
                let f = &mut out[i];
                if f.outcome.is_rewarded() {
                    f.after_final += 1;
                } else {
                    let mut missions = std::mem::take(&mut f.outcome.missions);
                    missions.append(&mut o.missions);
                    o.missions = missions;
                    f.outcome = o;
                    f.before_final += 1;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};
    use rust_decimal::Decimal;
    use spend_domain::eval::{DeadLetterReason, Outcome};
    use spend_domain::{CardId, RecordId, Transaction, TxKind, Unit};
    use uuid::Uuid;

    use super::*;

    #[test]
    fn folding_keeps_the_first_reward_else_the_last_dead_letter() {
        let tx = |id: u128| Transaction {
            id: RecordId(Uuid::from_u128(id)),
            transaction_id: "t".into(),
            merchant: "m".into(),
            mcc: spend_domain::Mcc::new(1).unwrap(),
            currency: spend_domain::CurrencyCode::SGD,
            amount: spend_domain::Amount::new(Decimal::ONE).unwrap(),
            transaction_date: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            card_id: CardId(Uuid::from_u128(1)),
            card_pan: spend_domain::MaskedPan::mask("4111111111111111").unwrap(),
            card_type: spend_domain::ProgramId::parse("p").unwrap(),
            kind: TxKind::Purchase,
        };
        let reward = |r: i64| {
            Outcome::Rewarded(spend_domain::eval::Reward {
                reward: Decimal::new(r, 2),
                unit: Unit::Points,
                amount_sgd: None,
                base_campaign: None,
                promo_campaign: None,
                remark: String::new(),
                config_revision: 1,
                reversal_of: None,
            })
        };
        let dl = |r| Outcome::DeadLetter(r);
        let now = Utc::now();
        let batch = [
            (1, dl(DeadLetterReason::NoFxRate)),
            (2, reward(5)),
            (1, dl(DeadLetterReason::UnknownProgram)),
            (2, reward(7)),
            (3, dl(DeadLetterReason::NoFxRate)),
            (3, reward(9)),
            (3, dl(DeadLetterReason::NoFxRate)),
        ]
        .iter()
        .map(|(id, o)| StoredOutcome::new(&tx(*id), o, now).unwrap())
        .collect();
        let folded = fold_batch(batch);
        let got: Vec<_> = folded
            .iter()
            .map(|f| {
                (
                    f.outcome.id().0.as_u128(),
                    f.outcome.outcome(),
                    f.before_final,
                    f.after_final,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (1, dl(DeadLetterReason::UnknownProgram), 2, 0),
                (2, reward(5), 1, 1),
                (3, reward(9), 2, 1),
            ]
        );

        // The mission writes of every offer up to the first reward are made with it.
        let write = |n| crate::reward_store::MissionWrite {
            mission: super::super::missions::tests::sample_mission(CardId(Uuid::from_u128(1)), n),
            payout: None,
        };
        let offer = |o: &Outcome, n| {
            let mut s = StoredOutcome::new(&tx(4), o, now).unwrap();
            s.missions = vec![write(n)];
            s
        };
        let folded = fold_batch(vec![
            offer(&dl(DeadLetterReason::NoFxRate), 1),
            offer(&reward(1), 2),
            offer(&reward(2), 3),
        ]);
        assert_eq!(folded.len(), 1);
        assert_eq!(folded[0].outcome.outcome(), reward(1));
        assert_eq!(folded[0].outcome.missions, vec![write(1), write(2)]);
    }
}
