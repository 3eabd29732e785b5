//! [`ConfigStore`] for `spend dev`: one redb file, `<dir>/config.redb`, with etcd's revision and
//! watch semantics.
//!
//! Each successful write is one redb transaction that bumps a global revision by one, stores the
//! objects with that revision as their mod revision, and appends one [`Event`] to an event log.
//! A write that changes nothing (deleting a missing object) leaves the revision alone, as in
//! etcd. `watch(after)` replays the log after `after`, then follows writes live through a
//! broadcast channel it subscribed to *before* reading the log, so nothing falls between the two.
//! The log keeps the last [`DEFAULT_EVENT_RETENTION`] events; older ones are compacted away.
//! Customer settings live in a table of their own beside the objects ([`customer_settings`]).

mod customer_settings;
mod event_log;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use redb::{Database, ReadableTable, TableDefinition};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::checks::{check_unique, precondition_target};
use crate::config_store::{
    Change, ConfigStore, CustomerSetting, Event, Precondition, Resource, Result, Snapshot,
    StoreError, Versioned,
};
use customer_settings::CUSTOMER_SETTINGS;
use event_log::{encode_event, read_log, Tail};

/// `(resource, id)` → `(json, mod_revision)`.
const OBJECTS: TableDefinition<'static, (&str, &str), (&[u8], i64)> =
    TableDefinition::new("objects");
/// [`REVISION`] and [`COMPACTED`].
const META: TableDefinition<'static, &str, i64> = TableDefinition::new("meta");
/// revision → the [`Event`] written at it, as JSON.
const EVENTS: TableDefinition<'static, i64, &[u8]> = TableDefinition::new("events");

/// The revision of the last write (0 for a new store).
const REVISION: &str = "revision";
/// Events up to and including this revision are gone from the log.
const COMPACTED: &str = "compacted";

/// Events kept for watchers that resume from an older revision.
pub const DEFAULT_EVENT_RETENTION: u64 = 1000;

/// Live events buffered per watcher before it has to catch up from the log.
const LIVE_BUFFER: usize = 1024;

/// The database file inside the data directory.
pub const FILE_NAME: &str = "config.redb";

/// A [`ConfigStore`] in one local file. Cheap to clone: clones share the file.
#[derive(Clone)]
pub struct EmbeddedConfigStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    /// Held from a write's start until its event is broadcast, so events go out in order.
    write_lock: Mutex<()>,
    live: broadcast::Sender<Arc<Event>>,
    retention: u64,
}

