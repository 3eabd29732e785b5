//! [`RewardStore`] for `spend dev`: a fjall database in `<dir>/rewards/`.
//!
//! **Why fjall, not redb** (which the embedded configuration store uses). The reward store is
//! write-heavy with random keys: every record inserts one outcome keyed by a random UUID and one
//! history row keyed by a random card. In redb (a copy-on-write B-tree) each such insert dirties
//! its own leaf page, so a batch of 1,000 rewrites thousands of pages at commit: measured on
//! this 2-core machine, ~12,000 records/s with durable commits (~17,000 without fsync), far
//! short of the pipeline's 100,000 records/s. fjall (an LSM tree: one journal append per batch,
//! sorted runs merged in the background) took the same raw workload at 45,000–85,000 records/s
//! on the same machine under the same (heavy, noisy) load, and this store's prefetch + apply at
//! ~9 µs of CPU per record (over 100,000 records per CPU-second), with a history page still one
//! range scan. It is pure Rust, maintained, and has cross-keyspace atomic write batches,
//! snapshots for consistent reads, and a lock file against a second process. The configuration
//! store has the opposite profile (tiny, rarely written) and stays on redb.
//!
//! **Keyspaces.**
//!
//! | keyspace | key | value |
//! |---|---|---|
//! | `outcomes` | record id (16 bytes) | a dead letter: the encoded [`StoredOutcome`]; a reward: its fixed header (status, unit, reward) and its `history` key |
//! | `history` | card id (16) · `!date` (4) · `!record id` (16) | the encoded rewarded outcome |
//! | `reversals` | original id (16) · reversal id (16) | the reversal's magnitude |
//! | `missions` | card id (16) · mission id (16) | the card's [`StoredMission`], encoded |
//! | `meta` | `format` | layout version |
//!
//! Keys are big-endian so byte order is numeric order; the history key inverts the date and the
//! id so ascending key order is newest first, ties by id descending: a page is one range scan
//! from the cursor's key, with the whole record in the value. A rewarded record is kept once,
//! there: the `outcomes` entry of its id only refers to it (once-only checks read just the
//! header; a lookup by id follows the reference in the same snapshot), which cut the bytes and
//! the CPU per record written. `S` of an original is the sum of its `reversals` rows; a row is
//! written in the same batch as its reversal's rewarded outcome, which is written once (a
//! rewarded outcome is never replaced), so `S` can neither miss a reversal nor count one twice.
//!
//! **Missions.** An outcome's mission states and payout rows go into the same write batch as the
//! outcome, and are skipped with it when its id is already final; a state moved twice in one
//! batch is written once, as the batch left it. A payout row is an outcome like any other
//! (history row, reference under its id), so the once-only rules cover it.
//!
//! **Writes.** One [`RewardStore::apply`] is one fjall write batch, committed atomically across
//! keyspaces with one journal fsync (`PersistMode::SyncAll`) before `apply` returns; a crash
//! before that leaves none of the batch. A store-wide writer lock makes "read what is stored,
//! decide, write" atomic against concurrent applies; records earlier in the same batch are
//! seen through an in-batch overlay. Readers take snapshots and never wait for the writer.
//! The batch reaches the memtables sorted by keyspace and key: a memtable is a skiplist, and
//! an insert's search from its head costs a cache miss a level when the keys are random, while
//! sorted keys share most of the path of the one before (`cargo bench -p spend-store --bench
//! apply`, two runs against the unsorted batch: 66-70 ms -> 53-55 ms a batch of 8,192, -20 %).
//!
//! **Stored ids.** Almost every record is new, and its two once-only reads (the batch prefetch,
//! then the check under the writer lock) would each search the memtable's skiplist and the
//! tables' filters for a key that is not there: the largest cost of a write, by profile. So the
//! store keeps [`StoredIds`], Bloom filters over every id with an `outcomes` entry, built at open
//! from the keys and filled by each `apply` *before* its commit; a read that the filters call
//! absent is absent, and only the rest (re-sends, and ~1-2 % false positives) read the keyspace.
//! A filter can only err towards a read: an id is added before it can be visible, never removed
//! (outcomes are never deleted), and a failed commit leaves only a spare entry.
//!
//! **Summaries** scan the card's history in range reading only each value's fixed header (unit
//! and reward): bounded by the card's history, not by the store (measured: ~0.6 ms for a card
//! of 2,000 outcomes on the loaded machine, tens of µs for a typical card). Per-month running
//! totals would make them O(months) but add a read-modify-write to every batch; not worth it
//! at these sizes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use chrono::{Datelike, NaiveDate};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable, UserKey, UserValue};
use rust_decimal::Decimal;
use spend_domain::ledger::{OriginalPurchase, Prior};
use spend_domain::{CardId, RecordId, Transaction, TxKind};

