//! Missions: "spend X within Y days, win Z" (docs/missions.md). A mission is kept and validated
//! like a campaign; what it means for one card is evaluated by [`crate::mission`].

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::campaign::{check_window, condition_problems, conditions, conditions_json};
use super::condition::Condition;
use super::json::{self, date_json, decimal_json, object, optional, required, uuid_json, Errors};
use super::program::program_id;
use super::Invalid;
use crate::types::ProgramId;

/// The longest window a mission may have, in days.
pub const WINDOW_DAYS_MAX: u16 = 366;
/// The most qualifying purchases a count target may ask for.
pub const COUNT_MAX: u32 = 1_000_000;
/// The largest amount target and the largest reward (as for a transaction's amount).
const AMOUNT_MAX: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// What progress must reach for the mission to complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissionTarget {
    /// The sum of the qualifying purchases' `amount_sgd`: > 0, at most 2 fractional digits.
    AmountSgd(Decimal),
    /// How many qualifying purchases: ≥ 1.
    Count(u32),
}

impl MissionTarget {
    pub fn to_json(&self) -> Value {
        match self {
            MissionTarget::AmountSgd(d) => json!({"amount_sgd": crate::money::fmt2(*d)}),
            MissionTarget::Count(n) => json!({"count": n}),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mission {
    pub id: Uuid,
    pub name: String,
    pub program: ProgramId,
    /// Inclusive: a purchase dated before it does not qualify.
    pub start_date: NaiveDate,
    /// Inclusive; not before `start_date`. `None`: open-ended.
    pub end_date: Option<NaiveDate>,
    /// `1..=366`: the window opened by a card's first qualifying purchase, that date included.
    pub window_days: u16,
    pub target: MissionTarget,
    /// Every one must hold (the campaign condition language, REWARDS.md §2).
    pub conditions: Vec<Condition>,
    /// Paid once on completion, in the program's unit: > 0, at most 2 fractional digits.
    pub reward: Decimal,
}

fn check_positive_money(d: Decimal) -> Result<(), String> {
    if d <= Decimal::ZERO {
        return Err(format!("must be greater than 0, but is {d}"));
    }
    if d > AMOUNT_MAX {
        return Err(format!("must be at most 1000000000, but is {d}"));
    }
    if json::fraction_digits(d) > 2 {
        return Err(format!(
            "must have at most 2 fractional digits, but {d} has more"
        ));
    }
    Ok(())
}

fn window_days(v: &Value) -> Result<u16, String> {
    const MSG: &str = "must be a whole number of days from 1 to 366";
    let n = json::integer(v).map_err(|_| MSG.to_owned())?;
    match u16::try_from(n) {
        Ok(d) if (1..=WINDOW_DAYS_MAX).contains(&d) => Ok(d),
        _ => Err(format!("{MSG}, but is {n}")),
    }
}

/// `{"amount_sgd": "<decimal>"}` or `{"count": <int>}`; errors at `target` or `target.<key>`.
fn target(map: &Map<String, Value>, errors: &mut Errors) -> Option<MissionTarget> {
    const MSG: &str =
        "must be {\"amount_sgd\": \"<decimal > 0>\"} or {\"count\": <whole number >= 1>}";
    let v = match map.get("target") {
        None | Some(Value::Null) => {
            errors.push("target", format!("is required; it {MSG}"));
            return None;
        }
        Some(v) => v,
    };
    let Some(t) = v.as_object().filter(|t| t.len() == 1) else {
        errors.push("target", MSG);
        return None;
    };
    let (key, value) = t.iter().next()?;
    match key.as_str() {
        "amount_sgd" => {
            match json::decimal(value).and_then(|d| check_positive_money(d).map(|()| d)) {
                Ok(d) => Some(MissionTarget::AmountSgd(d)),
                Err(m) => {
                    errors.push("target.amount_sgd", m);
                    None
                }
            }
        }
        "count" => {
            let n = json::integer(value).ok();
            match n.and_then(|n| u32::try_from(n).ok()) {
                Some(n) if (1..=COUNT_MAX).contains(&n) => Some(MissionTarget::Count(n)),
                _ => {
                    errors.push(
                        "target.count",
                        format!("must be a whole number from 1 to {COUNT_MAX}"),
                    );
                    None
                }
            }
        }
        other => {
            errors.push(
                format!("target.{other}"),
                format!("is not a known field; {MSG}"),
            );
            None
        }
    }
}

impl Mission {
    /// Parses one mission; `default_id` is its id when `"id"` is absent or null.
    pub fn from_json(v: &Value, default_id: Uuid) -> Result<Mission, Invalid> {
        const FIELDS: [&str; 9] = [
            "id",
            "name",
            "program",
            "start_date",
            "end_date",
            "window_days",
            "target",
            "conditions",
            "reward",
        ];
        let mut errors = Errors::default();
        let Some(map) = object(v, &FIELDS, &mut errors) else {
            return errors.finish(|| None);
        };
        let id = optional(map, "id", &mut errors, json::uuid);
        let name = required(map, "name", &mut errors, json::name);
        let program = required(map, "program", &mut errors, program_id);
        let start_date = required(map, "start_date", &mut errors, json::date);
        let end_date = optional(map, "end_date", &mut errors, json::date);
        let window_days = required(map, "window_days", &mut errors, window_days);
        let target = target(map, &mut errors);
        let conditions = conditions(map, &mut errors);
        let reward = required(map, "reward", &mut errors, |v| {
            let d = json::decimal(v)?;
            check_positive_money(d)?;
            Ok(d)
        });
        if let (Some(start), Some(Some(end))) = (start_date, end_date) {
            check_window(
                &mut errors,
                ("start_date", Some(start)),
                ("end_date", Some(end)),
            );
        }
        errors.finish(|| {
            Some(Mission {
                id: id?.unwrap_or(default_id),
                name: name?,
                program: program?,
                start_date: start_date?,
                end_date: end_date?,
                window_days: window_days?,
                target: target?,
                conditions: conditions?,
                reward: reward?,
            })
        })
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), uuid_json(self.id));
        m.insert("name".into(), json!(self.name));
        m.insert("program".into(), json!(self.program.as_str()));
        m.insert("start_date".into(), date_json(Some(self.start_date)));
        m.insert("end_date".into(), date_json(self.end_date));
        m.insert("window_days".into(), json!(self.window_days));
        m.insert("target".into(), self.target.to_json());
        m.insert("conditions".into(), conditions_json(&self.conditions));
        m.insert("reward".into(), decimal_json(self.reward));
        Value::Object(m)
    }

    /// The id, lower case.
    pub fn key(&self) -> String {
        self.id.hyphenated().to_string()
    }

    /// The last date of a window opened on `start`: `start + window_days - 1`.
    pub fn window_end(&self, start: NaiveDate) -> NaiveDate {
        window_end(start, self.window_days)
    }

    /// What the types alone do not guarantee, for a mission built in code.
    pub(crate) fn problems(&self, errors: &mut Errors) {
        if let Err(m) = json::check_name(&self.name) {
            errors.push("name", m);
        }
        if !(1..=WINDOW_DAYS_MAX).contains(&self.window_days) {
            errors.push(
                "window_days",
                format!(
                    "must be a whole number of days from 1 to 366, but is {}",
                    self.window_days
                ),
            );
        }
        match self.target {
            MissionTarget::AmountSgd(d) => {
                if let Err(m) = check_positive_money(d) {
                    errors.push("target.amount_sgd", m);
                }
            }
            MissionTarget::Count(n) => {
                if !(1..=COUNT_MAX).contains(&n) {
                    errors.push(
                        "target.count",
                        format!("must be a whole number from 1 to {COUNT_MAX}"),
                    );
                }
            }
        }
        if let Err(m) = check_positive_money(self.reward) {
            errors.push("reward", m);
        }
        check_window(
            errors,
            ("start_date", Some(self.start_date)),
            ("end_date", self.end_date),
        );
        condition_problems(&self.conditions, errors);
    }
}

/// The last date of a window of `days` days opened on `start`, that date included.
pub fn window_end(start: NaiveDate, days: u16) -> NaiveDate {
    start
        .checked_add_days(chrono::Days::new(u64::from(days.saturating_sub(1))))
        .unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({
            "name": "Dine 100 in 7 days",
            "program": "scis_shopping",
            "start_date": "2024-05-01",
            "end_date": null,
            "window_days": 7,
            "target": {"amount_sgd": "100"},
            "conditions": [{"field": "mcc", "op": "in", "value": [[5811, 5814]]}],
            "reward": "50"
        })
    }

