//! Who is signed in: the API token, kept in an HttpOnly, SameSite=Strict cookie, and what its
//! claims say (role, cards) — read, not verified: the API verifies the token on every call, and
//! the claims only decide which pages and links the dashboard offers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use rand::Rng;
use serde::Deserialize;

/// The cookie holding the token.
pub(crate) const COOKIE: &str = "spend_session";

/// The role claim, as the API names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    Admin,
    Bank,
    Customer,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Bank => "bank",
            Role::Customer => "customer",
        }
    }
}

/// One token and what its claims say.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) token: String,
    pub(crate) role: Role,
    /// For a customer: the card ids the token lists.
    pub(crate) cards: Vec<String>,
    pub(crate) subject: String,
}

/// A signed-in user: one token per role at most (an operator may hold an admin token for
/// configuration and lookups and a bank token for uploads, as `spend dev` hands out).
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) tokens: Vec<Token>,
}

#[derive(Deserialize)]
struct Claims {
    role: String,
    #[serde(default)]
    cards: Vec<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<u64>,
}

/// Separates the tokens in the cookie: not in the base64url alphabet, nor `.`.
const SEPARATOR: char = '~';

impl Token {
    /// Reads a token's claims. `Err` is a sentence for the sign-in page.
    pub(crate) fn parse(token: &str) -> Result<Token, String> {
        let token = token.trim();
        let mut parts = token.split('.');
        let (Some(_), Some(payload), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("this is not a token: a token has three parts separated by dots".into());
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| "this is not a token: its claims are not base64url".to_owned())?;
        let claims: Claims = serde_json::from_slice(&bytes)
            .map_err(|_| "this is not a token of this product: it has no role claim".to_owned())?;
        let role = match claims.role.as_str() {
            "admin" => Role::Admin,
            "bank" => Role::Bank,
            "customer" => Role::Customer,
            other => return Err(format!("the dashboard has no pages for role {other:?}")),
        };
        if let Some(exp) = claims.exp {
            let now = chrono::Utc::now().timestamp().max(0) as u64;
            if exp <= now {
                return Err("this token has expired: ask for a new one".into());
            }
        }
        Ok(Token {
            token: token.to_owned(),
            role,
            cards: claims.cards.iter().map(|c| c.to_lowercase()).collect(),
            subject: claims.sub.unwrap_or_else(|| role.as_str().to_owned()),
        })
    }
}

impl Session {
    /// The session in a cookie value; tokens that no longer parse (expired) are dropped.
    pub(crate) fn from_cookie(value: &str) -> Option<Session> {
        let tokens: Vec<Token> = value
            .split(SEPARATOR)
            .filter_map(|t| Token::parse(t).ok())
            .collect();
        (!tokens.is_empty()).then_some(Session { tokens })
    }

    pub(crate) fn cookie_value(&self) -> String {
        let tokens: Vec<&str> = self.tokens.iter().map(|t| t.token.as_str()).collect();
        tokens.join(&SEPARATOR.to_string())
    }

    /// This session with `token` added, replacing one of the same role.
    pub(crate) fn with(mut self, token: Token) -> Session {
        self.tokens.retain(|t| t.role != token.role);
        self.tokens.push(token);
        self.tokens.sort_by_key(|t| t.role as u8);
        self
    }

    pub(crate) fn get(&self, role: Role) -> Option<&Token> {
        self.tokens.iter().find(|t| t.role == role)
    }

    pub(crate) fn has(&self, role: Role) -> bool {
        self.get(role).is_some()
    }

    /// The token for `role`, or a page saying the user needs one.
    pub(crate) fn token_for(&self, role: Role) -> Result<&str, crate::layout::UiError> {
        self.get(role)
            .map(|t| t.token.as_str())
            .ok_or(crate::layout::UiError::NeedsRole(role))
    }

    /// The token that reads cards: an admin's, else a customer's.
    pub(crate) fn card_reader(&self) -> Result<&str, crate::layout::UiError> {
        self.get(Role::Admin)
            .or_else(|| self.get(Role::Customer))
            .map(|t| t.token.as_str())
            .ok_or(crate::layout::UiError::NeedsRole(Role::Admin))
    }

