//! The forms of configuration objects: a campaign, exclusion or mission as its form holds it
//! ([`Draft`]), to and from the API's JSON, and the fields with the API's messages beside them.

use maud::{html, Markup};
use serde_json::{json, Value};

use crate::condition_form::{self, Row};
use crate::layout::UiResult;
use crate::session::{Role, Session};
use crate::AppState;

pub(crate) type Fields = Vec<(String, String)>;

pub(crate) fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    crate::multipart::value(fields, name).trim()
}

pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn opt_date(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        json!(s)
    }
}

/// A campaign or exclusion as its form holds it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Draft {
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    // Campaign
    pub(crate) program: String,
    pub(crate) kind: String,
    pub(crate) priority: String,
    pub(crate) start_date: String,
    pub(crate) end_date: String,
    pub(crate) rate: String,
    // Exclusion
    pub(crate) programs: Vec<String>,
    pub(crate) valid_from: String,
    pub(crate) valid_until: String,
    // Mission
    pub(crate) window_days: String,
    /// `amount_sgd` or `count`.
    pub(crate) target_kind: String,
    pub(crate) target: String,
    pub(crate) reward: String,
    pub(crate) conditions: Vec<Row>,
}

impl Draft {
    pub(crate) fn from_json(v: &Value) -> Draft {
        Draft {
            id: v["id"].as_str().map(str::to_owned),
            name: text(&v["name"]),
            program: text(&v["program"]),
            kind: text(&v["kind"]),
            priority: text(&v["priority"]),
            start_date: text(&v["start_date"]),
            end_date: text(&v["end_date"]),
            rate: text(&v["rate"]),
            programs: v["programs"]
                .as_array()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default(),
            valid_from: text(&v["valid_from"]),
            valid_until: text(&v["valid_until"]),
            window_days: text(&v["window_days"]),
            target_kind: if v["target"].get("count").is_some() {
                "count".into()
            } else {
                "amount_sgd".into()
            },
            target: match v["target"].get("count") {
                Some(c) => text(c),
                None => text(&v["target"]["amount_sgd"]),
            },
            reward: text(&v["reward"]),
            conditions: v["conditions"]
                .as_array()
                .map(|a| a.iter().map(condition_form::from_json).collect())
                .unwrap_or_default(),
        }
    }

    pub(crate) fn from_form(fields: &Fields) -> Draft {
        Draft {
            id: None,
            name: field(fields, "name").to_owned(),
            program: field(fields, "program").to_owned(),
            kind: field(fields, "kind").to_owned(),
            priority: field(fields, "priority").to_owned(),
            start_date: field(fields, "start_date").to_owned(),
            end_date: field(fields, "end_date").to_owned(),
            rate: field(fields, "rate").to_owned(),
            programs: fields
                .iter()
                .filter(|(k, _)| k == "programs")
                .map(|(_, v)| v.clone())
                .collect(),
            valid_from: field(fields, "valid_from").to_owned(),
            valid_until: field(fields, "valid_until").to_owned(),
            window_days: field(fields, "window_days").to_owned(),
            target_kind: field(fields, "target_kind").to_owned(),
            target: field(fields, "target").to_owned(),
            reward: field(fields, "reward").to_owned(),
            conditions: condition_form::rows_of(fields),
        }
    }

    pub(crate) fn campaign_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "program": self.program,
            "kind": self.kind,
            "priority": self.priority.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(self.priority)),
            "start_date": opt_date(&self.start_date),
            "end_date": opt_date(&self.end_date),
            "rate": self.rate,
            "conditions": self.conditions.iter().map(condition_form::to_json).collect::<Vec<_>>(),
        });
        if let Some(id) = &self.id {
            v["id"] = json!(id);
        }
        v
    }

    pub(crate) fn exclusion_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            // No program ticked: the exclusion applies to every program.
            "programs": if self.programs.is_empty() { Value::Null } else { json!(self.programs) },
            "valid_from": opt_date(&self.valid_from),
            "valid_until": opt_date(&self.valid_until),
            "conditions": self.conditions.iter().map(condition_form::to_json).collect::<Vec<_>>(),
        });
        if let Some(id) = &self.id {
            v["id"] = json!(id);
        }
        v
    }

    pub(crate) fn json(&self, kind: super::campaigns::Kind) -> Value {
        use super::campaigns::Kind;
        match kind {
            Kind::Campaign => self.campaign_json(),
            Kind::Exclusion => self.exclusion_json(),
            Kind::Mission => self.mission_json(),
        }
    }
}

