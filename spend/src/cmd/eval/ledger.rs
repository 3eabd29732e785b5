//! `spend eval`'s ledger: what evaluation knows of every id so far, in memory that does not grow
//! with the file.
//!
//! An exact once-only check needs every id ever seen, so an in-memory ledger grows with the
//! file: ~200 bytes an id, 224 MB of peak RSS at 1M rows. This one keeps the newest ids (at most
//! `budget` of them) in a hash map sized once, and when the map is full writes it, sorted by id,
//! as a **run** to an unnamed temporary file (deleted by the OS however the process ends).
//!
//! - **Lookups** go to memory first, then to the runs newest first; the first answer wins, so a
//!   newer entry (a purchase re-sent after a dead letter, an original whose `S` grew) shadows an
//!   older one. One Bloom filter over every spilled id answers "in no run" for almost every new
//!   id with one cache miss; each run has a filter of its own too (picking the run an id is in)
//!   and a sparse index (the first id of every [`BLOCK`] entries) that finds the one block a
//!   present id can be in: one `pread`. The filters are blocked (an id's bits share a cache line)
//!   at 10+ bits an id, ~1-2 % false positives.
//! - **Updates** never touch a run: a reversal that names a spilled original copies it into
//!   memory with its new `S`.
//! - **Merging:** past [`MAX_RUNS`] runs, all of them are merged into one (newest entry wins), so
//!   a lookup checks at most that many filters.
//! - **What still grows** with the file is ~3-4 bytes an id (two filters and the index): a few
//!   MB per million ids, against ~200 MB in memory. Mission states stay in memory: they grow with cards
//!   times missions, not with rows.
//!
//! The Ledger trait answers from `&self` without a `Result`, so a failed read of a run is kept
//! and handed back by [`SpillLedger::check`]: `spend eval` calls it after evaluating each row,
//! before it writes that row's result, and stops with the error.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;

use rust_decimal::Decimal;
use spend_domain::eval::Outcome;
use spend_domain::ledger::{Ledger, OriginalPurchase, Prior};
use spend_domain::mission::{MissionEffect, MissionState};
use spend_domain::types::{Amount, CurrencyCode, Unit};
use spend_domain::{CardId, RecordId, Transaction, TxKind};
use spend_store::bloom::{mix, Bloom, Probe};
use uuid::Uuid;

/// Ids kept in memory by default: 7/8 of 2^18, the most a hash map of 2^18 buckets holds, so the
/// map is allocated once (~25 MB) and never rehashed.
pub(crate) const DEFAULT_BUDGET: usize = (1 << 18) / 8 * 7;

/// Entries per indexed block of a run: one `pread` of ~5.4 KB per lookup that passes the filter.
const BLOCK: usize = 64;

/// Runs kept before they are merged into one.
const MAX_RUNS: usize = 8;

/// Bytes of one entry in a run: id (16), tag (1), then a purchase's card (16), reward (16),
/// amount (16), currency (3), unit (1) and reversed (16); zeros for the other tags.
const ENTRY: usize = 85;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Entry {
    DeadLetter,
    Reversal,
    Purchase(OriginalPurchase),
}

/// A [`Ledger`] for `spend eval` whose memory is bounded by its budget, not by the input.
pub(crate) struct SpillLedger {
    memory: IdMap<Entry>,
    budget: usize,
    /// Oldest first.
    runs: Vec<Run>,
    /// Every id in any run: one filter, so an id in no run (most lookups) costs one cache miss
    /// however many runs there are. Rebuilt twice as large when it is full.
    spilled: Bloom,
    /// Ids written to runs so far (with repeats across runs).
    spilled_ids: usize,
    missions: HashMap<(CardId, Uuid), MissionState>,
    /// The first failed read of a run, until [`SpillLedger::check`] hands it back.
    failed: RefCell<Option<io::Error>>,
}

impl SpillLedger {
    /// A ledger that keeps up to `budget` ids (at least 1) in memory.
    pub(crate) fn new(budget: usize) -> Self {
        let budget = budget.max(1);
        Self {
            memory: IdMap::with_capacity_and_hasher(budget.min(DEFAULT_BUDGET), Default::default()),
            budget,
            runs: Vec::new(),
            spilled: Bloom::new(budget),
            spilled_ids: 0,
            missions: HashMap::new(),
            failed: RefCell::new(None),
        }
    }

