//! The worker: takes fetched records off the queue in batches (up to N records or T after the
//! first), decodes them, reads what the store knows about them, evaluates them in order under
//! the rule set in force, and hands the result to the writer.
//!
//! It is one batch ahead of the writer at most: batch N+1 is evaluated while batch N is written,
//! and its facts are read from the store only once batch N-1 is written; batch N's own outcomes
//! reach it through [`crate::ledger`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use spend_store::reward_store::{Overlay, PrefetchedLedger, RewardStore, RewardStoreError};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::backoff::{Backoff, Retry};
use crate::batch::{decode, evaluate, Evaluated};
use crate::error::{Result, RewarderError};
use crate::metrics::metrics;
use crate::mission_cache::MissionCache;
use crate::offsets::{Claim, OffsetBook, Polled};
use crate::rules::LiveRules;
use crate::{Stage, Stats};

pub(crate) struct Worker {
    pub(crate) records: mpsc::Receiver<Vec<Polled>>,
    pub(crate) book: Arc<OffsetBook>,
    pub(crate) rules: LiveRules,
    pub(crate) store: Arc<dyn RewardStore>,
    pub(crate) writer: mpsc::Sender<Evaluated>,
    /// The sequence number of the last batch whose outcomes are in the store.
    pub(crate) applied: watch::Receiver<u64>,
    pub(crate) max_records: usize,
    pub(crate) max_wait: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) stats: Stats,
    /// Stop taking new batches.
    pub(crate) shutdown: CancellationToken,
    /// Give up on the batch in hand (shutdown grace over).
    pub(crate) abort: CancellationToken,
}

impl Worker {
    pub(crate) async fn run(mut self) -> Result<()> {
        let mut leftover: Vec<Polled> = Vec::new();
        let mut previous: Option<Overlay> = None;
        let mut missions = MissionCache::default();
        let mut seq = 0u64;
        while let Some(batch) = self.next_batch(&mut leftover).await {
            let started = Instant::now();
            self.stats.record_taken(started);
            let (kept, dropped, claim) = self.book.admit(batch);
            if dropped > 0 {
                metrics().revoked_records.add(dropped as u64);
            }
            if kept.is_empty() {
                continue;
            }
            seq += 1;
            let records = kept.len();
            let decoded = decode(kept);
            let mut t = self.stats.time(Stage::Decode, started);
            // Batch seq-2 must be in the store before batch seq's facts are read from it.
            if !self.wait_applied(seq.saturating_sub(2)).await {
                self.book.abandon(&claim);
                break;
            }
            t = self.stats.time(Stage::WaitStore, t);
            // The rules first: whether they have missions decides what must be read.
            let rules = self.rules.load();
            let with_missions = rules.has_missions();
            missions.validate(self.book.generation());
            let cache = with_missions.then_some(&mut missions);
            let Some(prefetched) = self
                .prefetch(&decoded.transactions, cache, previous.as_ref(), &claim)
                .await?
            else {
                break;
            };
            t = self.stats.time(Stage::Prefetch, t);
            let revision = rules.revision();
            let (outcomes, dead_letters, counts, overlay) =
                evaluate(&rules, decoded, &prefetched, previous.as_ref(), Utc::now());
            if with_missions {
                missions.record(&overlay);
            }
            previous = Some(overlay);
            self.stats.time(Stage::Evaluate, t);
            let evaluated = Evaluated {
                seq,
                claim,
                records,
                outcomes,
                dead_letters,
                counts,
                revision,
                started,
            };
            if let Err(returned) = self.writer.send(evaluated).await {
                // The writer has stopped (abort or error): nothing more will be written.
                self.book.abandon(&returned.0.claim);
                break;
            }
        }
        Ok(())
    }

    /// The next batch: waits for a first record (until shutdown), then takes more until the batch
    /// is full or `max_wait` has passed since the first. `None` at shutdown or when the poll loop
    /// has gone.
    async fn next_batch(&mut self, leftover: &mut Vec<Polled>) -> Option<Vec<Polled>> {
        let mut batch = std::mem::take(leftover);
        if batch.is_empty() {
            let chunk = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return None,
                chunk = self.records.recv() => chunk?,
            };
            batch = chunk;
        }
        let deadline = tokio::time::Instant::now() + self.max_wait;
        while batch.len() < self.max_records {
            // What is already queued is taken without waiting.
            let chunk = match self.records.try_recv() {
                Ok(chunk) => chunk,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => tokio::select! {
                    biased;
                    _ = self.shutdown.cancelled() => break,
                    _ = tokio::time::sleep_until(deadline) => break,
                    chunk = self.records.recv() => match chunk {
                        Some(chunk) => chunk,
                        None => break,
                    },
                },
            };
            batch.extend(chunk);
        }
        if batch.len() > self.max_records {
            *leftover = batch.split_off(self.max_records);
        }
        Some(batch)
    }

    /// Waits until batch `seq` is in the store; `false` if the writer has stopped.
    async fn wait_applied(&mut self, seq: u64) -> bool {
        self.applied
            .wait_for(|&applied| applied >= seq)
            .await
            .is_ok()
    }

    /// What the store knows about the batch (with its cards' mission states, through `missions`,
    /// when the rules have missions), retried while the store is down. `None` when the shutdown
    /// grace ran out first (the batch is abandoned: its offsets stay).
    async fn prefetch(
        &mut self,
        transactions: &[spend_domain::Transaction],
        mut missions: Option<&mut MissionCache>,
        previous: Option<&Overlay>,
        claim: &Claim,
    ) -> Result<Option<PrefetchedLedger>> {
        let m = metrics();
        let mut retry = Retry::new(
            &mut self.backoff,
            &self.abort,
            "reading the reward store",
            &m.retry_prefetch,
        );
        let read = loop {
            let cache = missions.as_deref_mut();
            match read_batch(&*self.store, transactions, cache, previous).await {
                Ok(prefetched) => return Ok(Some(prefetched)),
                Err(error) => match retry.again(error).await {
                    Ok(true) => {}
                    // The shutdown grace ran out: the batch's offsets stay.
                    Ok(false) => break Ok(None),
                    Err(RewardStoreError::Corrupt(detail)) => {
                        break Err(RewarderError::StoreCorrupt(detail))
                    }
                    Err(other) => {
                        break Err(RewarderError::Bug(format!(
                            "reading the reward store: {other}"
                        )))
                    }
                },
            }
        };
        self.book.abandon(claim);
        read
    }
}

/// The store's facts about `transactions`, and, given `missions`, their cards' mission states:
/// those held there, and the others read from the store (under what `previous` decided).
async fn read_batch(
    store: &dyn spend_store::reward_store::RewardStore,
    transactions: &[spend_domain::Transaction],
    missions: Option<&mut MissionCache>,
    previous: Option<&Overlay>,
) -> std::result::Result<PrefetchedLedger, RewardStoreError> {
    let mut ledger = store.prefetch(transactions).await?;
    if let Some(cache) = missions {
        let mut cards: Vec<spend_domain::CardId> = transactions.iter().map(|t| t.card_id).collect();
        cards.sort_unstable();
        cards.dedup();
        let missing = cache.missing(&cards);
        if !missing.is_empty() {
            let read = store.missions(&missing).await?;
            metrics().mission_cards_read.add(missing.len() as u64);
            let read = read
                .into_iter()
                .map(|m| (m.card_id, m.mission_id, m.state))
                .collect();
            cache.load(&missing, read, previous);
        }
        cache.fill(&cards, &mut ledger);
    }
    Ok(ledger)
}