use crate::bloom::{Bloom, Probe};

use crate::reward_store::{
    check_cursor, decode_outcome, encode_outcome, encode_reference, page_limit, peek_header,
    reference_key, Applied, Cursor, DateRange, Header, Page, PrefetchedLedger, Result, RewardStore,
    RewardStoreError, StoredMission, StoredOutcome, StoredStatus, Summary,
};
use crate::reward_store::{decode_mission, encode_mission};

/// The database folder inside the data directory.
pub const DIR_NAME: &str = "rewards";

/// The layout this code writes and reads.
const FORMAT: u64 = 1;

type HistoryKey = [u8; 36];

/// A keyspace's memtable size (fjall's default is 64 MiB). fjall counts key and value bytes;
/// the skiplist's nodes add ~2x, so with 64 MiB the `outcomes` and `history` memtables held
/// ~500 MB between them at a million records (`spend dev` peaked at 1.2 GB). Smaller memtables
/// flush more often, each flush smaller. Applies to keyspaces created from now on; an existing
/// store keeps the size it was created with.
///
/// Compaction is fjall's default, leveled with four L0 tables before a merge into L1. Sixteen
/// cut the fjall threads' CPU from ~4.9 to ~2.9 µs a record on `spend bench-pipeline --rows
/// 1000000`, but the many overlapping L0 tables cost a third of the informer's reads (`spend
/// bench-informer`, mixed: 11.0-11.6K -> 7.2-7.3K req/s on a freshly filled store); the
/// cardholder's side matters more than background CPU, so the default stays.
const MEMTABLE_BYTES: u64 = 16 << 20;

/// A [`RewardStore`] in one local folder. Cheap to clone: clones share the database.
#[derive(Clone)]
pub struct EmbeddedRewardStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    outcomes: Keyspace,
    history: Keyspace,
    reversals: Keyspace,
    missions: Keyspace,
    /// Held by one `apply` from its first read to its commit.
    writer: Mutex<()>,
    /// Every id in `outcomes`, and maybe a few more.
    ids: RwLock<StoredIds>,
}

/// Bloom filters over the ids in `outcomes`, each twice the capacity of the one before, so the
/// set grows without a rebuild: a lookup tries each (one cache miss apiece; a few at most).
struct StoredIds {
    filters: Vec<Bloom>,
    /// Ids added to the last filter.
    in_last: usize,
}

impl StoredIds {
    /// The first filter's capacity: ~1.2 MB.
    const FIRST: usize = 1 << 20;

    /// The filters over every key of `outcomes`.
    fn load(outcomes: &Keyspace) -> Result<Self> {
        let mut keys = Vec::new();
        for row in outcomes.iter() {
            let key = row.key().map_err(storage)?;
            let id: [u8; 16] = key.as_ref().try_into().map_err(|_| {
                RewardStoreError::Corrupt(format!("an outcome key of {} bytes", key.len()))
            })?;
            keys.push(u128::from_be_bytes(id));
        }
        let mut ids = StoredIds {
            filters: vec![Bloom::new(Self::FIRST.max(keys.len() * 2))],
            in_last: 0,
        };
        for key in keys {
            ids.insert(key);
        }
        Ok(ids)
    }

