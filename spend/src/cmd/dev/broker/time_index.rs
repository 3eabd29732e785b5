//! Keeps each partition's time index in the broker's log small.
//!
//! tansu's SlateDB engine keeps one value per partition, its *watermark*: the low and high offsets
//! and a map from each batch's base timestamp to the batch's first offset (the map answers
//! `ListOffsets` by time, and `Earliest`). Every produce reads that value, adds one entry and
//! writes the whole value back, and every fetch reads it. Nothing removes entries unless records
//! are deleted, and `spend dev` never deletes any. So the value grows by one entry per batch for
//! ever: a partition that has taken 10,000 batches rewrites about 100 KB of index for each new
//! one, and the bytes written, the memtable's size and the CPU per record all grow with the
//! partition's age.
//!
//! [`TimeIndex`] runs after a produce, under the log's write lock (so no other write is in
//! flight), and rewrites every watermark whose map has grown past [`MAX_ENTRIES`]:
//! - **Monotone offsets.** Each entry's offset becomes the least offset at or after its
//!   timestamp. The engine answers a lookup for time `T` with the entry of the first timestamp
//!   at or after `T`, so it then names the first batch that holds a record at or after `T`,
//!   whatever order the timestamps came in.
//! - **The first entry is the low watermark.** `Earliest` answers with the first entry's offset.
//!   The engine overwrites an entry when two batches share a millisecond, which can leave the
//!   first entry pointing past the partition's first batch; a consumer that starts from the
//!   earliest offset would then skip records. Now it starts at the low watermark, as in Kafka.
//! - **Thinned by halves.** Past [`MAX_ENTRIES`], adjacent pairs are merged into one entry with
//!   the later timestamp and the lesser offset, until at most half remain. A lookup may then
//!   answer an earlier offset than the exact one (the consumer reads some records older than it
//!   asked for), never a later one (it never skips a record). The last entry, which `Latest`
//!   reports the time of, is kept.
//!
//! The value's layout is tansu-storage 0.6.0's (`slate::types::{WatermarkKey, Watermark}`, pinned
//! in the workspace), read and written with postcard as the engine does. A key or value that does
//! not decode as such is left alone.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use slatedb::config::{PutOptions, WriteOptions};
use slatedb::Db;

/// A time index longer than this is thinned to at most half of it.
pub(super) const MAX_ENTRIES: usize = 128;

/// Produces between two passes over the watermarks. A map gains at most one entry per produce,
/// so none holds more than `MAX_ENTRIES + TRIM_EVERY` entries.
pub(super) const TRIM_EVERY: u64 = 32;

/// `slate::types::WatermarkKey`: `'w'`, the topic's id, the partition (big-endian).
#[derive(Debug, Deserialize, Serialize)]
struct WatermarkKey {
    prefix: char,
    topic: uuid::Uuid,
    #[serde(with = "postcard::fixint::be")]
    partition: i32,
}

/// `slate::types::Watermark`.
#[derive(Debug, Default, Deserialize, PartialEq, Serialize)]
pub(super) struct Watermark {
    pub(super) low: Option<i64>,
    pub(super) high: Option<i64>,
    pub(super) timestamps: Option<BTreeMap<i64, i64>>,
}

/// Trims the log's time indexes every [`TRIM_EVERY`] produces (and at the first one).
pub(super) struct TimeIndex {
    db: Arc<Db>,
    produces: AtomicU64,
}

impl TimeIndex {
    pub(super) fn new(db: Arc<Db>) -> Self {
        TimeIndex {
            db,
            produces: AtomicU64::new(0),
        }
    }

    /// Called after each produce, with the log's write lock held. A failure is logged: the
    /// produce itself is committed, and the next pass tries again.
    pub(super) async fn produced(&self) {
        if !self
            .produces
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(TRIM_EVERY)
        {
            return;
        }
        if let Err(error) = trim_all(&self.db, MAX_ENTRIES).await {
            tracing::warn!(error = %format!("{error:#}"), "the embedded Kafka broker could not trim its time index");
        }
    }
}

/// The first byte of every watermark key and the byte after it: postcard writes the prefix
/// `char` as a one-byte length and its UTF-8 byte.
pub(super) fn watermark_range() -> (Vec<u8>, Vec<u8>) {
    let start = postcard::to_stdvec(&'w').unwrap_or_else(|_| vec![1, b'w']);
    let mut end = start.clone();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    (start, end)
}

/// Rewrites every watermark whose time index needs it (see the module's doc); returns how many.
pub(super) async fn trim_all(db: &Db, max_entries: usize) -> anyhow::Result<usize> {
    let (start, end) = watermark_range();
    let mut rewrites = Vec::new();
    let mut iter = db
        .scan(start..end)
        .await
        .context("scan the partitions' watermarks")?;
    while let Some(kv) = iter
        .next()
        .await
        .context("read the partitions' watermarks")?
    {
        let key = match postcard::from_bytes::<WatermarkKey>(&kv.key) {
            Ok(key) if key.prefix == 'w' => key,
            _ => continue,
        };
        let Ok(mut watermark) = postcard::from_bytes::<Watermark>(&kv.value) else {
            tracing::debug!(
                ?key,
                "a watermark of the broker's log did not decode; left alone"
            );
            continue;
        };
        if watermark.trim(max_entries) {
            rewrites.push((kv.key, postcard::to_stdvec(&watermark)?));
        }
    }
    // Not awaited to disk: the index is rebuilt from nothing it loses. A crash before the next
    // flush leaves the longer map, which the next pass trims again.
    let write = WriteOptions {
        await_durable: false,
    };
    for (key, value) in &rewrites {
        db.put_with_options(key, value, &PutOptions::default(), &write)
            .await
            .context("write a partition's watermark")?;
    }
    Ok(rewrites.len())
}

