//! The configuration store contract: programs, campaigns, exclusions, FX rates and missions as JSON
//! objects,
//! one key per object, with a global revision (etcd's, or the embedded store's own counter).
//!
//! Objects are stored as validated JSON (`spend-domain` validates before anything is written);
//! this layer knows nothing of what a campaign means.
//!
//! Beside the configuration, but never in it, the same store keeps small per-customer settings
//! ([`CustomerSetting`], e.g. notification preferences): one JSON value per customer and kind,
//! in a key space of their own, so no snapshot, list, watch event or replacement ever holds one,
//! and writing one moves no configuration revision.

use std::fmt;

use futures::stream::BoxStream;
use serde_json::Value;

/// The five kinds of configuration object, named as the API's paths name them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Resource {
    Program,
    Campaign,
    Exclusion,
    FxRate,
    /// "Spend X within Y days, win Z" (docs/missions.md).
    Mission,
}

impl Resource {
    pub const ALL: [Resource; 5] = [
        Resource::Program,
        Resource::FxRate,
        Resource::Campaign,
        Resource::Exclusion,
        Resource::Mission,
    ];

    /// `programs`, `campaigns`, `exclusions`, `fx-rates`: the API path segment and the key segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Program => "programs",
            Resource::Campaign => "campaigns",
            Resource::Exclusion => "exclusions",
            Resource::FxRate => "fx-rates",
            Resource::Mission => "missions",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Resource::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind of per-customer setting kept beside the configuration (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum CustomerSetting {
    /// How a cardholder wants to be told about rewards (`/v1/me/notifications`).
    Notifications,
}

impl CustomerSetting {
    pub const ALL: [CustomerSetting; 1] = [CustomerSetting::Notifications];

    /// The key segment.
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerSetting::Notifications => "notifications",
        }
    }
}

impl fmt::Display for CustomerSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored object with the revision that last modified it (its ETag).
#[derive(Clone, PartialEq, Debug)]
pub struct Versioned {
    pub resource: Resource,
    pub id: String,
    pub value: Value,
    pub mod_revision: i64,
}

/// Every object at one revision.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Snapshot {
    pub revision: i64,
    pub objects: Vec<Versioned>,
}

/// A condition a write needs to hold, checked atomically with the write.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Precondition {
    /// The object exists (e.g. the program a campaign names).
    Exists(Resource, String),
    /// The object does not exist (create).
    Absent(Resource, String),
    /// The object exists and was last modified at exactly this revision (`If-Match`).
    ModRevision(Resource, String, i64),
    /// No object of the resource was created or replaced after this revision (deletions do not
    /// count): every object of it that exists now was already there, unchanged, at the read
    /// made at that revision. (Deleting a program: no campaign naming it appeared meanwhile.)
    NoneWrittenSince(Resource, i64),
}

/// One change inside an [`Event`].
#[derive(Clone, PartialEq, Debug)]
pub enum Change {
    Put(Versioned),
    Delete { resource: Resource, id: String },
}

/// Everything that changed at one revision (a whole-config replacement is one event).
#[derive(Clone, PartialEq, Debug)]
pub struct Event {
    pub revision: i64,
    pub changes: Vec<Change>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or did not answer in time; nothing was written.
    #[error("configuration store unavailable: {0}")]
    Unavailable(String),
    /// A precondition did not hold; nothing was written.
    #[error("precondition failed: {0:?}")]
    PreconditionFailed(Precondition),
    /// The watch start revision is older than what the backend still keeps.
    #[error("revision {0} has been compacted")]
    Compacted(i64),
    /// The write cannot be done as asked, and retrying it will not help: the same object twice in
    /// one replacement, or more objects than one backend transaction may hold. Nothing was written.
    #[error("write rejected: {0}")]
    Rejected(String),
    /// Stored data that cannot be read back (never caused by a client).
    #[error("configuration store data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A configuration store. Implementations: etcd ([`crate::etcd`]) and embedded ([`crate::embedded`]).
#[async_trait::async_trait]
pub trait ConfigStore: Send + Sync + 'static {
    async fn get(&self, resource: Resource, id: &str) -> Result<Option<Versioned>>;

