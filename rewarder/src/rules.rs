//! The live rule set (REWARDS.md §2, §5): the configuration store's self-healing watch, each
//! snapshot compiled into an immutable [`RuleSet`] and published through an [`ArcSwap`]. Workers
//! [`LiveRules::load`] it once per batch; nothing is locked while a batch is evaluated.
//!
//! The revision in use never goes backwards: a snapshot older than (or as old as) the one in use
//! is ignored. A snapshot that does not compile keeps the previous rule set (it should never
//! happen: campaignex validates before anything is written) and is logged as an error. While the
//! store is down the watch keeps the last snapshot, so rewarding goes on with the last rule set
//! and catches up when the store returns ([`spend_store::watch`]).

use std::sync::Arc;

use arc_swap::ArcSwap;
use spend_domain::config::{Campaign, Config, Exclusion, FxRate, Invalid, Mission, Program};
use spend_domain::rules::RuleSet;
use spend_store::config_store::{ConfigStore, Resource, Snapshot};
use spend_store::watch::{watch_config, WatchConfigOptions};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::metrics::metrics;

/// A stored configuration that does not make a rule set.
#[derive(Debug, thiserror::Error)]
#[error("configuration at revision {revision} is not valid: {detail}")]
pub struct InvalidSnapshot {
    pub revision: i64,
    pub detail: String,
}

/// The configuration a snapshot holds: each stored object parsed on its own, then assembled.
/// Cross-object rules are checked when it is compiled ([`compile_snapshot`]).
pub fn config_from_snapshot(snapshot: &Snapshot) -> Result<Config, InvalidSnapshot> {
    let mut config = Config::default();
    let mut problems = Vec::new();
    for object in &snapshot.objects {
        let key = &object.id;
        let v = &object.value;
        let parsed: Result<(), Invalid> = match object.resource {
            Resource::Program => Program::from_json(v).map(|p| config.programs.push(p)),
            Resource::FxRate => FxRate::from_json(v).map(|r| config.fx_rates.push(r)),
            Resource::Campaign => {
                Campaign::from_json(v, id_of(key)).map(|c| config.campaigns.push(c))
            }
            Resource::Exclusion => {
                Exclusion::from_json(v, id_of(key)).map(|x| config.exclusions.push(x))
            }
            Resource::Mission => Mission::from_json(v, id_of(key)).map(|m| config.missions.push(m)),
        };
        if let Err(e) = parsed {
            problems.push(format!("{}/{key}: {e}", object.resource));
        }
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(InvalidSnapshot {
            revision: snapshot.revision,
            detail: problems.join("; "),
        })
    }
}

/// A stored object's key as its id, for an object stored without one (never written so by
/// campaignex, which assigns ids).
fn id_of(key: &str) -> Uuid {
    Uuid::parse_str(key).unwrap_or(Uuid::nil())
}

/// The rule set of a snapshot, recording the snapshot's revision on every outcome.
pub fn compile_snapshot(snapshot: &Snapshot) -> Result<RuleSet, InvalidSnapshot> {
    let config = config_from_snapshot(snapshot)?;
    RuleSet::compile(&config, snapshot.revision).map_err(|e| InvalidSnapshot {
        revision: snapshot.revision,
        detail: e.to_string(),
    })
}

/// The stored objects of a configuration, keyed as campaignex stores them: what
/// [`ConfigStore::replace_all`] takes to load a whole configuration (tests, benchmarks).
pub use spend_store::config_store::objects_of as config_objects;

/// The rule set in force, swapped whole on every configuration change. Cheap to clone.
#[derive(Clone)]
pub struct LiveRules {
    current: Arc<ArcSwap<RuleSet>>,
}

impl LiveRules {
    /// A rule set that never changes (tests, benchmarks).
    pub fn fixed(rules: RuleSet) -> Self {
        metrics().revision.set(rules.revision());
        LiveRules {
            current: Arc::new(ArcSwap::from_pointee(rules)),
        }
    }

    /// The rule set in force now; a batch loads it once and evaluates every record with it.
    pub fn load(&self) -> Arc<RuleSet> {
        self.current.load_full()
    }

    /// The configuration revision in force now.
    pub fn revision(&self) -> i64 {
        self.current.load().revision()
    }

    /// Publishes `rules` unless it is not newer than the rule set in force.
    fn publish(&self, rules: RuleSet) -> bool {
        let revision = rules.revision();
        if revision <= self.revision() {
            return false;
        }
        // Only the follower task publishes, so this check-then-store does not race.
        self.current.store(Arc::new(rules));
        metrics().revision.set(revision);
        tracing::info!(revision, "rule set in force");
        true
    }

