//! `/readyz` for a rewarder: a rule set is in force and the consumer group has given this process
//! its partitions. Before that, a record published now would wait for the group's join (seconds)
//! before anyone rewards it.

use spend_runtime::Backend;

use crate::Stats;

/// Readiness of the rewarder that `stats` reports on.
pub struct RewarderBackend(Stats);

impl RewarderBackend {
    pub fn new(stats: Stats) -> Self {
        Self(stats)
    }
}

#[async_trait::async_trait]
impl Backend for RewarderBackend {
    fn name(&self) -> &str {
        "rewarder"
    }

    async fn ping(&self) -> Result<(), String> {
        if !self.0.rules_loaded() {
            return Err("no rule set loaded yet".into());
        }
        if !self.0.joined_group() {
            return Err("not yet given its partitions by the consumer group".into());
        }
        Ok(())
    }
}
