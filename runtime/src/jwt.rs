//! JWT bearer tokens (API.md, Conventions: auth): the [`Authenticator`] every service runs with,
//! the minter behind `spend token`, and the `--jwt-*` arguments that configure both.
//!
//! **What a token must be.** `Authorization: Bearer <JWT>`, signed HS256 with the configured
//! secret or RS256 with the private half of the configured public key. The algorithm is pinned:
//! the token's `alg` header only selects among the configured keys, each bound to its own
//! algorithm, so an RS256 public key is never used as an HMAC secret and `none` is never accepted.
//! Claims: `exp` (required), `nbf` (checked when present), `role` (`admin`, `bank` or `customer`),
//! `cards` (for a customer: the card ids it may read), `sub` (optional, for logs). Any `aud`
//! claim is refused, as no audience is configured.
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

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Authenticator, Principal, Role};
use crate::error::ApiError;

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

fn now_secs() -> u64 {
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

    /// The configured keys from `args`; [`ConfigError::NoKey`] when there are none.
    pub fn from_args(args: &AuthArgs) -> Result<Self, ConfigError> {
        let mut auth = Self::empty();
        if let Some(secret) = args.secret()? {
            auth = auth.with_hs256(&secret);
        }
        if let Some(path) = &args.jwt_public_key {
            auth = auth.with_rs256_pem(&read_file(path)?, path)?;
        }
        if auth.hs256.is_none() && auth.rs256.is_none() {
            return Err(ConfigError::NoKey);
        }
        Ok(auth)
    }

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
            Role::Admin | Role::Bank => Vec::new(),
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

    /// The signing key `args` configure: the private key if given, else the secret.
    pub fn from_args(args: &AuthArgs) -> Result<Self, ConfigError> {
        if let Some(path) = &args.jwt_private_key {
            return Self::rs256_pem(&read_file(path)?, path);
        }
        match args.secret()? {
            Some(secret) => Ok(Self::hs256(&secret)),
            None => Err(ConfigError::NoSigningKey),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// A token valid from now for `spec.ttl_secs`.
    pub fn mint(&self, spec: &TokenSpec) -> Result<String, ConfigError> {
        let now = now_secs();
        let cards = match spec.role {
            Role::Customer => spec.cards.iter().map(|c| c.to_string()).collect(),
            Role::Admin | Role::Bank => Vec::new(),
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

/// The token configuration shared by every service and `spend token`: flatten it into a command.
#[derive(clap::Args, Clone, Default)]
pub struct AuthArgs {
    /// HS256 secret for bearer tokens, at least 32 bytes. Prefer the environment variable: a flag
    /// shows in the process list.
    #[arg(
        long = "jwt-secret",
        env = "SPEND_JWT_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,
    /// PEM file of the RSA public key that verifies RS256 bearer tokens.
    #[arg(
        long = "jwt-public-key",
        env = "SPEND_JWT_PUBLIC_KEY",
        value_name = "FILE"
    )]
    pub jwt_public_key: Option<PathBuf>,
    /// PEM file of the RSA private key that signs RS256 tokens (`spend token` only).
    #[arg(
        long = "jwt-private-key",
        env = "SPEND_JWT_PRIVATE_KEY",
        value_name = "FILE"
    )]
    pub jwt_private_key: Option<PathBuf>,
}

impl fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthArgs")
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_public_key", &self.jwt_public_key)
            .field("jwt_private_key", &self.jwt_private_key)
            .finish()
    }
}

impl AuthArgs {
    /// Whether any key is given (otherwise `spend dev` and `spend token` use the dev secret).
    pub fn any_key(&self) -> bool {
        self.jwt_secret.is_some() || self.jwt_public_key.is_some() || self.jwt_private_key.is_some()
    }

    fn secret(&self) -> Result<Option<JwtSecret>, ConfigError> {
        self.jwt_secret
            .as_deref()
            .map(|s| JwtSecret::new(s.as_bytes()))
            .transpose()
    }
}

/// The authenticator of a service: the keys `args` configure, or [`ConfigError::NoKey`].
pub fn from_args(args: &AuthArgs) -> Result<Arc<dyn Authenticator>, ConfigError> {
    Ok(Arc::new(JwtAuthenticator::from_args(args)?))
}

/// `spend dev`'s authenticator and minter: the keys `args` configure if any, otherwise HS256 with
/// the data directory's secret ([`ensure_dev_secret`]).
pub fn dev_auth(
    args: &AuthArgs,
    data_dir: &Path,
) -> Result<(Arc<dyn Authenticator>, JwtMinter), ConfigError> {
    if args.any_key() {
        return Ok((from_args(args)?, JwtMinter::from_args(args)?));
    }
    let secret = ensure_dev_secret(data_dir)?;
    Ok((
        Arc::new(JwtAuthenticator::hs256(&secret)),
        JwtMinter::hs256(&secret),
    ))
}

/// `spend token`'s minter, by the same rule as [`dev_auth`], so that the tokens it prints are
/// accepted by services started with the same arguments (or by `spend dev` on the same data
/// directory).
pub fn minter_for(args: &AuthArgs, data_dir: &Path) -> Result<JwtMinter, ConfigError> {
    if args.any_key() {
        return JwtMinter::from_args(args);
    }
    Ok(JwtMinter::hs256(&ensure_dev_secret(data_dir)?))
}

