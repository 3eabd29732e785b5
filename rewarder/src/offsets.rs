//! Which partitions this process owns, and how far each has been written: the one place the poll
//! thread, the worker, the writer and the rebalance callback agree on offsets.
//!
//! - The poll thread [`tag`](OffsetBook::tag)s every record with its partition's *epoch* (a
//!   number given at each assignment), so a record fetched under an assignment that has since
//!   been revoked is recognised and dropped instead of processed.
//! - The worker [`admit`](OffsetBook::admit)s a batch: drops records of revoked partitions and
//!   re-deliveries of offsets it already took, and counts the batch *in flight* on each partition.
//! - The writer [`finish`](OffsetBook::finish)es it once its outcomes are stored and its dead
//!   letters delivered: only then does the partition's *written* offset move.
//! - The poll thread commits what is written ([`due`](OffsetBook::due)); the rebalance callback
//!   [`revoke`](OffsetBook::revoke)s partitions after waiting (bounded) for their batches in flight,
//!   and commits what they have written before they go.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One record as the poll thread hands it over.
#[derive(Clone, Debug)]
pub(crate) struct Polled {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    /// The assignment epoch of the partition when the record was fetched.
    pub(crate) epoch: u64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Part {
    epoch: u64,
    /// Being revoked: the worker takes no more of its records.
    revoking: bool,
    /// The offset after the last record fetched.
    seen: Option<i64>,
    /// The first offset fetched under this assignment (lag before anything is written).
    first: Option<i64>,
    /// The offset after the last record admitted into a batch.
    admitted: Option<i64>,
    /// The offset after the last record written (outcomes stored, dead letters delivered).
    written: Option<i64>,
    /// The offset last sent to the broker as committed.
    committed: Option<i64>,
    /// Batches holding records of this partition that are not finished.
    in_flight: u32,
}

impl Part {
    fn new(epoch: u64) -> Self {
        Part {
            epoch,
            revoking: false,
            seen: None,
            first: None,
            admitted: None,
            written: None,
            committed: None,
            in_flight: 0,
        }
    }

    fn lag(&self) -> i64 {
        match (self.seen, self.written.or(self.first)) {
            (Some(seen), Some(base)) => (seen - base).max(0),
            _ => 0,
        }
    }
}

#[derive(Debug, Default)]
struct Book {
    parts: BTreeMap<i32, Part>,
    next_epoch: u64,
    /// Moves whenever a partition is assigned or revoked.
    generation: u64,
    /// When the broker last refused a commit.
    refused_at: Option<Instant>,
}

/// The partitions of one batch, each with the epoch it was admitted under.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Claim {
    /// Partition, epoch, and the offset after the batch's last record of it.
    pub(crate) parts: Vec<(i32, u64, i64)>,
}

/// See the module documentation. Shared by `Arc`.
#[derive(Debug, Default)]
pub(crate) struct OffsetBook {
    book: Mutex<Book>,
    finished: Condvar,
}

impl OffsetBook {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        // A panic elsewhere while holding the lock leaves plain data behind; keep going.
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Partitions newly assigned to this process (each gets a new epoch).
    pub(crate) fn assign(&self, partitions: &[i32]) {
        let mut book = self.lock();
        for &p in partitions {
            // A partition assigned again without being revoked (never under the cooperative
            // protocol) keeps its epoch: librdkafka's fetch position did not move back, so its
            // records in flight must stay admissible.
            if book.parts.contains_key(&p) {
                continue;
            }
            book.next_epoch += 1;
            book.generation += 1;
            let epoch = book.next_epoch;
            book.parts.insert(p, Part::new(epoch));
        }
    }

    /// Partitions taken away: stops admitting their records, waits up to `wait` for their batches
    /// in flight, forgets them, and returns the offsets they have written and not yet committed
    /// (the caller commits them before the partitions go).
    pub(crate) fn revoke(&self, partitions: &[i32], wait: Duration) -> Vec<(i32, i64)> {
        let mut book = self.lock();
        for p in partitions {
            if let Some(part) = book.parts.get_mut(p) {
                part.revoking = true;
            }
        }
        let busy = |book: &mut Book| {
            partitions
                .iter()
                .any(|p| book.parts.get(p).is_some_and(|part| part.in_flight > 0))
        };
        let deadline = Instant::now() + wait;
        while busy(&mut book) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(
                    ?partitions,
                    ?wait,
                    "revoking partitions with batches still in flight; their new owner re-reads them"
                );
                break;
            }
            book = self
                .finished
                .wait_timeout(book, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let mut to_commit = Vec::new();
        for p in partitions {
            if let Some(part) = book.parts.remove(p) {
                book.generation += 1;
                if let Some(w) = part.written {
                    if part.committed != Some(w) {
                        to_commit.push((*p, w));
                    }
                }
            }
        }
        to_commit
    }

