//! Card lookup (admin) and a cardholder's own card (customer): the rewards history page by page,
//! the totals per unit overall and per month, the card's mission progress
//! ([`mission_progress`]), and for each reward the campaigns and the configuration revision that
//! decided it (a mission's payout rows name their mission instead). The API decides who may read
//! which card: a customer opening a card not in its token gets the API's 403 as a page.

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
use crate::layout::{masked_pan, page, respond, Nav, UiResult};
use crate::pages::campaigns::url_query;
use crate::pages::mission_progress;
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
    let missions = mission_progress::read(&state, &card, token).await;
    let mission_names = mission_progress::names(&missions);
    // A cardholder cannot list campaigns: the remark ("Why") names the ones that decided.
    let admin_view = s.has(Role::Admin);
    let columns = if admin_view { 10 } else { 8 };
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
        (mission_progress::section(&missions, admin_view))
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
                            @if mission_progress::is_payout(r) {
                                (mission_progress::payout_row(r, &mission_names, admin_view, columns))
                            } @else {
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
                        }
                        @if items.is_empty() { tr { td colspan=(columns) { "No rewards for this card in this range." } } }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