    fn insert(&mut self, key: u128) {
        let last = self.filters.len() - 1;
        if self.in_last >= self.filters[last].capacity() {
            let next = Bloom::new(self.filters[last].capacity() * 2);
            self.filters.push(next);
            self.in_last = 0;
        }
        self.in_last += 1;
        if let Some(last) = self.filters.last_mut() {
            last.insert(Probe::of(key));
        }
    }

    /// `false`: `id` has no `outcomes` entry. `true`: it may have one.
    fn may_contain(&self, id: RecordId) -> bool {
        let probe = Probe::of(id.0.as_u128());
        self.filters.iter().any(|f| f.may_contain(probe))
    }
}

impl EmbeddedRewardStore {
    /// Opens (or creates) the store in `dir/rewards`. A second open of the same directory, in
    /// this process or another, is refused with [`RewardStoreError::Unavailable`].
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(DIR_NAME);
        std::fs::create_dir_all(&path).map_err(|e| {
            RewardStoreError::Unavailable(format!("cannot create {}: {e}", path.display()))
        })?;
        let db = Database::builder(&path).open().map_err(|e| match e {
            fjall::Error::Locked => RewardStoreError::Unavailable(format!(
                "{} is open in another store or process",
                path.display()
            )),
            e => storage(e),
        })?;
        let keyspace = |name: &str| {
            db.keyspace(name, || {
                KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES)
            })
            .map_err(storage)
        };
        let outcomes = keyspace("outcomes")?;
        let history = keyspace("history")?;
        let reversals = keyspace("reversals")?;
        let missions = keyspace("missions")?;
        let meta = keyspace("meta")?;
        match meta.get("format").map_err(storage)? {
            None => {
                meta.insert("format", FORMAT.to_be_bytes())
                    .map_err(storage)?;
                db.persist(PersistMode::SyncAll).map_err(storage)?;
            }
            Some(v) if v.as_ref() == FORMAT.to_be_bytes() => {}
            Some(_) => {
                return Err(RewardStoreError::Corrupt(format!(
                    "{} has a layout this build cannot read (it reads version {FORMAT})",
                    path.display()
                )))
            }
        }
        let ids = StoredIds::load(&outcomes)?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                ids: RwLock::new(ids),
                outcomes,
                history,
                reversals,
                missions,
                writer: Mutex::new(()),
            }),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| {
                RewardStoreError::Unavailable(format!("embedded store task failed: {e}"))
            })?
    }
}

fn storage(e: impl std::fmt::Display) -> RewardStoreError {
    RewardStoreError::Unavailable(format!("embedded reward store: {e}"))
}

/// Maps a date to 4 bytes whose ascending order is the dates' descending order.
fn inverted_date(date: NaiveDate) -> [u8; 4] {
    // Flipping the sign bit orders i32s as u32s; `!` reverses the order.
    (!((date.num_days_from_ce() as u32) ^ 0x8000_0000)).to_be_bytes()
}

fn history_key_raw(card: CardId, date: [u8; 4], inverted_id: u128) -> HistoryKey {
    let mut k = [0u8; 36];
    k[..16].copy_from_slice(card.0.as_bytes());
    k[16..20].copy_from_slice(&date);
    k[20..].copy_from_slice(&inverted_id.to_be_bytes());
    k
}

fn history_key(card: CardId, date: NaiveDate, id: RecordId) -> HistoryKey {
    history_key_raw(card, inverted_date(date), !id.0.as_u128())
}

/// The keys bounding `card`'s history in `range` (inclusive both ends, ascending key order),
/// starting after `after` if given.
fn history_bounds(
    card: CardId,
    range: DateRange,
    after: Option<&Cursor>,
) -> (HistoryKey, bool, HistoryKey) {
    let newest = history_key_raw(card, inverted_date(range.highest()), 0);
    let (start, exclusive) = match after {
        Some(c) => {
            let k = history_key(card, c.date(), c.id());
            if k >= newest {
                (k, true)
            } else {
                (newest, false)
            }
        }
        None => (newest, false),
    };
    let end = history_key_raw(card, inverted_date(range.lowest()), u128::MAX);
    (start, exclusive, end)
}

