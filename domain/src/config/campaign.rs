//! Campaigns and exclusions (REWARDS.md §2).

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::condition::Condition;
use super::json::{self, date_json, decimal_json, object, optional, required, uuid_json, Errors};
use super::program::program_id;
use super::Invalid;
use crate::types::ProgramId;

/// `base`: a program's standing earn rule; `promo`: a promotion on top of it. One winner of
/// each kind per purchase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CampaignKind {
    Base,
    Promo,
}

impl CampaignKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignKind::Base => "base",
            CampaignKind::Promo => "promo",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "base" => Some(CampaignKind::Base),
            "promo" => Some(CampaignKind::Promo),
            _ => None,
        }
    }
}

impl fmt::Display for CampaignKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Campaign {
    pub id: Uuid,
    pub name: String,
    pub program: ProgramId,
    pub kind: CampaignKind,
    /// Higher wins.
    pub priority: i64,
    /// Inclusive.
    pub start_date: Option<NaiveDate>,
    /// Inclusive; not before `start_date`.
    pub end_date: Option<NaiveDate>,
    pub conditions: Vec<Condition>,
    /// Per SGD for points and miles; a percentage for cashback.
    pub rate: Decimal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Exclusion {
    pub id: Uuid,
    pub name: String,
    /// `None`: every program. Otherwise never empty.
    pub programs: Option<Vec<ProgramId>>,
    pub conditions: Vec<Condition>,
    /// Inclusive.
    pub valid_from: Option<NaiveDate>,
    /// Inclusive; not before `valid_from`.
    pub valid_until: Option<NaiveDate>,
}

const RATE_MAX: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

pub(crate) fn check_rate(d: Decimal) -> Result<(), String> {
    if d.is_sign_negative() {
        return Err(format!("must not be negative, but is {d}"));
    }
    if d > RATE_MAX {
        return Err(format!("must be at most 10000, but is {d}"));
    }
    if json::fraction_digits(d) > 4 {
        return Err(format!(
            "must have at most 4 fractional digits, but {d} has more"
        ));
    }
    Ok(())
}

pub(super) fn check_window(
    errors: &mut Errors,
    (from_key, from): (&str, Option<NaiveDate>),
    (until_key, until): (&str, Option<NaiveDate>),
) {
    if let (Some(from), Some(until)) = (from, until) {
        if until < from {
            errors.push(
                until_key,
                format!("must not be before {from_key} ({from}), but is {until}"),
            );
        }
    }
}

/// A list of conditions; each bad one is reported at `conditions[i]`.
pub(super) fn conditions(map: &Map<String, Value>, errors: &mut Errors) -> Option<Vec<Condition>> {
    required(map, "conditions", errors, |v| {
        v.as_array().ok_or_else(|| {
            "must be a list of conditions (an empty list [] applies to all spend)".to_owned()
        })
    })
    .and_then(|items| {
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match Condition::from_json(item) {
                Ok(c) => out.push(c),
                Err(e) => {
                    ok = false;
                    errors.nest(&format!("conditions[{i}]"), e);
                }
            }
        }
        ok.then_some(out)
    })
}

pub(super) fn conditions_json(cs: &[Condition]) -> Value {
    Value::Array(cs.iter().map(Condition::to_json).collect())
}

pub(super) fn condition_problems(cs: &[Condition], errors: &mut Errors) {
    for (i, c) in cs.iter().enumerate() {
        for m in c.problems() {
            errors.push(format!("conditions[{i}].value"), m);
        }
    }
}

impl Campaign {
    /// Parses one campaign; `default_id` is its id when `"id"` is absent or null.
    pub fn from_json(v: &Value, default_id: Uuid) -> Result<Campaign, Invalid> {
        const FIELDS: [&str; 9] = [
            "id",
            "name",
            "program",
            "kind",
            "priority",
            "start_date",
            "end_date",
            "conditions",
            "rate",
        ];
        let mut errors = Errors::default();
        let Some(map) = object(v, &FIELDS, &mut errors) else {
            return errors.finish(|| None);
        };
        let id = optional(map, "id", &mut errors, json::uuid);
        let name = required(map, "name", &mut errors, json::name);
        let program = required(map, "program", &mut errors, program_id);
        let kind = required(map, "kind", &mut errors, |v| {
            v.as_str()
                .and_then(CampaignKind::parse)
                .ok_or_else(|| "must be \"base\" or \"promo\"".to_owned())
        });
        let priority = required(map, "priority", &mut errors, json::integer);
        let start_date = optional(map, "start_date", &mut errors, json::date);
        let end_date = optional(map, "end_date", &mut errors, json::date);
        let conditions = conditions(map, &mut errors);
        let rate = required(map, "rate", &mut errors, |v| {
            let d = json::decimal(v)?;
            check_rate(d)?;
            Ok(d)
        });
        if let (Some(start), Some(end)) = (start_date, end_date) {
            check_window(&mut errors, ("start_date", start), ("end_date", end));
        }
        errors.finish(|| {
            Some(Campaign {
                id: id?.unwrap_or(default_id),
                name: name?,
                program: program?,
                kind: kind?,
                priority: priority?,
                start_date: start_date?,
                end_date: end_date?,
                conditions: conditions?,
                rate: rate?,
            })
        })
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), uuid_json(self.id));
        m.insert("name".into(), json!(self.name));
        m.insert("program".into(), json!(self.program.as_str()));
        m.insert("kind".into(), json!(self.kind.as_str()));
        m.insert("priority".into(), json!(self.priority));
        m.insert("start_date".into(), date_json(self.start_date));
        m.insert("end_date".into(), date_json(self.end_date));
        m.insert("conditions".into(), conditions_json(&self.conditions));
        m.insert("rate".into(), decimal_json(self.rate));
        Value::Object(m)
    }

    /// The id, lower case.
    pub fn key(&self) -> String {
        self.id.hyphenated().to_string()
    }

    /// What the types alone do not guarantee, for a campaign built in code.
    pub(crate) fn problems(&self, errors: &mut Errors) {
        if let Err(m) = json::check_name(&self.name) {
            errors.push("name", m);
        }
        if let Err(m) = check_rate(self.rate) {
            errors.push("rate", m);
        }
        check_window(
            errors,
            ("start_date", self.start_date),
            ("end_date", self.end_date),
        );
        condition_problems(&self.conditions, errors);
    }
}

