//! What this dashboard process remembers: the batches started through it and the cards looked
//! up through it, newest first, bounded. The API has no "list batches" route, so the uploads page
//! lists these and reads each one's status from `GET /v1/batches/{id}`; like the ingestor's own
//! registry, the list is in memory and a restart forgets it.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

/// How many batches and cards are kept.
const KEEP: usize = 20;

/// A batch started through the dashboard.
#[derive(Clone, Debug)]
pub(crate) struct RecentBatch {
    pub(crate) batch_id: String,
    /// `upload: file.csv` or `s3://bucket/key`.
    pub(crate) source: String,
    pub(crate) started: chrono::DateTime<chrono::Utc>,
}

#[derive(Default, Debug)]
pub(crate) struct Recent {
    batches: Mutex<VecDeque<RecentBatch>>,
    cards: Mutex<VecDeque<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update below is a single push or removal: a poisoned lock holds a whole list.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Recent {
    pub(crate) fn add_batch(&self, batch_id: &str, source: String) {
        let mut b = lock(&self.batches);
        b.retain(|x| x.batch_id != batch_id);
        b.push_front(RecentBatch {
            batch_id: batch_id.to_owned(),
            source,
            started: chrono::Utc::now(),
        });
        b.truncate(KEEP);
    }

    pub(crate) fn batches(&self) -> Vec<RecentBatch> {
        lock(&self.batches).iter().cloned().collect()
    }

    pub(crate) fn source_of(&self, batch_id: &str) -> Option<String> {
        lock(&self.batches)
            .iter()
            .find(|b| b.batch_id == batch_id)
            .map(|b| b.source.clone())
    }

    pub(crate) fn add_card(&self, card_id: &str) {
        let mut c = lock(&self.cards);
        c.retain(|x| x != card_id);
        c.push_front(card_id.to_owned());
        c.truncate(KEEP);
    }

    pub(crate) fn cards(&self) -> Vec<String> {
        lock(&self.cards).iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_bounded_and_unique() {
        let r = Recent::default();
        for i in 0..25 {
            r.add_batch(&format!("b{i}"), "upload".into());
        }
        r.add_batch("b10", "again".into());
        let b = r.batches();
        assert_eq!(b.len(), KEEP);
        assert_eq!(b[0].batch_id, "b10");
        assert_eq!(b[0].source, "again");
        assert_eq!(b.iter().filter(|x| x.batch_id == "b10").count(), 1);
        r.add_card("c1");
        r.add_card("c2");
        r.add_card("c1");
        assert_eq!(r.cards(), vec!["c1", "c2"]);
    }
}