fn reversal_key(original: RecordId, reversal: RecordId) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(original.0.as_bytes());
    k[16..].copy_from_slice(reversal.0.as_bytes());
    k
}

fn decimal_bytes(b: &[u8]) -> Result<Decimal> {
    let a: [u8; 16] = b
        .try_into()
        .map_err(|_| RewardStoreError::Corrupt("reversal magnitude: bad length".into()))?;
    Ok(Decimal::deserialize(a))
}

fn mission_key(card: CardId, mission: uuid::Uuid) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(card.0.as_bytes());
    k[16..].copy_from_slice(mission.as_bytes());
    k
}

/// The keyspace a write of a batch goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Outcomes,
    History,
    Reversals,
    Missions,
}

impl Inner {
    fn keyspace(&self, target: Target) -> &Keyspace {
        match target {
            Target::Outcomes => &self.outcomes,
            Target::History => &self.history,
            Target::Reversals => &self.reversals,
            Target::Missions => &self.missions,
        }
    }
}

/// One `apply`'s write batch, and what it has decided so far.
struct BatchWrite<'a> {
    inner: &'a Inner,
    /// The writes, in the order they were decided (a later write of a key replaces an earlier).
    writes: Vec<(Target, UserKey, UserValue)>,
    /// Ids written earlier in this batch: whether their outcome is final.
    in_batch: HashMap<RecordId, bool>,
    /// Mission states moved in this batch, as it leaves them (written once, at the end).
    missions: HashMap<[u8; 32], Vec<u8>>,
    applied: Applied,
}

impl BatchWrite<'_> {
    /// Whether `id` already has a final (rewarded) outcome, stored or earlier in this batch.
    fn is_final(&self, id: RecordId, stored: &StoredIds) -> Result<bool> {
        Ok(match self.in_batch.get(&id) {
            Some(&rewarded) => rewarded,
            None if !stored.may_contain(id) => false,
            None => match self.inner.outcomes.get(id.0.as_bytes()).map_err(storage)? {
                Some(v) => matches!(peek_header(&v)?, Header::Rewarded { .. }),
                None => false,
            },
        })
    }

    /// Writes `o` and what it causes, unless its id is final already.
    fn outcome(&mut self, o: &StoredOutcome, stored: &StoredIds) -> Result<()> {
        let id = o.id();
        if self.is_final(id, stored)? {
            self.applied.unchanged += 1;
            return Ok(());
        }
        let bytes = encode_outcome(o);
        let by_id = if o.is_rewarded() {
            let key = history_key(o.card_id(), o.tx.transaction_date, id);
            let reference = encode_reference(o, &key);
            self.put(Target::History, key, bytes);
            reference
        } else {
            bytes
        };
        if let Some((original, magnitude)) = o.reversal_claim() {
            self.put(
                Target::Reversals,
                reversal_key(original, id),
                magnitude.serialize(),
            );
        }
        self.put(Target::Outcomes, id.0.as_bytes(), by_id);
        self.in_batch.insert(id, o.is_rewarded());
        self.applied.written += 1;
        for m in &o.missions {
            let key = mission_key(m.mission.card_id, m.mission.mission_id);
            self.missions.insert(key, encode_mission(&m.mission));
            if let Some(payout) = &m.payout {
                self.outcome(payout, stored)?;
            }
        }
        Ok(())
    }

    fn put(&mut self, target: Target, key: impl Into<UserKey>, value: impl Into<UserValue>) {
        self.writes.push((target, key.into(), value.into()));
    }

    fn commit(mut self) -> Result<Applied> {
        let missions = std::mem::take(&mut self.missions);
        for (key, state) in missions {
            self.put(Target::Missions, key, state);
        }
        // Sorted, so that each memtable insert finds most of its path in the cache (the module's
        // doc). The sort is stable: of two writes of one key, the later still lands last.
        self.writes.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut batch = self.inner.db.batch().durability(Some(PersistMode::SyncAll));
        for (target, key, value) in self.writes {
            batch.insert(self.inner.keyspace(target), key, value);
        }
        {
            // Before the commit: once a reader can see an id, the filters have it.
            let mut stored = self.inner.ids.write().unwrap_or_else(|p| p.into_inner());
            for id in self.in_batch.keys() {
                stored.insert(id.0.as_u128());
            }
        }
        batch.commit().map_err(storage)?;
        Ok(self.applied)
    }
}

