//! The configuration model (REWARDS.md §2): programs, FX rates, campaigns and exclusions, read
//! from JSON by hand so that every error of an object is reported with its path, and decimals are
//! read from their literal text.
//!
//! Parsing checks each object on its own; [`Config::validate`] adds the rules across objects
//! (unique ids, known programs). A [`RuleSet`](crate::rules::RuleSet) is only ever compiled from a
//! configuration that passed both.

mod campaign;
mod condition;
mod condition_parse;
mod json;
mod mission;
mod program;

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

pub use campaign::{Campaign, CampaignKind, Exclusion};
pub use condition::{
    Bounds, Condition, EqualityTest, Field, MccItem, MemberTest, NonEmpty, NumericTest, Op,
    TextTest,
};
pub use mission::{window_end, Mission, MissionTarget, COUNT_MAX, WINDOW_DAYS_MAX};
pub use program::{FxRate, Program};

use json::{join, Errors};

/// One problem with one field. `field` is a JSON path (`campaigns[2].conditions[0].op`, or
/// `rate` for a single object; empty for the object itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    /// A lowercase sentence a program manager understands.
    pub message: String,
}

/// Every problem found in an object or a configuration, never just the first.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Invalid(pub Vec<FieldError>);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid configuration")?;
        for (i, e) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            if e.field.is_empty() {
                f.write_str(&e.message)?;
            } else {
                write!(f, "{} {}", e.field, e.message)?;
            }
        }
        Ok(())
    }
}

/// A whole configuration snapshot.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Config {
    pub programs: Vec<Program>,
    pub fx_rates: Vec<FxRate>,
    pub campaigns: Vec<Campaign>,
    pub exclusions: Vec<Exclusion>,
    /// "Spend X within Y days, win Z" (docs/missions.md).
    pub missions: Vec<Mission>,
}

const KEYS: [&str; 5] = [
    "programs",
    "fx_rates",
    "campaigns",
    "exclusions",
    "missions",
];

/// The elements of a top-level list; absent or `null` is empty.
fn items<'a>(map: &'a Map<String, Value>, key: &str, errors: &mut Errors) -> &'a [Value] {
    match map.get(key) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(a)) => a,
        Some(_) => {
            errors.push(key, "must be a list");
            &[]
        }
    }
}

/// Whether an object leaves its id to be assigned (`"id"` absent or null).
fn needs_id(v: &Value) -> bool {
    matches!(v.get("id"), None | Some(Value::Null))
}

impl Config {
    /// Parses a whole configuration shaped like `reference-config.json` (plus `missions`): every
    /// list optional, nothing else allowed. `next_id` is called once for each campaign, exclusion
    /// or mission without an id, in document order. Runs the rules of [`Config::validate`] too.
    pub fn from_json(v: &Value, next_id: &mut dyn FnMut() -> Uuid) -> Result<Config, Invalid> {
        Self::parse(v, next_id, true)
    }

    /// Parses a document that is only a part of a configuration, to be [merged](Config::merge)
    /// with others (`spend eval --config A --config B`): like [`Config::from_json`], except that
    /// campaigns and exclusions may name programs the document does not hold. Validate the merged
    /// configuration (or compile it: that validates).
    pub fn fragment_from_json(
        v: &Value,
        next_id: &mut dyn FnMut() -> Uuid,
    ) -> Result<Config, Invalid> {
        Self::parse(v, next_id, false)
    }

