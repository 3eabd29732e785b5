//! Sign-in: paste a token (checked against the API at once), or follow a one-time link that
//! `spend dev` prints. The token then lives in an HttpOnly, SameSite=Strict cookie; sign-out
//! clears it.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use crate::api::seg;
use crate::layout::{notice, page, respond, Nav};
use crate::session::{self, Role, Session, Token};
use crate::AppState;

pub(crate) fn form(error: Option<&str>) -> Markup {
    form_for(None, error)
}

fn form_for(current: Option<&Session>, error: Option<&str>) -> Markup {
    page(
        "Sign in",
        current,
        Nav::None,
        html! {
            @if let Some(e) = error { (notice("error", e)) }
            @if let Some(s) = current {
                div.card.narrow {
                    p { "Signed in as " strong { (s.label()) } "." }
                    p.hint { "Add a token of another role below (an admin token for campaigns and "
                             "lookups, a bank token for uploads), or sign out." }
                }
            }
            form.card.narrow method="post" action="/ui/signin" {
                label for="token" { "Your API token" }
                textarea #token name="token" rows="5" required autocomplete="off"
                    spellcheck="false" placeholder="eyJ…" {}
                p.hint { "Paste the token you were given (an admin, bank or customer token). "
                         "Under spend dev, the sign-in link printed at start signs you in directly." }
                button type="submit" { "Sign in" }
            }
        },
    )
}

pub(crate) async fn show(headers: HeaderMap) -> Response {
    respond(StatusCode::OK, form_for(current(&headers).as_ref(), None))
}

fn current(headers: &HeaderMap) -> Option<Session> {
    session::token_of(headers).and_then(|v| Session::from_cookie(&v))
}

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    token: String,
}

pub(crate) async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    let now = current(&headers);
    let token = match Token::parse(&f.token) {
        Ok(t) => t,
        Err(e) => return respond(StatusCode::BAD_REQUEST, form_for(now.as_ref(), Some(&e))),
    };
    if let Err(e) = check_with_api(&state, &token).await {
        return respond(StatusCode::UNAUTHORIZED, form_for(now.as_ref(), Some(&e)));
    }
    let session = match now {
        Some(s) => s.with(token),
        None => Session {
            tokens: vec![token],
        },
    };
    signed_in(&session, state.secure_cookie)
}

/// Asks the API whether it accepts the token, with one read the role may make (or be refused
/// with 403/404, which still means the token itself is good).
async fn check_with_api(state: &AppState, s: &Token) -> Result<(), String> {
    let nil = "00000000-0000-4000-8000-000000000000";
    let path = match s.role {
        Role::Admin => "/v1/programs".to_owned(),
        Role::Bank => format!("/v1/batches/{nil}"),
        Role::Customer => match s.cards.first() {
            Some(card) => format!("/v1/cards/{}/summary", seg(card)),
            None => format!("/v1/cards/{nil}/summary"),
        },
    };
    match state.api.get(&path, &s.token).await {
        Ok(_) => Ok(()),
        Err(f) if f.is(StatusCode::UNAUTHORIZED) => {
            Err(format!("The API refused this token: {}.", f.message))
        }
        Err(f) if f.status.is_none() => Err(format!("{}.", f.message)),
        Err(_) => Ok(()),
    }
}

fn signed_in(session: &Session, secure: bool) -> Response {
    (
        [(header::SET_COOKIE, session::set_cookie(session, secure))],
        Redirect::to("/"),
    )
        .into_response()
}

pub(crate) async fn one_time(State(state): State<AppState>, Path(code): Path<String>) -> Response {
    match state.links.redeem(&code) {
        Some(tokens) => match Session::from_cookie(&tokens) {
            Some(s) => signed_in(&s, state.secure_cookie),
            None => respond(
                StatusCode::GONE,
                form(Some(
                    "The tokens of this sign-in link have expired. Paste a token instead.",
                )),
            ),
        },
        None => respond(
            StatusCode::GONE,
            form(Some(
                "This sign-in link was already used or is unknown: a link works once. \
                 Paste a token instead.",
            )),
        ),
    }
}

pub(crate) async fn signout() -> Response {
    (
        [(header::SET_COOKIE, session::clear_cookie())],
        Redirect::to("/ui/signin"),
    )
        .into_response()
}