impl Watermark {
    /// Makes the time index monotone, starts it at the low watermark and thins it once it holds
    /// more than `max_entries`; says whether anything changed.
    pub(super) fn trim(&mut self, max_entries: usize) -> bool {
        let low = self.low.unwrap_or(0);
        let Some(index) = self.timestamps.as_mut() else {
            return false;
        };
        let mut entries: Vec<(i64, i64)> = index.iter().map(|(&t, &o)| (t, o)).collect();
        let mut changed = false;
        // The least offset at or after each timestamp.
        let mut least = i64::MAX;
        for entry in entries.iter_mut().rev() {
            least = least.min(entry.1);
            if entry.1 != least {
                entry.1 = least;
                changed = true;
            }
        }
        if let Some(first) = entries.first_mut() {
            if first.1 != low {
                first.1 = low;
                changed = true;
            }
        }
        if entries.len() > max_entries {
            let keep = (max_entries / 2).max(1);
            while entries.len() > keep {
                entries = merge_pairs(&entries);
            }
            changed = true;
        }
        if changed {
            *index = entries.into_iter().collect();
        }
        changed
    }
}

/// Merges adjacent entries pairwise, from the end, so the last entry keeps its timestamp; a
/// merged entry has the later timestamp and the lesser offset.
fn merge_pairs(entries: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut merged: Vec<(i64, i64)> = entries
        .rchunks(2)
        .map(|pair| match pair {
            [earlier, later] => (later.0, earlier.1.min(later.1)),
            [only] => *only,
            _ => unreachable!("rchunks(2) yields one or two entries"),
        })
        .collect();
    merged.reverse();
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine's lookup: the offset of the first entry at or after `t`, else 0.
    fn lookup(w: &Watermark, t: i64) -> i64 {
        w.timestamps
            .as_ref()
            .and_then(|ts| ts.range(t..).next().map(|(_, &o)| o))
            .unwrap_or(0)
    }

    fn watermark(entries: &[(i64, i64)]) -> Watermark {
        Watermark {
            low: None,
            high: Some(entries.last().map_or(0, |e| e.1 + 1)),
            timestamps: Some(entries.iter().copied().collect()),
        }
    }

    #[test]
    fn a_short_ordered_index_is_left_as_it_is() {
        let mut w = watermark(&[(100, 0), (105, 7), (110, 20)]);
        assert!(!w.trim(128));
        assert_eq!(w, watermark(&[(100, 0), (105, 7), (110, 20)]));
    }

    #[test]
    fn a_long_index_is_thinned_to_half_and_never_answers_a_later_offset() {
        // Batch i starts at offset 10 i, at time 1000 + 3 i.
        let exact: Vec<(i64, i64)> = (0..1000).map(|i| (1000 + 3 * i, 10 * i)).collect();
        let mut w = watermark(&exact);
        assert!(w.trim(128));
        let ts = w.timestamps.as_ref().unwrap();
        assert!(ts.len() <= 64, "{} entries", ts.len());
        // The last batch's time is kept; its entry names the first batch of the merged run.
        let (&last_time, &last_offset) = ts.last_key_value().unwrap();
        assert_eq!(last_time, 1000 + 3 * 999);
        assert!(last_offset <= 9_990 && last_offset > 9_000, "{last_offset}");
        assert_eq!(lookup(&w, 0), 0, "earliest");
        let original = watermark(&exact);
        for t in (990..4010).step_by(7) {
            let thinned = lookup(&w, t);
            let truth = lookup(&original, t);
            if truth > 0 {
                assert!(thinned <= truth, "t {t}: {thinned} > {truth}");
            }
        }
        // Trimming again changes nothing.
        assert!(!w.trim(128));
    }

    #[test]
    fn out_of_order_timestamps_answer_the_first_batch_at_or_after_the_time() {
        // Offset 0 at time 500, offset 10 at time 100 (an older clock), offset 20 at 600.
        let mut w = watermark(&[(100, 10), (500, 0), (600, 20)]);
        assert!(w.trim(128));
        assert_eq!(lookup(&w, 100), 0);
        assert_eq!(lookup(&w, 501), 20);
    }

    #[test]
    fn the_first_entry_starts_at_the_low_watermark() {
        // Two batches in the first millisecond: the engine kept the second one's offset.
        let mut w = watermark(&[(100, 5), (101, 9)]);
        assert!(w.trim(128));
        assert_eq!(
            w.timestamps.as_ref().unwrap().first_key_value(),
            Some((&100, &0))
        );
        let mut w = watermark(&[(100, 50), (101, 90)]);
        w.low = Some(40);
        assert!(w.trim(128));
        assert_eq!(
            w.timestamps.as_ref().unwrap().first_key_value(),
            Some((&100, &40))
        );
    }

    #[test]
    fn no_index_is_nothing_to_do() {
        let mut w = Watermark::default();
        assert!(!w.trim(1));
    }

    #[test]
    fn the_watermark_key_range_holds_watermark_keys_only() {
        let (start, end) = watermark_range();
        let key = postcard::to_stdvec(&WatermarkKey {
            prefix: 'w',
            topic: uuid::Uuid::new_v4(),
            partition: 3,
        })
        .unwrap();
        assert!(start.as_slice() <= key.as_slice() && key.as_slice() < end.as_slice());
        for other in ['b', 'c', 'g'] {
            let key = postcard::to_stdvec(&(other, 1u8)).unwrap();
            assert!(!(start.as_slice() <= key.as_slice() && key.as_slice() < end.as_slice()));
        }
        assert!(
            !(start.as_slice() <= &b"topics.pc.bin"[..] && &b"topics.pc.bin"[..] < end.as_slice())
        );
    }
}
