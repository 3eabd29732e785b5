//! Signing tokens: `spend token`, `spend dev`'s admin token, and tests.

use std::fmt;
use std::path::Path;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use uuid::Uuid;

use super::{now_secs, ConfigError, JwtSecret};
use crate::auth::Role;

/// What a minted token says.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TokenSpec {
    pub role: Role,
    /// For a customer: the cards it may read.
    pub cards: Vec<Uuid>,
    /// Claim `sub`, when given.
    pub subject: Option<String>,
    /// Seconds from now until `exp`.
    pub ttl_secs: u64,
}

#[derive(Serialize)]
struct MintedClaims<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    role: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cards: Vec<String>,
    iat: u64,
    nbf: u64,
    exp: u64,
}

/// Signs tokens: HS256 with a secret, or RS256 with a private key. Its `Debug` shows no key.
pub struct JwtMinter {
    key: EncodingKey,
    alg: Algorithm,
}

impl fmt::Debug for JwtMinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtMinter")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl JwtMinter {
    pub fn hs256(secret: &JwtSecret) -> Self {
        Self {
            key: EncodingKey::from_secret(secret.as_bytes()),
            alg: Algorithm::HS256,
        }
    }

    /// `pem`: an RSA private key, PKCS#1 or PKCS#8. `path` only names it in errors.
    pub fn rs256_pem(pem: &[u8], path: &Path) -> Result<Self, ConfigError> {
        let bad = |reason: String| ConfigError::BadKey {
            path: path.to_owned(),
            what: "rsa private key",
            reason,
        };
        let key = EncodingKey::from_rsa_pem(pem).map_err(|e| bad(e.to_string()))?;
        jsonwebtoken::crypto::sign(b"probe", &key, Algorithm::RS256)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            key,
            alg: Algorithm::RS256,
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// A token valid from now for `spec.ttl_secs`.
    pub fn mint(&self, spec: &TokenSpec) -> Result<String, ConfigError> {
        let now = now_secs();
        let cards = match spec.role {
            Role::Customer => spec.cards.iter().map(|c| c.to_string()).collect(),
            Role::Admin | Role::Bank | Role::Service => Vec::new(),
        };
        self.mint_claims(&MintedClaims {
            sub: spec.subject.as_deref(),
            role: spec.role.as_str(),
            cards,
            iat: now,
            nbf: now,
            exp: now.saturating_add(spec.ttl_secs),
        })
    }

    /// A token with exactly these claims (for tests of what the authenticator refuses).
    pub fn mint_claims(&self, claims: &impl Serialize) -> Result<String, ConfigError> {
        jsonwebtoken::encode(&Header::new(self.alg), claims, &self.key)
            .map_err(|e| ConfigError::Sign(e.to_string()))
    }
}
