//! `spend-informer`: the rewards read API (API.md, Rewards).
//!
//! Owns the HTTP routes that read what the rewarders stored: a card's history, newest first, one
//! page at a time behind an opaque cursor; a card's summary (count and total per unit); one
//! record's outcome by id — and the OpenAPI document of those routes. Every read goes through the
//! [`RewardStore`] trait, one bounded page or one id per request; the card routes admit an admin,
//! or a customer for the cards its token lists.
//!
//! It must never write: no outcome, cursor or configuration is changed from here, and it knows
//! nothing of how a reward is computed. It must never serve a full PAN — the store only holds the
//! masked one, and the Reward shape has no other card number field.

mod json;
mod metrics;
mod missions;
pub mod openapi;
mod query;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use spend_runtime::{Authenticator, Backends};
use spend_store::reward_store::RewardStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use spend_store::readiness::RewardStoreBackend;

/// How the informer behaves. The binary fills it from flags and `SPEND_*` variables.
#[derive(Clone, Debug)]
pub struct InformerConfig {
    /// The deadline of each reward store call; past it the request is answered 503.
    pub store_timeout: Duration,
}

impl Default for InformerConfig {
    fn default() -> Self {
        Self {
            store_timeout: Duration::from_secs(5),
        }
    }
}

/// What the informer needs from outside.
#[derive(Clone)]
pub struct InformerDeps {
    pub store: Arc<dyn RewardStore>,
    pub auth: Arc<dyn Authenticator>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the http server failed: {0}")]
    Serve(#[source] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The reward routes alone, without `/healthz` & co. and without fallbacks, so that `spend dev`
/// can merge every service's router on one port (and add those once).
pub fn router(config: &InformerConfig, deps: InformerDeps) -> Router {
    routes::router(config, deps)
}

/// Serves the informer on `listener` until `shutdown` is cancelled, then finishes the requests in
/// flight and returns.
pub async fn run(
    config: InformerConfig,
    deps: InformerDeps,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let readiness = Backends::new(config.store_timeout)
        .with(Arc::new(RewardStoreBackend::new(deps.store.clone())));
    spend_runtime::serve(
        "informer",
        router(&config, deps),
        Arc::new(readiness),
        listener,
        shutdown,
    )
    .await
    .map_err(Error::Serve)
}
