//! A store that can be switched off: the way to hold a watcher disconnected for exactly as long
//! as a test needs, whatever the backend.

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::Value;
use spend_store::config_store::{
    ConfigStore, Event, Precondition, Resource, Result, Snapshot, StoreError, Versioned,
};
use spend_store::watch::{watch_config, ConfigUpdate, WatchConfigOptions};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::support::{program, wait};

pub(crate) struct Flaky {
    inner: Arc<dyn ConfigStore>,
    down: watch::Sender<bool>,
}

impl Flaky {
    pub(crate) fn new(inner: Arc<dyn ConfigStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            down: watch::channel(false).0,
        })
    }

    /// Down: every call fails with `Unavailable` and every open watch breaks.
    pub(crate) fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }

    fn check(&self) -> Result<()> {
        if *self.down.borrow() {
            return Err(StoreError::Unavailable("switched off by the test".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl ConfigStore for Flaky {
    async fn get(&self, resource: Resource, id: &str) -> Result<Option<Versioned>> {
        self.check()?;
        self.inner.get(resource, id).await
    }

    async fn list(&self, resource: Resource) -> Result<Vec<Versioned>> {
        self.check()?;
        self.inner.list(resource).await
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        self.check()?;
        self.inner.snapshot().await
    }

    async fn put(
        &self,
        resource: Resource,
        id: &str,
        value: Value,
        preconditions: &[Precondition],
    ) -> Result<i64> {
        self.check()?;
        self.inner.put(resource, id, value, preconditions).await
    }

    async fn delete(
        &self,
        resource: Resource,
        id: &str,
        preconditions: &[Precondition],
    ) -> Result<i64> {
        self.check()?;
        self.inner.delete(resource, id, preconditions).await
    }

    async fn replace_all(&self, objects: Vec<(Resource, String, Value)>) -> Result<i64> {
        self.check()?;
        self.inner.replace_all(objects).await
    }

    async fn watch(&self, after_revision: i64) -> Result<BoxStream<'static, Result<Event>>> {
        self.check()?;
        let events = self.inner.watch(after_revision).await?;
        let mut down = self.down.subscribe();
        let cut = async move {
            let _ = down.wait_for(|down| *down).await;
        };
        let broken =
            stream::once(async { Err(StoreError::Unavailable("switched off by the test".into())) });
        Ok(events.take_until(cut).chain(broken).boxed())
    }
}

fn quick() -> WatchConfigOptions {
    WatchConfigOptions {
        min_backoff: std::time::Duration::from_millis(20),
        max_backoff: std::time::Duration::from_millis(200),
        ..WatchConfigOptions::default()
    }
}

/// While the store is unreachable the watcher keeps its last snapshot; once back, it watches
/// from the last revision it applied, so each change made meanwhile arrives as its own event.
pub(crate) async fn watcher_catches_up_after_outage(
    store: Arc<dyn ConfigStore>,
) -> anyhow::Result<()> {
    let flaky = Flaky::new(store.clone());
    let r1 = store
        .put(Resource::Program, "alpha", program("alpha"), &[])
        .await?;
    let mut watch = watch_config(flaky.clone(), quick(), CancellationToken::new());
    let mut updates = watch.updates();
    let before = wait(&watch, r1).await?;

    flaky.set_down(true);
    let mut missed = Vec::new();
    for id in ["beta", "gamma"] {
        missed.push(store.put(Resource::Program, id, program(id), &[]).await?);
    }
    missed.push(store.delete(Resource::Program, "alpha", &[]).await?);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        watch.latest(),
        Some(before.clone()),
        "the last good snapshot stays"
    );

    flaky.set_down(false);
    let last = *missed.last().expect("writes");
    let after = wait(&watch, last).await?;
    assert_eq!(after.objects, store.snapshot().await?.objects);

    let mut applied = Vec::new();
    let mut revisions = Vec::new();
    while let Ok(update) = updates.try_recv() {
        revisions.push(update.revision());
        if let ConfigUpdate::Applied { event, .. } = update {
            applied.push(event.revision);
        }
    }
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
    assert_eq!(applied, missed, "every change while away, as its own event");
    watch.stop().await;
    Ok(())
}

/// When the revision to resume from has been compacted, the watcher loads a fresh snapshot, and
/// its revision still only goes up.
pub(crate) async fn watcher_reloads_after_compaction(
    store: Arc<dyn ConfigStore>,
    compact: impl FnOnce(i64) -> BoxFuture<'static, anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let flaky = Flaky::new(store.clone());
    let r1 = store
        .put(Resource::Program, "alpha", program("alpha"), &[])
        .await?;
    let mut watch = watch_config(flaky.clone(), quick(), CancellationToken::new());
    let mut updates = watch.updates();
    wait(&watch, r1).await?;

    flaky.set_down(true);
    store
        .put(Resource::Program, "beta", program("beta"), &[])
        .await?;
    let last = store.delete(Resource::Program, "alpha", &[]).await?;
    compact(last).await?;
    let gone = store.watch(r1).await;
    let gone = match gone {
        Ok(mut events) => events.next().await.expect("an error"),
        Err(e) => Err(e),
    };
    assert!(matches!(gone, Err(StoreError::Compacted(_))), "{gone:?}");

    flaky.set_down(false);
    let after = wait(&watch, last).await?;
    assert_eq!(after.objects, store.snapshot().await?.objects);
    let mut kinds = Vec::new();
    let mut revisions = Vec::new();
    while let Ok(update) = updates.try_recv() {
        revisions.push(update.revision());
        kinds.push(matches!(update, ConfigUpdate::Loaded(_)));
    }
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
    assert_eq!(
        kinds,
        [true, true],
        "first load, then a reload after compaction"
    );

    // And it follows live changes again.
    let next = store
        .put(Resource::Program, "gamma", program("gamma"), &[])
        .await?;
    assert_eq!(wait(&watch, next).await?.revision, next);
    watch.stop().await;
    Ok(())
}
