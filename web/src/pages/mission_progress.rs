//! A card's missions on its page (`GET /v1/cards/{id}/missions`, docs/missions.md): one progress
//! bar per mission with its status, window and reward; and how a mission's payout rows read in
//! the rewards history. An API that does not serve the route (404) shows "no missions"; any other
//! failure is a notice inside the section, never a broken card page.

use std::collections::HashMap;

use axum::http::StatusCode;
use maud::{html, Markup};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::api::seg;
use crate::layout::{labelled_progress, notice};
use crate::AppState;

/// The card's missions as the API lists them, or why they could not be read.
pub(crate) type Missions = Result<Vec<Value>, String>;

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads the card's missions; a 404 (no such route yet) is no missions.
pub(crate) async fn read(state: &AppState, card: &str, token: &str) -> Missions {
    match state
        .api
        .get(&format!("/v1/cards/{card}/missions"), token)
        .await
    {
        Ok(a) => Ok(a.body["items"].as_array().cloned().unwrap_or_default()),
        Err(f) if f.is(StatusCode::NOT_FOUND) => Ok(Vec::new()),
        Err(f) => Err(f.message),
    }
}

/// Mission names by id, for the history's payout rows.
pub(crate) fn names(missions: &Missions) -> HashMap<String, String> {
    let Ok(items) = missions else {
        return HashMap::new();
    };
    items
        .iter()
        .map(|m| (text(&m["mission_id"]), text(&m["name"])))
        .collect()
}

/// The section: one card per mission. `admin` links each mission to its configuration.
pub(crate) fn section(missions: &Missions, admin: bool) -> Markup {
    html! {
        section #card-missions aria-labelledby="missions-heading" {
            h2 #missions-heading { "Missions" }
            @match missions {
                Err(message) => (notice("warn", &format!("Mission progress could not be read: {message}."))),
                Ok(items) if items.is_empty() => p.muted #no-missions { "No missions for this card yet." },
                Ok(items) => div.missions {
                    @for (i, m) in items.iter().enumerate() { (mission(i, m, admin)) }
                },
            }
        }
    }
}

fn status_label(status: &str) -> String {
    match status {
        "in_progress" => "In progress".into(),
        "completed" => "Completed".into(),
        "expired" => "Expired".into(),
        other => other.replace('_', " "),
    }
}

fn mission(i: usize, m: &Value, admin: bool) -> Markup {
    let status = text(&m["status"]);
    let name = text(&m["name"]);
    let id = text(&m["mission_id"]);
    let heading = format!("mission-{i}-name");
    let p = progress_of(m);
    let (start, end) = (text(&m["window_start"]), text(&m["window_end"]));
    let completed_at = text(&m["completed_at"]);
    html! {
        article class={"card mission " (status)} aria-labelledby=(heading) data-mission=(id) {
            div.mission-head {
                h3 #(heading) {
                    @if admin && !id.is_empty() { a href={"/ui/missions/" (seg(&id))} { (name) } }
                    @else { (name) }
                }
                span class={"tag " (status)} { (status_label(&status)) }
            }
            (labelled_progress(&format!("mission-{i}"), p.percent, &heading, &p.value_text))
            p.figures {
                strong { (p.value_text) }
                span.muted { " · " (p.other) }
            }
            dl.facts.small {
                dt { "Window" }
                dd { @if start.is_empty() { "opens with the first qualifying purchase" } @else { (start) " – " (end) } }
                dt { "Reward" }
                dd { (text(&m["reward"])) " " (text(&m["unit"])) }
                @if !completed_at.is_empty() { dt { "Completed" } dd { (completed_at) } }
            }
        }
    }
}

/// What one bar shows.
#[derive(Debug, PartialEq)]
struct Progress {
    percent: u64,
    /// "80.00 of 100.00 SGD" or "2 of 3 purchases": the target's own measure.
    value_text: String,
    /// The other measure: "2 purchases" or "80.00 SGD".
    other: String,
}

fn progress_of(m: &Value) -> Progress {
    let amount = text(&m["progress_amount_sgd"]);
    let count = text(&m["progress_count"]);
    let purchases = |n: &str| format!("{n} {}", if n == "1" { "purchase" } else { "purchases" });
    match m["target"].get("count") {
        Some(goal) => {
            let goal = text(goal);
            Progress {
                percent: percent(&count, &goal),
                value_text: format!("{count} of {goal} purchases"),
                other: format!("{amount} SGD"),
            }
        }
        None => {
            let goal = text(&m["target"]["amount_sgd"]);
            Progress {
                percent: percent(&amount, &goal),
                value_text: format!("{amount} of {goal} SGD"),
                other: purchases(&count),
            }
        }
    }
}

/// `done` of `goal` in whole percent, at most 100; 0 when either is not a number.
fn percent(done: &str, goal: &str) -> u64 {
    let (Ok(d), Ok(g)) = (done.parse::<Decimal>(), goal.parse::<Decimal>()) else {
        return 0;
    };
    if g <= Decimal::ZERO || d <= Decimal::ZERO {
        return 0;
    }
    (d * Decimal::from(100) / g)
        .floor()
        .to_u64()
        .unwrap_or(0)
        .min(100)
}

