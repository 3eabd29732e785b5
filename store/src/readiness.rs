//! `/readyz` backends for the two stores, for every service that reads or writes them (informer,
//! campaignex, the rewarder, `spend store`, `spend dev`): one definition each.

use std::sync::Arc;

use spend_runtime::Backend;

use crate::config_store::{ConfigStore, Resource};
use crate::reward_store::RewardStore;

/// Readiness of a [`RewardStore`]: its own `ping`.
pub struct RewardStoreBackend {
    store: Arc<dyn RewardStore>,
}

impl RewardStoreBackend {
    pub fn new(store: Arc<dyn RewardStore>) -> Self {
        Self { store }
    }
}

#[async_trait::async_trait]
impl Backend for RewardStoreBackend {
    fn name(&self) -> &str {
        "reward store"
    }

    async fn ping(&self) -> Result<(), String> {
        self.store.ping().await.map_err(|e| e.to_string())
    }
}

/// Readiness of a [`ConfigStore`]: one point read that is never answered with data (an FX rate
/// for SGD is refused by validation, so it is never stored).
pub struct ConfigStoreBackend {
    store: Arc<dyn ConfigStore>,
}

impl ConfigStoreBackend {
    pub fn new(store: Arc<dyn ConfigStore>) -> Self {
        Self { store }
    }
}

#[async_trait::async_trait]
impl Backend for ConfigStoreBackend {
    fn name(&self) -> &str {
        "configuration store"
    }

    async fn ping(&self) -> Result<(), String> {
        self.store
            .get(Resource::FxRate, "SGD")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
