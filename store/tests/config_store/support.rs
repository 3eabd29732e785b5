//! Backends for the scenario suite: the embedded store in a temp dir, the shared etcd named by
//! `SPEND_TEST_ETCD` (each test under its own prefix), and private etcd processes that a test
//! may kill and restart.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context};
use futures::StreamExt;
use serde_json::{json, Value};
use spend_store::config_store::{ConfigStore, Event, Resource, Snapshot};
use spend_store::embedded::EmbeddedConfigStore;
use spend_store::etcd::{EtcdConfigStore, EtcdOptions};
use spend_testkit::env::say;
pub(crate) use spend_testkit::etcd::EtcdProcess;
use tempfile::TempDir;

/// One store under test.
pub(crate) struct Backend {
    pub(crate) store: Arc<dyn ConfigStore>,
    /// Nothing but this test writes to the backend, so its revisions are exactly the test's
    /// writes. (A shared etcd's revision also moves with other tests' writes.)
    pub(crate) exclusive: bool,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(#[allow(dead_code)] TempDir),
    Prefix {
        endpoints: Vec<String>,
        prefix: String,
    },
}

impl Backend {
    pub(crate) fn embedded() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let store = EmbeddedConfigStore::open(dir.path())?;
        Ok(Self {
            store: Arc::new(store),
            exclusive: true,
            cleanup: Cleanup::Dir(dir),
        })
    }

    /// The shared etcd under a fresh prefix; `None` (after saying so) when `SPEND_TEST_ETCD` is
    /// not set outside CI. Under CI a missing etcd fails the test.
    pub(crate) async fn shared_etcd() -> anyhow::Result<Option<Self>> {
        let Some(endpoints) = spend_testkit::etcd::shared_endpoints() else {
            return Ok(None);
        };
        let prefix = unique_prefix();
        let store = EtcdConfigStore::connect(&endpoints, &prefix, EtcdOptions::default()).await?;
        Ok(Some(Self {
            store: Arc::new(store),
            exclusive: false,
            cleanup: Cleanup::Prefix { endpoints, prefix },
        }))
    }

    /// Removes what the test left in a shared etcd.
    pub(crate) async fn cleanup(self) {
        if let Cleanup::Prefix { endpoints, prefix } = &self.cleanup {
            let deleted = async {
                let mut client = etcd_client::Client::connect(endpoints, None).await?;
                let options = etcd_client::DeleteOptions::new().with_prefix();
                client.delete(format!("{prefix}/"), Some(options)).await?;
                anyhow::Ok(())
            };
            if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(5), deleted).await {
                say(&format!("could not clean up {prefix}: {e}"));
            }
        }
    }
}

/// A prefix no other test uses.
pub(crate) fn unique_prefix() -> String {
    format!("/spend-test/{}/config", uuid::Uuid::new_v4())
}

pub(crate) fn program(id: &str) -> Value {
    json!({"id": id, "name": format!("Program {id}"), "unit": "points"})
}

pub(crate) fn campaign(id: &str, program: &str, rate: &str) -> Value {
    json!({
        "id": id,
        "name": format!("Campaign {id}"),
        "program": program,
        "kind": "base",
        "priority": 30,
        "start_date": "2024-01-01",
        "end_date": null,
        "conditions": [{"field": "mcc", "op": "in", "value": [5999, [5815, 5818]]}],
        "rate": rate,
    })
}

pub(crate) fn fx_rate(currency: &str, rate: &str) -> Value {
    json!({"currency": currency, "rate": rate})
}

pub(crate) fn exclusion(id: &str) -> Value {
    json!({
        "id": id,
        "name": format!("Exclusion {id}"),
        "programs": null,
        "conditions": [{"field": "mcc", "op": "eq", "value": 6011}],
        "valid_from": null,
        "valid_until": null,
    })
}

/// A whole configuration of `n` campaigns on two programs, with a tag in every value so two
/// configurations are told apart.
pub(crate) fn config(tag: &str, campaigns: usize) -> Vec<(Resource, String, Value)> {
    let mut objects = vec![
        (Resource::Program, "alpha".to_owned(), program("alpha")),
        (Resource::Program, "beta".to_owned(), program("beta")),
        (Resource::FxRate, "USD".to_owned(), fx_rate("USD", "1.35")),
        (Resource::Exclusion, format!("{tag}-ex"), exclusion(tag)),
    ];
    for i in 0..campaigns {
        let id = format!("{tag}-c{i:03}");
        let value = campaign(&id, if i % 2 == 0 { "alpha" } else { "beta" }, "1.5");
        objects.push((Resource::Campaign, id, value));
    }
    objects
}

/// Reads events until one at `revision` or later arrives.
pub(crate) async fn events_until(
    events: &mut futures::stream::BoxStream<'static, spend_store::config_store::Result<Event>>,
    revision: i64,
) -> anyhow::Result<Vec<Event>> {
    let mut seen = Vec::new();
    while seen.last().is_none_or(|e: &Event| e.revision < revision) {
        let next = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .context("no event within 10 s")?
            .context("the watch ended")??;
        seen.push(next);
    }
    Ok(seen)
}

/// The published snapshot once it reaches `revision`, within 10 s.
pub(crate) async fn wait(
    watch: &spend_store::watch::ConfigWatch,
    revision: i64,
) -> anyhow::Result<Arc<Snapshot>> {
    let found = tokio::time::timeout(Duration::from_secs(10), watch.wait_for_revision(revision))
        .await
        .with_context(|| format!("revision {revision} not published within 10 s"))?;
    let snapshot = found.context("the watch stopped")?;
    ensure!(snapshot.revision >= revision);
    Ok(snapshot)
}
