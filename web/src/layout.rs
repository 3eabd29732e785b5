//! The page shell (header, navigation, sign-out), the shared bits of markup, and the error pages:
//! every failure reaches the user as a page saying what happened, never a blank page.

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use crate::api::ApiFailure;
use crate::session::{self, Role, Session};

/// Which navigation entry is the current page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Nav {
    Home,
    Campaigns,
    DryRun,
    Uploads,
    Cards,
    Notifications,
    None,
}

/// A whole page.
pub(crate) fn page(title: &str, session: Option<&Session>, active: Nav, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · spend" }
                link rel="stylesheet" href="/ui/assets/app.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { span.logo aria-hidden="true" { "◆" } " spend" }
                    @if let Some(s) = session {
                        nav aria-label="Main" {
                            ul {
                                (nav_item("/", "Overview", active == Nav::Home))
                                @if s.has(Role::Admin) {
                                    (nav_item("/ui/campaigns", "Campaigns", active == Nav::Campaigns))
                                    (nav_item("/ui/dry-run", "Dry run", active == Nav::DryRun))
                                }
                                @if s.has(Role::Admin) || s.has(Role::Bank) {
                                    (nav_item("/ui/uploads", "Uploads", active == Nav::Uploads))
                                }
                                @if s.has(Role::Admin) {
                                    (nav_item("/ui/cards", "Cards", active == Nav::Cards))
                                }
                                @if s.has(Role::Customer) {
                                    (nav_item("/ui/notifications", "Notifications", active == Nav::Notifications))
                                }
                            }
                        }
                        form.signout method="post" action="/ui/signout" {
                            a.who href="/ui/signin" title="Signed in as; add another token" { (s.label()) }
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn nav_item(href: &str, label: &str, current: bool) -> Markup {
    html! {
        li {
            @if current {
                a href=(href) aria-current="page" { (label) }
            } @else {
                a href=(href) { (label) }
            }
        }
    }
}

/// A page as a response.
pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// A notice box: `kind` is `ok`, `error` or `warn`.
pub(crate) fn notice(kind: &str, text: &str) -> Markup {
    let role = if kind == "ok" { "status" } else { "alert" };
    html! { p class={"notice " (kind)} role=(role) { (text) } }
}

/// A `<progress>` with its percentage written beside it.
pub(crate) fn progress(id: &str, percent: u64) -> Markup {
    html! {
        div.progress {
            progress id=(id) max="100" value=(percent) aria-label="Progress" { (percent) " %" }
            span.pct data-for=(id) { (percent) " %" }
        }
    }
}

/// A `<progress>` named by the element `labelled_by` and read out as `value_text` (e.g. "80.00
/// of 100.00 SGD"), with its percentage written beside it.
pub(crate) fn labelled_progress(
    id: &str,
    percent: u64,
    labelled_by: &str,
    value_text: &str,
) -> Markup {
    html! {
        div.progress {
            progress id=(id) max="100" value=(percent) aria-labelledby=(labelled_by)
                aria-valuetext=(value_text) { (value_text) }
            span.pct aria-hidden="true" { (percent) " %" }
        }
    }
}

/// A PAN as shown: the API serves masked PANs only; anything that still looks like a full PAN is
/// masked here too, so no page can ever show one.
pub(crate) fn masked_pan(pan: &str) -> String {
    let digits: String = pan.chars().filter(|c| c.is_ascii_digit()).collect();
    if pan.contains('*') || digits.len() < 13 {
        return pan.to_owned();
    }
    let (first, last) = (&digits[..6], &digits[digits.len() - 4..]);
    format!("{first}{}{last}", "*".repeat(digits.len() - 10))
}

/// What can go wrong in a page handler.
#[derive(Debug)]
pub(crate) enum UiError {
    /// The API refused or failed.
    Api(ApiFailure),
    /// The form or link itself is unusable.
    BadRequest(String),
    /// The page needs a token of this role, and the session holds none.
    NeedsRole(Role),
}

impl From<ApiFailure> for UiError {
    fn from(f: ApiFailure) -> Self {
        UiError::Api(f)
    }
}

pub(crate) type UiResult<T = Response> = Result<T, UiError>;

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::NeedsRole(role) => error_page(
                StatusCode::FORBIDDEN,
                "403 — not allowed",
                &format!(
                    "This page needs a {} token, and you are not signed in with one. \
                     Add one on the sign-in page (you may hold an admin and a bank token at once).",
                    role.as_str()
                ),
            ),
            UiError::BadRequest(message) => error_page(
                StatusCode::BAD_REQUEST,
                "That request cannot be used",
                &message,
            ),
            UiError::Api(f) => match f.status {
                None => error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The API is not reachable",
                    &format!("{}. Try again in a moment.", f.message),
                ),
                Some(StatusCode::UNAUTHORIZED) => {
                    let mut r = respond(
                        StatusCode::UNAUTHORIZED,
                        crate::pages::signin::form(Some(&format!(
                            "The API refused your token ({}). Sign in again.",
                            f.message
                        ))),
                    );
                    if let Ok(v) = session::clear_cookie().parse() {
                        r.headers_mut().insert(header::SET_COOKIE, v);
                    }
                    r
                }
                Some(StatusCode::FORBIDDEN) => error_page(
                    StatusCode::FORBIDDEN,
                    "403 — not allowed",
                    &format!(
                        "Your sign-in does not allow this: {}. Sign in with a token that does, \
                         or go back to your overview.",
                        f.message
                    ),
                ),
                Some(StatusCode::NOT_FOUND) => {
                    error_page(StatusCode::NOT_FOUND, "Not found", &f.message)
                }
                Some(s) if s.is_server_error() => error_page(
                    StatusCode::BAD_GATEWAY,
                    "The API could not answer",
                    &format!(
                        "{} (status {}). Try again in a moment.",
                        f.message,
                        s.as_u16()
                    ),
                ),
                Some(s) => error_page(s, "The API refused this", &f.message),
            },
        }
    }
}