    /// All objects of one resource, ordered by id.
    async fn list(&self, resource: Resource) -> Result<Vec<Versioned>>;

    /// All objects, at one revision.
    async fn snapshot(&self) -> Result<Snapshot>;

    /// Writes one object if every precondition holds, atomically; returns its new mod revision.
    async fn put(
        &self,
        resource: Resource,
        id: &str,
        value: Value,
        preconditions: &[Precondition],
    ) -> Result<i64>;

    /// Deletes one object if every precondition holds, atomically; returns the new revision.
    async fn delete(
        &self,
        resource: Resource,
        id: &str,
        preconditions: &[Precondition],
    ) -> Result<i64>;

    /// Replaces the whole configuration with `objects` as one atomic write; returns its revision.
    async fn replace_all(&self, objects: Vec<(Resource, String, Value)>) -> Result<i64>;

    /// Every event with a revision greater than `after_revision`, in order, with no gap. The stream
    /// ends with an error when the connection breaks; use [`crate::watch`] for a watch that
    /// re-establishes itself.
    async fn watch(&self, after_revision: i64) -> Result<BoxStream<'static, Result<Event>>>;

    /// One customer's setting of `kind`, `None` when it was never written. `customer` is any
    /// non-empty string naming the customer (the caller decides how customers are named).
    ///
    /// The etcd and embedded stores keep customer settings; a store that does not (a test
    /// double) answers [`StoreError::Unavailable`].
    async fn customer_setting(
        &self,
        kind: CustomerSetting,
        customer: &str,
    ) -> Result<Option<Value>> {
        let _ = (kind, customer);
        Err(no_customer_settings())
    }

    /// Writes one customer's setting of `kind`, replacing what was there: last write wins.
    async fn put_customer_setting(
        &self,
        kind: CustomerSetting,
        customer: &str,
        value: Value,
    ) -> Result<()> {
        let _ = (kind, customer, value);
        Err(no_customer_settings())
    }
}

/// A customer name a store accepts: not empty, at most [`MAX_CUSTOMER_BYTES`] bytes.
pub(crate) fn check_customer(customer: &str) -> Result<()> {
    if customer.is_empty() {
        return Err(StoreError::Rejected(
            "a customer setting needs a customer".into(),
        ));
    }
    if customer.len() > MAX_CUSTOMER_BYTES {
        return Err(StoreError::Rejected(format!(
            "a customer is named in at most {MAX_CUSTOMER_BYTES} bytes"
        )));
    }
    Ok(())
}

/// The longest customer name a store keeps settings for (etcd keys are meant to be small).
pub const MAX_CUSTOMER_BYTES: usize = 1024;

fn no_customer_settings() -> StoreError {
    StoreError::Unavailable("this configuration store keeps no customer settings".into())
}

/// The objects of a validated configuration, as [`ConfigStore::replace_all`] takes them: programs,
/// FX rates, campaigns, exclusions, each under its key in its canonical JSON.
pub fn objects_of(config: &spend_domain::config::Config) -> Vec<(Resource, String, Value)> {
    let mut objects = Vec::new();
    for p in &config.programs {
        objects.push((Resource::Program, p.key(), p.to_json()));
    }
    for r in &config.fx_rates {
        objects.push((Resource::FxRate, r.key(), r.to_json()));
    }
    for c in &config.campaigns {
        objects.push((Resource::Campaign, c.key(), c.to_json()));
    }
    for x in &config.exclusions {
        objects.push((Resource::Exclusion, x.key(), x.to_json()));
    }
    for m in &config.missions {
        objects.push((Resource::Mission, m.key(), m.to_json()));
    }
    objects
}
