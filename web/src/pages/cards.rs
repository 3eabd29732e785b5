//! Card lookup (admin) and a cardholder's own card (customer): the rewards history page by page,
//! the totals per unit overall and per month, and for each reward the campaigns and the
//! configuration revision that decided it. The API decides who may read which card: a customer
//! opening a card not in its token gets the API's 403 as a page.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use chrono::{Datelike, NaiveDate};
use futures::future::join_all;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use crate::api::seg;
use crate::layout::{masked_pan, page, progress, respond, Nav, UiResult};
use crate::pages::campaigns::url_query;
use crate::session::{Role, Session};
use crate::AppState;

/// Rewards per page.
const PAGE: u32 = 20;

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Deserialize)]
pub(crate) struct LookupQuery {
    card_id: Option<String>,
}

pub(crate) async fn lookup(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<LookupQuery>,
) -> UiResult {
    if let Some(id) = q
        .card_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
    {
        return Ok(Redirect::to(&format!("/ui/cards/{}", seg(&id.to_lowercase()))).into_response());
    }
    let body = html! {
        (lookup_form())
        @let recent = state.recent.cards();
        @if !recent.is_empty() {
            section {
                h2 { "Recently looked up" }
                ul.plain { @for c in &recent { li.mono { a href={"/ui/cards/" (seg(c))} { (c) } } } }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        page("Cards", Some(&s), Nav::Cards, body),
    ))
}

pub(crate) fn lookup_form() -> Markup {
    html! {
        form.card.inline method="get" action="/ui/cards" role="search" {
            label for="card_id" { "Card id" }
            input #card_id type="text" name="card_id" required placeholder="00000000-0000-4000-8000-0000000000a2"
                pattern="[0-9a-fA-F-]{36}" title="a card id: 36 characters, 8-4-4-4-12 hex digits";
            button type="submit" { "Look up" }
        }
    }
}

/// The card's totals per unit, `[(unit, reward)]`, and its count.
pub(crate) fn totals(summary: &Value) -> Vec<(String, String)> {
    summary["totals"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|x| (text(&x["unit"]), text(&x["reward"])))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn totals_text(summary: &Value) -> String {
    let t = totals(summary);
    if t.is_empty() {
        "no rewards".into()
    } else {
        t.iter()
            .map(|(u, r)| format!("{r} {u}"))
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct CardQuery {
    cursor: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// The first and last day of the month `yyyy-mm`.
fn month_bounds(month: &str) -> Option<(NaiveDate, NaiveDate)> {
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)?
    };
    Some((first, next.pred_opt()?))
}

pub(crate) async fn card(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Query(q): Query<CardQuery>,
) -> UiResult {
    let token = s.card_reader()?;
    let card = seg(&id);
    let range: Vec<(&str, &str)> = [("from", q.from.as_deref()), ("to", q.to.as_deref())]
        .into_iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
    let mut page_query = range.clone();
    page_query.push(("limit", "20"));
    if let Some(c) = q.cursor.as_deref().filter(|c| !c.is_empty()) {
        page_query.push(("cursor", c));
    }
    debug_assert_eq!(PAGE, 20);
    let summary = state
        .api
        .get(
            &format!("/v1/cards/{card}/summary?{}", url_query(&range)),
            token,
        )
        .await?
        .body;
    let rewards = state
        .api
        .get(
            &format!("/v1/cards/{card}/rewards?{}", url_query(&page_query)),
            token,
        )
        .await?
        .body;
    if s.has(Role::Admin) {
        state.recent.add_card(&id.to_lowercase());
    }
    let empty = Vec::new();
    let items = rewards["items"].as_array().unwrap_or(&empty);

    // Totals per month, for the months this page shows.
    let months: BTreeSet<String> = items
        .iter()
        .filter_map(|r| {
            r["transaction_date"]
                .as_str()
                .and_then(|d| d.get(..7))
                .map(str::to_owned)
        })
        .collect();
    let monthly = join_all(months.iter().rev().map(|m| {
        let api = &state.api;
        let card = &card;
        async move {
            let (first, last) = month_bounds(m)?;
            let q = url_query(&[("from", &first.to_string()), ("to", &last.to_string())]);
            let s = api
                .get(&format!("/v1/cards/{card}/summary?{q}"), token)
                .await
                .ok()?;
            Some((m.clone(), s.body))
        }
    }))
    .await;

    // Campaign names, for admins (a customer's token cannot list campaigns; the remark names them).
    let mut names: HashMap<String, String> = HashMap::new();
    if let Some(admin) = s.get(Role::Admin) {
        if let Ok(list) = state.api.get("/v1/campaigns", &admin.token).await {
            for c in list.body["items"].as_array().unwrap_or(&empty) {
                names.insert(text(&c["id"]), text(&c["name"]));
            }
        }
    }
    let campaign = |v: &Value| -> Markup {
        let id = text(v);
        html! {
            @if id.is_empty() { span.muted { "—" } }
            @else if let Some(name) = names.get(&id) {
                a href={"/ui/campaigns/" (seg(&id))} title=(id) { (name) }
            } @else { span.mono title=(id) { (id.get(..8).unwrap_or(&id)) "…" } }
        }
    };
    let missions = missions_section(&state, &card, token).await?;
    // A cardholder cannot list campaigns: the remark ("Why") names the ones that decided.
    let admin_view = s.has(Role::Admin);
    let pan = items.first().map(|r| masked_pan(&text(&r["card_pan"])));
    let next = rewards["next_cursor"].as_str();
    let mut next_query = range.clone();
    if let Some(n) = next {
        next_query.push(("cursor", n));
    }

    let body = html! {
        section.card {
            dl.facts {
                dt { "Card" } dd.mono { (id) }
                @if let Some(p) = &pan { dt { "PAN" } dd.mono { (p) } }
                dt { "Rewards" } dd { (summary["count"].as_u64().unwrap_or(0)) }
                dt { "Totals" } dd #card-totals { (totals_text(&summary)) }
            }
            form.inline method="get" action={"/ui/cards/" (card)} {
                span.pair { label for="from" { "From" } input #from type="date" name="from" value=(q.from.clone().unwrap_or_default()); }
                span.pair { label for="to" { "To" } input #to type="date" name="to" value=(q.to.clone().unwrap_or_default()); }
                button.secondary type="submit" { "Filter" }
            }
        }
        @if !monthly.is_empty() {
            section {
                h2 { "Totals per month" }
                div.table-wrap {
                    table #monthly {
                        thead { tr { th { "Month" } th.num { "Rewards" } th { "Totals" } } }
                        tbody {
                            @for (m, sm) in monthly.iter().flatten() {
                                tr { td { (m) } td.num { (sm["count"].as_u64().unwrap_or(0)) } td { (totals_text(sm)) } }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(m) = &missions { (m) }
        section {
            h2 { "Rewards history" }
            div.table-wrap {
                table #rewards {
                    thead { tr {
                        th { "Date" } th { "Merchant" } th.num { "Amount" } th.num { "SGD" } th { "Type" }
                        th.num { "Reward" }
                        @if admin_view { th { "Base campaign" } th { "Promo campaign" } }
                        th { "Why" } th.num { "Config rev." }
                    } }
                    tbody {
                        @for r in items {
                            tr {
                                td.nowrap { (text(&r["transaction_date"])) }
                                td { (text(&r["merchant"])) span.muted.small { " MCC " (text(&r["mcc"])) } }
                                td.num.nowrap { (text(&r["amount"])) " " (text(&r["currency"])) }
                                td.num { (text(&r["amount_sgd"])) }
                                td { (text(&r["type"])) }
                                td.num.nowrap { strong { (text(&r["reward"])) } " " (text(&r["unit"])) }
                                @if admin_view {
                                    td { (campaign(&r["base_campaign"])) }
                                    td { (campaign(&r["promo_campaign"])) }
                                }
                                td.small { (text(&r["remark"])) }
                                td.num { (text(&r["config_revision"])) }
                            }
                        }
                        @if items.is_empty() { tr { td colspan=(if admin_view { 10 } else { 8 }) { "No rewards for this card in this range." } } }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if q.cursor.as_deref().is_some_and(|c| !c.is_empty()) {
                    a.button.secondary href={"/ui/cards/" (card) "?" (url_query(&range))} { "« Newest" }
                }
                @if next.is_some() {
                    a.button.secondary rel="next" href={"/ui/cards/" (card) "?" (url_query(&next_query))} { "Older »" }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        page("Card rewards", Some(&s), Nav::Cards, body),
    ))
}

/// The card's mission progress (`GET /v1/cards/{id}/missions`, docs/missions.md), one bar per
/// mission; `None` when the API does not serve that route (404).
async fn missions_section(state: &AppState, card: &str, token: &str) -> UiResult<Option<Markup>> {
    let answer = match state
        .api
        .get(&format!("/v1/cards/{card}/missions"), token)
        .await
    {
        Ok(a) => a,
        Err(f) if f.is(StatusCode::NOT_FOUND) => return Ok(None),
        Err(f) => return Err(f.into()),
    };
    let empty = Vec::new();
    let items = answer.body["items"].as_array().unwrap_or(&empty);
    Ok(Some(html! {
        section #card-missions {
            h2 { "Missions" }
            @if items.is_empty() { p { "No mission has started for this card." } }
            @for (i, m) in items.iter().enumerate() {
                @let (done, goal, unit) = mission_progress(m);
                div.card.mission {
                    p.lead { strong { (text(&m["name"])) } " " span class={"tag " (text(&m["status"]))} { (text(&m["status"]).replace('_', " ")) } }
                    (progress(&format!("mission-{i}"), percent(&done, &goal)))
                    p.hint {
                        (done) " of " (goal) " " (unit)
                        @if !text(&m["window_start"]).is_empty() {
                            " · window " (text(&m["window_start"])) " – " (text(&m["window_end"]))
                        }
                        " · reward " (text(&m["reward"]))
                    }
                }
            }
        }
    }))
}

/// `(progress, target, unit)` of one mission, by the kind of its target.
fn mission_progress(m: &Value) -> (String, String, &'static str) {
    match m["target"].get("count") {
        Some(count) => (text(&m["progress_count"]), text(count), "purchases"),
        None => (
            text(&m["progress_amount_sgd"]),
            text(&m["target"]["amount_sgd"]),
            "SGD",
        ),
    }
}

/// `done` of `goal` in whole percent, at most 100; 0 when either is not a number.
fn percent(done: &str, goal: &str) -> u64 {
    use rust_decimal::prelude::ToPrimitive;
    use rust_decimal::Decimal;
    let (Ok(d), Ok(g)) = (done.parse::<Decimal>(), goal.parse::<Decimal>()) else {
        return 0;
    };
    if g <= Decimal::ZERO {
        return 0;
    }
    (d * Decimal::from(100) / g)
        .floor()
        .to_u64()
        .unwrap_or(0)
        .min(100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mission_progress_in_percent() {
        let m = json!({"target": {"amount_sgd": "100.00"}, "progress_amount_sgd": "80.00", "progress_count": 2});
        let (d, g, unit) = mission_progress(&m);
        assert_eq!((percent(&d, &g), unit), (80, "SGD"));
        let m =
            json!({"target": {"count": 3}, "progress_amount_sgd": "10.00", "progress_count": 4});
        let (d, g, unit) = mission_progress(&m);
        assert_eq!((percent(&d, &g), unit), (100, "purchases"));
        assert_eq!(percent("x", "3"), 0);
    }

    #[test]
    fn months_have_bounds() {
        let (a, b) = month_bounds("2024-02").unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2024-02-01".into(), "2024-02-29".into())
        );
        let (_, b) = month_bounds("2024-12").unwrap();
        assert_eq!(b.to_string(), "2024-12-31");
        assert!(month_bounds("2024-13").is_none());
    }

    #[test]
    fn totals_are_written_out() {
        let s = json!({"totals": [{"unit": "points", "reward": "10.00"}, {"unit": "miles", "reward": "2.20"}]});
        assert_eq!(totals_text(&s), "10.00 points · 2.20 miles");
        assert_eq!(totals_text(&json!({"totals": []})), "no rewards");
    }
}
