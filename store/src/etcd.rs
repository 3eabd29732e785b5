//! [`ConfigStore`] on etcd: one key per object, `<prefix>/<resource>/<id>`, holding the object's
//! JSON; the etcd revision is the configuration revision.
//!
//! A whole-config replacement is one transaction: it reads which keys exist, then, guarded by
//! nothing under the prefix having changed since, deletes the objects not kept and puts the new
//! ones. etcd caps the operations of one transaction (`--max-txn-ops`, 128 by default), so a
//! replacement that writes plus removes more objects than that is refused with
//! [`StoreError::Rejected`]; raise both etcd's flag and [`EtcdOptions::max_txn_ops`] for larger
//! configurations.
//!
//! Customer settings ([`crate::config_store::CustomerSetting`]) are kept beside the configuration,
//! outside its prefix ([`customer_settings`]).
//!
//! Every request carries its own deadline ([`EtcdOptions::request_timeout`]): when etcd is down
//! the client's channel would otherwise wait for a connection forever, and a write must fail
//! with [`StoreError::Unavailable`] quickly instead.

mod customer_settings;
mod watch;

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, KeyValue, KvClient,
    SortOrder, SortTarget, Txn, TxnOp, TxnOpResponse, TxnResponse, WatchClient,
};
use futures::stream::BoxStream;
use serde_json::Value;

use crate::checks::{check_unique, precondition_target};
use crate::config_store::{
    ConfigStore, CustomerSetting, Event, Precondition, Resource, Result, Snapshot, StoreError,
    Versioned,
};

/// How the etcd store talks to etcd.
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// Deadline of each request, including opening a watch; past it the call fails with
    /// [`StoreError::Unavailable`].
    pub request_timeout: Duration,
    /// Deadline of one attempt to open a connection.
    pub connect_timeout: Duration,
    /// HTTP/2 keep-alive ping interval. It is how an open watch notices a connection that died
    /// without being closed. etcd refuses pings more often than every 5 s
    /// (`--grpc-keepalive-min-time`).
    pub keep_alive_interval: Duration,
    /// How long a keep-alive ping may go unanswered before the connection counts as dead.
    pub keep_alive_timeout: Duration,
    /// Operations one etcd transaction may hold (etcd's `--max-txn-ops`, 128 unless raised). A
    /// whole-config replacement takes one operation per object written plus one per object
    /// removed (one per resource when all of a resource goes), so a larger one is refused with
    /// [`StoreError::Rejected`] before it is sent.
    pub max_txn_ops: usize,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(2),
            keep_alive_interval: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(5),
            max_txn_ops: 128,
        }
    }
}

/// A [`ConfigStore`] backed by etcd. Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct EtcdConfigStore {
    kv: KvClient,
    watch: WatchClient,
    /// Without its trailing `/`.
    prefix: String,
    options: EtcdOptions,
}

/// Tries of a replacement that keeps losing the race with other writes.
const REPLACE_ATTEMPTS: usize = 5;

/// Responses up to this size are accepted (the client's default is 4 MiB).
const MAX_DECODING_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

