//! `spend-campaignex`: the configuration API (API.md, Configuration).
//!
//! Owns the HTTP routes that create, read, replace and delete programs, FX rates, campaigns and
//! exclusions — one object at a time with ETags, or the whole configuration at once — and the
//! OpenAPI document of those routes. Every object is validated by `spend-domain` before it is
//! written to the [`ConfigStore`], and every write is one atomic store operation carrying its
//! preconditions (`If-Match`, "the program it names exists"), so nothing is ever half-written.
//!
//! It also keeps each cardholder's notification settings (`/v1/me/notifications`, role
//! `customer`) in the same store, beside the configuration and never in it: no configuration
//! document, snapshot or watch event holds them.
//!
//! It must never compute or store rewards, parse transactions, or decide what a campaign means:
//! the rules are `spend-domain`'s, the storage is `spend-store`'s, and the rewarders pick changes up
//! by watching the store, never by being called from here.

mod etag;
mod kinds;
mod metrics;
mod notifications;
pub mod openapi;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use spend_runtime::{Authenticator, Backends};
use spend_store::config_store::ConfigStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use spend_store::readiness::ConfigStoreBackend;

/// How campaignex behaves. The binary fills it from flags and `SPEND_*` variables.
#[derive(Clone, Debug)]
pub struct CampaignexConfig {
    /// The largest request body accepted, in bytes; a larger one is answered 413.
    pub body_limit_bytes: usize,
    /// The deadline of each configuration store call; past it the request is answered 503.
    pub store_timeout: Duration,
}

impl Default for CampaignexConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            store_timeout: Duration::from_secs(5),
        }
    }
}

/// What campaignex needs from outside.
#[derive(Clone)]
pub struct CampaignexDeps {
    pub store: Arc<dyn ConfigStore>,
    pub auth: Arc<dyn Authenticator>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the http server failed: {0}")]
    Serve(#[source] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The configuration routes alone, without `/healthz` & co. and without fallbacks, so that
/// `spend dev` can merge every service's router on one port (and add those once).
pub fn router(config: &CampaignexConfig, deps: CampaignexDeps) -> Router {
    routes::router(config, deps)
}

/// Serves campaignex on `listener` until `shutdown` is cancelled, then finishes the requests in
/// flight and returns.
pub async fn run(
    config: CampaignexConfig,
    deps: CampaignexDeps,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let readiness = Backends::new(config.store_timeout)
        .with(Arc::new(ConfigStoreBackend::new(deps.store.clone())));
    spend_runtime::serve(
        "campaignex",
        router(&config, deps),
        Arc::new(readiness),
        listener,
        shutdown,
    )
    .await
    .map_err(Error::Serve)
}
