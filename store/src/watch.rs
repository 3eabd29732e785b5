//! The self-healing configuration watch the rewarder consumes.
//!
//! [`watch_config`] loads a snapshot, then follows every [`Event`] after exactly its revision,
//! publishing the whole configuration after each one. When the store goes away it keeps the
//! last good snapshot published, retries with capped exponential backoff and watches again from
//! the last revision it applied, so changes made meanwhile still arrive, in order. When that
//! revision has been compacted it loads a fresh snapshot, and publishes it only if it is not
//! older than what it has: the published revision never goes backwards.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config_store::{Change, ConfigStore, Event, Snapshot, StoreError, Versioned};

/// How [`watch_config`] retries.
#[derive(Clone, Debug)]
pub struct WatchConfigOptions {
    /// First delay after a failure.
    pub min_backoff: Duration,
    /// Longest delay between two attempts.
    pub max_backoff: Duration,
    /// Updates buffered for each [`ConfigWatch::updates`] receiver before it lags.
    pub updates_capacity: usize,
}

impl Default for WatchConfigOptions {
    fn default() -> Self {
        Self {
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            updates_capacity: 1024,
        }
    }
}

/// One step of the published configuration.
#[derive(Clone, Debug)]
pub enum ConfigUpdate {
    /// A whole snapshot was loaded: the first one, or a fresh one after compaction.
    Loaded(Arc<Snapshot>),
    /// `event` was applied, giving `snapshot`.
    Applied {
        event: Arc<Event>,
        snapshot: Arc<Snapshot>,
    },
}

impl ConfigUpdate {
    /// The configuration after this update.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        match self {
            ConfigUpdate::Loaded(snapshot) | ConfigUpdate::Applied { snapshot, .. } => snapshot,
        }
    }

    pub fn revision(&self) -> i64 {
        self.snapshot().revision
    }
}

/// A running configuration watch. Dropping it stops the watch.
pub struct ConfigWatch {
    snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    updates: broadcast::Sender<ConfigUpdate>,
    /// Subscribed before the task started, so the first caller of `updates` misses nothing.
    first_updates: Option<broadcast::Receiver<ConfigUpdate>>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// Starts watching `store` in a background task, until `shutdown` fires or the handle is dropped.
pub fn watch_config(
    store: Arc<dyn ConfigStore>,
    options: WatchConfigOptions,
    shutdown: CancellationToken,
) -> ConfigWatch {
    let (snapshots_tx, snapshots) = watch::channel(None);
    let (updates, first_updates) = broadcast::channel(options.updates_capacity.max(1));
    let stop = shutdown.child_token();
    let follower = Follower {
        store,
        backoff: Backoff::new(options.min_backoff, options.max_backoff),
        stop: stop.clone(),
        snapshots: snapshots_tx,
        updates: updates.clone(),
        objects: BTreeMap::new(),
        revision: None,
    };
    let task = tokio::spawn(follower.run());
    ConfigWatch {
        snapshots,
        updates,
        first_updates: Some(first_updates),
        stop,
        task: Some(task),
    }
}

impl ConfigWatch {
    /// The latest whole configuration; `None` until the first snapshot is loaded.
    pub fn snapshots(&self) -> watch::Receiver<Option<Arc<Snapshot>>> {
        self.snapshots.clone()
    }

    /// The latest whole configuration, if loaded.
    pub fn latest(&self) -> Option<Arc<Snapshot>> {
        self.snapshots.borrow().clone()
    }

    /// Every published update, in order. The first call gets every update since the watch
    /// started; later calls get those after the call. A receiver more than
    /// [`WatchConfigOptions::updates_capacity`] behind lags (and can read [`Self::latest`]).
    pub fn updates(&mut self) -> broadcast::Receiver<ConfigUpdate> {
        self.first_updates
            .take()
            .unwrap_or_else(|| self.updates.subscribe())
    }

    /// Waits until the published configuration is at `revision` or later; `None` if the watch
    /// stopped first.
    pub async fn wait_for_revision(&self, revision: i64) -> Option<Arc<Snapshot>> {
        let mut rx = self.snapshots.clone();
        let found = rx
            .wait_for(|s| s.as_ref().is_some_and(|s| s.revision >= revision))
            .await
            .ok()?;
        found.clone()
    }