    /// A number that changes whenever the partitions this process owns change (and only then).
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Every partition this process owns.
    pub(crate) fn assigned(&self) -> Vec<i32> {
        self.lock().parts.keys().copied().collect()
    }

    /// Tags fetched records with their partition's epoch; drops those of partitions not
    /// assigned (fetched before a revocation took effect).
    pub(crate) fn tag(&self, records: &mut Vec<Polled>) {
        let mut book = self.lock();
        records.retain_mut(|r| match book.parts.get_mut(&r.partition) {
            Some(part) => {
                r.epoch = part.epoch;
                part.first.get_or_insert(r.offset);
                part.seen = Some(part.seen.map_or(r.offset + 1, |s| s.max(r.offset + 1)));
                true
            }
            None => false,
        });
    }

    /// Keeps the records of `batch` whose partition is still assigned under the same epoch and
    /// not being revoked, in order, skipping offsets already admitted (a re-fetch); counts the
    /// batch in flight on each partition it holds. Returns the records kept, how many were
    /// dropped, and the claim to [`finish`](Self::finish) or [`abandon`](Self::abandon).
    pub(crate) fn admit(&self, batch: Vec<Polled>) -> (Vec<Polled>, usize, Claim) {
        let mut book = self.lock();
        let total = batch.len();
        let mut kept = Vec::with_capacity(total);
        let mut claim = Claim::default();
        for r in batch {
            let Some(part) = book.parts.get_mut(&r.partition) else {
                continue;
            };
            if part.epoch != r.epoch || part.revoking {
                continue;
            }
            match part.admitted {
                Some(a) if r.offset < a => continue,
                Some(a) if r.offset > a => tracing::warn!(
                    partition = r.partition,
                    expected = a,
                    got = r.offset,
                    "offsets skipped (compaction or transaction markers?)"
                ),
                _ => {}
            }
            part.admitted = Some(r.offset + 1);
            match claim.parts.iter_mut().find(|(p, _, _)| *p == r.partition) {
                Some(entry) => entry.2 = r.offset + 1,
                None => {
                    part.in_flight += 1;
                    claim.parts.push((r.partition, r.epoch, r.offset + 1));
                }
            }
            kept.push(r);
        }
        let dropped = total - kept.len();
        (kept, dropped, claim)
    }

    /// The batch is written: each partition's written offset moves to the batch's end (if the
    /// partition is still owned under the same epoch).
    pub(crate) fn finish(&self, claim: &Claim) {
        self.release(claim, true);
    }

    /// The batch will not be written (shutdown while a backend is down): offsets stay.
    pub(crate) fn abandon(&self, claim: &Claim) {
        self.release(claim, false);
    }

    fn release(&self, claim: &Claim, written: bool) {
        let mut book = self.lock();
        for &(p, epoch, end) in &claim.parts {
            let Some(part) = book.parts.get_mut(&p) else {
                continue;
            };
            if part.epoch != epoch {
                continue;
            }
            part.in_flight = part.in_flight.saturating_sub(1);
            if written {
                part.written = Some(part.written.map_or(end, |w| w.max(end)));
            }
        }
        drop(book);
        self.finished.notify_all();
    }

    /// Written offsets not yet committed (`all`: every written offset); they count as committed
    /// from now on (a failed commit is [`reopen`](Self::reopen)ed).
    pub(crate) fn due(&self, all: bool) -> Vec<(i32, i64)> {
        let mut book = self.lock();
        let mut due = Vec::new();
        for (&p, part) in book.parts.iter_mut() {
            if let Some(w) = part.written {
                if all || part.committed != Some(w) {
                    part.committed = Some(w);
                    due.push((p, w));
                }
            }
        }
        due
    }

    /// A commit of these offsets failed: they are due again.
    pub(crate) fn reopen(&self, offsets: &[(i32, i64)]) {
        let mut book = self.lock();
        book.refused_at = Some(Instant::now());
        for (p, o) in offsets {
            if let Some(part) = book.parts.get_mut(p) {
                if part.committed == Some(*o) {
                    part.committed = None;
                }
            }
        }
    }

    /// Whether the broker refused a commit within `window`.
    pub(crate) fn refused_within(&self, window: Duration) -> bool {
        self.lock().refused_at.is_some_and(|t| t.elapsed() < window)
    }

