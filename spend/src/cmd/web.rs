//! `spend web`: the web dashboard as a service of its own (distributed mode), in front of the
//! public API at `--api-url` (or each service at its own URL). `spend dev` serves the same
//! dashboard on its own port.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use spend_web::WebConfig;

use crate::cmd::services::serve;
use crate::telemetry;

/// `spend web`.
#[derive(clap::Args, Debug)]
pub(crate) struct WebArgs {
    /// The public API's base URL: an ingress that routes `/v1/...` to the services, or one
    /// service (then name the others below).
    #[arg(long, env = "SPEND_API_URL")]
    api_url: String,
    /// The ingestor's base URL, for uploads and batches, if not behind `--api-url`.
    #[arg(long, env = "SPEND_INGESTOR_URL")]
    ingestor_url: Option<String>,
    /// The informer's base URL, for card lookups, if not behind `--api-url`.
    #[arg(long, env = "SPEND_INFORMER_URL")]
    informer_url: Option<String>,
    /// Campaignex's base URL, for campaigns and configuration, if not behind `--api-url`.
    #[arg(long, env = "SPEND_CAMPAIGNEX_URL")]
    campaignex_url: Option<String>,
    /// The address the dashboard is served on.
    #[arg(long, env = "SPEND_WEB_LISTEN", default_value = "0.0.0.0:8090")]
    listen: SocketAddr,
    /// Mark the session cookie `Secure`: set it when users reach the dashboard over HTTPS.
    #[arg(long, env = "SPEND_WEB_SECURE_COOKIE")]
    secure_cookie: bool,
}

pub(crate) fn web(args: WebArgs) -> anyhow::Result<()> {
    telemetry::init(telemetry::Format::Json);
    let mut config = WebConfig::new(args.api_url);
    config.ingestor_url = args.ingestor_url;
    config.informer_url = args.informer_url;
    config.campaignex_url = args.campaignex_url;
    config.secure_cookie = args.secure_cookie;
    serve(args.listen, |listener, shutdown| async move {
        spend_runtime::serve(
            "web",
            spend_web::router(config),
            Arc::new(spend_runtime::AlwaysReady),
            listener,
            shutdown,
        )
        .await
        .context("serve the dashboard")
    })
}