    /// Stops the watch and waits for its task to end.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ConfigWatch {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

struct Follower {
    store: Arc<dyn ConfigStore>,
    backoff: Backoff,
    stop: CancellationToken,
    snapshots: watch::Sender<Option<Arc<Snapshot>>>,
    updates: broadcast::Sender<ConfigUpdate>,
    /// Keyed like the backends order their keys: resource path segment, then id.
    objects: BTreeMap<(&'static str, String), Versioned>,
    /// The revision published last; `None` before the first snapshot.
    revision: Option<i64>,
}

/// Why a watch ended.
enum Ended {
    Stopped,
    /// The revision to resume from is gone: load a fresh snapshot.
    Compacted,
    /// Anything else: retry after a delay.
    Broken,
}

impl Follower {
    async fn run(mut self) {
        let mut need_snapshot = true;
        loop {
            if need_snapshot {
                let loaded = tokio::select! {
                    _ = self.stop.cancelled() => return,
                    loaded = self.store.snapshot() => loaded,
                };
                match loaded {
                    Ok(snapshot) => {
                        self.load(snapshot);
                        need_snapshot = false;
                    }
                    Err(error) => {
                        let retry_in = self.backoff.next();
                        tracing::warn!(%error, ?retry_in, "configuration snapshot failed; retrying");
                        if !self.sleep(retry_in).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            match self.follow().await {
                Ended::Stopped => return,
                Ended::Compacted => need_snapshot = true,
                Ended::Broken => {
                    let retry_in = self.backoff.next();
                    if !self.sleep(retry_in).await {
                        return;
                    }
                }
            }
        }
    }

    /// Watches from the last published revision until the watch ends.
    async fn follow(&mut self) -> Ended {
        let after = self.revision.unwrap_or(0);
        let opened = tokio::select! {
            _ = self.stop.cancelled() => return Ended::Stopped,
            opened = self.store.watch(after) => opened,
        };
        let mut events = match opened {
            Ok(events) => events,
            Err(error) => return self.broken(&error, after),
        };
        let started = Instant::now();
        loop {
            let next = tokio::select! {
                _ = self.stop.cancelled() => return Ended::Stopped,
                next = events.next() => next,
            };
            let error = match next {
                Some(Ok(event)) => {
                    self.apply(event);
                    self.backoff.reset();
                    continue;
                }
                Some(Err(error)) => error,
                None => StoreError::Unavailable("the watch ended".into()),
            };
            // A watch that held for a while earns a quick first retry.
            if started.elapsed() >= self.backoff.max {
                self.backoff.reset();
            }
            return self.broken(&error, self.revision.unwrap_or(0));
        }
    }

    fn broken(&self, error: &StoreError, after_revision: i64) -> Ended {
        if let StoreError::Compacted(_) = error {
            tracing::warn!(%error, after_revision, "configuration watch compacted; reloading");
            return Ended::Compacted;
        }
        tracing::warn!(
            %error,
            after_revision,
            retry_in = ?self.backoff.peek(),
            "configuration watch broken; watching again"
        );
        Ended::Broken
    }

    /// Takes a snapshot unless it is older than what is published.
    fn load(&mut self, snapshot: Snapshot) {
        if let Some(current) = self.revision {
            if snapshot.revision <= current {
                if snapshot.revision < current {
                    tracing::warn!(
                        snapshot_revision = snapshot.revision,
                        current_revision = current,
                        "ignoring a configuration snapshot older than the one in use"
                    );
                }
                return;
            }
        }
        self.objects = snapshot
            .objects
            .iter()
            .map(|v| ((v.resource.as_str(), v.id.clone()), v.clone()))
            .collect();
        self.revision = Some(snapshot.revision);
        let snapshot = Arc::new(snapshot);
        self.snapshots.send_replace(Some(snapshot.clone()));
        let _ = self.updates.send(ConfigUpdate::Loaded(snapshot));
    }

    fn apply(&mut self, event: Event) {
        if self
            .revision
            .is_some_and(|current| event.revision <= current)
        {
            return;
        }
        for change in &event.changes {
            match change {
                Change::Put(v) => {
                    self.objects
                        .insert((v.resource.as_str(), v.id.clone()), v.clone());
                }
                Change::Delete { resource, id } => {
                    self.objects.remove(&(resource.as_str(), id.clone()));
                }
            }
        }
        self.revision = Some(event.revision);
        let snapshot = Arc::new(Snapshot {
            revision: event.revision,
            objects: self.objects.values().cloned().collect(),
        });
        self.snapshots.send_replace(Some(snapshot.clone()));
        let _ = self.updates.send(ConfigUpdate::Applied {
            event: Arc::new(event),
            snapshot,
        });
    }

    /// Sleeps unless stopped first; `false` when stopped.
    async fn sleep(&self, delay: Duration) -> bool {
        tokio::select! {
            _ = self.stop.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}

/// Capped exponential backoff.
struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Self {
            min,
            max,
            current: min,
        }
    }

    fn peek(&self) -> Duration {
        self.current
    }

    fn next(&mut self) -> Duration {
        let delay = self.current;
        self.current = (self.current * 2).min(self.max);
        delay
    }

    fn reset(&mut self) {
        self.current = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let delays: Vec<_> = (0..5).map(|_| b.next().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next(), Duration::from_millis(100));
    }
}