    /// The error of a read that failed since the last call: the answers given since are not to
    /// be trusted.
    pub(crate) fn check(&self) -> io::Result<()> {
        match self.failed.borrow_mut().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Records what evaluating `tx` decided, exactly as
    /// [`MemoryLedger::record`](spend_domain::ledger::MemoryLedger::record) does.
    pub(crate) fn record(&mut self, tx: &Transaction, outcome: &Outcome) -> io::Result<()> {
        match outcome {
            Outcome::Duplicate => {}
            Outcome::DeadLetter(_) => {
                if self.entry(tx.id)?.is_none() {
                    self.memory.insert(tx.id, Entry::DeadLetter);
                }
            }
            Outcome::Rewarded(r) => match tx.kind {
                TxKind::Purchase => {
                    self.memory
                        .insert(tx.id, Entry::Purchase(OriginalPurchase::rewarded(tx, r)));
                }
                TxKind::Reversal { original_id } => {
                    self.memory.insert(tx.id, Entry::Reversal);
                    if let Some(Entry::Purchase(mut p)) = self.entry(original_id)? {
                        p.reversed += r.reward.abs();
                        self.memory.insert(original_id, Entry::Purchase(p));
                    }
                }
            },
        }
        if self.memory.len() >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Records the mission states `effects` leave.
    pub(crate) fn record_missions(&mut self, effects: impl IntoIterator<Item = MissionEffect>) {
        for e in effects {
            self.missions.insert((e.card_id, e.mission_id), e.state);
        }
    }

    /// Every card's state in every mission, in no particular order.
    pub(crate) fn mission_states(&self) -> impl Iterator<Item = (CardId, Uuid, &MissionState)> {
        self.missions.iter().map(|((c, m), s)| (*c, *m, s))
    }

    /// The newest entry of `id`: memory, then the runs newest first.
    fn entry(&self, id: RecordId) -> io::Result<Option<Entry>> {
        if let Some(e) = self.memory.get(&id) {
            return Ok(Some(*e));
        }
        let key = id.0.as_u128();
        let probe = Probe::of(key);
        if !self.spilled.may_contain(probe) {
            return Ok(None);
        }
        for run in self.runs.iter().rev() {
            if let Some(e) = run.get(key, probe)? {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    /// [`Self::entry`] for the trait's lookups, which cannot fail: a failure is kept for
    /// [`Self::check`].
    fn lookup(&self, id: RecordId) -> Option<Entry> {
        match self.entry(id) {
            Ok(e) => e,
            Err(e) => {
                self.failed.borrow_mut().get_or_insert(e);
                None
            }
        }
    }

    /// Moves every id in memory to a new run, then merges the runs if there are too many.
    fn spill(&mut self) -> io::Result<()> {
        let mut keys: Vec<u128> = self.memory.keys().map(|id| id.0.as_u128()).collect();
        keys.sort_unstable();
        let memory = &self.memory;
        let entries = keys
            .iter()
            .map(|&k| (k, memory[&RecordId(Uuid::from_u128(k))]));
        let run = Run::write(keys.len(), entries)?;
        self.memory.clear();
        self.runs.push(run);
        self.spilled_ids += keys.len();
        if self.spilled_ids <= self.spilled.capacity() {
            for &k in &keys {
                self.spilled.insert(Probe::of(k));
            }
        } else {
            self.spilled = Bloom::new(self.spilled_ids * 2);
            for run in &self.runs {
                let mut reader = RunReader::new(run);
                while let Some((k, _)) = reader.next()? {
                    self.spilled.insert(Probe::of(k));
                }
            }
        }
        if self.runs.len() > MAX_RUNS {
            let merged = Run::merge(&self.runs)?;
            self.runs = vec![merged];
        }
        Ok(())
    }
}

impl Ledger for SpillLedger {
    fn prior(&self, id: RecordId) -> Option<Prior> {
        self.lookup(id).map(|e| match e {
            Entry::DeadLetter => Prior::DeadLetter,
            Entry::Reversal | Entry::Purchase(_) => Prior::Rewarded,
        })
    }

    fn original(&self, card: CardId, id: RecordId) -> Option<OriginalPurchase> {
        match self.lookup(id) {
            Some(Entry::Purchase(p)) if p.card_id == card => Some(p),
            _ => None,
        }
    }

    fn mission_state(&self, card: CardId, mission: Uuid) -> Option<&MissionState> {
        self.missions.get(&(card, mission))
    }
}

/// Ids and their entries, sorted by id, in an unnamed temporary file.
struct Run {
    file: File,
    len: usize,
    /// The first id of each block of [`BLOCK`] entries.
    index: Vec<u128>,
    filter: Bloom,
}

impl Run {
    /// Writes `entries` (ascending ids, at most `capacity` of them) to a new run.
    fn write(capacity: usize, entries: impl Iterator<Item = (u128, Entry)>) -> io::Result<Run> {
        let file = tempfile::tempfile().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot create a temporary file in {} for the ledger: {e}",
                    std::env::temp_dir().display()
                ),
            )
        })?;
        let mut out = BufWriter::with_capacity(1 << 16, &file);
        let mut filter = Bloom::new(capacity);
        let mut index = Vec::with_capacity(capacity.div_ceil(BLOCK));
        let mut len = 0;
        let mut buf = [0u8; ENTRY];
        for (key, entry) in entries {
            if len % BLOCK == 0 {
                index.push(key);
            }
            filter.insert(Probe::of(key));
            encode(key, &entry, &mut buf);
            out.write_all(&buf)?;
            len += 1;
        }
        out.flush()?;
        drop(out);
        Ok(Run {
            file,
            len,
            index,
            filter,
        })
    }

    /// The entry of `key`, if this run has one.
    fn get(&self, key: u128, probe: Probe) -> io::Result<Option<Entry>> {
        if !self.filter.may_contain(probe) {
            return Ok(None);
        }
        let block = self.index.partition_point(|&first| first <= key);
        let Some(block) = block.checked_sub(1) else {
            return Ok(None);
        };
        let start = block * BLOCK;
        let count = BLOCK.min(self.len - start);
        let mut buf = [0u8; BLOCK * ENTRY];
        let buf = &mut buf[..count * ENTRY];
        self.file.read_exact_at(buf, (start * ENTRY) as u64)?;
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let entry = &buf[mid * ENTRY..(mid + 1) * ENTRY];
            match key_of(entry).cmp(&key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return decode(entry).map(Some),
            }
        }
        Ok(None)
    }