/// Whether a history row is a mission's payout rather than a transaction's outcome.
pub(crate) fn is_payout(r: &Value) -> bool {
    matches!(r["type"].as_str(), Some("mission" | "mission_clawback"))
}

/// The history row of a payout: what it is and which mission, instead of a merchant and an
/// amount (a payout has neither). `columns` is the table's width.
pub(crate) fn payout_row(
    r: &Value,
    names: &HashMap<String, String>,
    admin: bool,
    columns: usize,
) -> Markup {
    let clawback = r["type"].as_str() == Some("mission_clawback");
    let id = text(&r["mission_id"]);
    let remark = text(&r["remark"]);
    let name = names
        .get(&id)
        .cloned()
        .or_else(|| {
            remark
                .strip_prefix("mission clawback: ")
                .or_else(|| remark.strip_prefix("mission: "))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| id.clone());
    let (what, tag) = if clawback {
        ("Mission clawback", "clawback")
    } else {
        ("Mission reward", "mission")
    };
    // Date, what (over merchant, amount and SGD), type, reward; the campaign columns an admin
    // sees; remark and revision.
    let middle = columns.saturating_sub(8);
    html! {
        tr.payout {
            td.nowrap { (text(&r["transaction_date"])) }
            td colspan="3" {
                strong { (what) } ": "
                @if admin && !id.is_empty() { a href={"/ui/missions/" (seg(&id))} { (name) } }
                @else { (name) }
            }
            td { span class={"tag " (tag)} { (tag) } }
            td.num.nowrap { strong { (text(&r["reward"])) } " " (text(&r["unit"])) }
            @if middle > 0 { td colspan=(middle) { span.muted { "—" } } }
            td.small { (remark) }
            td.num { (text(&r["config_revision"])) }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_bar_measures_what_the_target_counts() {
        let m = json!({"target": {"amount_sgd": "100.00"}, "progress_amount_sgd": "80.00",
            "progress_count": 2});
        assert_eq!(
            progress_of(&m),
            Progress {
                percent: 80,
                value_text: "80.00 of 100.00 SGD".into(),
                other: "2 purchases".into()
            }
        );
        let m = json!({"target": {"count": 3}, "progress_amount_sgd": "10.00",
            "progress_count": 4});
        let p = progress_of(&m);
        assert_eq!(
            (p.percent, p.value_text.as_str()),
            (100, "4 of 3 purchases")
        );
        assert_eq!(percent("x", "3"), 0);
        assert_eq!(percent("-5", "3"), 0);
    }

    #[test]
    fn a_404_is_no_missions_and_other_failures_a_notice() {
        let none = section(&Ok(Vec::new()), false).into_string();
        assert!(none.contains("No missions for this card yet."), "{none}");
        let broken = section(&Err("the API answered 503".into()), false).into_string();
        assert!(broken.contains("could not be read"), "{broken}");
    }

    #[test]
    fn a_mission_has_an_accessible_bar_and_its_facts() {
        let m = json!({"mission_id": "00000000-0000-4000-9000-00000000d001",
            "name": "Dine SGD 100 in 7 days", "status": "completed",
            "progress_amount_sgd": "110.00", "progress_count": 3,
            "target": {"amount_sgd": "100.00"}, "window_start": "2024-05-02",
            "window_end": "2024-05-08", "reward": "50.00", "unit": "points",
            "completed_at": "2024-05-04"});
        let html = section(&Ok(vec![m]), true).into_string();
        for needle in [
            r#"aria-labelledby="mission-0-name""#,
            r#"aria-valuetext="110.00 of 100.00 SGD""#,
            r#"value="100""#,
            "Completed",
            "2024-05-02 – 2024-05-08",
            "50.00 points",
            "2024-05-04",
            r#"href="/ui/missions/00000000-0000-4000-9000-00000000d001""#,
        ] {
            assert!(html.contains(needle), "{needle} in {html}");
        }
    }

    #[test]
    fn payout_rows_name_their_mission() {
        let r = json!({"type": "mission_clawback", "mission_id": "m1", "reward": "-50.00",
            "unit": "points", "remark": "mission clawback: Dine", "transaction_date": "2024-05-09"});
        assert!(is_payout(&r));
        let html = payout_row(&r, &HashMap::new(), false, 8).into_string();
        assert_eq!(html.matches("<td").count(), 6, "{html}");
        let admin = payout_row(&r, &HashMap::new(), true, 10).into_string();
        assert!(admin.contains(r#"colspan="2""#), "{admin}");
        assert!(html.contains("Mission clawback</strong>: Dine"), "{html}");
        assert!(html.contains("-50.00"), "{html}");
        assert!(!is_payout(&json!({"type": "purchase"})));
    }
}
