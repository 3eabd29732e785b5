//! Missions ("spend X within Y days, win Z", `docs/missions.md`) as configuration: their form
//! fields and their section of the campaigns page. They are created, edited (with ETags) and
//! deleted by the same handlers as campaigns and exclusions (`Kind::Mission`), through
//! `/v1/missions`. An API without missions gets a notice instead of the section.

use axum::http::StatusCode;
use maud::{html, Markup};
use serde_json::{json, Value};

use crate::api::seg;
use crate::condition_form;
use crate::layout::{notice, UiResult};
use crate::pages::campaigns::{conditions_summary, dates};
use crate::pages::config_form::{errors_for, input, opt_date, text, Draft};
use crate::AppState;

impl Draft {
    pub(crate) fn mission_json(&self) -> Value {
        let target = if self.target_kind == "count" {
            let count = self
                .target
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(self.target));
            json!({ "count": count })
        } else {
            json!({ "amount_sgd": self.target })
        };
        let window = self
            .window_days
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(self.window_days));
        let mut v = json!({
            "name": self.name,
            "program": self.program,
            "start_date": opt_date(&self.start_date),
            "end_date": opt_date(&self.end_date),
            "window_days": window,
            "target": target,
            "conditions": self.conditions.iter().map(condition_form::to_json).collect::<Vec<_>>(),
            "reward": self.reward,
        });
        if let Some(id) = &self.id {
            v["id"] = json!(id);
        }
        v
    }
}

pub(crate) fn mission_fields(
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
            (input("Window (days)", "window_days", "number", &d.window_days, errors,
                "From the card's first qualifying purchase; 1 to 366."))
        }
        div.row {
            div.field {
                label for="target_kind" { "Target" }
                select #target_kind name="target_kind" {
                    option value="amount_sgd" selected[d.target_kind != "count"] { "spend in SGD" }
                    option value="count" selected[d.target_kind == "count"] { "number of purchases" }
                }
            }
            div.field {
                label for="target" { "Target value" }
                input #target name="target" type="text" value=(d.target);
                (errors_for(errors, "target"))
                (errors_for(errors, "target.amount_sgd"))
                (errors_for(errors, "target.count"))
            }
            (input("Reward", "reward", "text", &d.reward, errors, "Paid once, in the program's unit."))
        }
        div.row {
            (input("Starts", "start_date", "date", &d.start_date, errors, "Required, inclusive."))
            (input("Ends", "end_date", "date", &d.end_date, errors, "Optional, inclusive."))
        }
        (condition_form::editor(&d.conditions, errors))
    }
}

fn target_text(t: &Value) -> String {
    match (t.get("amount_sgd"), t.get("count")) {
        (Some(a), _) => format!("spend {} SGD", text(a)),
        (_, Some(c)) => format!("{} purchases", text(c)),
        _ => String::new(),
    }
}

/// The missions section of the campaigns page.
pub(crate) async fn section(state: &AppState, admin: &str) -> UiResult<Markup> {
    let items = match state.api.get("/v1/missions", admin).await {
        Ok(answer) => answer.body["items"].as_array().cloned().unwrap_or_default(),
        Err(f) if f.is(StatusCode::NOT_FOUND) => {
            return Ok(html! {
                section {
                    h2 { "Missions" }
                    (notice("warn", "This API does not serve missions (no /v1/missions)."))
                }
            })
        }
        Err(f) => return Err(f.into()),
    };
    Ok(html! {
        section {
            div.section-head {
                h2 { "Missions" }
                a.button href="/ui/missions/new" { "New mission" }
            }
            div.table-wrap {
                table #missions {
                    thead { tr { th { "Name" } th { "Program" } th { "Target" } th.num { "Window" } th.num { "Reward" } th { "Dates" } th { "Conditions" } } }
                    tbody {
                        @for m in &items {
                            tr {
                                td { a href={"/ui/missions/" (seg(&text(&m["id"])))} { (text(&m["name"])) } }
                                td { (text(&m["program"])) }
                                td { (target_text(&m["target"])) }
                                td.num { (text(&m["window_days"])) " days" }
                                td.num { (text(&m["reward"])) }
                                td.nowrap { (dates(&m["start_date"], &m["end_date"])) }
                                td.small { (conditions_summary(m)) }
                            }
                        }
                        @if items.is_empty() { tr { td colspan="7" { "No missions yet." } } }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mission_round_trips_through_its_form() {
        let m = json!({
            "id": "00000000-0000-4000-9000-00000000d001", "name": "Dine SGD 100 in 7 days",
            "program": "scis_shopping", "start_date": "2024-05-01", "end_date": null,
            "window_days": 7, "target": {"amount_sgd": "100.00"},
            "conditions": [{"field": "mcc", "op": "in", "value": [[5811, 5814]]}],
            "reward": "50",
        });
        assert_eq!(Draft::from_json(&m).mission_json(), m);
        let c = json!({"count": 3});
        let mut d = Draft::from_json(&json!({"target": c}));
        assert_eq!((d.target_kind.as_str(), d.target.as_str()), ("count", "3"));
        d.window_days = "x".into();
        assert_eq!(d.mission_json()["window_days"], "x");
        assert_eq!(d.mission_json()["target"], c);
    }
}