    /// Records fetched and not yet written, over every partition owned.
    pub(crate) fn lag(&self) -> i64 {
        self.lock().parts.values().map(Part::lag).sum()
    }

    /// Whether any batch is in flight (for shutdown).
    #[cfg(test)]
    pub(crate) fn busy(&self) -> bool {
        self.lock().parts.values().any(|p| p.in_flight > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn rec(partition: i32, offset: i64) -> Polled {
        Polled {
            partition,
            offset,
            epoch: 0,
            key: None,
            payload: None,
        }
    }

    fn tagged(book: &OffsetBook, recs: Vec<Polled>) -> Vec<Polled> {
        let mut recs = recs;
        book.tag(&mut recs);
        recs
    }

    #[test]
    fn offsets_move_only_when_a_batch_is_finished() {
        let book = OffsetBook::new();
        book.assign(&[0, 1]);
        let recs = tagged(&book, vec![rec(0, 10), rec(1, 5), rec(0, 11)]);
        let (kept, dropped, claim) = book.admit(recs);
        assert_eq!((kept.len(), dropped), (3, 0));
        assert!(book.due(false).is_empty());
        assert_eq!(book.lag(), 3);
        book.finish(&claim);
        let mut due = book.due(false);
        due.sort();
        assert_eq!(due, [(0, 12), (1, 6)]);
        assert!(book.due(false).is_empty(), "committed once");
        assert_eq!(book.due(true).len(), 2, "all of them, on demand");
        assert_eq!(book.lag(), 0);
    }

    #[test]
    fn a_failed_commit_is_due_again() {
        let book = OffsetBook::new();
        book.assign(&[0]);
        let (_, _, claim) = book.admit(tagged(&book, vec![rec(0, 0)]));
        book.finish(&claim);
        let due = book.due(false);
        assert!(!book.refused_within(Duration::from_secs(1)));
        book.reopen(&due);
        assert!(book.refused_within(Duration::from_secs(1)));
        assert_eq!(book.due(false), due);
    }

    #[test]
    fn records_of_a_revoked_or_reassigned_partition_are_dropped() {
        let book = OffsetBook::new();
        book.assign(&[0]);
        let old = tagged(&book, vec![rec(0, 1)]);
        assert!(book.revoke(&[0], Duration::ZERO).is_empty());
        assert!(tagged(&book, vec![rec(0, 2)]).is_empty(), "not assigned");
        book.assign(&[0]);
        let (kept, dropped, claim) = book.admit(old);
        assert_eq!((kept.len(), dropped), (0, 1));
        assert_eq!(claim, Claim::default());
    }

    #[test]
    fn assigning_an_owned_partition_again_keeps_its_records_admissible() {
        let book = OffsetBook::new();
        book.assign(&[0]);
        let recs = tagged(&book, vec![rec(0, 1)]);
        book.assign(&[0]);
        let (kept, dropped, _) = book.admit(recs);
        assert_eq!((kept.len(), dropped), (1, 0));
    }

    #[test]
    fn a_refetched_offset_is_not_admitted_twice() {
        let book = OffsetBook::new();
        book.assign(&[0]);
        let (kept, _, claim) = book.admit(tagged(&book, vec![rec(0, 1), rec(0, 2)]));
        assert_eq!(kept.len(), 2);
        let (kept, dropped, _) = book.admit(tagged(&book, vec![rec(0, 2), rec(0, 3)]));
        assert_eq!((kept.len(), dropped), (1, 1));
        book.finish(&claim);
    }

    #[test]
    fn revoke_waits_for_the_batch_in_flight_and_returns_its_offsets() {
        let book = Arc::new(OffsetBook::new());
        book.assign(&[0, 1]);
        let (_, _, claim) = book.admit(tagged(&book, vec![rec(0, 7)]));
        assert!(book.busy());
        let writer = {
            let book = book.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                book.finish(&claim);
            })
        };
        let to_commit = book.revoke(&[0], Duration::from_secs(10));
        writer.join().unwrap();
        assert_eq!(to_commit, [(0, 8)]);
        assert_eq!(book.assigned(), [1]);
    }

    #[test]
    fn revoke_gives_up_waiting_after_its_deadline() {
        let book = OffsetBook::new();
        book.assign(&[0]);
        let (_, _, claim) = book.admit(tagged(&book, vec![rec(0, 7)]));
        let started = Instant::now();
        assert!(book.revoke(&[0], Duration::from_millis(30)).is_empty());
        assert!(started.elapsed() >= Duration::from_millis(30));
        // The late finish of a forgotten partition changes nothing.
        book.finish(&claim);
        assert!(book.due(false).is_empty());
    }
}