    /// All of `runs` (oldest first) as one run; of entries with the same id, the newest's.
    fn merge(runs: &[Run]) -> io::Result<Run> {
        let mut readers: Vec<RunReader<'_>> = runs.iter().map(RunReader::new).collect();
        let mut heads = readers
            .iter_mut()
            .map(RunReader::next)
            .collect::<io::Result<Vec<_>>>()?;
        let capacity = runs.iter().map(|r| r.len).sum();
        let mut failed = None;
        let merged = Run::write(
            capacity,
            std::iter::from_fn(|| {
                // The smallest id at a head; on a tie, the newest run's (the highest index).
                let (newest, key) = heads
                    .iter()
                    .enumerate()
                    .filter_map(|(i, h)| h.map(|(k, _)| (i, k)))
                    .min_by_key(|&(i, k)| (k, std::cmp::Reverse(i)))?;
                let entry = heads[newest].map(|(_, e)| e)?;
                for i in 0..heads.len() {
                    if heads[i].is_some_and(|(k, _)| k == key) {
                        match readers[i].next() {
                            Ok(next) => heads[i] = next,
                            Err(e) => {
                                failed = Some(e);
                                return None;
                            }
                        }
                    }
                }
                Some((key, entry))
            }),
        )?;
        match failed {
            Some(e) => Err(e),
            None => Ok(merged),
        }
    }
}

/// Reads a run front to back, 1,024 entries at a time.
struct RunReader<'a> {
    run: &'a Run,
    next: usize,
    buf: Vec<u8>,
    /// The entry number of `buf`'s first entry.
    buf_start: usize,
}

impl<'a> RunReader<'a> {
    const CHUNK: usize = 1024;

