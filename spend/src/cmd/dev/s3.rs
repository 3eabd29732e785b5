//! `spend dev`'s S3: an S3-compatible endpoint over files under the data directory, so the
//! `POST /v1/batches/s3` row of the product works with nothing else installed.
//!
//! The server is `s3s` (the S3 protocol: routing, SigV4 authentication, XML) over `s3s-fs` (buckets
//! are directories under `<data-dir>/s3`, objects are files). It listens on a loopback port of its
//! own — S3 clients address buckets from the root of the endpoint (`/bucket/key`), which a path
//! prefix under the dev port would break — and tells its clients where it is and how to sign:
//!
//! - `<data-dir>/s3-endpoint`: the URL, e.g. `http://127.0.0.1:40213` (rewritten on every start;
//!   the port is `--s3-port`, by default one the system picks);
//! - `<data-dir>/s3-credentials`: `ACCESS_KEY:SECRET_KEY`, generated on first start and kept, mode
//!   0600. The region is [`REGION`] (s3s accepts any; clients must name one to sign).
//!
//! The bucket [`BUCKET`] exists from the first start. The ingestor reads from this endpoint through
//! the same `aws-sdk-s3` client that distributed mode points at real S3.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use anyhow::Context;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use spend_ingestor::S3Settings;
use tokio_util::sync::CancellationToken;

/// The bucket `spend dev` creates for uploads.
pub(crate) const BUCKET: &str = "uploads";
/// The region clients sign for.
pub(crate) const REGION: &str = "us-east-1";
/// Files under the data directory.
pub(crate) const ENDPOINT_FILE: &str = "s3-endpoint";
pub(crate) const CREDENTIALS_FILE: &str = "s3-credentials";
const ROOT_DIR: &str = "s3";

/// A running embedded S3 endpoint.
pub(crate) struct EmbeddedS3 {
    pub(crate) settings: S3Settings,
    pub(crate) server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl EmbeddedS3 {
    /// Creates `<data-dir>/s3/uploads`, loads or makes the credentials, binds `host:port` and serves
    /// until `shutdown` is cancelled.
    pub(crate) async fn start(
        data_dir: &Path,
        host: IpAddr,
        port: u16,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let root = data_dir.join(ROOT_DIR);
        let bucket = root.join(BUCKET);
        std::fs::create_dir_all(&bucket)
            .with_context(|| format!("create the S3 bucket directory {}", bucket.display()))?;
        let (access_key, secret_key) = credentials(&data_dir.join(CREDENTIALS_FILE))?;

        let fs = s3s_fs::FileSystem::new(&root)
            .map_err(|e| anyhow::anyhow!("open the S3 root {}: {e:?}", root.display()))?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(
            access_key.clone(),
            secret_key.clone(),
        ));
        let service = builder.build();

        let endpoint_file = data_dir.join(ENDPOINT_FILE);
        let listener = bind(host, port, previous_port(&endpoint_file)).await?;
        let addr = listener
            .local_addr()
            .context("read the S3 listening address")?;
        let endpoint = format!("http://{}", reachable(addr));
        write_private(&endpoint_file, &format!("{endpoint}\n"), false)?;

        let app =
            Router::new().fallback(move |request: Request| serve_s3(service.clone(), request));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        });
        Ok(EmbeddedS3 {
            settings: S3Settings {
                endpoint,
                region: REGION.into(),
                access_key_id: access_key,
                secret_access_key: secret_key,
                force_path_style: true,
            },
            server,
        })
    }
}

/// Binds `port`; for 0 the last run's port first (so a client's saved `--endpoint-url` keeps
/// working), then any free port.
async fn bind(
    host: IpAddr,
    port: u16,
    previous: Option<u16>,
) -> anyhow::Result<tokio::net::TcpListener> {
    if port == 0 {
        if let Some(previous) = previous {
            if let Ok(listener) =
                tokio::net::TcpListener::bind(SocketAddr::new(host, previous)).await
            {
                return Ok(listener);
            }
        }
    }
    tokio::net::TcpListener::bind(SocketAddr::new(host, port))
        .await
        .with_context(|| format!("listen for S3 on {host}:{port}"))
}

/// The port in a `s3-endpoint` file an earlier run wrote.
fn previous_port(endpoint_file: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(endpoint_file).ok()?;
    text.trim().rsplit_once(':')?.1.parse().ok()
}

/// One S3 request through s3s. Its errors are failures to produce any S3 answer (S3 errors such as
/// `NoSuchKey` are ordinary responses); they are logged and answered 500, as S3 itself would.
async fn serve_s3(service: S3Service, request: Request) -> Response {
    let request = request.map(s3s::Body::http_body_unsync);
    match service.call(request).await {
        Ok(response) => response.map(Body::new),
        Err(e) => {
            tracing::error!(error = ?e, "embedded s3 failed a request");
            http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The address a client dials: a wildcard listen address is reached on loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

/// The kept `KEY:SECRET`, or new ones written there (AWS's shapes: a 20-character upper-case key id
/// and a 40-character secret).
fn credentials(path: &Path) -> anyhow::Result<(String, String)> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let line = text.trim();
            let (key, secret) = line
                .split_once(':')
                .filter(|(k, s)| !k.is_empty() && !s.is_empty())
                .with_context(|| format!("{} is not KEY:SECRET", path.display()))?;
            Ok((key.to_owned(), secret.to_owned()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut rng = rand::thread_rng();
            const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            let key: String = std::iter::once("SPND".to_owned())
                .chain(
                    (0..16).map(|_| char::from(UPPER[rng.gen_range(0..UPPER.len())]).to_string()),
                )
                .collect();
            let secret = Alphanumeric.sample_string(&mut rng, 40);
            write_private(path, &format!("{key}:{secret}\n"), true)?;
            Ok((key, secret))
        }
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

fn write_private(path: &Path, text: &str, secret: bool) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restrict {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CREDENTIALS_FILE);
        let (key, secret) = credentials(&path).unwrap();
        assert_eq!(key.len(), 20);
        assert!(key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        assert_eq!(secret.len(), 40);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{key}:{secret}\n")
        );
        assert_eq!(credentials(&path).unwrap(), (key, secret));
    }

    #[test]
    fn a_wildcard_listener_is_reached_on_loopback() {
        let any: SocketAddr = "0.0.0.0:9000".parse().unwrap();
        assert_eq!(reachable(any).to_string(), "127.0.0.1:9000");
        let lo: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        assert_eq!(reachable(lo), lo);
    }

    #[test]
    fn the_previous_port_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ENDPOINT_FILE);
        assert_eq!(previous_port(&path), None);
        std::fs::write(&path, "http://127.0.0.1:40213\n").unwrap();
        assert_eq!(previous_port(&path), Some(40213));
    }
}
