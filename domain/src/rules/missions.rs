//! Missions compiled into the [`RuleSet`], and `RuleSet::mission_effects`: what one evaluated
//! transaction does to its card's missions (docs/missions.md).

use rust_decimal::Decimal;
use uuid::Uuid;

use super::check::{Checks, Facts, Window};
use super::{ProgramRules, RuleSet};
use crate::config::{Mission, MissionTarget};
use crate::eval::Outcome;
use crate::ledger::Ledger;
use crate::mission::{MissionEffect, MissionTerms};
use crate::types::{Transaction, TxKind, Unit};

#[derive(Clone, Debug)]
pub(super) struct CompiledMission {
    id: Uuid,
    name: Box<str>,
    /// The mission's own dates.
    window: Window,
    window_days: u16,
    target: MissionTarget,
    checks: Checks,
    reward: Decimal,
}

impl CompiledMission {
    pub(super) fn new(m: &Mission) -> Self {
        CompiledMission {
            id: m.id,
            name: m.name.clone().into_boxed_str(),
            window: Window {
                from: Some(m.start_date),
                until: m.end_date,
            },
            window_days: m.window_days,
            target: m.target,
            checks: Checks::compile(&m.conditions),
            reward: m.reward,
        }
    }

    fn terms(&self, unit: Unit, revision: i64) -> MissionTerms<'_> {
        MissionTerms {
            id: self.id,
            name: &self.name,
            window_days: self.window_days,
            target: self.target,
            reward: self.reward,
            unit,
            revision,
        }
    }
}

impl RuleSet {
    /// Whether any program has a mission: when none has, evaluation never looks at missions.
    pub fn has_missions(&self) -> bool {
        self.programs.values().any(|p| !p.missions.is_empty())
    }

    /// What `tx`, just evaluated to `outcome`, does to its card's missions, given the card's
    /// mission states in `ledger`: one effect per mission whose state changes, in mission id
    /// order. Only a rewarded purchase that no exclusion applies to can count, and only a
    /// rewarded reversal can take back. Pure: the caller stores the effects' states and payouts
    /// atomically with the outcome.
    pub fn mission_effects<L: Ledger + ?Sized>(
        &self,
        tx: &Transaction,
        outcome: &Outcome,
        ledger: &L,
    ) -> Vec<MissionEffect> {
        let Outcome::Rewarded(reward) = outcome else {
            return Vec::new();
        };
        match tx.kind {
            TxKind::Purchase => {
                let Some(rules) = self.programs.get(&tx.card_type) else {
                    return Vec::new();
                };
                match reward.amount_sgd {
                    Some(amount_sgd) if !rules.missions.is_empty() => {
                        self.purchase_effects(tx, rules, amount_sgd, ledger)
                    }
                    _ => Vec::new(),
                }
            }
            TxKind::Reversal { original_id } => {
                let mut effects = Vec::new();
                // The reversal's own card_type is not checked (REWARDS.md §6): the missions that
                // counted the original are found by the card's states.
                for rules in self.programs.values() {
                    for m in rules.missions.iter() {
                        let prior = ledger.mission_state(tx.card_id, m.id);
                        if prior.is_none() {
                            continue;
                        }
                        let terms = m.terms(rules.unit, self.revision);
                        if let Some(e) =
                            terms.reversal(tx.card_id, prior, (tx.id, original_id, tx.amount.get()))
                        {
                            effects.push(e);
                        }
                    }
                }
                effects.sort_by_key(|e| e.mission_id);
                effects
            }
        }
    }

    fn purchase_effects<L: Ledger + ?Sized>(
        &self,
        tx: &Transaction,
        rules: &ProgramRules,
        amount_sgd: Decimal,
        ledger: &L,
    ) -> Vec<MissionEffect> {
        let date = tx.transaction_date;
        let facts = Facts::new(tx, amount_sgd);
        let excluded = rules
            .exclusions
            .iter()
            .any(|x| x.window.contains(date) && x.checks.hold(&facts));
        if excluded {
            return Vec::new();
        }
        let mut effects = Vec::new();
        for m in rules.missions.iter() {
            if !(m.window.contains(date) && m.checks.hold(&facts)) {
                continue;
            }
            let prior = ledger.mission_state(tx.card_id, m.id);
            let terms = m.terms(rules.unit, self.revision);
            if let Some(e) = terms.purchase(
                tx.card_id,
                prior,
                (tx.id, date, tx.amount.get(), amount_sgd),
            ) {
                effects.push(e);
            }
        }
        effects
    }
}