    #[test]
    fn a_valid_mission_round_trips() {
        let id = Uuid::from_u128(7);
        let m = Mission::from_json(&base(), id).unwrap();
        assert_eq!(m.id, id);
        assert_eq!(m.window_days, 7);
        assert_eq!(m.target, MissionTarget::AmountSgd(Decimal::new(100, 0)));
        let again = Mission::from_json(&m.to_json(), Uuid::nil()).unwrap();
        assert_eq!(
            again.target,
            MissionTarget::AmountSgd(Decimal::new(10000, 2))
        );
        assert_eq!(again.to_json()["target"], json!({"amount_sgd": "100.00"}));
        assert_eq!(
            m.window_end(NaiveDate::from_ymd_opt(2024, 5, 2).unwrap()),
            NaiveDate::from_ymd_opt(2024, 5, 8).unwrap()
        );
    }

    fn fields(v: Value) -> Vec<String> {
        Mission::from_json(&v, Uuid::nil())
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut v = base();
        v["window_days"] = json!(0);
        v["target"] = json!({"amount_sgd": "-5"});
        v["reward"] = json!("1.5.0");
        v["colour"] = json!("red");
        v["conditions"] = json!([{"field": "mcc", "op": "like", "value": 1}]);
        assert_eq!(
            fields(v),
            [
                "colour",
                "window_days",
                "target.amount_sgd",
                "conditions[0].op",
                "reward"
            ]
        );
    }

    #[test]
    fn targets() {
        let mut v = base();
        v["target"] = json!({"count": 3});
        assert_eq!(
            Mission::from_json(&v, Uuid::nil()).unwrap().target,
            MissionTarget::Count(3)
        );
        for (bad, field) in [
            (json!({"count": 0}), "target.count"),
            (json!({"count": 1.5}), "target.count"),
            (json!({"amount_sgd": "0"}), "target.amount_sgd"),
            (json!({"amount_sgd": "1.001"}), "target.amount_sgd"),
            (json!({"points": 3}), "target.points"),
            (json!({"count": 1, "amount_sgd": "1"}), "target"),
            (json!(5), "target"),
        ] {
            v["target"] = bad;
            assert_eq!(fields(v.clone()), [field]);
        }
        v["window_days"] = json!(367);
        v["target"] = json!({"count": 1});
        assert_eq!(fields(v), ["window_days"]);
    }

    #[test]
    fn dates() {
        let mut v = base();
        v["end_date"] = json!("2024-04-30");
        assert_eq!(fields(v.clone()), ["end_date"]);
        v["start_date"] = Value::Null;
        v["end_date"] = Value::Null;
        assert_eq!(fields(v), ["start_date"]);
    }
}