fn programs(v: &Value) -> Result<Option<Vec<ProgramId>>, String> {
    const MSG: &str = "must be a non-empty list of program ids, or null for every program";
    if v.is_null() {
        return Ok(None);
    }
    let items = json::non_empty_list(v).map_err(|_| MSG.to_owned())?;
    let mut out = Vec::with_capacity(items.len());
    let mut bad = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match program_id(item) {
            Ok(p) => out.push(p),
            Err(_) => bad.push((i + 1).to_string()),
        }
    }
    if !bad.is_empty() {
        return Err(format!(
            "item {} must be a program id: 1 to 64 characters, each a-z, 0-9 or _",
            bad.join(", ")
        ));
    }
    Ok(Some(out))
}

impl Exclusion {
    /// Parses one exclusion; `default_id` is its id when `"id"` is absent or null.
    pub fn from_json(v: &Value, default_id: Uuid) -> Result<Exclusion, Invalid> {
        const FIELDS: [&str; 6] = [
            "id",
            "name",
            "programs",
            "conditions",
            "valid_from",
            "valid_until",
        ];
        let mut errors = Errors::default();
        let Some(map) = object(v, &FIELDS, &mut errors) else {
            return errors.finish(|| None);
        };
        let id = optional(map, "id", &mut errors, json::uuid);
        let name = required(map, "name", &mut errors, json::name);
        // `null` is meaningful (every program), so the key itself must be there.
        let programs = match map.get("programs") {
            None => {
                errors.push("programs", "is required (null applies to every program)");
                None
            }
            Some(v) => programs(v).map_err(|m| errors.push("programs", m)).ok(),
        };
        let conditions = conditions(map, &mut errors);
        let valid_from = optional(map, "valid_from", &mut errors, json::date);
        let valid_until = optional(map, "valid_until", &mut errors, json::date);
        if let (Some(from), Some(until)) = (valid_from, valid_until) {
            check_window(&mut errors, ("valid_from", from), ("valid_until", until));
        }
        errors.finish(|| {
            Some(Exclusion {
                id: id?.unwrap_or(default_id),
                name: name?,
                programs: programs?,
                conditions: conditions?,
                valid_from: valid_from?,
                valid_until: valid_until?,
            })
        })
    }

    pub fn to_json(&self) -> Value {
        let programs = match &self.programs {
            None => Value::Null,
            Some(ps) => Value::Array(ps.iter().map(|p| json!(p.as_str())).collect()),
        };
        let mut m = Map::new();
        m.insert("id".into(), uuid_json(self.id));
        m.insert("name".into(), json!(self.name));
        m.insert("programs".into(), programs);
        m.insert("conditions".into(), conditions_json(&self.conditions));
        m.insert("valid_from".into(), date_json(self.valid_from));
        m.insert("valid_until".into(), date_json(self.valid_until));
        Value::Object(m)
    }

    /// The id, lower case.
    pub fn key(&self) -> String {
        self.id.hyphenated().to_string()
    }

    /// Whether the exclusion applies to a program at all (ignoring dates and conditions).
    pub fn covers(&self, program: &ProgramId) -> bool {
        self.programs.as_ref().is_none_or(|ps| ps.contains(program))
    }

    pub(crate) fn problems(&self, errors: &mut Errors) {
        if let Err(m) = json::check_name(&self.name) {
            errors.push("name", m);
        }
        if self.programs.as_ref().is_some_and(Vec::is_empty) {
            errors.push(
                "programs",
                "must be a non-empty list of program ids, or null for every program",
            );
        }
        check_window(
            errors,
            ("valid_from", self.valid_from),
            ("valid_until", self.valid_until),
        );
        condition_problems(&self.conditions, errors);
    }
}