    /// Follows `store`: returns once the first snapshot that compiles is in force (`None` if
    /// `shutdown` fires first), with the task that keeps it current until `shutdown`.
    pub async fn follow(
        store: Arc<dyn ConfigStore>,
        options: WatchConfigOptions,
        shutdown: CancellationToken,
    ) -> Option<(LiveRules, JoinHandle<()>)> {
        let watch = watch_config(store, options, shutdown.clone());
        let mut snapshots = watch.snapshots();
        let live = loop {
            if let Some(snapshot) = snapshots.borrow_and_update().clone() {
                match compile_snapshot(&snapshot) {
                    Ok(rules) => {
                        tracing::info!(revision = rules.revision(), "first rule set in force");
                        break LiveRules::fixed(rules);
                    }
                    Err(error) => {
                        tracing::error!(%error, "configuration not usable; waiting for a valid one")
                    }
                }
            }
            let changed = tokio::select! {
                _ = shutdown.cancelled() => return None,
                changed = snapshots.changed() => changed,
            };
            if changed.is_err() {
                return None;
            }
        };
        let follower = live.clone();
        let task = tokio::spawn(async move {
            // Owning the watch keeps it running; dropping it at the end stops it.
            let _watch = watch;
            loop {
                let changed = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = snapshots.changed() => changed,
                };
                if changed.is_err() {
                    return;
                }
                // Several changes in a row coalesce: only the latest is compiled.
                let Some(snapshot) = snapshots.borrow_and_update().clone() else {
                    continue;
                };
                if snapshot.revision <= follower.revision() {
                    continue;
                }
                match compile_snapshot(&snapshot) {
                    Ok(rules) => {
                        follower.publish(rules);
                    }
                    Err(error) => tracing::error!(
                        %error,
                        in_force = follower.revision(),
                        "configuration not usable; keeping the rule set in force"
                    ),
                }
            }
        });
        Some((live, task))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use spend_store::config_store::Versioned;

    fn object(resource: Resource, id: &str, value: serde_json::Value) -> Versioned {
        Versioned {
            resource,
            id: id.into(),
            value,
            mod_revision: 1,
        }
    }

    fn snapshot(revision: i64, rate: &str) -> Snapshot {
        let campaign_id = "00000000-0000-4000-8000-000000000001";
        Snapshot {
            revision,
            objects: vec![
                object(
                    Resource::Program,
                    "p",
                    json!({"id": "p", "name": "P", "unit": "points"}),
                ),
                object(
                    Resource::FxRate,
                    "USD",
                    json!({"currency": "USD", "rate": "1.35"}),
                ),
                object(
                    Resource::Campaign,
                    campaign_id,
                    json!({"id": campaign_id, "name": "C", "program": "p", "kind": "base",
                           "priority": 1, "conditions": [], "rate": rate}),
                ),
            ],
        }
    }

    #[test]
    fn a_snapshot_compiles_with_its_revision() {
        let rules = compile_snapshot(&snapshot(7, "2")).unwrap();
        assert_eq!(rules.revision(), 7);
        assert!(rules
            .program_unit(&spend_domain::ProgramId::parse("p").unwrap())
            .is_some());
    }

    #[test]
    fn a_broken_object_is_named() {
        let mut s = snapshot(3, "2");
        s.objects.push(object(
            Resource::Campaign,
            "bad",
            json!({"name": "X", "program": "p", "kind": "sometimes", "priority": 1,
                   "conditions": [], "rate": "1"}),
        ));
        let e = compile_snapshot(&s).unwrap_err();
        assert_eq!(e.revision, 3);
        assert!(e.detail.contains("campaigns/bad"), "{e}");
    }

    #[test]
    fn a_campaign_of_an_unknown_program_does_not_compile() {
        let mut s = snapshot(3, "2");
        s.objects.remove(0);
        assert!(compile_snapshot(&s).is_err());
    }

    #[test]
    fn config_objects_round_trip_through_a_snapshot() {
        let config = config_from_snapshot(&snapshot(1, "2.5")).unwrap();
        let objects = config_objects(&config);
        let again = Snapshot {
            revision: 2,
            objects: objects
                .into_iter()
                .map(|(resource, id, value)| object(resource, &id, value))
                .collect(),
        };
        assert_eq!(config_from_snapshot(&again).unwrap(), config);
    }

    #[test]
    fn missions_reach_the_rule_set() {
        let id = "00000000-0000-4000-9000-00000000d001";
        let mut s = snapshot(8, "1");
        s.objects.push(object(
            Resource::Mission,
            id,
            json!({"id": id, "name": "M", "program": "p", "start_date": "2024-05-01",
                   "window_days": 7, "target": {"count": 2}, "conditions": [], "reward": "5"}),
        ));
        let config = config_from_snapshot(&s).unwrap();
        assert_eq!(config.missions.len(), 1);
        assert!(compile_snapshot(&s).unwrap().has_missions());
        assert!(!compile_snapshot(&snapshot(8, "1")).unwrap().has_missions());
        // A mission of a program that is not configured does not compile.
        s.objects.remove(0);
        s.objects.remove(1);
        assert!(compile_snapshot(&s).is_err());
    }

    #[test]
    fn the_revision_never_goes_backwards() {
        let live = LiveRules::fixed(compile_snapshot(&snapshot(5, "1")).unwrap());
        assert!(!live.publish(compile_snapshot(&snapshot(4, "2")).unwrap()));
        assert!(!live.publish(compile_snapshot(&snapshot(5, "2")).unwrap()));
        assert_eq!(live.revision(), 5);
        assert!(live.publish(compile_snapshot(&snapshot(6, "2")).unwrap()));
        assert_eq!(live.load().revision(), 6);
    }
}
