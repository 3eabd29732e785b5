//! Making each evaluated batch durable, in order, in two stages:
//!
//! 1. the [`Writer`] stores the batch's outcomes in one [`RewardStore::apply`];
//! 2. the [`Publisher`] then publishes its dead letters, awaiting every delivery, and only then
//!    lets the batch's offsets move.
//!
//! The two overlap (batch N's dead letters are in flight while batch N+1 is stored), but each
//! batch goes through both in order, and offsets move batch by batch. A backend that fails is
//! retried with capped exponential backoff; a batch is never evaluated again (so a retry writes
//! exactly what was decided), and no later batch's offsets move until it is through.

use std::sync::Arc;
use std::time::Instant;

use spend_store::reward_store::{RewardStore, RewardStoreError, StoredOutcome};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::backoff::{Backoff, Retry};
use crate::batch::{Counts, DeadLetterMessage, Evaluated};
use crate::dlq::DeadLetterSink;
use crate::error::{Result, RewarderError};
use crate::metrics::metrics;
use crate::offsets::{Claim, OffsetBook};
use crate::{Stage, Stats};

/// A batch whose outcomes are stored: what is left to do before its offsets move.
pub(crate) struct Stored {
    claim: Claim,
    records: usize,
    dead_letters: Vec<DeadLetterMessage>,
    counts: Counts,
    revision: i64,
    started: Instant,
}

pub(crate) struct Writer {
    pub(crate) batches: mpsc::Receiver<Evaluated>,
    pub(crate) store: Arc<dyn RewardStore>,
    pub(crate) book: Arc<OffsetBook>,
    /// The sequence number of the last batch stored.
    pub(crate) applied: watch::Sender<u64>,
    pub(crate) publisher: mpsc::Sender<Stored>,
    pub(crate) backoff: Backoff,
    pub(crate) stats: Stats,
    /// Give up on what is not written yet (shutdown grace over).
    pub(crate) abort: CancellationToken,
}

impl Writer {
    pub(crate) async fn run(mut self) -> Result<()> {
        while let Some(batch) = self.batches.recv().await {
            let Evaluated {
                seq,
                claim,
                records,
                outcomes,
                dead_letters,
                counts,
                revision,
                started,
            } = batch;
            let t = Instant::now();
            match self.apply(outcomes).await {
                Ok(true) => {}
                Ok(false) => {
                    self.book.abandon(&claim);
                    self.abandon_queued();
                    return Ok(());
                }
                Err(e) => {
                    self.book.abandon(&claim);
                    self.abandon_queued();
                    return Err(e);
                }
            }
            self.stats.time(Stage::Apply, t);
            self.applied.send_replace(seq);
            let stored = Stored {
                claim,
                records,
                dead_letters,
                counts,
                revision,
                started,
            };
            if let Err(returned) = self.publisher.send(stored).await {
                // The publisher has stopped (abort): nothing more moves.
                self.book.abandon(&returned.0.claim);
                self.abandon_queued();
                return Ok(());
            }
        }
        Ok(())
    }

    fn abandon_queued(&mut self) {
        self.batches.close();
        while let Ok(batch) = self.batches.try_recv() {
            self.book.abandon(&batch.claim);
        }
    }

    /// Stores the batch's outcomes, retrying while the store is down (re-applying is a no-op for
    /// what an earlier attempt stored). `false` when the shutdown grace ran out first.
    async fn apply(&mut self, outcomes: Vec<StoredOutcome>) -> Result<bool> {
        if outcomes.is_empty() {
            return Ok(true);
        }
        let m = metrics();
        let mut retry = Retry::new(
            &mut self.backoff,
            &self.abort,
            "writing outcomes",
            &m.retry_apply,
        );
        loop {
            match self.store.apply(&outcomes).await {
                Ok(_) => return Ok(true),
                Err(error) => match retry.again(error).await {
                    Ok(true) => {}
                    Ok(false) => return Ok(false),
                    Err(RewardStoreError::Corrupt(detail)) => {
                        return Err(RewarderError::StoreCorrupt(detail))
                    }
                    Err(other) => {
                        return Err(RewarderError::Bug(format!("writing outcomes: {other}")))
                    }
                },
            }
        }
    }
}

pub(crate) struct Publisher {
    pub(crate) batches: mpsc::Receiver<Stored>,
    pub(crate) dead_letters: DeadLetterSink,
    pub(crate) book: Arc<OffsetBook>,
    pub(crate) backoff: Backoff,
    pub(crate) stats: Stats,
    pub(crate) abort: CancellationToken,
}

impl Publisher {
    pub(crate) async fn run(mut self) -> Result<()> {
        while let Some(batch) = self.batches.recv().await {
            let t = Instant::now();
            if !self.publish(batch.dead_letters).await {
                self.book.abandon(&batch.claim);
                self.batches.close();
                while let Ok(batch) = self.batches.try_recv() {
                    self.book.abandon(&batch.claim);
                }
                return Ok(());
            }
            self.stats.time(Stage::DeadLetters, t);
            self.book.finish(&batch.claim);

            let m = metrics();
            m.rewarded.add(batch.counts.rewarded);
            m.duplicate.add(batch.counts.duplicate);
            m.mission_payouts.add(batch.counts.mission_payouts);
            for reason in &batch.counts.dead_letters {
                m.dead_lettered(*reason);
            }
            m.batch_took(batch.started.elapsed());
            self.stats
                .record_written(batch.records as u64, batch.revision);
            tracing::debug!(
                records = batch.records,
                rewarded = batch.counts.rewarded,
                duplicates = batch.counts.duplicate,
                dead_letters = batch.counts.dead_letters.len(),
                revision = batch.revision,
                "batch written"
            );
        }
        Ok(())
    }

    /// Publishes a batch's dead letters, re-sending those not acknowledged while the broker is
    /// in trouble. `false` when the shutdown grace ran out first.
    async fn publish(&mut self, mut messages: Vec<DeadLetterMessage>) -> bool {
        let m = metrics();
        let mut retry = Retry::new(
            &mut self.backoff,
            &self.abort,
            "publishing dead letters",
            &m.retry_dead_letter,
        );
        while !messages.is_empty() {
            match self.dead_letters.deliver(messages).await {
                Ok(()) => break,
                Err((failed, error)) => {
                    tracing::debug!(failed = failed.len(), "dead letters to send again");
                    messages = failed;
                    // Every delivery error may pass (the broker is in trouble): `Err` is
                    // unreachable, and would stop like an abort.
                    if !retry.again(error).await.unwrap_or(false) {
                        return false;
                    }
                }
            }
        }
        true
    }
}
