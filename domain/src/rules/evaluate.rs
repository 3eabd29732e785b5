//! `RuleSet::evaluate`: the once-only rule (REWARDS.md §4), purchases (§3) and reversals (§6).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::check::Facts;
use super::{CompiledCampaign, RuleSet};
use crate::eval::{DeadLetterReason, Outcome, Reward};
use crate::ledger::{Ledger, Prior};
use crate::money::{round2, round2_ratio};
use crate::types::{RecordId, Transaction, TxKind};

const NO_CAMPAIGN: &str = "no campaign matched";
const REVERSAL: &str = "reversal";

/// `0.00`.
const ZERO: Decimal = Decimal::from_parts(0, 0, 0, false, 2);

impl RuleSet {
    /// Decides the outcome of one valid transaction, given what `ledger` knows of its id and,
    /// for a reversal, of its original. Pure: the caller stores the outcome (and, for a
    /// reversal, adds its magnitude to the original's running total in the same write).
    pub fn evaluate<L: Ledger + ?Sized>(&self, tx: &Transaction, ledger: &L) -> Outcome {
        // A reward is final; a dead letter is not, so its id is processed anew.
        if ledger.prior(tx.id) == Some(Prior::Rewarded) {
            return Outcome::Duplicate;
        }
        match tx.kind {
            TxKind::Purchase => self.purchase(tx),
            TxKind::Reversal { original_id } => self.reversal(tx, original_id, ledger),
        }
    }

    fn purchase(&self, tx: &Transaction) -> Outcome {
        let Some(rules) = self.programs.get(&tx.card_type) else {
            return Outcome::DeadLetter(DeadLetterReason::UnknownProgram);
        };
        let amount_sgd = if tx.currency.is_sgd() {
            tx.amount.get()
        } else {
            match self.fx_rate(tx.currency) {
                Some(rate) => round2(tx.amount.get() * rate),
                None => return Outcome::DeadLetter(DeadLetterReason::NoFxRate),
            }
        };
        let date = tx.transaction_date;
        let facts = Facts::new(tx, amount_sgd);
        let reward = |reward, base, promo, remark| {
            Outcome::Rewarded(Reward {
                reward,
                unit: rules.unit,
                amount_sgd: Some(amount_sgd),
                base_campaign: base,
                promo_campaign: promo,
                remark,
                config_revision: self.revision,
                reversal_of: None,
            })
        };

        if let Some(x) = rules
            .exclusions
            .iter()
            .find(|x| x.window.contains(date) && x.checks.hold(&facts))
        {
            return reward(ZERO, None, None, x.remark.to_string());
        }

        let base = winner(&rules.base, date, &facts);
        let promo = winner(&rules.promo, date, &facts);
        let value =
            |c: Option<&CompiledCampaign>| c.map_or(ZERO, |c| round2(amount_sgd * c.per_sgd));
        let total = round2(value(base) + value(promo));
        let remark = match (base, promo) {
            (Some(b), Some(p)) => {
                let mut s = String::with_capacity(b.name.len() + 3 + p.name.len());
                s.push_str(&b.name);
                s.push_str(" + ");
                s.push_str(&p.name);
                s
            }
            (Some(c), None) | (None, Some(c)) => c.name.to_string(),
            (None, None) => NO_CAMPAIGN.to_owned(),
        };
        reward(total, base.map(|c| c.id), promo.map(|c| c.id), remark)
    }

    fn reversal<L: Ledger + ?Sized>(
        &self,
        tx: &Transaction,
        original_id: RecordId,
        ledger: &L,
    ) -> Outcome {
        let Some(original) = ledger.original(tx.card_id, original_id) else {
            return Outcome::DeadLetter(DeadLetterReason::OriginalNotFound);
        };
        if original.currency != tx.currency {
            return Outcome::DeadLetter(DeadLetterReason::CurrencyMismatch);
        }
        let (r, a, amount) = (original.reward, original.amount.get(), tx.amount.get());
        let v = if amount >= a {
            r
        } else {
            // Exact as a fraction, rounded once. The fallback is for a ledger holding decimals
            // of a scale the product never writes.
            round2_ratio(r, amount, a)
                .or_else(|| r.checked_mul(amount)?.checked_div(a).map(round2))
                .unwrap_or(r)
        };
        // Never take back more than is left, and never give anything back.
        let left = (r - original.reversed).max(Decimal::ZERO);
        let taken = v.min(left).max(Decimal::ZERO);
        Outcome::Rewarded(Reward {
            reward: round2(-taken),
            unit: original.unit,
            amount_sgd: None,
            base_campaign: None,
            promo_campaign: None,
            remark: REVERSAL.to_owned(),
            config_revision: self.revision,
            reversal_of: Some(original_id),
        })
    }
}

/// The first eligible campaign of a list in winner order.
fn winner<'a>(
    campaigns: &'a [CompiledCampaign],
    date: NaiveDate,
    facts: &Facts<'_>,
) -> Option<&'a CompiledCampaign> {
    campaigns
        .iter()
        .find(|c| c.window.contains(date) && c.checks.hold(facts))
}
