//! Campaigns and exclusions: list, create, edit (with the object's ETag: a stale edit is refused
//! by the API with 412 and nothing is overwritten), delete. Every validation error the API names
//! is shown next to its field.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use crate::api::{seg, ApiFailure};
use crate::condition_form;
use crate::layout::{notice, page, respond, Nav, UiError, UiResult};
use crate::session::{Role, Session};
use crate::AppState;

use super::config_form::{
    campaign_fields, exclusion_fields, field, other_errors, programs, text, Draft, Fields,
};

/// The handlers' `K` for campaigns.
pub(crate) const CAMPAIGNS: u8 = 0;
/// The handlers' `K` for exclusions.
pub(crate) const EXCLUSIONS: u8 = 1;
/// The handlers' `K` for missions.
pub(crate) const MISSIONS: u8 = 2;

/// The two kinds of configuration object these pages edit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Campaign,
    Exclusion,
    Mission,
}

impl Kind {
    /// The kind a handler's `K` names ([`CAMPAIGNS`] or [`EXCLUSIONS`]).
    const fn of(k: u8) -> Kind {
        match k {
            EXCLUSIONS => Kind::Exclusion,
            MISSIONS => Kind::Mission,
            _ => Kind::Campaign,
        }
    }
    fn plural(self) -> &'static str {
        match self {
            Kind::Campaign => "campaigns",
            Kind::Exclusion => "exclusions",
            Kind::Mission => "missions",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Kind::Campaign => "campaign",
            Kind::Exclusion => "exclusion",
            Kind::Mission => "mission",
        }
    }
    fn title(self) -> &'static str {
        match self {
            Kind::Campaign => "Campaign",
            Kind::Exclusion => "Exclusion",
            Kind::Mission => "Mission",
        }
    }
}

/// The create or edit form. `etag` is set when editing.
#[allow(clippy::too_many_arguments)]
fn editor_page(
    s: &Session,
    kind: Kind,
    d: &Draft,
    etag: Option<&str>,
    programs: &[(String, String, String)],
    errors: &[(String, String)],
    banner: Option<Markup>,
) -> Markup {
    let (title, action) = match &d.id {
        Some(id) => (
            format!("Edit {}", kind.noun()),
            format!("/ui/{}/{}", kind.plural(), seg(id)),
        ),
        None => (
            format!("New {}", kind.noun()),
            format!("/ui/{}/new", kind.plural()),
        ),
    };
    page(
        &title,
        Some(s),
        Nav::Campaigns,
        html! {
            @if let Some(b) = banner { (b) }
            (other_errors(errors))
            form.card method="post" action=(action) novalidate {
                @if let Some(e) = etag { input type="hidden" name="etag" value=(e); }
                @match kind {
                    Kind::Campaign => (campaign_fields(d, programs, errors)),
                    Kind::Exclusion => (exclusion_fields(d, programs, errors)),
                    Kind::Mission => (super::missions::mission_fields(d, programs, errors)),
                }
                div.actions {
                    button type="submit" { @if d.id.is_some() { "Save changes" } @else { "Create " (kind.noun()) } }
                    a.button.secondary href="/ui/campaigns" { "Cancel" }
                    @if let (Kind::Campaign, Some(id)) = (kind, &d.id) {
                        a.button.secondary href={"/ui/dry-run?campaign=" (seg(id))} { "Dry run" }
                    }
                }
            }
            @if let (Some(id), Some(e)) = (&d.id, etag) {
                form.danger method="post" action={"/ui/" (kind.plural()) "/" (seg(id)) "/delete"} {
                    input type="hidden" name="etag" value=(e);
                    input type="hidden" name="name" value=(d.name);
                    button.danger type="submit" { "Delete this " (kind.noun()) }
                }
            }
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct Flash {
    done: Option<String>,
    name: Option<String>,
}

pub(crate) fn conditions_summary(v: &Value) -> String {
    let rows: Vec<String> = v["conditions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    let r = condition_form::from_json(c);
                    format!("{} {} {}", r.field, r.op, r.value)
                })
                .collect()
        })
        .unwrap_or_default();
    if rows.is_empty() {
        "always".into()
    } else {
        rows.join("; ")
    }
}

