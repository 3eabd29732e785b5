//! Where the keys come from: the `--jwt-*` arguments every service and `spend token` share, and
//! the dev secret `spend dev` keeps in its data directory.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{ConfigError, JwtAuthenticator, JwtMinter, JwtSecret, DEV_SECRET_FILE};
use crate::auth::Authenticator;

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

impl JwtAuthenticator {
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
}

impl JwtMinter {
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
}

#[cfg(test)]
mod tests {
    use super::super::test_keys::*;
    use super::*;
    use crate::auth::Role;
    use axum::http::{header, HeaderMap, HeaderValue};
    use jsonwebtoken::Algorithm;

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
