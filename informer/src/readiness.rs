//! `/readyz` for the informer: its one backend is the reward store.

use std::sync::Arc;

use spend_runtime::Backend;
use spend_store::reward_store::RewardStore;

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