    fn parse(v: &Value, next_id: &mut dyn FnMut() -> Uuid, whole: bool) -> Result<Config, Invalid> {
        let mut errors = Errors::default();
        let Some(map) = json::object(v, &KEYS, &mut errors) else {
            return errors.finish(|| None);
        };
        // Each parsed object keeps its index, so rules across objects name the right path even
        // when a neighbour failed to parse.
        let errors_before_programs = errors.len();
        let mut programs = Vec::new();
        for (i, v) in items(map, "programs", &mut errors).iter().enumerate() {
            match Program::from_json(v) {
                Ok(p) => programs.push((i, p)),
                Err(e) => errors.nest(&format!("programs[{i}]"), e),
            }
        }
        let all_programs_parsed = errors.len() == errors_before_programs;
        let mut fx_rates = Vec::new();
        for (i, v) in items(map, "fx_rates", &mut errors).iter().enumerate() {
            match FxRate::from_json(v) {
                Ok(r) => fx_rates.push((i, r)),
                Err(e) => errors.nest(&format!("fx_rates[{i}]"), e),
            }
        }
        let mut campaigns = Vec::new();
        for (i, v) in items(map, "campaigns", &mut errors).iter().enumerate() {
            let id = if needs_id(v) { next_id() } else { Uuid::nil() };
            match Campaign::from_json(v, id) {
                Ok(c) => campaigns.push((i, c)),
                Err(e) => errors.nest(&format!("campaigns[{i}]"), e),
            }
        }
        let mut exclusions = Vec::new();
        for (i, v) in items(map, "exclusions", &mut errors).iter().enumerate() {
            let id = if needs_id(v) { next_id() } else { Uuid::nil() };
            match Exclusion::from_json(v, id) {
                Ok(x) => exclusions.push((i, x)),
                Err(e) => errors.nest(&format!("exclusions[{i}]"), e),
            }
        }
        let mut missions = Vec::new();
        for (i, v) in items(map, "missions", &mut errors).iter().enumerate() {
            let id = if needs_id(v) { next_id() } else { Uuid::nil() };
            match Mission::from_json(v, id) {
                Ok(m) => missions.push((i, m)),
                Err(e) => errors.nest(&format!("missions[{i}]"), e),
            }
        }
        let set = Indexed {
            programs: programs.iter().map(|(i, p)| (*i, p)).collect(),
            fx_rates: fx_rates.iter().map(|(i, r)| (*i, r)).collect(),
            campaigns: campaigns.iter().map(|(i, c)| (*i, c)).collect(),
            exclusions: exclusions.iter().map(|(i, x)| (*i, x)).collect(),
            missions: missions.iter().map(|(i, m)| (*i, m)).collect(),
        };
        set.cross_check(&mut errors, whole && all_programs_parsed);
        errors.finish(|| {
            Some(Config {
                programs: programs.into_iter().map(|(_, p)| p).collect(),
                fx_rates: fx_rates.into_iter().map(|(_, r)| r).collect(),
                campaigns: campaigns.into_iter().map(|(_, c)| c).collect(),
                exclusions: exclusions.into_iter().map(|(_, x)| x).collect(),
                missions: missions.into_iter().map(|(_, m)| m).collect(),
            })
        })
    }

    /// The canonical document: decimals as strings in their given form, ids in lower case,
    /// dates `YYYY-MM-DD`, `null` for absent optionals; `missions` only when there are some.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let list = |vs: Vec<Value>| Value::Array(vs);
        m.insert(
            "programs".into(),
            list(self.programs.iter().map(Program::to_json).collect()),
        );
        m.insert(
            "fx_rates".into(),
            list(self.fx_rates.iter().map(FxRate::to_json).collect()),
        );
        m.insert(
            "campaigns".into(),
            list(self.campaigns.iter().map(Campaign::to_json).collect()),
        );
        m.insert(
            "exclusions".into(),
            list(self.exclusions.iter().map(Exclusion::to_json).collect()),
        );
        // Only when there are missions: a configuration without them keeps its document exactly.
        if !self.missions.is_empty() {
            m.insert(
                "missions".into(),
                list(self.missions.iter().map(Mission::to_json).collect()),
            );
        }
        Value::Object(m)
    }

    /// Both configurations' lists, concatenated (`self` first). Validate the result: the two may
    /// clash.
    pub fn merge(mut self, other: Config) -> Config {
        self.programs.extend(other.programs);
        self.fx_rates.extend(other.fx_rates);
        self.campaigns.extend(other.campaigns);
        self.exclusions.extend(other.exclusions);
        self.missions.extend(other.missions);
        self
    }

    /// The rules across objects — no duplicate program, campaign, exclusion or mission id or FX
    /// currency; every campaign, exclusion and mission names configured programs — and, for objects built in code,
    /// each object's own value rules.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut errors = Errors::default();
        let each = |prefix: &str, i: usize, errors: &mut Errors, f: &dyn Fn(&mut Errors)| {
            let mut inner = Errors::default();
            f(&mut inner);
            if let Err(e) = inner.finish(|| Some(())) {
                errors.nest(&format!("{prefix}[{i}]"), e);
            }
        };
        for (i, p) in self.programs.iter().enumerate() {
            each("programs", i, &mut errors, &|e| p.problems(e));
        }
        for (i, r) in self.fx_rates.iter().enumerate() {
            each("fx_rates", i, &mut errors, &|e| r.problems(e));
        }
        for (i, c) in self.campaigns.iter().enumerate() {
            each("campaigns", i, &mut errors, &|e| c.problems(e));
        }
        for (i, x) in self.exclusions.iter().enumerate() {
            each("exclusions", i, &mut errors, &|e| x.problems(e));
        }
        for (i, m) in self.missions.iter().enumerate() {
            each("missions", i, &mut errors, &|e| m.problems(e));
        }
        let set = Indexed {
            programs: self.programs.iter().enumerate().collect(),
            fx_rates: self.fx_rates.iter().enumerate().collect(),
            campaigns: self.campaigns.iter().enumerate().collect(),
            exclusions: self.exclusions.iter().enumerate().collect(),
            missions: self.missions.iter().enumerate().collect(),
        };
        set.cross_check(&mut errors, true);
        errors.finish(|| Some(()))
    }
}

