//! Checking a request's bearer token: its signature against the configured keys, then its claims.

use axum::http::{header, HeaderMap};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use uuid::Uuid;

use super::{now_secs, JwtAuthenticator, LEEWAY_SECS};
use crate::auth::{Authenticator, Principal, Role};
use crate::error::ApiError;

/// Why a request's token was refused; each is a 401 whose `error` is the message.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum TokenError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm is not accepted")]
    Algorithm,
    #[error("bad signature")]
    BadSignature,
    #[error("token has no expiry")]
    NoExpiry,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token audience is not accepted")]
    Audience,
    #[error("unknown role")]
    UnknownRole,
    #[error("the cards claim must list card ids")]
    BadCards,
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        ApiError::unauthorized(e.to_string())
    }
}

/// The claims this module reads. Time claims are read here rather than by `jsonwebtoken`, so the
/// leeway and the messages are this module's own.
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    cards: Option<Vec<String>>,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    nbf: Option<u64>,
}

impl JwtAuthenticator {
    /// Checks `token` now.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        self.verify_at(token, now_secs())
    }

    /// Checks `token` as of `now` (seconds since the Unix epoch).
    pub fn verify_at(&self, token: &str, now: u64) -> Result<Principal, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let (key, validation) = match header.alg {
            Algorithm::HS256 => (self.hs256.as_ref(), &self.hs256_validation),
            Algorithm::RS256 => (self.rs256.as_ref(), &self.rs256_validation),
            _ => (None, &self.hs256_validation),
        };
        let key = key.ok_or(TokenError::Algorithm)?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, validation)
            .map_err(|e| token_error(e.kind()))?
            .claims;
        let exp = claims.exp.ok_or(TokenError::NoExpiry)?;
        if exp.saturating_add(LEEWAY_SECS) < now {
            return Err(TokenError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS))
        {
            return Err(TokenError::NotYetValid);
        }
        let role = claims
            .role
            .as_deref()
            .and_then(Role::parse)
            .ok_or(TokenError::UnknownRole)?;
        let cards = match role {
            Role::Customer => claims
                .cards
                .unwrap_or_default()
                .iter()
                .map(|c| parse_card(c))
                .collect::<Option<Vec<Uuid>>>()
                .ok_or(TokenError::BadCards)?,
            // Only a customer is limited to cards; anything else in the claim means nothing.
            Role::Admin | Role::Bank | Role::Service => Vec::new(),
        };
        Ok(Principal {
            subject: claims.sub.unwrap_or_default(),
            role,
            cards,
        })
    }
}

/// A card id as API.md writes ids: 36 characters `8-4-4-4-12` (either case is accepted).
fn parse_card(s: &str) -> Option<Uuid> {
    let b = s.as_bytes();
    let shaped = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    shaped.then(|| Uuid::try_parse(s).ok()).flatten()
}

fn token_error(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => TokenError::Algorithm,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidAudience => TokenError::Audience,
        ErrorKind::MissingRequiredClaim(c) if c == "exp" => TokenError::NoExpiry,
        _ => TokenError::Malformed,
    }
}

