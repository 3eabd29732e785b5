//! `/`: the overview of what the signed-in user may see — campaigns, uploads and rewards for an
//! operator; their own cards and notification settings for a cardholder.

use axum::extract::State;
use axum::http::StatusCode;
use futures::future::join_all;
use maud::{html, Markup};
use serde_json::Value;

use crate::api::seg;
use crate::layout::{notice, page, respond, Nav, UiResult};
use crate::pages::notifications::{self, Settings};
use crate::pages::{campaigns, cards, uploads};
use crate::session::{Role, Session};
use crate::AppState;

/// How many campaigns the overview lists.
const CAMPAIGNS_SHOWN: usize = 10;

async fn card_rows(
    state: &AppState,
    token: &str,
    ids: &[String],
) -> Vec<(String, Result<Value, String>)> {
    let reads = ids.iter().map(|id| async move {
        let r = state
            .api
            .get(&format!("/v1/cards/{}/summary", seg(id)), token)
            .await
            .map(|a| a.body)
            .map_err(|f| f.message);
        (id.clone(), r)
    });
    join_all(reads).await
}

fn cards_table(rows: &[(String, Result<Value, String>)], table_id: &str, empty: &str) -> Markup {
    html! {
        div.table-wrap {
            table id=(table_id) {
                thead { tr { th { "Card" } th.num { "Rewards" } th { "Totals" } } }
                tbody {
                    @for (id, summary) in rows {
                        tr {
                            td.mono { a href={"/ui/cards/" (seg(id))} { (id) } }
                            @match summary {
                                Ok(s) => { td.num { (s["count"].as_u64().unwrap_or(0)) } td { (cards::totals_text(s)) } }
                                Err(m) => { td colspan="2" { "unavailable: " (m) } }
                            }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="3" { (empty) } } }
                }
            }
        }
    }
}

pub(crate) async fn home(State(state): State<AppState>, s: Session) -> UiResult {
    let mut body = Vec::<Markup>::new();

    if let Some(admin) = s.get(Role::Admin) {
        let section = match state.api.get("/v1/campaigns", &admin.token).await {
            Ok(answer) => {
                let mut items = answer.body["items"].as_array().cloned().unwrap_or_default();
                // Promotions first: they are what changes; base rules stay put.
                items.sort_by_key(|c| c["kind"].as_str() != Some("promo"));
                let shown: Vec<Value> = items.iter().take(CAMPAIGNS_SHOWN).cloned().collect();
                html! {
                    p.hint { (items.len()) " campaigns configured"
                        @if items.len() > CAMPAIGNS_SHOWN { "; the first " (CAMPAIGNS_SHOWN) " are listed" } "." }
                    (campaigns::campaigns_table(&shown))
                }
            }
            Err(f) => notice(
                "error",
                &format!("The campaigns could not be read: {}.", f.message),
            ),
        };
        body.push(html! {
            section #overview-campaigns {
                div.section-head {
                    h2 { "Campaigns" }
                    a.button.secondary href="/ui/campaigns" { "Manage" }
                    a.button href="/ui/campaigns/new" { "New campaign" }
                }
                (section)
            }
        });
    }

    if s.has(Role::Admin) || s.has(Role::Bank) {
        let recent = uploads::recent_table(&state, &s).await;
        body.push(html! {
            section #overview-uploads {
                div.section-head {
                    h2 { "Uploads" }
                    a.button href="/ui/uploads" { "Upload a file" }
                }
                (recent)
            }
        });
    }

    if let Some(admin) = s.get(Role::Admin) {
        let recent = state.recent.cards();
        let rows = card_rows(&state, &admin.token, &recent).await;
        body.push(html! {
            section #overview-rewards {
                h2 { "Rewards" }
                (cards::lookup_form())
                h3 { "Cards looked up recently" }
                (cards_table(&rows, "recent-cards", "Look a card up to see its rewards here."))
            }
        });
    }

    if let Some(customer) = s.get(Role::Customer) {
        let rows = card_rows(&state, &customer.token, &customer.cards).await;
        body.push(html! {
            section #my-cards {
                h2 { "Your cards" }
                p.hint { "Open a card to see its transactions, the rewards they earned and why." }
                (cards_table(&rows, "my-cards-table", "Your sign-in lists no cards."))
            }
        });
        let settings = match state
            .api
            .get(notifications::API_PATH, &customer.token)
            .await
        {
            Ok(a) => html! { p #notification-summary { (Settings::from_json(&a.body).summary()) } },
            Err(f) => {
                html! { p.muted { "Your notification settings could not be read: " (f.message) "." } }
            }
        };
        body.push(html! {
            section #my-notifications {
                div.section-head {
                    h2 { "Notifications" }
                    a.button.secondary href="/ui/notifications" aria-label="Change notification settings" { "Change" }
                }
                (settings)
            }
        });
    }

    let title = if s.tokens.iter().all(|t| t.role == Role::Customer) {
        "Your rewards"
    } else {
        "Overview"
    };
    Ok(respond(
        StatusCode::OK,
        page(
            title,
            Some(&s),
            Nav::Home,
            html! { @for b in &body { (b) } },
        ),
    ))
}
