//! The embedded store's event log: how events are kept, replayed, and followed live.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

use super::{meta_value, storage, Inner, COMPACTED, EVENTS, META};
use crate::config_store::{Change, Event, Resource, Result, StoreError, Versioned};

/// The log's events after `after`, or [`StoreError::Compacted`] when some are gone.
pub(super) fn read_log(inner: &Inner, after: i64) -> Result<Vec<Event>> {
    let txn = inner.db.begin_read().map_err(storage)?;
    let compacted = meta_value(&txn.open_table(META).map_err(storage)?, COMPACTED)?;
    if after < compacted {
        return Err(StoreError::Compacted(after + 1));
    }
    let events = txn.open_table(EVENTS).map_err(storage)?;
    let mut out = Vec::new();
    for entry in events.range(after + 1..).map_err(storage)? {
        let (revision, body) = entry.map_err(storage)?;
        out.push(decode_event(revision.value(), body.value())?);
    }
    Ok(out)
}

/// How an [`Event`] is kept in the log.
#[derive(Serialize, Deserialize)]
enum StoredChange {
    Put {
        resource: String,
        id: String,
        value: Value,
        mod_revision: i64,
    },
    Delete {
        resource: String,
        id: String,
    },
}

pub(super) fn encode_event(changes: &[Change]) -> Result<Vec<u8>> {
    let stored: Vec<StoredChange> = changes
        .iter()
        .map(|c| match c {
            Change::Put(v) => StoredChange::Put {
                resource: v.resource.as_str().to_owned(),
                id: v.id.clone(),
                value: v.value.clone(),
                mod_revision: v.mod_revision,
            },
            Change::Delete { resource, id } => StoredChange::Delete {
                resource: resource.as_str().to_owned(),
                id: id.clone(),
            },
        })
        .collect();
    serde_json::to_vec(&stored).map_err(|e| StoreError::Rejected(format!("unencodable: {e}")))
}

fn decode_event(revision: i64, body: &[u8]) -> Result<Event> {
    let stored: Vec<StoredChange> = serde_json::from_slice(body)
        .map_err(|e| StoreError::Corrupt(format!("event {revision} is unreadable: {e}")))?;
    let mut changes = Vec::with_capacity(stored.len());
    for c in stored {
        let parse = |r: &str| {
            Resource::parse(r).ok_or_else(|| {
                StoreError::Corrupt(format!("event {revision} names unknown resource {r:?}"))
            })
        };
        changes.push(match c {
            StoredChange::Put {
                resource,
                id,
                value,
                mod_revision,
            } => Change::Put(Versioned {
                resource: parse(&resource)?,
                id,
                value,
                mod_revision,
            }),
            StoredChange::Delete { resource, id } => Change::Delete {
                resource: parse(&resource)?,
                id,
            },
        });
    }
    Ok(Event { revision, changes })
}

/// A watch in progress. It holds the store weakly: once every store handle is gone the stream
/// ends with [`StoreError::Unavailable`] and the file can be opened again.
pub(super) struct Tail {
    pub(super) inner: Weak<Inner>,
    pub(super) live: broadcast::Receiver<Arc<Event>>,
    pub(super) backlog: VecDeque<Event>,
    pub(super) last: i64,
    pub(super) done: bool,
}

impl Tail {
    pub(super) async fn next(mut self) -> Option<(Result<Event>, Self)> {
        if self.done {
            return None;
        }
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.last = event.revision;
                return Some((Ok(event), self));
            }
            match self.live.recv().await {
                Ok(event) if event.revision <= self.last => continue,
                Ok(event) => {
                    self.last = event.revision;
                    return Some((Ok(Event::clone(&event)), self));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too slow for the live buffer: catch up from the log, then carry on live.
                    let Some(inner) = self.inner.upgrade() else {
                        return self.fail(closed());
                    };
                    let last = self.last;
                    let caught_up =
                        tokio::task::spawn_blocking(move || read_log(&inner, last)).await;
                    match caught_up {
                        Ok(Ok(events)) => self.backlog.extend(events),
                        Ok(Err(e)) => return self.fail(e),
                        Err(e) => {
                            return self.fail(StoreError::Unavailable(format!(
                                "embedded store task failed: {e}"
                            )))
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return self.fail(closed()),
            }
        }
    }

    fn fail(mut self, e: StoreError) -> Option<(Result<Event>, Self)> {
        self.done = true;
        Some((Err(e), self))
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the embedded configuration store was closed".into())
}