/// An error page's content, kept on its response so that [`with_session_header`] can render it
/// again with the signed-in user's navigation.
#[derive(Clone, Debug)]
pub(crate) struct ErrorPage {
    title: String,
    message: String,
}

fn error_markup(session: Option<&Session>, e: &ErrorPage) -> Markup {
    page(
        &e.title,
        session,
        Nav::None,
        html! {
            (notice("error", &e.message))
            p.links {
                a href="/" { "Back to the overview" }
                a href="/ui/signin" { "Sign in with another token" }
            }
        },
    )
}

pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let e = ErrorPage {
        title: title.to_owned(),
        message: message.to_owned(),
    };
    let mut r = respond(status, error_markup(None, &e));
    r.extensions_mut().insert(e);
    r
}

/// Middleware: an error page gets the header of the user signed in (navigation, sign-out), so
/// that a 403 or 404 is a page of the product, not a dead end.
pub(crate) async fn with_session_header(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let session = session::token_of(req.headers()).and_then(|v| Session::from_cookie(&v));
    let response = next.run(req).await;
    let (Some(s), Some(e)) = (session, response.extensions().get::<ErrorPage>().cloned()) else {
        return response;
    };
    let mut again = respond(response.status(), error_markup(Some(&s), &e));
    for (name, value) in response.headers() {
        if name == header::SET_COOKIE {
            again.headers_mut().append(name, value.clone());
        }
    }
    again
}

/// The stylesheet and the one small script, served by this crate (no CDN).
pub(crate) const CSS: &str = include_str!("../assets/app.css");
pub(crate) const UPLOAD_JS: &str = include_str!("../assets/upload.js");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_pans_are_masked() {
        assert_eq!(masked_pan("411111******1111"), "411111******1111");
        assert_eq!(masked_pan("4111 1111 1111 1111"), "411111******1111");
        assert_eq!(masked_pan("1234"), "1234");
    }
}