impl EtcdConfigStore {
    /// Sets up a client for `endpoints` (`http://host:port`) keeping the configuration under
    /// `prefix` (e.g. `/spend/config`). No request is made: a store created while etcd is down
    /// answers [`StoreError::Unavailable`] until etcd is back, then works.
    pub async fn connect(endpoints: &[String], prefix: &str, options: EtcdOptions) -> Result<Self> {
        if endpoints.is_empty() {
            return Err(StoreError::Unavailable("no etcd endpoint given".into()));
        }
        let connect = ConnectOptions::new()
            .with_connect_timeout(options.connect_timeout)
            // Pings only while a stream (a watch) is open: etcd answers pings on an idle
            // connection with "too many pings" and drops it.
            .with_keep_alive(options.keep_alive_interval, options.keep_alive_timeout)
            // A watch served by a member cut off from its cluster would otherwise stay silent.
            .with_require_leader(true);
        let client = with_deadline(
            options.request_timeout,
            Client::connect(endpoints, Some(connect)),
        )
        .await?;
        Ok(Self {
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE),
            watch: client
                .watch_client()
                .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE),
            prefix: prefix.trim_end_matches('/').to_owned(),
            options,
        })
    }

    /// The prefix every key of this store starts with, without its trailing `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The current etcd revision; a cheap round trip for readiness checks.
    pub async fn ping(&self) -> Result<i64> {
        let mut kv = self.kv.clone();
        let key = self.root();
        let resp = self
            .call(kv.get(key, Some(GetOptions::new().with_prefix().with_count_only())))
            .await?;
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    fn key(&self, resource: Resource, id: &str) -> String {
        format!("{}/{}/{}", self.prefix, resource.as_str(), id)
    }

    fn resource_prefix(&self, resource: Resource) -> String {
        format!("{}/{}/", self.prefix, resource.as_str())
    }

    fn root(&self) -> String {
        format!("{}/", self.prefix)
    }

    async fn call<T>(&self, fut: impl Future<Output = Result<T, etcd_client::Error>>) -> Result<T> {
        with_deadline(self.options.request_timeout, fut).await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        let mut kv = self.kv.clone();
        self.call(kv.txn(txn)).await
    }

    /// Reads a key below the prefix as `(resource, id)`; `None` for keys that are not
    /// configuration objects (left alone, so the prefix can hold other things later).
    fn parse_key<'k>(&self, key: &'k [u8]) -> Result<Option<(Resource, &'k str)>> {
        let key = std::str::from_utf8(key)
            .map_err(|_| StoreError::Corrupt("a key under the prefix is not utf-8".into()))?;
        let Some((resource, id)) = key
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.split_once('/'))
        else {
            return Ok(None);
        };
        match Resource::parse(resource) {
            Some(resource) => Ok(Some((resource, id))),
            None => {
                tracing::warn!(key, "ignoring a key that is no configuration object");
                Ok(None)
            }
        }
    }

    fn versioned(&self, kv: &KeyValue) -> Result<Option<Versioned>> {
        let Some((resource, id)) = self.parse_key(kv.key())? else {
            return Ok(None);
        };
        let value = serde_json::from_slice(kv.value()).map_err(|e| {
            StoreError::Corrupt(format!("{}/{id} is not json: {e}", resource.as_str()))
        })?;
        Ok(Some(Versioned {
            resource,
            id: id.to_owned(),
            value,
            mod_revision: kv.mod_revision(),
        }))
    }

    fn versioned_all(&self, kvs: &[KeyValue]) -> Result<Vec<Versioned>> {
        let mut out = Vec::with_capacity(kvs.len());
        for kv in kvs {
            if let Some(v) = self.versioned(kv)? {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// The compares a write is guarded by, and the reads that tell which one failed.
    fn guards(&self, preconditions: &[Precondition]) -> (Vec<Compare>, Vec<TxnOp>) {
        let mut compares = Vec::new();
        let mut reads = Vec::new();
        for p in preconditions {
            let Some((resource, id)) = precondition_target(p) else {
                if let Precondition::NoneWrittenSince(resource, revision) = p {
                    // Every key under the resource: etcd compares a range key by key.
                    let prefix = self.resource_prefix(*resource);
                    compares.push(
                        Compare::mod_revision(prefix.clone(), CompareOp::Less, revision + 1)
                            .with_prefix(),
                    );
                    let latest = GetOptions::new()
                        .with_prefix()
                        .with_keys_only()
                        .with_sort(SortTarget::Mod, SortOrder::Descend)
                        .with_limit(1);
                    reads.push(TxnOp::get(prefix, Some(latest)));
                }
                continue;
            };
            let key = self.key(resource, id);
            match p {
                Precondition::Exists(..) => {
                    compares.push(Compare::version(key.clone(), CompareOp::Greater, 0));
                }
                Precondition::Absent(..) => {
                    compares.push(Compare::version(key.clone(), CompareOp::Equal, 0));
                }
                Precondition::ModRevision(_, _, revision) => {
                    // etcd compares a missing key as mod_revision 0: also require it to exist.
                    compares.push(Compare::version(key.clone(), CompareOp::Greater, 0));
                    compares.push(Compare::mod_revision(
                        key.clone(),
                        CompareOp::Equal,
                        *revision,
                    ));
                }
                Precondition::NoneWrittenSince(..) => {}
            }
            reads.push(TxnOp::get(key, None));
        }
        (compares, reads)
    }

    /// One guarded write; on a failed guard, the first precondition (in the order given) that
    /// did not hold, judged from reads made in the same transaction.
    async fn guarded(&self, preconditions: &[Precondition], op: TxnOp) -> Result<i64> {
        let (compares, reads) = self.guards(preconditions);
        let resp = self
            .txn(Txn::new().when(compares).and_then([op]).or_else(reads))
            .await?;
        if resp.succeeded() {
            return Ok(header_revision(&resp));
        }
        let found = resp.op_responses();
        for (p, read) in preconditions.iter().zip(&found) {
            let TxnOpResponse::Get(read) = read else {
                continue;
            };
            let mod_revision = read.kvs().first().map(KeyValue::mod_revision);
            let holds = match p {
                Precondition::Exists(..) => mod_revision.is_some(),
                Precondition::Absent(..) => mod_revision.is_none(),
                Precondition::ModRevision(_, _, revision) => mod_revision == Some(*revision),
                // The read is the resource's most recently written key, if any.
                Precondition::NoneWrittenSince(_, revision) => {
                    mod_revision.is_none_or(|m| m <= *revision)
                }
            };
            if !holds {
                return Err(StoreError::PreconditionFailed(p.clone()));
            }
        }
        // Unreachable unless etcd and its reads disagree; blame the first guard.
        match preconditions.first() {
            Some(p) => Err(StoreError::PreconditionFailed(p.clone())),
            None => Err(StoreError::Corrupt(
                "an unguarded etcd write was refused".into(),
            )),
        }
    }
}

impl EtcdConfigStore {
    /// One attempt at replacing everything: reads which keys exist, then in one transaction,
    /// guarded by nothing under the prefix having changed since that read, deletes those not
    /// kept and puts every new object. (etcd refuses a transaction that both deletes a range
    /// and puts a key inside it, so keys that stay are only put.) `None` when the guard failed.
    async fn try_replace_all(
        &self,
        objects: &[(Resource, String, Value)],
        puts: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Option<i64>> {
        let mut kv = self.kv.clone();
        let existing = self
            .call(kv.get(
                self.root(),
                Some(GetOptions::new().with_prefix().with_keys_only()),
            ))
            .await?;
        let read_revision = existing.header().map_or(0, |h| h.revision());
        let kept: HashSet<&[u8]> = puts.iter().map(|(key, _)| key.as_slice()).collect();

        let mut ops = Vec::new();
        for resource in resources_in_key_order() {
            let prefix = self.resource_prefix(resource);
            let mut old = existing
                .kvs()
                .iter()
                .map(KeyValue::key)
                .filter(|key| key.starts_with(prefix.as_bytes()))
                .peekable();
            if old.peek().is_none() {
                continue;
            }
            if objects.iter().all(|(r, ..)| *r != resource) {
                ops.push(TxnOp::delete(
                    prefix,
                    Some(DeleteOptions::new().with_prefix()),
                ));
                continue;
            }
            for key in old.filter(|key| !kept.contains(key)) {
                ops.push(TxnOp::delete(key, None));
            }
        }
        for (key, body) in puts {
            ops.push(TxnOp::put(key.clone(), body.clone(), None));
        }
        if ops.len() > self.options.max_txn_ops {
            return Err(StoreError::Rejected(format!(
                "replacing the configuration takes {} etcd operations ({} objects to write, the \
                 rest deletions); one transaction holds at most {} (raise etcd's --max-txn-ops \
                 and the store's max_txn_ops together)",
                ops.len(),
                puts.len(),
                self.options.max_txn_ops,
            )));
        }
        let unchanged =
            Compare::mod_revision(self.root(), CompareOp::Less, read_revision + 1).with_prefix();
        let resp = self.txn(Txn::new().when([unchanged]).and_then(ops)).await?;
        Ok(resp.succeeded().then(|| header_revision(&resp)))
    }
}

fn header_revision(resp: &TxnResponse) -> i64 {
    resp.header().map_or(0, |h| h.revision())
}

/// The resources in the order of their keys, which is the order etcd reports deletions in.
fn resources_in_key_order() -> [Resource; 5] {
    let mut all = Resource::ALL;
    all.sort_by_key(|r| r.as_str());
    all
}

async fn with_deadline<T>(
    deadline: Duration,
    fut: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T> {
    match tokio::time::timeout(deadline, fut).await {
        Ok(result) => result.map_err(classify),
        Err(_) => Err(StoreError::Unavailable(format!(
            "etcd did not answer within {deadline:?}"
        ))),
    }
}

/// etcd's refusals of a request as such (too many operations in one transaction, a request too
/// large, the same key twice) are [`StoreError::Rejected`]; everything else means etcd could not
/// be reached or did not answer, and is [`StoreError::Unavailable`].
fn classify(e: etcd_client::Error) -> StoreError {
    // gRPC status codes, fixed by the gRPC spec.
    const INVALID_ARGUMENT: i32 = 3;
    const RESOURCE_EXHAUSTED: i32 = 8;
    if let etcd_client::Error::GRpcStatus(status) = &e {
        if matches!(
            i32::from(status.code()),
            INVALID_ARGUMENT | RESOURCE_EXHAUSTED
        ) {
            return StoreError::Rejected(format!("etcd refused the request: {}", status.message()));
        }
    }
    StoreError::Unavailable(e.to_string())
}

#[async_trait]
impl ConfigStore for EtcdConfigStore {
    async fn get(&self, resource: Resource, id: &str) -> Result<Option<Versioned>> {
        let mut kv = self.kv.clone();
        let resp = self.call(kv.get(self.key(resource, id), None)).await?;
        match resp.kvs().first() {
            Some(kv) => self.versioned(kv),
            None => Ok(None),
        }
    }

    async fn list(&self, resource: Resource) -> Result<Vec<Versioned>> {
        let mut kv = self.kv.clone();
        let key = self.resource_prefix(resource);
        let resp = self
            .call(kv.get(key, Some(GetOptions::new().with_prefix())))
            .await?;
        self.versioned_all(resp.kvs())
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        let mut kv = self.kv.clone();
        let resp = self
            .call(kv.get(self.root(), Some(GetOptions::new().with_prefix())))
            .await?;
        Ok(Snapshot {
            revision: resp.header().map_or(0, |h| h.revision()),
            objects: self.versioned_all(resp.kvs())?,
        })
    }

    async fn put(
        &self,
        resource: Resource,
        id: &str,
        value: Value,
        preconditions: &[Precondition],
    ) -> Result<i64> {
        let body = encode(&value)?;
        let op = TxnOp::put(self.key(resource, id), body, None);
        self.guarded(preconditions, op).await
    }

    async fn delete(
        &self,
        resource: Resource,
        id: &str,
        preconditions: &[Precondition],
    ) -> Result<i64> {
        let op = TxnOp::delete(self.key(resource, id), None);
        self.guarded(preconditions, op).await
    }

    async fn replace_all(&self, objects: Vec<(Resource, String, Value)>) -> Result<i64> {
        check_unique(&objects)?;
        let mut puts = Vec::with_capacity(objects.len());
        for (resource, id, value) in &objects {
            puts.push((self.key(*resource, id).into_bytes(), encode(value)?));
        }
        for _ in 0..REPLACE_ATTEMPTS {
            if let Some(revision) = self.try_replace_all(&objects, &puts).await? {
                return Ok(revision);
            }
        }
        Err(StoreError::Unavailable(
            "the configuration kept changing while it was being replaced".into(),
        ))
    }

    async fn watch(&self, after_revision: i64) -> Result<BoxStream<'static, Result<Event>>> {
        self.open_watch(after_revision).await
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

fn encode(value: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Rejected(format!("unencodable value: {e}")))
}