/// The campaigns table, also shown on the overview.
pub(crate) fn campaigns_table(items: &[Value]) -> Markup {
    html! {
        div.table-wrap {
            table #campaigns {
                thead { tr { th { "Name" } th { "Program" } th { "Kind" } th.num { "Priority" } th.num { "Rate" } th { "Dates" } th { "Conditions" } } }
                tbody {
                    @for c in items {
                        tr {
                            td { a href={"/ui/campaigns/" (seg(&text(&c["id"])))} { (text(&c["name"])) } }
                            td { (text(&c["program"])) }
                            td { span class={"tag " (text(&c["kind"]))} { (text(&c["kind"])) } }
                            td.num { (text(&c["priority"])) }
                            td.num { (text(&c["rate"])) }
                            td.nowrap { (dates(&c["start_date"], &c["end_date"])) }
                            td.small { (conditions_summary(c)) }
                        }
                    }
                    @if items.is_empty() { tr { td colspan="7" { "No campaigns yet." } } }
                }
            }
        }
    }
}

pub(crate) fn dates(from: &Value, to: &Value) -> String {
    match (text(from), text(to)) {
        (f, t) if f.is_empty() && t.is_empty() => "always".into(),
        (f, t) if t.is_empty() => format!("from {f}"),
        (f, t) if f.is_empty() => format!("until {t}"),
        (f, t) => format!("{f} – {t}"),
    }
}

pub(crate) async fn list(
    State(state): State<AppState>,
    s: Session,
    Query(flash): Query<Flash>,
) -> UiResult {
    let campaigns = state
        .api
        .get("/v1/campaigns", s.token_for(Role::Admin)?)
        .await?;
    let missions = super::missions::section(&state, s.token_for(Role::Admin)?).await?;
    let exclusions = state
        .api
        .get("/v1/exclusions", s.token_for(Role::Admin)?)
        .await?;
    let empty = Vec::new();
    let mut campaigns = campaigns.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Promotions first: they are what changes; base rules stay put.
    campaigns.sort_by_key(|c| c["kind"].as_str() != Some("promo"));
    let exclusions = exclusions.body["items"].as_array().unwrap_or(&empty);
    let message = match (flash.done.as_deref(), flash.name.as_deref()) {
        (Some(done), Some(name)) => Some(format!("“{name}” {done}.")),
        _ => None,
    };
    let body = html! {
        @if let Some(m) = &message { (notice("ok", m)) }
        section {
            div.section-head {
                h2 { "Campaigns" }
                a.button href="/ui/campaigns/new" { "New campaign" }
            }
            (campaigns_table(&campaigns))
        }
        (missions)
        section {
            div.section-head {
                h2 { "Exclusions" }
                a.button href="/ui/exclusions/new" { "New exclusion" }
            }
            div.table-wrap {
                table #exclusions {
                    thead { tr { th { "Name" } th { "Programs" } th { "Valid" } th { "Conditions" } } }
                    tbody {
                        @for x in exclusions {
                            tr {
                                td { a href={"/ui/exclusions/" (seg(&text(&x["id"])))} { (text(&x["name"])) } }
                                td { @match x["programs"].as_array() {
                                    Some(p) => (p.iter().map(text).collect::<Vec<_>>().join(", ")),
                                    None => "all programs",
                                } }
                                td.nowrap { (dates(&x["valid_from"], &x["valid_until"])) }
                                td.small { (conditions_summary(x)) }
                            }
                        }
                        @if exclusions.is_empty() { tr { td colspan="4" { "No exclusions." } } }
                    }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        page("Campaigns", Some(&s), Nav::Campaigns, body),
    ))
}

pub(crate) async fn new_form<const K: u8>(State(state): State<AppState>, s: Session) -> UiResult {
    let kind = Kind::of(K);
    let programs = programs(&state, &s).await?;
    let draft = Draft {
        kind: "promo".into(),
        priority: "10".into(),
        window_days: "7".into(),
        target_kind: "amount_sgd".into(),
        ..Draft::default()
    };
    Ok(respond(
        StatusCode::OK,
        editor_page(&s, kind, &draft, None, &programs, &[], None),
    ))
}

/// Field errors to show beside their fields, and a banner.
type Refusal = (Vec<(String, String)>, Option<Markup>);

/// What to show when the API refused a write: field errors beside their fields, anything else
/// as a banner. Failures that are not about the form (401, 403, 503) become their own pages.
fn refused(f: ApiFailure, kind: Kind) -> Result<Refusal, UiError> {
    if f.is(StatusCode::UNPROCESSABLE_ENTITY) || f.is(StatusCode::BAD_REQUEST) {
        let errors = f.field_errors();
        let banner = notice(
            "error",
            &format!(
                "The {} was not saved: {}. See the messages beside the fields.",
                kind.noun(),
                f.message
            ),
        );
        return Ok((errors, Some(banner)));
    }
    if f.is(StatusCode::PRECONDITION_FAILED) {
        return Ok((Vec::new(), Some(stale_banner(kind))));
    }
    if f.is(StatusCode::CONFLICT) {
        return Ok((
            Vec::new(),
            Some(notice("error", &format!("Not saved: {}.", f.message))),
        ));
    }
    Err(UiError::Api(f))
}

fn stale_banner(kind: Kind) -> Markup {
    html! {
        div.notice.error.conflict role="alert" {
            strong { "Conflict: this " (kind.noun()) " was changed by someone else after you opened it." }
            " Nothing was saved or overwritten. "
            a href="" { "Reload the current version" } " and make your change again."
        }
    }
}

pub(crate) async fn create<const K: u8>(
    State(state): State<AppState>,
    s: Session,
    Form(fields): Form<Fields>,
) -> UiResult {
    let kind = Kind::of(K);
    let draft = Draft::from_form(&fields);
    let path = format!("/v1/{}", kind.plural());
    match state
        .api
        .send_json(
            Method::POST,
            &path,
            s.token_for(Role::Admin)?,
            &draft.json(kind),
            None,
        )
        .await
    {
        Ok(answer) => Ok(done_redirect("created", &text(&answer.body["name"]))),
        Err(f) => {
            let (errors, banner) = refused(f, kind)?;
            let programs = programs(&state, &s).await?;
            Ok(respond(
                StatusCode::UNPROCESSABLE_ENTITY,
                editor_page(&s, kind, &draft, None, &programs, &errors, banner),
            ))
        }
    }
}

fn done_redirect(done: &str, name: &str) -> Response {
    let q: String = url_query(&[("done", done), ("name", name)]);
    axum::response::IntoResponse::into_response(Redirect::to(&format!("/ui/campaigns?{q}")))
}

pub(crate) fn url_query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", seg(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) async fn edit_form<const K: u8>(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<String>,
) -> UiResult {
    let kind = Kind::of(K);
    let answer = state
        .api
        .get(
            &format!("/v1/{}/{}", kind.plural(), seg(&id)),
            s.token_for(Role::Admin)?,
        )
        .await?;
    let programs = programs(&state, &s).await?;
    let draft = Draft::from_json(&answer.body);
    Ok(respond(
        StatusCode::OK,
        editor_page(
            &s,
            kind,
            &draft,
            answer.etag.as_deref(),
            &programs,
            &[],
            None,
        ),
    ))
}