/// The dev secret of `data_dir`: `<data_dir>/jwt-secret`, created (mode 0600) holding 32 random
/// bytes in hex if missing. The secret is the file's text, trimmed.
pub fn ensure_dev_secret(data_dir: &Path) -> Result<JwtSecret, ConfigError> {
    let path = data_dir.join(DEV_SECRET_FILE);
    let write_error = |source| ConfigError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(|source| ConfigError::Write {
        path: data_dir.to_owned(),
        source,
    })?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            let mut bytes = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            file.write_all(hex.as_bytes()).map_err(write_error)?;
            file.sync_all().map_err(write_error)?;
            JwtSecret::new(hex)
        }
        // Made earlier, or by a concurrent `spend token`: read it.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = read_file(&path)?;
            JwtSecret::new(text.trim_ascii())
        }
        Err(e) => Err(write_error(e)),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    const PRIVATE: &str = include_str!("../tests/fixtures/rs256-private.pem");
    const PUBLIC: &str = include_str!("../tests/fixtures/rs256-public.pem");
    const OTHER_PRIVATE: &str = include_str!("../tests/fixtures/rs256-other-private.pem");

    fn secret(c: u8) -> JwtSecret {
        JwtSecret::new(vec![c; 32]).unwrap()
    }

    fn rs_minter(pem: &str) -> JwtMinter {
        JwtMinter::rs256_pem(pem.as_bytes(), Path::new("private.pem")).unwrap()
    }

    fn both() -> JwtAuthenticator {
        JwtAuthenticator::hs256(&secret(b'a'))
            .with_rs256_pem(PUBLIC.as_bytes(), Path::new("public.pem"))
            .unwrap()
    }

    fn spec(role: Role, cards: Vec<Uuid>) -> TokenSpec {
        TokenSpec {
            role,
            cards,
            subject: Some("tester".into()),
            ttl_secs: 600,
        }
    }

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

    #[test]
    fn configuration() {
        assert!(matches!(
            JwtSecret::new(vec![0; 31]),
            Err(ConfigError::SecretTooShort { len: 31 })
        ));
        assert!(matches!(
            JwtAuthenticator::from_args(&AuthArgs::default()),
            Err(ConfigError::NoKey)
        ));
        let short = AuthArgs {
            jwt_secret: Some("short".into()),
            ..AuthArgs::default()
        };
        let e = JwtAuthenticator::from_args(&short).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the jwt secret has 5 bytes; at least 32 are required"
        );
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        let bad = AuthArgs {
            jwt_public_key: Some(garbage),
            ..AuthArgs::default()
        };
        assert!(matches!(
            JwtAuthenticator::from_args(&bad),
            Err(ConfigError::BadKey { .. })
        ));
        let missing = AuthArgs {
            jwt_public_key: Some(dir.path().join("absent.pem")),
            ..AuthArgs::default()
        };
        assert!(matches!(
            JwtAuthenticator::from_args(&missing),
            Err(ConfigError::Read { .. })
        ));
        // Secrets never show in Debug.
        let args = AuthArgs {
            jwt_secret: Some("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t".into()),
            ..AuthArgs::default()
        };
        assert!(!format!("{args:?}").contains("s3cr3t"));
        let s = args.secret().unwrap().unwrap();
        assert!(!format!("{s:?}").contains("s3cr3t"));
        assert!(!format!("{:?}", JwtMinter::hs256(&s)).contains("s3cr3t"));
    }

    #[test]
    fn args_from_files_mint_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("public.pem");
        let private = dir.path().join("private.pem");
        std::fs::write(&public, PUBLIC).unwrap();
        std::fs::write(&private, PRIVATE).unwrap();
        let args = AuthArgs {
            jwt_secret: None,
            jwt_public_key: Some(public),
            jwt_private_key: Some(private),
        };
        let minter = minter_for(&args, dir.path()).unwrap();
        assert_eq!(minter.algorithm(), Algorithm::RS256);
        let token = minter.mint(&spec(Role::Admin, vec![])).unwrap();
        let auth = from_args(&args).unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        assert_eq!(auth.authenticate(&h).unwrap().role, Role::Admin);
        assert!(!dir.path().join(DEV_SECRET_FILE).exists());
    }

    #[test]
    fn dev_secret_is_made_once_and_shared() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = ensure_dev_secret(&data).unwrap();
        let again = ensure_dev_secret(&data).unwrap();
        assert_eq!(first, again);
        assert_eq!(first.as_bytes().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data.join(DEV_SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // `spend token --data-dir` and `spend dev --data-dir` agree.
        let minter = minter_for(&AuthArgs::default(), &data).unwrap();
        let (auth, _) = dev_auth(&AuthArgs::default(), &data).unwrap();
        let token = minter.mint(&spec(Role::Admin, vec![])).unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        assert_eq!(auth.authenticate(&h).unwrap().role, Role::Admin);
        // Another directory, another secret.
        let other = ensure_dev_secret(&dir.path().join("other")).unwrap();
        assert_ne!(first, other);
        // A hand-written file that is too short is refused.
        let short = dir.path().join("short");
        std::fs::create_dir_all(&short).unwrap();
        std::fs::write(short.join(DEV_SECRET_FILE), "abc\n").unwrap();
        assert!(matches!(
            ensure_dev_secret(&short),
            Err(ConfigError::SecretTooShort { len: 3 })
        ));
    }
}
