//! `/readyz` for campaignex: its one backend is the configuration store.

use std::sync::Arc;

use spend_runtime::Backend;
use spend_store::config_store::{ConfigStore, Resource};

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