pub(crate) async fn update<const K: u8>(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> UiResult {
    let kind = Kind::of(K);
    let etag = field(&fields, "etag").to_owned();
    if etag.is_empty() {
        return Err(UiError::BadRequest(
            "the form carries no version (ETag); open the edit page again".into(),
        ));
    }
    let mut draft = Draft::from_form(&fields);
    draft.id = Some(id.clone());
    let path = format!("/v1/{}/{}", kind.plural(), seg(&id));
    match state
        .api
        .send_json(
            Method::PUT,
            &path,
            s.token_for(Role::Admin)?,
            &draft.json(kind),
            Some(&etag),
        )
        .await
    {
        Ok(answer) => Ok(done_redirect("saved", &text(&answer.body["name"]))),
        Err(f) => {
            let status = f.status.unwrap_or(StatusCode::BAD_GATEWAY);
            let (errors, banner) = refused(f, kind)?;
            let programs = programs(&state, &s).await?;
            Ok(respond(
                status,
                editor_page(&s, kind, &draft, Some(&etag), &programs, &errors, banner),
            ))
        }
    }
}

pub(crate) async fn delete<const K: u8>(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> UiResult {
    let kind = Kind::of(K);
    let etag = field(&fields, "etag");
    let path = format!("/v1/{}/{}", kind.plural(), seg(&id));
    match state
        .api
        .delete(&path, s.token_for(Role::Admin)?, etag)
        .await
    {
        Ok(_) => {
            let name = match field(&fields, "name") {
                "" => format!("{} {id}", kind.title()),
                name => name.to_owned(),
            };
            Ok(done_redirect("deleted", &name))
        }
        Err(f) if f.is(StatusCode::PRECONDITION_FAILED) => {
            let answer = state.api.get(&path, s.token_for(Role::Admin)?).await?;
            let programs = programs(&state, &s).await?;
            let draft = Draft::from_json(&answer.body);
            let banner = html! {
                div.notice.error.conflict role="alert" {
                    strong { "Conflict: this " (kind.noun()) " was changed by someone else after you opened it." }
                    " It was not deleted. Below is the current version; delete again if you still mean to."
                }
            };
            Ok(respond(
                StatusCode::PRECONDITION_FAILED,
                editor_page(
                    &s,
                    kind,
                    &draft,
                    answer.etag.as_deref(),
                    &programs,
                    &[],
                    Some(banner),
                ),
            ))
        }
        Err(f) => Err(UiError::Api(f)),
    }
}