fn apply_batch(inner: &Inner, batch: &[StoredOutcome]) -> Result<Applied> {
    let _writer = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
    let mut write = BatchWrite {
        inner,
        writes: Vec::with_capacity(batch.len() * 2),
        in_batch: HashMap::new(),
        missions: HashMap::new(),
        applied: Applied::default(),
    };
    {
        // Only an `apply` adds ids, and this one holds the writer lock: the filters stay as read.
        let stored = inner.ids.read().unwrap_or_else(|p| p.into_inner());
        for o in batch {
            write.outcome(o, &stored)?;
        }
    }
    write.commit()
}

/// The outcome of `id` as `snapshot` sees it, following a reference into `history`.
fn read_outcome(
    inner: &Inner,
    snapshot: &fjall::Snapshot,
    id: RecordId,
) -> Result<Option<StoredOutcome>> {
    let Some(v) = snapshot
        .get(&inner.outcomes, id.0.as_bytes())
        .map_err(storage)?
    else {
        return Ok(None);
    };
    let Some(key) = reference_key(&v) else {
        return decode_outcome(&v).map(Some);
    };
    match snapshot.get(&inner.history, key).map_err(storage)? {
        Some(record) => decode_outcome(&record).map(Some),
        None => Err(RewardStoreError::Corrupt(format!(
            "outcome {id} refers to a history row that is not there"
        ))),
    }
}

fn prefetch_batch(
    inner: &Inner,
    ids: &[RecordId],
    originals: &[RecordId],
) -> Result<PrefetchedLedger> {
    let mut ledger = PrefetchedLedger::new();
    let snapshot = inner.db.snapshot();
    // Read after the snapshot is taken: whatever it sees was added to the filters before.
    let stored = inner.ids.read().unwrap_or_else(|p| p.into_inner());
    for &id in ids {
        if !stored.may_contain(id) {
            continue;
        }
        if let Some(v) = snapshot
            .get(&inner.outcomes, id.0.as_bytes())
            .map_err(storage)?
        {
            let prior = match peek_header(&v)? {
                Header::Rewarded { .. } => Prior::Rewarded,
                Header::DeadLetter => Prior::DeadLetter,
            };
            ledger.insert_prior(id, prior);
        }
    }
    drop(stored);
    for &id in originals {
        let Some(stored) = read_outcome(inner, &snapshot, id)? else {
            continue;
        };
        let (StoredStatus::Rewarded(r), TxKind::Purchase) = (&stored.status, stored.tx.kind) else {
            continue;
        };
        if stored.is_payout() {
            // A mission payout is no purchase a reversal can name.
            continue;
        }
        let mut reversed = Decimal::ZERO;
        for row in snapshot.prefix(&inner.reversals, id.0.as_bytes()) {
            let magnitude = row.value().map_err(storage)?;
            reversed += decimal_bytes(&magnitude)?;
        }
        ledger.insert_original(
            id,
            OriginalPurchase {
                card_id: stored.tx.card_id,
                reward: r.reward,
                amount: stored.tx.amount,
                currency: stored.tx.currency,
                unit: r.unit,
                reversed,
            },
        );
    }
    Ok(ledger)
}

fn card_missions(inner: &Inner, cards: &[CardId]) -> Result<Vec<StoredMission>> {
    let snapshot = inner.db.snapshot();
    let mut out = Vec::new();
    for card in cards {
        for row in snapshot.prefix(&inner.missions, card.0.as_bytes()) {
            out.push(decode_mission(&row.value().map_err(storage)?)?);
        }
    }
    Ok(out)
}

