//! `spend store`: the embedded reward store of one data directory, served over HTTP.
//!
//! fjall lets one process open a directory; in a deployment without ScyllaDB this is that
//! process, and the rewarders and the informer reach it with `--reward-store-url` and a
//! `service` token (`spend token --role service`). Plain HTTP: keep it on a private network.
//! The routes and their wire format are `spend_store::remote`'s; only wiring lives here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use spend_informer::RewardStoreBackend;
use spend_runtime::jwt::AuthArgs;
use spend_runtime::{require_role, Backends, Role};
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store::reward_store::RewardStore;

use crate::cmd::services;
use crate::telemetry;

/// `spend store`.
#[derive(clap::Args, Debug)]
pub(crate) struct StoreArgs {
    /// The data directory whose reward store is served (`DIR/rewards`); no other process may
    /// open it while this one runs.
    #[arg(long = "data-dir", env = "SPEND_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,
    /// The address the store is served on.
    #[arg(long, env = "SPEND_STORE_LISTEN", default_value = "0.0.0.0:9097")]
    listen: SocketAddr,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Serves the store until SIGINT/SIGTERM, then lets the calls in flight finish.
pub(crate) fn run(args: StoreArgs) -> anyhow::Result<()> {
    telemetry::init(telemetry::Format::Json);
    // Refuse to start without a key before opening the store.
    let auth = spend_runtime::jwt::from_args(&args.auth).context("auth")?;
    let store: Arc<dyn RewardStore> = Arc::new(
        EmbeddedRewardStore::open(&args.data_dir)
            .with_context(|| format!("open the reward store in {}", args.data_dir.display()))?,
    );
    services::serve(args.listen, |listener, shutdown| async move {
        let routes = spend_store_server::router(store.clone())
            .route_layer(require_role(auth, Role::Service))
            // After the auth layer: the OpenAPI document needs no token.
            .merge(spend_store_server::openapi_router());
        let readiness =
            Backends::new(Duration::from_secs(2)).with(Arc::new(RewardStoreBackend::new(store)));
        spend_runtime::serve("store", routes, Arc::new(readiness), listener, shutdown)
            .await
            .context("serve the reward store")
    })
}