    /// Who is signed in, for the header.
    pub(crate) fn label(&self) -> String {
        let parts: Vec<String> = self
            .tokens
            .iter()
            .map(|t| format!("{} ({})", t.subject, t.role.as_str()))
            .collect();
        parts.join(", ")
    }
}

/// The token in the request's cookie, if any.
pub(crate) fn token_of(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=') {
                if name == COOKIE && !value.is_empty() {
                    return Some(value.to_owned());
                }
            }
        }
    }
    None
}

/// `Set-Cookie` for a session. `Secure` when the dashboard is served over HTTPS.
pub(crate) fn set_cookie(session: &Session, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    let value = session.cookie_value();
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

/// `Set-Cookie` that signs out.
pub(crate) fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Pages that need a user take a `Session`; without a usable cookie the browser is sent to the
/// sign-in page.
impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        token_of(&parts.headers)
            .and_then(|t| Session::from_cookie(&t))
            .ok_or_else(|| Redirect::to("/ui/signin").into_response())
    }
}

/// One-time sign-in links (`spend dev` only): a random code that stands for a token until it is
/// used once.
#[derive(Clone, Default, Debug)]
pub struct SignInLinks {
    codes: Arc<Mutex<HashMap<String, String>>>,
}

impl SignInLinks {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new code that signs in with `tokens` (e.g. an admin's and a bank's); the link is
    /// `/ui/signin/{code}`.
    pub fn issue(&self, tokens: &[&str]) -> String {
        let mut bytes = [0u8; 24];
        rand::thread_rng().fill(&mut bytes);
        let code = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let value = tokens.join(&SEPARATOR.to_string());
        self.lock().insert(code.clone(), value);
        code
    }

    /// The token of `code`, once: the code is gone afterwards.
    pub(crate) fn redeem(&self, code: &str) -> Option<String> {
        self.lock().remove(code)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A panic while holding this lock cannot leave the map half-changed.
        self.codes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: &str) -> String {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            e.encode(r#"{"alg":"HS256"}"#),
            e.encode(claims)
        )
    }

    #[test]
    fn claims_are_read() {
        let s = Token::parse(&token(
            r#"{"role":"customer","cards":["AB-1"],"sub":"c1","exp":99999999999}"#,
        ))
        .unwrap();
        assert_eq!(s.role, Role::Customer);
        assert_eq!(s.cards, vec!["ab-1"]);
        assert_eq!(s.subject, "c1");
    }

    #[test]
    fn bad_tokens_are_explained() {
        assert!(Token::parse("nope").unwrap_err().contains("three parts"));
        assert!(Token::parse(&token(r#"{"role":"service"}"#))
            .unwrap_err()
            .contains("no pages"));
        assert!(Token::parse(&token(r#"{"role":"admin","exp":1}"#))
            .unwrap_err()
            .contains("expired"));
    }

    #[test]
    fn a_session_holds_one_token_per_role() {
        let admin = Token::parse(&token(r#"{"role":"admin","sub":"a1"}"#)).unwrap();
        let bank = Token::parse(&token(r#"{"role":"bank","sub":"b1"}"#)).unwrap();
        let admin2 = Token::parse(&token(r#"{"role":"admin","sub":"a2"}"#)).unwrap();
        let s = Session { tokens: vec![bank] }.with(admin).with(admin2);
        assert_eq!(s.tokens.len(), 2);
        assert_eq!(s.get(Role::Admin).unwrap().subject, "a2");
        let back = Session::from_cookie(&s.cookie_value()).unwrap();
        assert_eq!(back.label(), "a2 (admin), b1 (bank)");
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; spend_session=t.o.k; b=2".parse().unwrap(),
        );
        assert_eq!(token_of(&h).as_deref(), Some("t.o.k"));
    }

    #[test]
    fn a_link_works_once() {
        let links = SignInLinks::new();
        let code = links.issue(&["tok"]);
        assert_eq!(links.redeem(&code).as_deref(), Some("tok"));
        assert_eq!(links.redeem(&code), None);
    }
}