    fn new(run: &'a Run) -> Self {
        Self {
            run,
            next: 0,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    fn next(&mut self) -> io::Result<Option<(u128, Entry)>> {
        if self.next == self.run.len {
            return Ok(None);
        }
        if self.next >= self.buf_start + self.buf.len() / ENTRY {
            let count = Self::CHUNK.min(self.run.len - self.next);
            self.buf.resize(count * ENTRY, 0);
            self.run
                .file
                .read_exact_at(&mut self.buf, (self.next * ENTRY) as u64)?;
            self.buf_start = self.next;
        }
        let at = (self.next - self.buf_start) * ENTRY;
        let bytes = &self.buf[at..at + ENTRY];
        self.next += 1;
        Ok(Some((key_of(bytes), decode(bytes)?)))
    }
}

fn key_of(entry: &[u8]) -> u128 {
    let mut k = [0u8; 16];
    k.copy_from_slice(&entry[..16]);
    u128::from_be_bytes(k)
}

fn encode(key: u128, entry: &Entry, buf: &mut [u8; ENTRY]) {
    buf.fill(0);
    buf[..16].copy_from_slice(&key.to_be_bytes());
    match entry {
        Entry::DeadLetter => buf[16] = 0,
        Entry::Reversal => buf[16] = 1,
        Entry::Purchase(p) => {
            buf[16] = 2;
            buf[17..33].copy_from_slice(p.card_id.0.as_bytes());
            buf[33..49].copy_from_slice(&p.reward.serialize());
            buf[49..65].copy_from_slice(&p.amount.get().serialize());
            buf[65..68].copy_from_slice(p.currency.as_str().as_bytes());
            buf[68] = match p.unit {
                Unit::Points => 0,
                Unit::Miles => 1,
                Unit::Cashback => 2,
            };
            buf[69..85].copy_from_slice(&p.reversed.serialize());
        }
    }
}

fn decode(b: &[u8]) -> io::Result<Entry> {
    let corrupt = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the ledger's temporary file holds a bad {what}"),
        )
    };
    let decimal = |at: usize| {
        let mut d = [0u8; 16];
        d.copy_from_slice(&b[at..at + 16]);
        Decimal::deserialize(d)
    };
    match b[16] {
        0 => Ok(Entry::DeadLetter),
        1 => Ok(Entry::Reversal),
        2 => {
            let mut card = [0u8; 16];
            card.copy_from_slice(&b[17..33]);
            let currency = std::str::from_utf8(&b[65..68])
                .ok()
                .and_then(CurrencyCode::parse)
                .ok_or_else(|| corrupt("currency"))?;
            Ok(Entry::Purchase(OriginalPurchase {
                card_id: CardId(Uuid::from_bytes(card)),
                reward: decimal(33),
                amount: Amount::new(decimal(49)).ok_or_else(|| corrupt("amount"))?,
                currency,
                unit: match b[68] {
                    0 => Unit::Points,
                    1 => Unit::Miles,
                    2 => Unit::Cashback,
                    _ => return Err(corrupt("unit")),
                },
                reversed: decimal(69),
            }))
        }
        _ => Err(corrupt("entry tag")),
    }
}

/// Hashes a [`RecordId`] for the in-memory map with [`mix`] instead of SipHash: the map is
/// private to one process, and its keys are ids the input chose, so flooding it could only slow
/// the caller's own run.
#[derive(Clone, Copy, Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = mix(self.0 ^ u64::from_le_bytes(word));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 ^= n as u64;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap<V> = HashMap<RecordId, V, std::hash::BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn purchase(n: u128, reversed: i64) -> Entry {
        Entry::Purchase(OriginalPurchase {
            card_id: CardId(Uuid::from_u128(n * 7)),
            reward: Decimal::new(12345, 2),
            amount: Amount::new(Decimal::new(9999, 2)).unwrap(),
            currency: CurrencyCode::parse("JPY").unwrap(),
            unit: Unit::Miles,
            reversed: Decimal::new(reversed, 2),
        })
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        for entry in [Entry::DeadLetter, Entry::Reversal, purchase(3, 250)] {
            let mut buf = [0u8; ENTRY];
            encode(42, &entry, &mut buf);
            assert_eq!(key_of(&buf), 42);
            assert_eq!(decode(&buf).unwrap(), entry);
        }
    }

    #[test]
    fn a_run_finds_every_id_it_holds_and_none_it_does_not() {
        let entries: Vec<(u128, Entry)> = (0..1000u128).map(|n| (n * 2, purchase(n, 0))).collect();
        let run = Run::write(entries.len(), entries.iter().copied()).unwrap();
        for (k, e) in &entries {
            assert_eq!(run.get(*k, Probe::of(*k)).unwrap(), Some(*e), "id {k}");
            assert_eq!(
                run.get(k + 1, Probe::of(k + 1)).unwrap(),
                None,
                "id {}",
                k + 1
            );
        }
    }

    #[test]
    fn a_merge_keeps_the_newest_entry_of_each_id() {
        let old = Run::write(
            3,
            [
                (1, Entry::DeadLetter),
                (2, purchase(2, 0)),
                (5, Entry::Reversal),
            ]
            .into_iter(),
        )
        .unwrap();
        let new = Run::write(
            2,
            [(2, purchase(2, 100)), (3, Entry::DeadLetter)].into_iter(),
        )
        .unwrap();
        let merged = Run::merge(&[old, new]).unwrap();
        assert_eq!(merged.len, 4);
        assert_eq!(
            merged.get(1, Probe::of(1)).unwrap(),
            Some(Entry::DeadLetter)
        );
        assert_eq!(merged.get(2, Probe::of(2)).unwrap(), Some(purchase(2, 100)));
        assert_eq!(
            merged.get(3, Probe::of(3)).unwrap(),
            Some(Entry::DeadLetter)
        );
        assert_eq!(merged.get(5, Probe::of(5)).unwrap(), Some(Entry::Reversal));
        assert_eq!(merged.get(4, Probe::of(4)).unwrap(), None);
    }
}