/// The configured programs, `(id, name, unit)`, for the program pickers.
pub(crate) async fn programs(
    state: &AppState,
    s: &Session,
) -> UiResult<Vec<(String, String, String)>> {
    let answer = state
        .api
        .get("/v1/programs", s.token_for(Role::Admin)?)
        .await?;
    Ok(answer.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|p| (text(&p["id"]), text(&p["name"]), text(&p["unit"])))
                .collect()
        })
        .unwrap_or_default())
}

/// The messages the API gave for `name`.
pub(crate) fn errors_for(errors: &[(String, String)], name: &str) -> Markup {
    html! {
        @for (f, m) in errors {
            @if f == name { p.field-error role="alert" id={"err-" (name)} { (m) } }
        }
    }
}

fn known_field(f: &str) -> bool {
    const KNOWN: [&str; 16] = [
        "name",
        "program",
        "kind",
        "priority",
        "start_date",
        "end_date",
        "rate",
        "programs",
        "valid_from",
        "valid_until",
        "conditions",
        "window_days",
        "target",
        "target.amount_sgd",
        "target.count",
        "reward",
    ];
    KNOWN.contains(&f) || f.starts_with("conditions[") || f.starts_with("programs[")
}

/// Errors that belong to no field of the form, listed at its top.
pub(crate) fn other_errors(errors: &[(String, String)]) -> Markup {
    html! {
        @for (f, m) in errors {
            @if !known_field(f) {
                p.field-error role="alert" { @if !f.is_empty() { (f) ": " } (m) }
            }
        }
    }
}

pub(crate) fn input(
    label: &str,
    name: &str,
    kind: &str,
    value: &str,
    errors: &[(String, String)],
    hint: &str,
) -> Markup {
    let invalid = errors.iter().any(|(f, _)| f == name);
    html! {
        div.field {
            label for=(name) { (label) }
            input id=(name) name=(name) type=(kind) value=(value)
                aria-invalid=[invalid.then_some("true")]
                aria-describedby=[invalid.then(|| format!("err-{name}"))];
            @if !hint.is_empty() { p.hint { (hint) } }
            (errors_for(errors, name))
        }
    }
}

/// The campaign's own fields (also the dry run's draft).
pub(crate) fn campaign_fields(
    d: &Draft,
    programs: &[(String, String, String)],
    errors: &[(String, String)],
) -> Markup {
    html! {
        (input("Name", "name", "text", &d.name, errors, ""))
        div.row {
            div.field {
                label for="program" { "Program" }
                select #program name="program" {
                    @for (id, name, unit) in programs {
                        option value=(id) selected[&d.program == id] { (name) " (" (unit) ")" }
                    }
                }
                (errors_for(errors, "program"))
            }
            div.field {
                label for="kind" { "Kind" }
                select #kind name="kind" {
                    option value="promo" selected[d.kind != "base"] { "promo — on top of the base rule" }
                    option value="base" selected[d.kind == "base"] { "base — the standing earn rule" }
                }
                (errors_for(errors, "kind"))
            }
        }
        div.row {
            (input("Priority", "priority", "number", &d.priority, errors, "Higher wins."))
            (input("Rate", "rate", "text", &d.rate, errors, "Points or miles per SGD; a percentage for cashback."))
        }
        div.row {
            (input("Starts", "start_date", "date", &d.start_date, errors, "Optional, inclusive."))
            (input("Ends", "end_date", "date", &d.end_date, errors, "Optional, inclusive."))
        }
        (condition_form::editor(&d.conditions, errors))
    }
}

pub(crate) fn exclusion_fields(
    d: &Draft,
    programs: &[(String, String, String)],
    errors: &[(String, String)],
) -> Markup {
    html! {
        (input("Name", "name", "text", &d.name, errors, ""))
        fieldset {
            legend { "Programs (none ticked = every program)" }
            @for (id, name, _) in programs {
                label.check {
                    input type="checkbox" name="programs" value=(id) checked[d.programs.contains(id)];
                    " " (name)
                }
            }
            (errors_for(errors, "programs"))
        }
        div.row {
            (input("Valid from", "valid_from", "date", &d.valid_from, errors, "Optional, inclusive."))
            (input("Valid until", "valid_until", "date", &d.valid_until, errors, "Optional, inclusive."))
        }
        (condition_form::editor(&d.conditions, errors))
    }
}
