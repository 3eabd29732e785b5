//! JWT bearer tokens (API.md, Conventions: auth): the
//! [`Authenticator`](crate::auth::Authenticator) every service runs with, the minter behind
//! `spend token`, and the `--jwt-*` arguments that configure both.
//!
//! **What a token must be.** `Authorization: Bearer <JWT>`, signed HS256 with the configured
//! secret or RS256 with the private half of the configured public key. The algorithm is pinned:
//! the token's `alg` header only selects among the configured keys, each bound to its own
//! algorithm, so an RS256 public key is never used as an HMAC secret and `none` is never accepted.
//! Claims: `exp` (required), `nbf` (checked when present), `role` (`admin`, `bank`, `customer`
//! or `service`), `cards` (for a customer: the card ids it may read), `sub` (optional, for logs).
//! Any `aud` claim is refused, as no audience is configured.
//!
//! **Clock skew.** `exp` and `nbf` are checked with [`LEEWAY_SECS`] (30 s) of leeway: a token is
//! still accepted up to 30 s after its `exp`, and from 30 s before its `nbf`.
//!
//! **Refusals** are 401s whose `error` names what is wrong (`missing bearer token`, `malformed
//! token`, `bad signature`, `token expired`, …) and never echo the token or a claim.
//!
//! **Keys.** A secret has at least [`MIN_SECRET_BYTES`] bytes and never appears in `Debug` output
//! or `--help`. A service refuses to start with no key ([`ConfigError::NoKey`]); only `spend dev`
//! makes one, [`ensure_dev_secret`], in its data directory — the file `spend token --data-dir`
//! reads too, so its tokens work against that `spend dev`.
//!
//! Here: the constants, the configuration error, the secret and the authenticator's keys.
//! Checking a token is in `verify`, signing one in `mint`, reading the keys from arguments and
//! files in `config`.

mod config;
mod mint;
mod verify;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

pub use config::{dev_auth, ensure_dev_secret, from_args, minter_for, AuthArgs};
pub use mint::{JwtMinter, TokenSpec};
pub use verify::{bearer_token, TokenError};

/// Seconds of clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// The shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// The file in a `spend dev` data directory that holds its HS256 secret.
pub const DEV_SECRET_FILE: &str = "jwt-secret";

/// A token configuration that cannot be used. Every message names the flag or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no token key is configured: set --jwt-secret (SPEND_JWT_SECRET) or --jwt-public-key \
         (SPEND_JWT_PUBLIC_KEY)"
    )]
    NoKey,
    #[error("the jwt secret has {len} bytes; at least {MIN_SECRET_BYTES} are required")]
    SecretTooShort { len: usize },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a usable {what}: {reason}", path.display())]
    BadKey {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error("no signing key is configured: set --jwt-private-key or --jwt-secret")]
    NoSigningKey,
    #[error("cannot sign the token: {0}")]
    Sign(String),
}

/// An HS256 secret of at least [`MIN_SECRET_BYTES`] bytes. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSecret(Vec<u8>);

impl JwtSecret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, ConfigError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::SecretTooShort { len: bytes.len() });
        }
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JwtSecret(<{} bytes, redacted>)", self.0.len())
    }
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Checks a token against the configured keys. Cheap to share: wrap it in an `Arc`.
pub struct JwtAuthenticator {
    hs256: Option<DecodingKey>,
    rs256: Option<DecodingKey>,
    hs256_validation: Validation,
    rs256_validation: Validation,
}

impl fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthenticator")
            .field("hs256", &self.hs256.is_some())
            .field("rs256", &self.rs256.is_some())
            .finish()
    }
}

/// Signature and algorithm only; the claims are checked by [`JwtAuthenticator::verify_at`].
fn signature_only(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    v.validate_nbf = false;
    v
}

impl JwtAuthenticator {
    fn empty() -> Self {
        Self {
            hs256: None,
            rs256: None,
            hs256_validation: signature_only(Algorithm::HS256),
            rs256_validation: signature_only(Algorithm::RS256),
        }
    }

    /// Accepts HS256 tokens signed with `secret`.
    pub fn hs256(secret: &JwtSecret) -> Self {
        Self::empty().with_hs256(secret)
    }

    /// Accepts RS256 tokens signed by the private half of `pem` (a PEM RSA public key, PKCS#1
    /// or SPKI). `path` only names the key in errors.
    pub fn rs256_pem(pem: &[u8], path: &Path) -> Result<Self, ConfigError> {
        Self::empty().with_rs256_pem(pem, path)
    }

    /// Also accepts HS256 tokens signed with `secret`.
    pub fn with_hs256(mut self, secret: &JwtSecret) -> Self {
        self.hs256 = Some(DecodingKey::from_secret(secret.as_bytes()));
        self
    }

    /// Also accepts RS256 tokens; see [`JwtAuthenticator::rs256_pem`].
    pub fn with_rs256_pem(mut self, pem: &[u8], path: &Path) -> Result<Self, ConfigError> {
        let bad = |reason: String| ConfigError::BadKey {
            path: path.to_owned(),
            what: "rsa public key",
            reason,
        };
        let key = DecodingKey::from_rsa_pem(pem).map_err(|e| bad(e.to_string()))?;
        // The PEM is only unwrapped above; verifying one signature parses the key itself, so a
        // broken key stops the service at start rather than failing every request.
        jsonwebtoken::crypto::verify("AAAA", b"probe", &key, Algorithm::RS256)
            .map_err(|e| bad(e.to_string()))?;
        self.rs256 = Some(key);
        Ok(self)
    }
}

/// Keys and builders the tests of this module and its children share.
#[cfg(test)]
mod test_keys {
    use uuid::Uuid;

    use super::*;
    use crate::auth::Role;

    pub(super) const PRIVATE: &str = include_str!("../tests/fixtures/rs256-private.pem");
    pub(super) const PUBLIC: &str = include_str!("../tests/fixtures/rs256-public.pem");
    pub(super) const OTHER_PRIVATE: &str =
        include_str!("../tests/fixtures/rs256-other-private.pem");

    pub(super) fn secret(c: u8) -> JwtSecret {
        JwtSecret::new(vec![c; 32]).unwrap()
    }

    pub(super) fn rs_minter(pem: &str) -> JwtMinter {
        JwtMinter::rs256_pem(pem.as_bytes(), Path::new("private.pem")).unwrap()
    }

    pub(super) fn both() -> JwtAuthenticator {
        JwtAuthenticator::hs256(&secret(b'a'))
            .with_rs256_pem(PUBLIC.as_bytes(), Path::new("public.pem"))
            .unwrap()
    }

    pub(super) fn spec(role: Role, cards: Vec<Uuid>) -> TokenSpec {
        TokenSpec {
            role,
            cards,
            subject: Some("tester".into()),
            ttl_secs: 600,
        }
    }
}
