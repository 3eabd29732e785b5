//! `spend informer` and `spend campaignex`: one service each, against real ScyllaDB or etcd (or the
//! embedded stores with `--data-dir` / `--config-dir`), configured by flags and `SPEND_*`.
//!
//! Only argument parsing and wiring live here; the services are their crates'.

use std::net::SocketAddr;

use anyhow::Context;
use spend_campaignex::{CampaignexConfig, CampaignexDeps};
use spend_informer::{InformerConfig, InformerDeps};
use spend_runtime::jwt::AuthArgs;
use tokio_util::sync::CancellationToken;

use crate::cmd::rewarder::{ConfigStoreArgs, RewardStoreArgs};
use crate::telemetry;

/// `spend informer`: the rewards read API.
#[derive(clap::Args, Debug)]
pub(crate) struct InformerArgs {
    /// The address the API is served on.
    #[arg(long, env = "SPEND_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    store: RewardStoreArgs,
    #[command(flatten)]
    auth: AuthArgs,
}

/// `spend campaignex`: the configuration API.
#[derive(clap::Args, Debug)]
pub(crate) struct CampaignexArgs {
    /// The address the API is served on.
    #[arg(long, env = "SPEND_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    store: ConfigStoreArgs,
    #[command(flatten)]
    auth: AuthArgs,
}

pub(crate) fn informer(args: InformerArgs) -> anyhow::Result<()> {
    telemetry::init(telemetry::Format::Json);
    // Refuse to start without a key before touching any backend.
    let auth = spend_runtime::jwt::from_args(&args.auth).context("auth")?;
    serve(args.listen, |listener, shutdown| async move {
        let store = args.store.store().await?;
        spend_informer::run(
            InformerConfig::default(),
            InformerDeps { store, auth },
            listener,
            shutdown,
        )
        .await
        .context("serve the informer")
    })
}

pub(crate) fn campaignex(args: CampaignexArgs) -> anyhow::Result<()> {
    telemetry::init(telemetry::Format::Json);
    let auth = spend_runtime::jwt::from_args(&args.auth).context("auth")?;
    serve(args.listen, |listener, shutdown| async move {
        let store = args.store.store().await?;
        spend_campaignex::run(
            CampaignexConfig::default(),
            CampaignexDeps { store, auth },
            listener,
            shutdown,
        )
        .await
        .context("serve campaignex")
    })
}

/// Binds `listen`, runs `service` until SIGINT/SIGTERM, then lets it drain.
pub(crate) fn serve<F, Fut>(listen: SocketAddr, service: F) -> anyhow::Result<()>
where
    F: FnOnce(tokio::net::TcpListener, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listen on {listen}"))?;
        tracing::info!(address = %listener.local_addr()?, "listening");
        service(listener, spend_runtime::cancel_on_signal()).await
    })
}
