//! `GET /v1/cards/{card_id}/missions`: a card's progress in every mission whose window opened
//! for it (docs/missions.md), from the states the rewarders keep beside the outcomes.
//!
//! Each item shows the mission's terms as they were when the card's state last changed (the
//! store keeps them with the state), so the route needs no configuration and still shows a
//! mission deleted since. Newest window first; ties by name, then mission id.

use axum::response::Response;
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;
use spend_domain::money::fmt2;
use spend_store::reward_store::StoredMission;

#[derive(Serialize)]
struct Item<'a> {
    mission_id: String,
    name: &'a str,
    status: &'static str,
    progress_amount_sgd: String,
    progress_count: u32,
    target: Value,
    window_start: String,
    window_end: String,
    reward: String,
    unit: &'static str,
    completed_at: Option<String>,
    /// How many times the card completed it (each completion paid once; a clawback takes one
    /// back): the net paid is one reward while `status` is `completed`, none otherwise.
    completions: u32,
}

#[derive(Serialize)]
struct Items<'a> {
    items: Vec<Item<'a>>,
}

/// The answer for `states`, one card's, with each status as of `today` (UTC).
pub(crate) fn card_missions(states: &[StoredMission], today: NaiveDate) -> Response {
    let mut sorted: Vec<&StoredMission> = states.iter().collect();
    sorted.sort_by(|a, b| {
        (b.state.window_start)
            .cmp(&a.state.window_start)
            .then_with(|| a.info.name.cmp(&b.info.name))
            .then_with(|| a.mission_id.cmp(&b.mission_id))
    });
    let items = sorted
        .into_iter()
        .map(|m| Item {
            mission_id: m.mission_id.hyphenated().to_string(),
            name: &m.info.name,
            status: m.state.status(today).as_str(),
            progress_amount_sgd: fmt2(m.state.progress_amount_sgd),
            progress_count: m.state.progress_count,
            target: m.info.target.to_json(),
            window_start: m.state.window_start.to_string(),
            window_end: m.state.window_end.to_string(),
            reward: fmt2(m.info.reward),
            unit: m.info.unit.as_str(),
            completed_at: m.state.paid.map(|p| p.completed_at.to_string()),
            completions: m.state.completions,
        })
        .collect();
    crate::json::serialized(&Items { items })
}
