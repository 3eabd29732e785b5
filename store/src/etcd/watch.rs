//! The etcd watch as a stream of [`Event`]s: one per revision, from exactly the revision asked.

use std::collections::VecDeque;

use etcd_client::{WatchOptions, WatchResponse, WatchStream};
use futures::stream::{self, BoxStream, StreamExt};

use super::EtcdConfigStore;
use crate::config_store::{Change, Event, Result, StoreError};

impl EtcdConfigStore {
    /// Opens a watch on the prefix from `after_revision + 1`, once etcd has confirmed it.
    pub(super) async fn open_watch(
        &self,
        after_revision: i64,
    ) -> Result<BoxStream<'static, Result<Event>>> {
        let start = after_revision.max(0) + 1;
        let options = WatchOptions::new().with_prefix().with_start_revision(start);
        let mut client = self.watch.clone();
        let mut watch = self.call(client.watch(self.root(), Some(options))).await?;
        // Wait for etcd to confirm the watch, so that a down etcd fails here and not later.
        let created = self.call(watch.message()).await?;
        match created {
            Some(resp) if resp.canceled() => return Err(canceled(&resp, start)),
            Some(resp) if resp.created() => {}
            Some(_) => {
                return Err(StoreError::Unavailable(
                    "etcd did not create the watch".into(),
                ))
            }
            None => return Err(StoreError::Unavailable("etcd closed the watch".into())),
        }
        let decoder = self.clone();
        let state = WatchState::Open {
            watch: Box::new(watch),
            pending: VecDeque::new(),
        };
        let events = stream::unfold(state, move |state| {
            let decoder = decoder.clone();
            async move { decoder.next_event(state, start).await }
        });
        Ok(events.boxed())
    }
}

enum WatchState {
    Open {
        watch: Box<WatchStream>,
        pending: VecDeque<Event>,
    },
    Done,
}

impl EtcdConfigStore {
    async fn next_event(
        &self,
        mut state: WatchState,
        start: i64,
    ) -> Option<(Result<Event>, WatchState)> {
        loop {
            let WatchState::Open {
                mut watch,
                mut pending,
            } = state
            else {
                return None;
            };
            if let Some(event) = pending.pop_front() {
                return Some((Ok(event), WatchState::Open { watch, pending }));
            }
            let resp = match watch.message().await {
                Ok(Some(resp)) => resp,
                Ok(None) => {
                    let err = StoreError::Unavailable("etcd closed the watch".into());
                    return Some((Err(err), WatchState::Done));
                }
                Err(e) => return Some((Err(classify_watch(e)), WatchState::Done)),
            };
            if resp.canceled() {
                return Some((Err(canceled(&resp, start)), WatchState::Done));
            }
            match self.events(&resp) {
                Ok(events) => pending.extend(events),
                Err(e) => return Some((Err(e), WatchState::Done)),
            }
            state = WatchState::Open { watch, pending };
        }
    }

    /// The events of one watch response, one per revision. etcd never splits one revision's
    /// changes across responses (unless asked to fragment, which this store does not).
    fn events(&self, resp: &WatchResponse) -> Result<Vec<Event>> {
        let mut events: Vec<Event> = Vec::new();
        for e in resp.events() {
            let Some(kv) = e.kv() else { continue };
            let change = match e.event_type() {
                etcd_client::EventType::Put => match self.versioned(kv)? {
                    Some(v) => Change::Put(v),
                    None => continue,
                },
                etcd_client::EventType::Delete => match self.parse_key(kv.key())? {
                    Some((resource, id)) => Change::Delete {
                        resource,
                        id: id.to_owned(),
                    },
                    None => continue,
                },
            };
            // A deletion's key-value carries the deleting revision as its mod_revision.
            let revision = kv.mod_revision();
            match events.last_mut() {
                Some(last) if last.revision == revision => last.changes.push(change),
                _ => events.push(Event {
                    revision,
                    changes: vec![change],
                }),
            }
        }
        Ok(events)
    }
}

fn canceled(resp: &WatchResponse, start: i64) -> StoreError {
    if resp.compact_revision() > 0 {
        return StoreError::Compacted(start);
    }
    StoreError::Unavailable(format!("etcd canceled the watch: {}", resp.cancel_reason()))
}

/// A broken watch is always [`StoreError::Unavailable`]: whatever etcd said, watching again is
/// the remedy.
fn classify_watch(e: etcd_client::Error) -> StoreError {
    StoreError::Unavailable(format!("watch broken: {e}"))
}