/// The bearer token of a request, if the `Authorization` header carries one.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, TokenError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(TokenError::Missing)?
        .to_str()
        .map_err(|_| TokenError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(TokenError::Missing)?;
    // RFC 9110 §11.1: the scheme is case-insensitive.
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    Ok(token)
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let token = bearer_token(headers)?;
        Ok(self.verify(token)?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_keys::*;
    use super::super::{JwtMinter, JwtSecret};
    use super::*;
    use axum::http::HeaderValue;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;
    use std::path::Path;

    const NOW: u64 = 1_700_000_000;

    fn claims(extra: serde_json::Value) -> serde_json::Value {
        let mut c = json!({"role": "admin", "exp": NOW + 600});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    #[test]
    fn minted_tokens_are_accepted_with_both_algorithms() {
        let card = Uuid::from_u128(42);
        for minter in [JwtMinter::hs256(&secret(b'a')), rs_minter(PRIVATE)] {
            let token = minter.mint(&spec(Role::Customer, vec![card])).unwrap();
            let p = both().verify(&token).unwrap();
            assert_eq!(p.role, Role::Customer);
            assert_eq!(p.cards, vec![card]);
            assert_eq!(p.subject, "tester");
            let token = minter.mint(&spec(Role::Bank, vec![card])).unwrap();
            let p = both().verify(&token).unwrap();
            assert_eq!((p.role, p.cards), (Role::Bank, vec![]));
        }
    }

    #[test]
    fn wrong_keys_are_bad_signatures() {
        let token = JwtMinter::hs256(&secret(b'b'))
            .mint(&spec(Role::Admin, vec![]))
            .unwrap();
        assert_eq!(both().verify(&token), Err(TokenError::BadSignature));
        let token = rs_minter(OTHER_PRIVATE)
            .mint(&spec(Role::Admin, vec![]))
            .unwrap();
        assert_eq!(both().verify(&token), Err(TokenError::BadSignature));
        // A tampered payload under a valid signature.
        let token = JwtMinter::hs256(&secret(b'a'))
            .mint(&spec(Role::Customer, vec![Uuid::from_u128(1)]))
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = JwtMinter::hs256(&secret(b'a'))
            .mint(&spec(Role::Admin, vec![]))
            .unwrap();
        let forged_payload = forged.split('.').nth(1).unwrap();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(both().verify(&tampered), Err(TokenError::BadSignature));
    }

    #[test]
    fn algorithm_is_pinned_to_the_configured_keys() {
        // RS256 token, but only HS256 is configured.
        let hs_only = JwtAuthenticator::hs256(&secret(b'a'));
        let token = rs_minter(PRIVATE).mint(&spec(Role::Admin, vec![])).unwrap();
        assert_eq!(hs_only.verify(&token), Err(TokenError::Algorithm));
        // The classic confusion: HS256 signed with the RSA public key's text as the secret.
        let rs_only =
            JwtAuthenticator::rs256_pem(PUBLIC.as_bytes(), Path::new("public.pem")).unwrap();
        let confused = JwtMinter::hs256(&JwtSecret::new(PUBLIC.as_bytes()).unwrap())
            .mint(&spec(Role::Admin, vec![]))
            .unwrap();
        assert_eq!(rs_only.verify(&confused), Err(TokenError::Algorithm));
        // `alg: none`.
        let b64 = |v: serde_json::Value| {
            let s = v.to_string();
            base64url(s.as_bytes())
        };
        let none = format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT"})),
            b64(claims(json!({})))
        );
        assert_eq!(both().verify(&none), Err(TokenError::Malformed));
        // HS512 is never configured.
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims(json!({})),
            &EncodingKey::from_secret(&[b'a'; 32]),
        )
        .unwrap();
        assert_eq!(both().verify(&hs512), Err(TokenError::Algorithm));
    }

    fn base64url(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(char::from(A[(n >> (18 - 6 * i)) as usize & 63]));
            }
        }
        out
    }

    #[test]
    fn time_claims_with_leeway() {
        let m = JwtMinter::hs256(&secret(b'a'));
        let auth = both();
        let at = |extra: serde_json::Value, now: u64| {
            auth.verify_at(&m.mint_claims(&claims(extra)).unwrap(), now)
                .map(|p| p.role)
        };
        assert_eq!(at(json!({"exp": null}), NOW), Err(TokenError::NoExpiry));
        assert_eq!(at(json!({"exp": "soon"}), NOW), Err(TokenError::Malformed));
        assert_eq!(at(json!({"exp": NOW - 31}), NOW), Err(TokenError::Expired));
        assert_eq!(at(json!({"exp": NOW - 30}), NOW), Ok(Role::Admin));
        assert_eq!(
            at(json!({"nbf": NOW + 31}), NOW),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(at(json!({"nbf": NOW + 30}), NOW), Ok(Role::Admin));
        assert_eq!(at(json!({"nbf": NOW - 1000}), NOW), Ok(Role::Admin));
        // The real clock: a token minted now is valid now.
        let token = m.mint(&spec(Role::Admin, vec![])).unwrap();
        assert!(auth.verify(&token).is_ok());
    }

    #[test]
    fn role_and_cards_claims() {
        let m = JwtMinter::hs256(&secret(b'a'));
        let at = |extra: serde_json::Value| {
            both()
                .verify_at(&m.mint_claims(&claims(extra)).unwrap(), NOW)
                .map(|p| (p.role, p.cards))
        };
        assert_eq!(at(json!({"role": null})), Err(TokenError::UnknownRole));
        assert_eq!(at(json!({"role": "root"})), Err(TokenError::UnknownRole));
        assert_eq!(at(json!({"role": "Admin"})), Err(TokenError::UnknownRole));
        let card = "00000000-0000-4000-8000-0000000000AB";
        assert_eq!(
            at(json!({"role": "customer", "cards": [card]})),
            Ok((
                Role::Customer,
                vec![Uuid::from_u128(0x4000_8000_0000_0000_00ab)]
            ))
        );
        assert_eq!(
            at(json!({"role": "customer"})),
            Ok((Role::Customer, vec![]))
        );
        // A service is limited to no card; a cards claim on it means nothing.
        assert_eq!(
            at(json!({"role": "service", "cards": [card]})),
            Ok((Role::Service, vec![]))
        );
        for bad in [json!(["nope"]), json!(["0000000000004000800000000000000a"])] {
            assert_eq!(
                at(json!({"role": "customer", "cards": bad})),
                Err(TokenError::BadCards)
            );
        }
        assert_eq!(
            at(json!({"role": "customer", "cards": "x"})),
            Err(TokenError::Malformed)
        );
        assert_eq!(at(json!({"aud": "elsewhere"})), Err(TokenError::Audience));
    }

    #[test]
    fn bearer_header_parsing() {
        let auth = both();
        let token = JwtMinter::hs256(&secret(b'a'))
            .mint(&spec(Role::Bank, vec![]))
            .unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(
            auth.authenticate(&h).unwrap_err().error,
            "missing bearer token"
        );
        for (value, expected) in [
            ("Basic dXNlcjpwYXNz", "missing bearer token"),
            ("Bearer ", "missing bearer token"),
            ("Bearer", "missing bearer token"),
            ("Bearer not.a.jwt", "malformed token"),
            ("Bearer garbage", "malformed token"),
        ] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            let e = auth.authenticate(&h).unwrap_err();
            assert_eq!((e.status.as_u16(), e.error.as_str()), (401, expected));
        }
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("bearer {token}")).unwrap(),
        );
        assert_eq!(auth.authenticate(&h).unwrap().role, Role::Bank);
        // Errors never echo the token.
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}x")).unwrap(),
        );
        let e = auth.authenticate(&h).unwrap_err();
        assert!(!e.body().to_string().contains(&token[..20]));
    }
}