/// Objects with their index in their list, for error paths.
struct Indexed<'a> {
    programs: Vec<(usize, &'a Program)>,
    fx_rates: Vec<(usize, &'a FxRate)>,
    campaigns: Vec<(usize, &'a Campaign)>,
    exclusions: Vec<(usize, &'a Exclusion)>,
    missions: Vec<(usize, &'a Mission)>,
}

/// Reports every key seen before at `list[i].field`.
fn duplicates<K: std::hash::Hash + Eq + fmt::Display>(
    list: &str,
    field: &str,
    keys: impl Iterator<Item = (usize, K)>,
    errors: &mut Errors,
) {
    let mut seen: HashMap<K, usize> = HashMap::new();
    for (i, k) in keys {
        match seen.get(&k) {
            Some(first) => errors.push(
                join(&format!("{list}[{i}]"), field),
                format!("repeats {k}, already used by {list}[{first}]"),
            ),
            None => {
                seen.insert(k, i);
            }
        }
    }
}

impl Indexed<'_> {
    /// `check_programs`: whether the program list is complete enough to call a reference to an
    /// absent program unknown (it is not when a program failed to parse).
    fn cross_check(&self, errors: &mut Errors, check_programs: bool) {
        duplicates(
            "programs",
            "id",
            self.programs.iter().map(|(i, p)| (*i, p.id.as_str())),
            errors,
        );
        duplicates(
            "fx_rates",
            "currency",
            self.fx_rates.iter().map(|(i, r)| (*i, r.currency)),
            errors,
        );
        duplicates(
            "campaigns",
            "id",
            self.campaigns.iter().map(|(i, c)| (*i, c.id.hyphenated())),
            errors,
        );
        duplicates(
            "exclusions",
            "id",
            self.exclusions.iter().map(|(i, x)| (*i, x.id.hyphenated())),
            errors,
        );
        duplicates(
            "missions",
            "id",
            self.missions.iter().map(|(i, m)| (*i, m.id.hyphenated())),
            errors,
        );
        if !check_programs {
            return;
        }
        let known: HashSet<&str> = self.programs.iter().map(|(_, p)| p.id.as_str()).collect();
        for (i, c) in &self.campaigns {
            if !known.contains(c.program.as_str()) {
                errors.push(
                    format!("campaigns[{i}].program"),
                    format!("names {}, which is not a configured program", c.program),
                );
            }
        }
        for (i, m) in &self.missions {
            if !known.contains(m.program.as_str()) {
                errors.push(
                    format!("missions[{i}].program"),
                    format!("names {}, which is not a configured program", m.program),
                );
            }
        }
        for (i, x) in &self.exclusions {
            for p in x.programs.iter().flatten() {
                if !known.contains(p.as_str()) {
                    errors.push(
                        format!("exclusions[{i}].programs"),
                        format!("names {p}, which is not a configured program"),
                    );
                }
            }
        }
    }
}
