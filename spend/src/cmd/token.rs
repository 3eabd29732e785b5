//! `spend token`: prints a bearer token that services started with the same key configuration
//! accept — the `--jwt-*` flags / `SPEND_JWT_*` variables if given, otherwise the HS256 secret
//! of the `spend dev` data directory (made there if missing), so a token works against
//! `spend dev --data-dir DIR` with the same `DIR`.
//!
//! Only argument parsing lives here; the keys and the signing are `spend_runtime::jwt`'s.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use spend_domain::CardId;
use spend_runtime::jwt::{minter_for, AuthArgs, TokenSpec};
use spend_runtime::Role;

/// The data directory `spend dev` and `spend token` share by default (API.md).
pub(crate) const DEFAULT_DATA_DIR: &str = "./.spend";

/// Prints a bearer token for the configured key.
#[derive(clap::Args, Debug)]
pub(crate) struct TokenArgs {
    /// The token's role: `admin`, `bank`, `customer` or `service` (for `spend store`'s clients).
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// A card the customer token may read (repeat for several). Only with `--role customer`.
    #[arg(long = "card", value_name = "ID", value_parser = parse_card)]
    cards: Vec<CardId>,
    /// Where `spend dev` keeps its data; its `jwt-secret` signs the token when no `--jwt-*` key
    /// is given.
    #[arg(long, env = "SPEND_DATA_DIR", default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
    data_dir: PathBuf,
    /// How long the token is valid, in seconds.
    #[arg(long = "ttl-secs", default_value_t = 24 * 3600)]
    ttl_secs: u64,
    /// The token's subject (claim `sub`), shown in the services' logs.
    #[arg(long)]
    subject: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("{s:?} is not a role: admin, bank, customer or service"))
}

fn parse_card(s: &str) -> Result<CardId, String> {
    CardId::parse(s).ok_or_else(|| format!("{s:?} is not a card id (a UUID, 8-4-4-4-12)"))
}

/// Writes the token and a newline to `out`.
pub(crate) fn run(args: &TokenArgs, out: &mut impl Write) -> anyhow::Result<()> {
    match (args.role, args.cards.is_empty()) {
        (Role::Customer, true) => bail!("a customer token needs at least one --card"),
        (Role::Admin | Role::Bank | Role::Service, false) => {
            bail!("--card is only for --role customer")
        }
        _ => {}
    }
    if args.ttl_secs == 0 {
        bail!("--ttl-secs must be at least 1");
    }
    let minter = minter_for(&args.auth, &args.data_dir).context("token signing key")?;
    let token = minter.mint(&TokenSpec {
        role: args.role,
        cards: args.cards.iter().map(|c| c.0).collect(),
        subject: args.subject.clone(),
        ttl_secs: args.ttl_secs,
    })?;
    writeln!(out, "{token}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use spend_runtime::jwt::{ensure_dev_secret, JwtAuthenticator, JwtSecret};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        token: TokenArgs,
    }

    /// A fresh directory under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir = std::env::temp_dir()
                .join(format!("spend-token-{name}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn token(args: &[&str]) -> anyhow::Result<String> {
        let cli = Cli::try_parse_from(std::iter::once("token").chain(args.iter().copied()))?;
        let mut out = Vec::new();
        run(&cli.token, &mut out)?;
        Ok(String::from_utf8(out)?.trim_end().to_owned())
    }

    #[test]
    fn dev_tokens_work_against_the_same_data_dir() {
        let dir = TempDir::new("dev");
        let card = "00000000-0000-4000-8000-0000000000AA";
        let t = token(&[
            "--role",
            "customer",
            "--card",
            card,
            "--data-dir",
            dir.path(),
        ])
        .unwrap();
        // What `spend dev --data-dir` on the same directory authenticates with.
        let auth = JwtAuthenticator::hs256(&ensure_dev_secret(&dir.0).unwrap());
        let p = auth.verify(&t).unwrap();
        assert_eq!(p.role, Role::Customer);
        assert_eq!(p.cards, vec![CardId::parse(card).unwrap().0]);
    }

    #[test]
    fn a_configured_secret_wins() {
        let dir = TempDir::new("secret");
        let secret = "a-configured-secret-of-32-bytes-or-more";
        let t = token(&[
            "--role",
            "admin",
            "--jwt-secret",
            secret,
            "--data-dir",
            dir.path(),
        ])
        .unwrap();
        let auth = JwtAuthenticator::hs256(&JwtSecret::new(secret.as_bytes()).unwrap());
        assert_eq!(auth.verify(&t).unwrap().role, Role::Admin);
        assert!(!dir.0.join("jwt-secret").exists());
    }

    #[test]
    fn service_tokens_for_spend_store() {
        let dir = TempDir::new("service");
        let secret = "a-configured-secret-of-32-bytes-or-more";
        let t = token(&[
            "--role",
            "service",
            "--jwt-secret",
            secret,
            "--data-dir",
            dir.path(),
        ])
        .unwrap();
        let auth = JwtAuthenticator::hs256(&JwtSecret::new(secret.as_bytes()).unwrap());
        let p = auth.verify(&t).unwrap();
        assert_eq!((p.role, p.cards), (Role::Service, vec![]));
    }

    #[test]
    fn refusals() {
        let dir = TempDir::new("refusals");
        let d = dir.path();
        let card = "00000000-0000-4000-8000-000000000001";
        let err = |args: &[&str]| format!("{:#}", token(args).unwrap_err());
        assert!(err(&["--role", "root", "--data-dir", d]).contains("is not a role"));
        assert!(err(&["--role", "customer", "--data-dir", d]).contains("at least one --card"));
        assert!(err(&["--role", "admin", "--card", card, "--data-dir", d])
            .contains("only for --role customer"));
        assert!(err(&["--role", "service", "--card", card, "--data-dir", d])
            .contains("only for --role customer"));
        assert!(err(&["--role", "customer", "--card", "x", "--data-dir", d])
            .contains("is not a card id"));
        assert!(
            err(&["--role", "admin", "--jwt-secret", "short", "--data-dir", d])
                .contains("at least 32")
        );
    }
}
