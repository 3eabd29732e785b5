//! The cardholder's notification settings (`/v1/me/notifications`): whether to get email at all,
//! and how often a digest of new rewards goes out. Read and saved through the API with the
//! customer token; a save redirects to the page with a "saved" notice, a refusal shows the form
//! again with the API's message beside the field it names.

use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::ApiFailure;
use crate::layout::{notice, page, respond, Nav, UiResult};
use crate::pages::config_form::errors_for;
use crate::session::{Role, Session};
use crate::AppState;

/// The API route.
pub(crate) const API_PATH: &str = "/v1/me/notifications";

/// The digest choices, as the API names them, with what the page calls them.
const DIGESTS: [(&str, &str, &str); 4] = [
    ("off", "No digest", "No summary emails."),
    (
        "daily",
        "Daily",
        "One email a day with the rewards of the day before.",
    ),
    (
        "weekly",
        "Weekly",
        "One email a week with the week's rewards.",
    ),
    (
        "monthly",
        "Monthly",
        "One email a month with the month's rewards.",
    ),
];

/// Settings as the form shows them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Settings {
    pub(crate) email: bool,
    pub(crate) digest: String,
}

impl Settings {
    pub(crate) fn from_json(v: &Value) -> Settings {
        Settings {
            email: v["email"].as_bool().unwrap_or(false),
            digest: v["digest"].as_str().unwrap_or("").to_owned(),
        }
    }

    /// One line for the overview: "Email on · weekly digest".
    pub(crate) fn summary(&self) -> String {
        if !self.email {
            return "Email off: no email is sent to you.".into();
        }
        let digest = match self.digest.as_str() {
            "off" => "no digest".to_owned(),
            other => format!("{other} digest"),
        };
        format!("Email on · {digest}.")
    }
}

#[derive(Deserialize)]
pub(crate) struct Flash {
    saved: Option<String>,
}

pub(crate) async fn show(
    State(state): State<AppState>,
    s: Session,
    Query(flash): Query<Flash>,
) -> UiResult {
    let token = s.token_for(Role::Customer)?;
    let current = match state.api.get(API_PATH, token).await {
        Ok(a) => Settings::from_json(&a.body),
        Err(f) if f.is(StatusCode::NOT_FOUND) => return Ok(not_served(&s)),
        Err(f) => return Err(f.into()),
    };
    let banner = flash.saved.is_some().then(|| {
        notice(
            "ok",
            &format!(
                "Your notification settings are saved. {}",
                current.summary()
            ),
        )
    });
    Ok(respond(
        StatusCode::OK,
        settings_page(&s, &current, banner, &[]),
    ))
}

#[derive(Deserialize)]
pub(crate) struct SettingsForm {
    /// A checkbox: present ("on") when ticked, absent otherwise.
    email: Option<String>,
    digest: Option<String>,
}

pub(crate) async fn save(
    State(state): State<AppState>,
    s: Session,
    Form(f): Form<SettingsForm>,
) -> UiResult {
    let token = s.token_for(Role::Customer)?;
    let wanted = Settings {
        email: f.email.is_some(),
        digest: f.digest.unwrap_or_default(),
    };
    let body = json!({"email": wanted.email, "digest": wanted.digest});
    match state
        .api
        .send_json(Method::PUT, API_PATH, token, &body, None)
        .await
    {
        Ok(_) => Ok(Redirect::to("/ui/notifications?saved=1").into_response()),
        Err(f) if f.is(StatusCode::NOT_FOUND) => Ok(not_served(&s)),
        Err(f) if f.is(StatusCode::UNPROCESSABLE_ENTITY) => Ok(refused(&s, &wanted, &f)),
        Err(f) => Err(f.into()),
    }
}

/// The form again, with what the API said was wrong.
fn refused(s: &Session, wanted: &Settings, f: &ApiFailure) -> axum::response::Response {
    let banner = notice(
        "error",
        &format!(
            "Nothing was saved: the API refused these settings ({}).",
            f.message
        ),
    );
    respond(
        StatusCode::UNPROCESSABLE_ENTITY,
        settings_page(s, wanted, Some(banner), &f.field_errors()),
    )
}

fn not_served(s: &Session) -> axum::response::Response {
    respond(
        StatusCode::NOT_FOUND,
        page(
            "Notification settings",
            Some(s),
            Nav::Notifications,
            notice(
                "warn",
                "This API does not keep notification settings (no /v1/me/notifications).",
            ),
        ),
    )
}

fn settings_page(
    s: &Session,
    current: &Settings,
    banner: Option<Markup>,
    errors: &[(String, String)],
) -> Markup {
    let digest_described = if errors.iter().any(|(f, _)| f == "digest") {
        "digest-hint err-digest"
    } else {
        "digest-hint"
    };
    page(
        "Notification settings",
        Some(s),
        Nav::Notifications,
        html! {
            @if let Some(b) = banner { (b) }
            form.card.narrow #notification-settings method="post" action="/ui/notifications" {
                p.hint { "These settings are yours: they cover every card of your sign-in." }
                fieldset {
                    legend { "Email" }
                    label.check.switch for="email" {
                        input #email type="checkbox" name="email" value="on" checked[current.email]
                            aria-describedby="email-hint";
                        "Send me email about my rewards"
                    }
                    p.hint #email-hint { "Off: no email of any kind. The digest you choose below is kept for when you switch email on again." }
                    (errors_for(errors, "email"))
                }
                fieldset #digest aria-describedby=(digest_described) {
                    legend { "Digest of new rewards" }
                    p.hint #digest-hint { "How often a summary of your new rewards is emailed, while email is on." }
                    div.choices {
                        @for (value, label, hint) in DIGESTS {
                            @let id = format!("digest-{value}");
                            label.choice for=(id) {
                                input id=(id) type="radio" name="digest" value=(value)
                                    checked[current.digest == value];
                                span { strong { (label) } span.hint { (hint) } }
                            }
                        }
                    }
                    (errors_for(errors, "digest"))
                }
                @for (field, message) in errors.iter().filter(|(f, _)| f != "email" && f != "digest") {
                    p.field-error role="alert" { @if !field.is_empty() { (field) ": " } (message) }
                }
                div.actions {
                    button type="submit" { "Save settings" }
                    a.button.secondary href="/" { "Back to your cards" }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_summed_up() {
        let s = Settings::from_json(&json!({"email": true, "digest": "weekly"}));
        assert_eq!(s.summary(), "Email on · weekly digest.");
        let s = Settings::from_json(&json!({"email": true, "digest": "off"}));
        assert_eq!(s.summary(), "Email on · no digest.");
        let s = Settings::from_json(&json!({"email": false, "digest": "daily"}));
        assert!(s.summary().starts_with("Email off"));
    }
}
