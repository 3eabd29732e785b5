//! A configuration compiled for evaluation: an immutable [`RuleSet`], indexed so that a
//! transaction only ever looks at its own program's exclusions and campaigns, already in winner
//! order (REWARDS.md §3).
//!
//! The rewarder compiles one per configuration revision and swaps it in whole; evaluation never
//! locks and never allocates beyond the remark it returns (and the lower-cased merchant, once,
//! when a merchant condition is reached).

mod check;
mod evaluate;
mod missions;

use std::collections::HashMap;

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::config::{Campaign, CampaignKind, Config, Exclusion, Invalid};
use crate::types::{CurrencyCode, ProgramId, Unit};

use check::{Checks, Window};
use missions::CompiledMission;

/// An immutable, compiled configuration snapshot at one revision.
#[derive(Clone, Debug)]
pub struct RuleSet {
    revision: i64,
    programs: HashMap<ProgramId, ProgramRules>,
    /// Sorted by currency, for binary search.
    fx: Box<[(CurrencyCode, Decimal)]>,
}

#[derive(Clone, Debug)]
struct ProgramRules {
    unit: Unit,
    /// The exclusions that apply to this program (its own and the global ones), smallest id
    /// first: the first that holds names the exclusion.
    exclusions: Box<[CompiledExclusion]>,
    /// Winner order (priority desc, rate desc, id asc): the first eligible campaign wins.
    base: Box<[CompiledCampaign]>,
    promo: Box<[CompiledCampaign]>,
    /// The program's missions, smallest id first.
    missions: Box<[CompiledMission]>,
}

#[derive(Clone, Debug)]
struct CompiledExclusion {
    window: Window,
    checks: Checks,
    /// `excluded: <name>`.
    remark: Box<str>,
}

#[derive(Clone, Debug)]
struct CompiledCampaign {
    id: Uuid,
    name: Box<str>,
    window: Window,
    checks: Checks,
    /// What one SGD earns: the rate, or for cashback the rate / 100 (exact: only the scale moves).
    per_sgd: Decimal,
}

impl CompiledExclusion {
    fn new(x: &Exclusion) -> Self {
        CompiledExclusion {
            window: Window {
                from: x.valid_from,
                until: x.valid_until,
            },
            checks: Checks::compile(&x.conditions),
            remark: format!("excluded: {}", x.name).into_boxed_str(),
        }
    }
}

impl CompiledCampaign {
    fn new(c: &Campaign, unit: Unit) -> Self {
        let mut per_sgd = c.rate;
        if unit == Unit::Cashback {
            // rate / 100 without any rounding: at most 4 + 2 fractional digits.
            per_sgd
                .set_scale(per_sgd.scale() + 2)
                .expect("a validated rate has at most 4 fractional digits");
        }
        CompiledCampaign {
            id: c.id,
            name: c.name.clone().into_boxed_str(),
            window: Window {
                from: c.start_date,
                until: c.end_date,
            },
            checks: Checks::compile(&c.conditions),
            per_sgd,
        }
    }
}

/// Winner order (REWARDS.md §3 step 5): highest priority, then highest rate, then smallest id.
fn winner_order(a: &Campaign, b: &Campaign) -> std::cmp::Ordering {
    b.priority
        .cmp(&a.priority)
        .then(b.rate.cmp(&a.rate))
        .then(a.id.cmp(&b.id))
}

impl RuleSet {
    /// Validates `config` ([`Config::validate`]) and compiles it; `revision` is recorded in every
    /// outcome evaluated with it.
    pub fn compile(config: &Config, revision: i64) -> Result<RuleSet, Invalid> {
        config.validate()?;

        let mut exclusions: Vec<&Exclusion> = config.exclusions.iter().collect();
        // Uuid order is the bytewise order of the lower-case strings.
        exclusions.sort_by_key(|x| x.id);

        let mut programs = HashMap::with_capacity(config.programs.len());
        for p in &config.programs {
            let mut campaigns: Vec<&Campaign> = config
                .campaigns
                .iter()
                .filter(|c| c.program == p.id)
                .collect();
            campaigns.sort_by(|a, b| winner_order(a, b));
            let of_kind = |kind: CampaignKind| -> Box<[CompiledCampaign]> {
                campaigns
                    .iter()
                    .filter(|c| c.kind == kind)
                    .map(|c| CompiledCampaign::new(c, p.unit))
                    .collect()
            };
            let rules = ProgramRules {
                unit: p.unit,
                exclusions: exclusions
                    .iter()
                    .filter(|x| x.covers(&p.id))
                    .map(|x| CompiledExclusion::new(x))
                    .collect(),
                base: of_kind(CampaignKind::Base),
                promo: of_kind(CampaignKind::Promo),
                missions: {
                    let mut ms: Vec<_> = config
                        .missions
                        .iter()
                        .filter(|m| m.program == p.id)
                        .collect();
                    ms.sort_by_key(|m| m.id);
                    ms.into_iter().map(CompiledMission::new).collect()
                },
            };
            programs.insert(p.id.clone(), rules);
        }

        let mut fx: Vec<(CurrencyCode, Decimal)> = config
            .fx_rates
            .iter()
            .map(|r| (r.currency, r.rate))
            .collect();
        fx.sort_unstable_by_key(|(c, _)| *c);

        Ok(RuleSet {
            revision,
            programs,
            fx: fx.into_boxed_slice(),
        })
    }

    /// The configuration revision this rule set was compiled from.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The unit of a configured program.
    pub fn program_unit(&self, p: &ProgramId) -> Option<Unit> {
        self.programs.get(p).map(|r| r.unit)
    }

    /// SGD per one unit of `currency`: 1 for SGD, `None` when there is no rate.
    pub fn fx_rate(&self, currency: CurrencyCode) -> Option<Decimal> {
        if currency.is_sgd() {
            return Some(Decimal::ONE);
        }
        self.fx
            .binary_search_by_key(&currency, |(c, _)| *c)
            .ok()
            .map(|i| self.fx[i].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_set_can_be_shared_across_threads() {
        // The rewarder publishes it through an `ArcSwap` and evaluates on several workers.
        fn shared<T: Send + Sync + 'static>() {}
        shared::<RuleSet>();
    }

    #[test]
    fn cashback_rate_is_a_percentage_exactly() {
        let config = Config::from_json(
            &serde_json::json!({
                "programs": [{"id": "p", "name": "P", "unit": "cashback"}],
                "campaigns": [{"name": "C", "program": "p", "kind": "base", "priority": 0,
                               "conditions": [], "rate": "0.0001"}]
            }),
            &mut Uuid::new_v4,
        )
        .unwrap();
        let rules = RuleSet::compile(&config, 3).unwrap();
        let c = &rules.programs[&config.programs[0].id].base[0];
        assert_eq!(c.per_sgd.to_string(), "0.000001");
        assert_eq!(rules.revision(), 3);
        assert_eq!(
            rules.program_unit(&config.programs[0].id),
            Some(Unit::Cashback)
        );
        assert_eq!(rules.fx_rate(CurrencyCode::SGD), Some(Decimal::ONE));
        assert_eq!(rules.fx_rate(CurrencyCode::parse("USD").unwrap()), None);
    }
}