fn history_page(
    inner: &Inner,
    card: CardId,
    range: DateRange,
    limit: usize,
    after: Option<&Cursor>,
) -> Result<Page> {
    let (start, exclusive, end) = history_bounds(card, range, after);
    let snapshot = inner.db.snapshot();
    let mut items = Vec::with_capacity(limit.min(64));
    let mut more = false;
    for row in snapshot.range(&inner.history, start..=end) {
        let (key, value) = row.into_inner().map_err(storage)?;
        if exclusive && key.as_ref() == start {
            continue;
        }
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(decode_outcome(&value)?);
    }
    let next_cursor = if more {
        items.last().map(Cursor::after)
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

fn card_summary(inner: &Inner, card: CardId, range: DateRange) -> Result<Summary> {
    let (start, _, end) = history_bounds(card, range, None);
    let mut summary = Summary::default();
    for row in inner.db.snapshot().range(&inner.history, start..=end) {
        let value = row.value().map_err(storage)?;
        if let Header::Rewarded { unit, reward } = peek_header(&value)? {
            summary.add(unit, reward);
        }
    }
    Ok(summary.finish())
}

#[async_trait]
impl RewardStore for EmbeddedRewardStore {
    async fn apply(&self, batch: &[StoredOutcome]) -> Result<Applied> {
        if batch.is_empty() {
            return Ok(Applied::default());
        }
        // The write runs on a blocking thread, which needs the batch for itself.
        let batch = batch.to_vec();
        self.blocking(move |inner| apply_batch(inner, &batch)).await
    }

    async fn prefetch(&self, txs: &[Transaction]) -> Result<PrefetchedLedger> {
        let ids: Vec<RecordId> = txs.iter().map(|t| t.id).collect();
        let mut originals: Vec<RecordId> =
            txs.iter().filter_map(|t| t.kind.original_id()).collect();
        originals.sort_unstable();
        originals.dedup();
        self.blocking(move |inner| prefetch_batch(inner, &ids, &originals))
            .await
    }

    async fn get(&self, id: RecordId) -> Result<Option<StoredOutcome>> {
        self.blocking(move |inner| read_outcome(inner, &inner.db.snapshot(), id))
            .await
    }

    async fn history(
        &self,
        card: CardId,
        range: DateRange,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<Page> {
        check_cursor(card, after.as_ref())?;
        if range.is_empty() {
            return Ok(Page::default());
        }
        let limit = page_limit(limit);
        self.blocking(move |inner| history_page(inner, card, range, limit, after.as_ref()))
            .await
    }

    async fn summary(&self, card: CardId, range: DateRange) -> Result<Summary> {
        if range.is_empty() {
            return Ok(Summary::default());
        }
        self.blocking(move |inner| card_summary(inner, card, range))
            .await
    }

    async fn missions(&self, cards: &[CardId]) -> Result<Vec<StoredMission>> {
        let mut cards = cards.to_vec();
        cards.sort_unstable();
        cards.dedup();
        self.blocking(move |inner| card_missions(inner, &cards))
            .await
    }

    async fn ping(&self) -> Result<()> {
        // A point read of an id no record has: exercises the read path, finds nothing.
        self.blocking(|inner| inner.outcomes.get([0u8; 16]).map(drop).map_err(storage))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_ids_grow_by_new_filters_and_forget_nothing() {
        let mut ids = StoredIds {
            filters: vec![Bloom::new(100)],
            in_last: 0,
        };
        for k in 0..10_000u128 {
            ids.insert(k * 7919);
        }
        // 100, 200, 400, ... 6,400: seven filters for 10,000 ids.
        assert_eq!(ids.filters.len(), 7);
        for k in 0..10_000u128 {
            assert!(
                ids.may_contain(RecordId(uuid::Uuid::from_u128(k * 7919))),
                "{k}"
            );
        }
    }
}
