//! Deleting a program races with creating a campaign for it: campaignex checks that nothing names
//! the program, then deletes it. A campaign written in between must make the delete check again
//! (and answer 409 naming it), never leave a campaign naming a deleted program — a configuration
//! that does not compile, which the rewarders would refuse, keeping their last rule set.
//!
//! The race is made certain, not hoped for: the store below writes the campaign right after the
//! first read campaignex makes of the configuration.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::common::Server;
use futures::stream::BoxStream;
use serde_json::{json, Value};
use spend_store::config_store::{
    ConfigStore, Event, Precondition, Resource, Result, Snapshot, Versioned,
};

const CAMPAIGN_ID: &str = "00000000-0000-4000-8000-00000000c0de";

/// A real store that, once, creates a campaign for program `p1` just after a snapshot is read.
struct CampaignAfterFirstRead {
    inner: Arc<dyn ConfigStore>,
    done: AtomicBool,
}

#[async_trait::async_trait]
impl ConfigStore for CampaignAfterFirstRead {
    async fn get(&self, resource: Resource, id: &str) -> Result<Option<Versioned>> {
        self.inner.get(resource, id).await
    }
    async fn list(&self, resource: Resource) -> Result<Vec<Versioned>> {
        self.inner.list(resource).await
    }
    async fn snapshot(&self) -> Result<Snapshot> {
        let snapshot = self.inner.snapshot().await?;
        if !self.done.swap(true, Ordering::SeqCst) {
            let campaign = json!({
                "id": CAMPAIGN_ID, "name": "Sneaked in", "program": "p1", "kind": "base",
                "priority": 1, "start_date": null, "end_date": null, "conditions": [],
                "rate": "1",
            });
            let exists = [Precondition::Exists(Resource::Program, "p1".into())];
            self.inner
                .put(Resource::Campaign, CAMPAIGN_ID, campaign, &exists)
                .await?;
        }
        Ok(snapshot)
    }
    async fn put(&self, r: Resource, id: &str, v: Value, p: &[Precondition]) -> Result<i64> {
        self.inner.put(r, id, v, p).await
    }
    async fn delete(&self, r: Resource, id: &str, p: &[Precondition]) -> Result<i64> {
        self.inner.delete(r, id, p).await
    }
    async fn replace_all(&self, objects: Vec<(Resource, String, Value)>) -> Result<i64> {
        self.inner.replace_all(objects).await
    }
    async fn watch(&self, after: i64) -> Result<BoxStream<'static, Result<Event>>> {
        self.inner.watch(after).await
    }
}

async fn a_campaign_created_during_a_program_delete_keeps_the_program(inner: Arc<dyn ConfigStore>) {
    let store = Arc::new(CampaignAfterFirstRead {
        inner: inner.clone(),
        done: AtomicBool::new(false),
    });
    let server = Server::start(store).await;
    let program = json!({"id": "p1", "name": "Program p1", "unit": "points"});
    assert_eq!(server.post("/v1/programs", &program).await.status, 201);

    let refused = server.delete("/v1/programs/p1", &[]).await;
    assert_eq!(refused.status, 409, "{refused:?}");
    assert_eq!(
        refused.body["details"],
        json!([{"resource": "campaigns", "id": CAMPAIGN_ID, "name": "Sneaked in"}])
    );
    assert!(inner.get(Resource::Program, "p1").await.unwrap().is_some());

    // Once the campaign is gone, the program goes too.
    let path = format!("/v1/campaigns/{CAMPAIGN_ID}");
    assert_eq!(server.delete(&path, &[]).await.status, 204);
    assert_eq!(server.delete("/v1/programs/p1", &[]).await.status, 204);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded() {
    let (store, _dir) = crate::common::embedded();
    a_campaign_created_during_a_program_delete_keeps_the_program(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd() {
    let Some(store) = crate::common::etcd().await else {
        return;
    };
    a_campaign_created_during_a_program_delete_keeps_the_program(store).await;
}
