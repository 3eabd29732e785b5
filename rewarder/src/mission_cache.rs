//! The worker's copy of its cards' mission states: stateful processing keyed by card, as a
//! stream processor keeps its tasks' state beside them, with the reward store as the changelog.
//!
//! A card's records all arrive on one partition, and a partition has one owner, so while this
//! process owns a card's partition nobody else moves that card's states: what this worker last
//! decided for a card is what the store will hold once the writer catches up. Reading it back
//! from the store for every batch (a prefix scan per card, then decoding every state with every
//! purchase it counted) was most of what missions cost the pipeline.
//!
//! Each entry is one card's *complete* set of states (the store's, under what the previous batch
//! decided), so a mission the card has no state in is known to be new. The whole copy is dropped
//! whenever the partitions this process owns change ([`OffsetBook::generation`]): a partition
//! that comes back may have been rewarded by another process meanwhile, and one taken away must
//! not be read from memory should it return. A worker that stops takes its copy with it, so a
//! batch that was evaluated but never written (shutdown, a failed backend) is never remembered.
//! When a batch would take the copy past [`MAX_CARDS`] cards, it is dropped and refilled from the
//! store with that batch's cards, every one of them read again.

use std::collections::HashMap;

use spend_domain::mission::MissionState;
use spend_domain::CardId;
use spend_store::reward_store::{Overlay, PrefetchedLedger};
use uuid::Uuid;

/// Cards held at most; beyond that the copy starts again empty.
pub(crate) const MAX_CARDS: usize = 32_768;

#[derive(Default)]
pub(crate) struct MissionCache {
    /// The [`OffsetBook::generation`](crate::offsets::OffsetBook::generation) the copy is
    /// valid for.
    generation: u64,
    cards: HashMap<CardId, Vec<(Uuid, MissionState)>>,
}

impl MissionCache {
    /// Drops the copy unless the owned partitions are still those of `generation`.
    pub(crate) fn validate(&mut self, generation: u64) {
        if generation != self.generation {
            self.cards.clear();
            self.generation = generation;
        }
    }

    /// Of `cards` (sorted, distinct: one batch's), those whose states must be read from the
    /// store: the ones not held, or all of them when holding those too would pass [`MAX_CARDS`]
    /// (the copy then starts again from this batch, so no card of it is left unheld).
    pub(crate) fn missing(&mut self, cards: &[CardId]) -> Vec<CardId> {
        let missing: Vec<CardId> = cards
            .iter()
            .filter(|c| !self.cards.contains_key(c))
            .copied()
            .collect();
        if self.cards.len() + missing.len() > MAX_CARDS {
            self.cards.clear();
            return cards.to_vec();
        }
        missing
    }

    /// Puts the states held for `cards` into `ledger`.
    pub(crate) fn fill(&self, cards: &[CardId], ledger: &mut PrefetchedLedger) {
        for card in cards {
            for (mission, state) in self.cards.get(card).into_iter().flatten() {
                ledger.insert_mission(*card, *mission, state.clone());
            }
        }
    }

    /// Holds what the store has for `cards` (`read`: every state of those cards), under what
    /// `previous` (the batch before, perhaps not yet written) decided for them.
    pub(crate) fn load(
        &mut self,
        cards: &[CardId],
        read: Vec<(CardId, Uuid, MissionState)>,
        previous: Option<&Overlay>,
    ) {
        for card in cards {
            self.cards.insert(*card, Vec::new());
        }
        for (card, mission, state) in read {
            if let Some(states) = self.cards.get_mut(&card) {
                put(states, mission, state);
            }
        }
        if let Some(previous) = previous {
            for (&(card, mission), state) in previous.mission_states() {
                // Only the cards just read: the others already hold what `previous` decided.
                if cards.binary_search(&card).is_ok() {
                    if let Some(states) = self.cards.get_mut(&card) {
                        put(states, mission, state.clone());
                    }
                }
            }
        }
    }

    /// Holds what `batch` (just evaluated) decided. Its cards are all held: each was read or
    /// filled before the batch was evaluated.
    pub(crate) fn record(&mut self, batch: &Overlay) {
        for (&(card, mission), state) in batch.mission_states() {
            if let Some(states) = self.cards.get_mut(&card) {
                put(states, mission, state.clone());
            }
        }
    }

    #[cfg(test)]
    fn held(&self, card: CardId) -> Option<&[(Uuid, MissionState)]> {
        self.cards.get(&card).map(Vec::as_slice)
    }
}

fn put(states: &mut Vec<(Uuid, MissionState)>, mission: Uuid, state: MissionState) {
    match states.iter_mut().find(|(m, _)| *m == mission) {
        Some(slot) => slot.1 = state,
        None => states.push((mission, state)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use spend_domain::ledger::Ledger;

    fn card(n: u128) -> CardId {
        CardId(Uuid::from_u128(n))
    }

    fn state(day: u32) -> MissionState {
        MissionState::open(NaiveDate::from_ymd_opt(2024, 5, day).unwrap(), 7)
    }

    #[test]
    fn a_card_read_is_held_whole_even_with_no_states() {
        let mut cache = MissionCache::default();
        let m = Uuid::from_u128(7);
        let cards = [card(1), card(2)];
        assert_eq!(cache.missing(&cards), cards.to_vec());
        cache.load(&cards, vec![(card(1), m, state(2))], None);
        assert!(cache.missing(&cards).is_empty());
        assert_eq!(cache.held(card(1)).unwrap(), &[(m, state(2))]);
        assert_eq!(cache.held(card(2)).unwrap(), &[]);
        let mut ledger = PrefetchedLedger::new();
        cache.fill(&cards, &mut ledger);
        assert_eq!(ledger.mission_state(card(1), m), Some(&state(2)));
        assert_eq!(ledger.mission_state(card(2), m), None);
    }

    #[test]
    fn other_partitions_drop_the_copy() {
        let mut cache = MissionCache::default();
        cache.validate(1);
        cache.load(&[card(1)], Vec::new(), None);
        cache.validate(1);
        assert!(cache.missing(&[card(1)]).is_empty());
        cache.validate(2);
        assert_eq!(cache.missing(&[card(1)]), vec![card(1)]);
    }

    #[test]
    fn the_copy_is_bounded_and_a_full_copy_rereads_the_whole_batch() {
        let mut cache = MissionCache::default();
        let m = Uuid::from_u128(7);
        let cards: Vec<CardId> = (0..MAX_CARDS as u128).map(card).collect();
        cache.load(&cards, vec![(card(0), m, state(2))], None);
        assert!(cache.missing(&cards).is_empty());
        // A batch of a held card and a new one: holding both would pass the bound, so the copy
        // starts again and both are read, the held one too (it must not be left out of the
        // batch's ledger, where a missing state would look like a window never opened).
        let batch = [card(0), card(u128::MAX)];
        assert_eq!(cache.missing(&batch), batch.to_vec());
        cache.load(&batch, vec![(card(0), m, state(2))], None);
        let mut ledger = PrefetchedLedger::new();
        cache.fill(&batch, &mut ledger);
        assert_eq!(ledger.mission_state(card(0), m), Some(&state(2)));
        assert!(cache.missing(&batch).is_empty());
        assert_eq!(cache.missing(&cards[1..2]), vec![card(1)]);
    }
}