type Objects<'t> = redb::Table<'t, (&'static str, &'static str), (&'static [u8], i64)>;

impl EmbeddedConfigStore {
    /// Opens (or creates) the store in `dir`, keeping [`DEFAULT_EVENT_RETENTION`] events.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with_retention(dir, DEFAULT_EVENT_RETENTION)
    }

    /// Opens (or creates) the store in `dir`, keeping the last `retention` events (at least 1).
    pub fn open_with_retention(dir: &Path, retention: u64) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
        let db = Database::create(dir.join(FILE_NAME)).map_err(storage)?;
        let txn = db.begin_write().map_err(storage)?;
        {
            txn.open_table(OBJECTS).map_err(storage)?;
            txn.open_table(META).map_err(storage)?;
            txn.open_table(EVENTS).map_err(storage)?;
            txn.open_table(CUSTOMER_SETTINGS).map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                write_lock: Mutex::new(()),
                live,
                retention: retention.max(1),
            }),
        })
    }

    /// Drops the events up to and including `revision` (capped at the current revision): a
    /// watch from before it fails with [`StoreError::Compacted`].
    pub async fn compact(&self, revision: i64) -> Result<()> {
        self.blocking(move |inner| {
            let _guard = inner.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            let txn = inner.db.begin_write().map_err(storage)?;
            {
                let mut meta = txn.open_table(META).map_err(storage)?;
                let current = meta_value(&meta, REVISION)?;
                compact_log(&txn, &mut meta, revision.min(current))?;
            }
            txn.commit().map_err(storage)
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::Unavailable(format!("embedded store task failed: {e}")))?
    }

    /// One write: `apply` checks preconditions and changes the objects for revision `next`,
    /// returning what it changed; nothing changed means no new revision.
    async fn write(
        &self,
        apply: impl FnOnce(&mut Objects<'_>, i64) -> Result<Vec<Change>> + Send + 'static,
    ) -> Result<i64> {
        self.blocking(move |inner| {
            let _guard = inner.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            let txn = inner.db.begin_write().map_err(storage)?;
            let (revision, changes) = {
                let mut meta = txn.open_table(META).map_err(storage)?;
                let current = meta_value(&meta, REVISION)?;
                let next = current + 1;
                let changes = apply(&mut txn.open_table(OBJECTS).map_err(storage)?, next)?;
                if changes.is_empty() {
                    (current, changes)
                } else {
                    meta.insert(REVISION, next).map_err(storage)?;
                    let body = encode_event(&changes)?;
                    txn.open_table(EVENTS)
                        .map_err(storage)?
                        .insert(next, body.as_slice())
                        .map_err(storage)?;
                    let retention = i64::try_from(inner.retention).unwrap_or(i64::MAX);
                    compact_log(&txn, &mut meta, next.saturating_sub(retention))?;
                    (next, changes)
                }
            };
            if changes.is_empty() {
                txn.abort().map_err(storage)?;
                return Ok(revision);
            }
            txn.commit().map_err(storage)?;
            // Nobody listening is fine.
            let _ = inner.live.send(Arc::new(Event { revision, changes }));
            Ok(revision)
        })
        .await
    }
}

fn meta_value(meta: &impl ReadableTable<&'static str, i64>, key: &str) -> Result<i64> {
    Ok(meta.get(key).map_err(storage)?.map_or(0, |v| v.value()))
}

/// Drops events up to `upto` and records it as compacted.
fn compact_log(
    txn: &redb::WriteTransaction,
    meta: &mut redb::Table<'_, &'static str, i64>,
    upto: i64,
) -> Result<()> {
    let compacted = meta_value(meta, COMPACTED)?;
    if upto <= compacted {
        return Ok(());
    }
    let mut events = txn.open_table(EVENTS).map_err(storage)?;
    events.retain_in(..=upto, |_, _| false).map_err(storage)?;
    meta.insert(COMPACTED, upto).map_err(storage)?;
    Ok(())
}

fn check(objects: &Objects<'_>, preconditions: &[Precondition]) -> Result<()> {
    for p in preconditions {
        let Some((resource, id)) = precondition_target(p) else {
            if let Precondition::NoneWrittenSince(resource, revision) = p {
                if latest_write(objects, *resource)? > *revision {
                    return Err(StoreError::PreconditionFailed(p.clone()));
                }
            }
            continue;
        };
        let mod_revision = objects
            .get((resource.as_str(), id))
            .map_err(storage)?
            .map(|v| v.value().1);
        let holds = match p {
            Precondition::Exists(..) => mod_revision.is_some(),
            Precondition::Absent(..) => mod_revision.is_none(),
            Precondition::ModRevision(_, _, revision) => mod_revision == Some(*revision),
            Precondition::NoneWrittenSince(..) => true,
        };
        if !holds {
            return Err(StoreError::PreconditionFailed(p.clone()));
        }
    }
    Ok(())
}

/// The highest mod revision of the resource's objects (0 when it has none).
fn latest_write(objects: &Objects<'_>, resource: Resource) -> Result<i64> {
    let mut latest = 0;
    for entry in objects.range((resource.as_str(), "")..).map_err(storage)? {
        let (key, value) = entry.map_err(storage)?;
        if key.value().0 != resource.as_str() {
            break;
        }
        latest = latest.max(value.value().1);
    }
    Ok(latest)
}

fn versioned(resource: &str, id: &str, body: &[u8], mod_revision: i64) -> Result<Versioned> {
    let resource = Resource::parse(resource)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown resource {resource:?}")))?;
    let value = serde_json::from_slice(body)
        .map_err(|e| StoreError::Corrupt(format!("{}/{id} is not json: {e}", resource.as_str())))?;
    Ok(Versioned {
        resource,
        id: id.to_owned(),
        value,
        mod_revision,
    })
}

fn read_objects(
    table: &impl ReadableTable<(&'static str, &'static str), (&'static [u8], i64)>,
    only: Option<Resource>,
) -> Result<Vec<Versioned>> {
    let mut out = Vec::new();
    let range = match only {
        Some(r) => table.range((r.as_str(), "")..).map_err(storage)?,
        None => table.range::<(&str, &str)>(..).map_err(storage)?,
    };
    for entry in range {
        let (key, value) = entry.map_err(storage)?;
        let (resource, id) = key.value();
        if only.is_some_and(|r| r.as_str() != resource) {
            break;
        }
        let (body, mod_revision) = value.value();
        out.push(versioned(resource, id, body, mod_revision)?);
    }
    Ok(out)
}

fn storage(e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::Corrupted(msg) => StoreError::Corrupt(msg),
        redb::Error::DatabaseAlreadyOpen => StoreError::Unavailable(
            "the embedded configuration store is already open in another process".into(),
        ),
        other => StoreError::Unavailable(format!("embedded configuration store: {other}")),
    }
}

#[async_trait]
impl ConfigStore for EmbeddedConfigStore {
    async fn get(&self, resource: Resource, id: &str) -> Result<Option<Versioned>> {
        let id = id.to_owned();
        self.blocking(move |inner| {
            let txn = inner.db.begin_read().map_err(storage)?;
            let objects = txn.open_table(OBJECTS).map_err(storage)?;
            let Some(found) = objects
                .get((resource.as_str(), id.as_str()))
                .map_err(storage)?
            else {
                return Ok(None);
            };
            let (body, mod_revision) = found.value();
            versioned(resource.as_str(), &id, body, mod_revision).map(Some)
        })
        .await
    }

    async fn list(&self, resource: Resource) -> Result<Vec<Versioned>> {
        self.blocking(move |inner| {
            let txn = inner.db.begin_read().map_err(storage)?;
            read_objects(&txn.open_table(OBJECTS).map_err(storage)?, Some(resource))
        })
        .await
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        self.blocking(|inner| {
            let txn = inner.db.begin_read().map_err(storage)?;
            Ok(Snapshot {
                revision: meta_value(&txn.open_table(META).map_err(storage)?, REVISION)?,
                objects: read_objects(&txn.open_table(OBJECTS).map_err(storage)?, None)?,
            })
        })
        .await
    }

    async fn put(
        &self,
        resource: Resource,
        id: &str,
        value: Value,
        preconditions: &[Precondition],
    ) -> Result<i64> {
        let id = id.to_owned();
        let preconditions = preconditions.to_vec();
        self.write(move |objects, next| {
            check(objects, &preconditions)?;
            let body = serde_json::to_vec(&value)
                .map_err(|e| StoreError::Rejected(format!("unencodable value: {e}")))?;
            objects
                .insert((resource.as_str(), id.as_str()), (body.as_slice(), next))
                .map_err(storage)?;
            Ok(vec![Change::Put(Versioned {
                resource,
                id,
                value,
                mod_revision: next,
            })])
        })
        .await
    }

    async fn delete(
        &self,
        resource: Resource,
        id: &str,
        preconditions: &[Precondition],
    ) -> Result<i64> {
        let id = id.to_owned();
        let preconditions = preconditions.to_vec();
        self.write(move |objects, _| {
            check(objects, &preconditions)?;
            let removed = objects
                .remove((resource.as_str(), id.as_str()))
                .map_err(storage)?
                .is_some();
            Ok(if removed {
                vec![Change::Delete { resource, id }]
            } else {
                Vec::new()
            })
        })
        .await
    }

    async fn replace_all(&self, objects: Vec<(Resource, String, Value)>) -> Result<i64> {
        check_unique(&objects)?;
        self.write(move |table, next| {
            // Like etcd's event for the same transaction: every old object not kept deleted,
            // in key order, then every new one put, in the order given.
            let kept: HashSet<(&str, &str)> = objects
                .iter()
                .map(|(r, id, _)| (r.as_str(), id.as_str()))
                .collect();
            let mut changes = Vec::new();
            for old in read_objects(table, None)? {
                if !kept.contains(&(old.resource.as_str(), old.id.as_str())) {
                    changes.push(Change::Delete {
                        resource: old.resource,
                        id: old.id,
                    });
                }
            }
            table
                .retain(|(resource, id), _| kept.contains(&(resource, id)))
                .map_err(storage)?;
            for (resource, id, value) in objects {
                let body = serde_json::to_vec(&value)
                    .map_err(|e| StoreError::Rejected(format!("unencodable value: {e}")))?;
                table
                    .insert((resource.as_str(), id.as_str()), (body.as_slice(), next))
                    .map_err(storage)?;
                changes.push(Change::Put(Versioned {
                    resource,
                    id,
                    value,
                    mod_revision: next,
                }));
            }
            Ok(changes)
        })
        .await
    }

    async fn watch(&self, after_revision: i64) -> Result<BoxStream<'static, Result<Event>>> {
        let after = after_revision.max(0);
        // Subscribe before reading the log: a write landing in between is then in one or both,
        // and the duplicates are skipped by revision.
        let live = self.inner.live.subscribe();
        let backlog = self.blocking(move |inner| read_log(inner, after)).await?;
        let tail = Tail {
            inner: Arc::downgrade(&self.inner),
            live,
            backlog: backlog.into(),
            last: after,
            done: false,
        };
        Ok(stream::unfold(tail, Tail::next).boxed())
    }

    async fn customer_setting(
        &self,
        kind: CustomerSetting,
        customer: &str,
    ) -> Result<Option<Value>> {
        self.read_customer_setting(kind, customer).await
    }

    async fn put_customer_setting(
        &self,
        kind: CustomerSetting,
        customer: &str,
        value: Value,
    ) -> Result<()> {
        self.write_customer_setting(kind, customer, &value).await
    }
}
