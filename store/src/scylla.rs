//! [`RewardStore`] on ScyllaDB (or Cassandra) through the `scylla` driver: the distributed
//! deployment's store. Schema: `schemas/rewards.cql` ([`SCHEMA_CQL`]).
//!
//! - [`options`]: nodes, local data center, credentials, TLS, and the session;
//! - [`schema`]: the schema renamed to a keyspace, installed once, tablets refused;
//! - `write`: the decision (LWT) and the derived rows of a final reward;
//! - `missions`: the mission states and payout rows a reward causes, decided with it;
//! - `read`: outcomes, prefetch (and its repair), history pages, summaries;
//! - `errors`: which driver errors are retried, and [`SetupError`].
//!
//! **Driver setup.** Prepared statements only (values are always bound, never spliced; the
//! keyspace name is checked to be a plain identifier before it goes into statement text).
//! Token-aware, data-center-aware load balancing. `LOCAL_QUORUM` for plain reads and writes,
//! `SERIAL` for lightweight transactions (why, and why a multi-DC cluster needs `local_dc`:
//! [`connect_session`]). Client-side monotonic write timestamps. At most `max_in_flight`
//! statements in flight per store, whatever the number of concurrent batches.
//!
//! **Once-only.** The `outcomes` row of an id is the single once-point; it is written only by
//! LWT: `INSERT … IF NOT EXISTS`, or `UPDATE … IF status = 'dead_letter'` (a dead letter is
//! replaced, a reward is final). The LWT's own answer says what the row holds when it was not
//! applied, so deciding a new id is one Paxos round and no read.
//!
//! **Derived rows come after the decision, and only for a final reward.** The card's `history`
//! row, its `card_months` row and a reversal's `reversals` claim are copies of a reward that has
//! already won its LWT, written with the winner's values, so:
//!
//! - no reader ever sees a reward in a history or a summary that is not final;
//! - no writer ever deletes a derived row: a dead letter has none, and one never needs
//!   cleaning up, so a dead letter racing a reward of the same id cannot remove the reward's
//!   history or its claim on its original (an earlier design wrote derived rows before the LWT
//!   and had the dead letter delete them: it could delete the winner's);
//! - the loser of a race writes nothing of its own; it rewrites the winner's rows (the same
//!   values), which also completes a winner that failed between its decision and its rows;
//! - a crash between the decision and the derived rows leaves a final reward without them.
//!   Its record is redelivered (the offset was not committed) and the rewarder's prefetch reads
//!   its prior outcome: finding a reward there, the store rewrites its derived rows before it
//!   answers, and before it reads any original's `S`. So the repair happens on the only path a
//!   redelivered duplicate takes, ahead of any later record of the same card (one partition,
//!   in order). Until then the reward is visible by id but missing from the history, and a
//!   reversal's claim is missing from its original's `S` — which nothing reads before the
//!   repair in the one-owner-per-card flow.
//!
//! **`S` of an original** is the sum of its `reversals` claims: each is written only for a
//! final reversal reward, keyed by the reversal's id, with the winner's magnitude, so it counts
//! once however often it is rewritten. Never a counter (an increment is not idempotent).
//!
//! **History order.** Partitions `(card_id, month)`, clustered `transaction_date DESC, id_order
//! DESC` where `id_order` is the id's 16 bytes as a `blob` (unsigned byte order, as the embedded
//! store orders ties, for ids of every UUID version). A page lists the card's months from
//! `card_months`, then reads month partitions newest first, each slice bounded by the range's
//! dates and the rows the page still needs; inside the cursor's month it reads the cursor
//! date's remaining ties, then the earlier dates.
//!
//! **Mission state** follows the same rule: a reward's mission writes (its cards' states and
//! the payout rows it causes) are decided by its own LWT on `outcomes`, which carries them in
//! `pending_missions`, and made only once it is final — by the winner, by a retry, or by the
//! prefetch that reads the redelivered record — then cleared. Payout rows are outcomes decided
//! by their own LWT; states are written at their version, so the later state of a card wins
//! whatever order its writes land in. The argument is in `missions`.

mod errors;
mod fold;
mod missions;
pub mod options;
mod read;
mod rows;
pub mod schema;
mod statements;
mod write;

use std::sync::Arc;

use ::scylla::client::session::Session;
use ::scylla::response::query_result::QueryResult;
use ::scylla::serialize::row::SerializeRow;
use ::scylla::statement::prepared::PreparedStatement;
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use spend_domain::{CardId, RecordId, Transaction};
use tokio::sync::Semaphore;

pub use self::errors::SetupError;
use self::fold::fold_batch;
pub use self::options::{connect_session, Credentials, ScyllaOptions, ScyllaTls};
pub use self::schema::{install_schema, schema_statements, SCHEMA_CQL, SCHEMA_VERSION};
use self::statements::Statements;
use crate::reward_store::{
    check_cursor, Applied, Cursor, DateRange, Page, PrefetchedLedger, Result, RewardStore,
    RewardStoreError, StoredMission, StoredOutcome, Summary,
};

/// A [`RewardStore`] on a ScyllaDB keyspace holding `schemas/rewards.cql`. Cheap to clone.
#[derive(Clone)]
pub struct ScyllaRewardStore {
    session: Arc<Session>,
    st: Arc<Statements>,
    permits: Arc<Semaphore>,
    concurrency: usize,
    keyspace: Arc<str>,
}

fn corrupt(e: impl std::fmt::Display) -> RewardStoreError {
    RewardStoreError::Corrupt(format!("scylla: {e}"))
}

fn closed(e: impl std::fmt::Display) -> RewardStoreError {
    RewardStoreError::Unavailable(format!("scylla: {e}"))
}

impl ScyllaRewardStore {
    /// Connects to the cluster and prepares every statement against `options.keyspace`, which
    /// must already hold the schema ([`install_schema`]).
    pub async fn connect(options: &ScyllaOptions) -> Result<Self, SetupError> {
        let session = connect_session(options).await?;
        Self::with_session(Arc::new(session), &options.keyspace, options.max_in_flight).await
    }

    /// Uses an existing session (shared with other users of the cluster). Refuses a keyspace
    /// that uses tablets, whose lightweight transactions would fail on every write.
    pub async fn with_session(
        session: Arc<Session>,
        keyspace: &str,
        max_in_flight: usize,
    ) -> Result<Self, SetupError> {
        schema::check_keyspace(keyspace)?;
        if schema::replication(&session, keyspace).await? == schema::Replication::Tablets {
            return Err(SetupError::Tablets {
                keyspace: keyspace.to_owned(),
            });
        }
        let st = Statements::prepare(&session, keyspace).await?;
        let concurrency = max_in_flight.max(1);
        Ok(Self {
            session,
            st: Arc::new(st),
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            keyspace: keyspace.into(),
        })
    }

    /// [`install_schema`], kept as an associated function for existing callers.
    pub async fn install_schema(
        session: &Session,
        keyspace: &str,
        replication_factor: u32,
    ) -> Result<(), SetupError> {
        install_schema(session, keyspace, replication_factor).await
    }

    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// The keyspace the store's statements were prepared against.
    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    /// Runs [`RewardStore::apply`]'s decisions (the lightweight transactions, which carry each
    /// reward's mission writes as pending) and none of its derived rows or mission writes:
    /// exactly the state a process that crashed between the two leaves. For crash-ordering
    /// tests; the product never calls it.
    #[doc(hidden)]
    pub async fn decide_only(&self, batch: Vec<StoredOutcome>) -> Result<usize> {
        let folded = fold_batch(batch);
        let folded = &folded;
        let decided: Vec<bool> = futures::stream::iter(0..folded.len())
            .map(|i| self.decide(&folded[i].outcome))
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        Ok(decided.into_iter().filter(|d| *d).count())
    }

    async fn run(&self, st: &PreparedStatement, values: impl SerializeRow) -> Result<QueryResult> {
        let _permit = self.permits.acquire().await.map_err(closed)?;
        self.session
            .execute_unpaged(st, values)
            .await
            .map_err(errors::from_execution)
    }

    async fn rows<R>(&self, st: &PreparedStatement, values: impl SerializeRow) -> Result<Vec<R>>
    where
        R: for<'f, 'm> ::scylla::deserialize::row::DeserializeRow<'f, 'm>,
    {
        let result = self.run(st, values).await?;
        let rows = result.into_rows_result().map_err(corrupt)?;
        let out = rows
            .rows::<R>()
            .map_err(corrupt)?
            .collect::<Result<Vec<R>, _>>()
            .map_err(corrupt)?;
        Ok(out)
    }
}

#[async_trait]
impl RewardStore for ScyllaRewardStore {
    async fn apply(&self, batch: &[StoredOutcome]) -> Result<Applied> {
        let folded = fold_batch(batch.to_vec());
        // Indices, not references: the stream's closure must not take a borrowed argument.
        let folded = &folded;
        // Ids race each other freely, those of one card too: the states they move are written at
        // their versions, so the card's latest state wins in any order (`missions`).
        let results: Vec<((bool, Applied), usize)> = futures::stream::iter(0..folded.len())
            .map(|i| async move {
                Ok::<_, RewardStoreError>((self.apply_one(&folded[i].outcome).await?, i))
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let mut applied = Applied::default();
        for ((written, caused), i) in results {
            let f = &folded[i];
            if written {
                applied.written += f.before_final + caused.written;
                applied.unchanged += f.after_final + caused.unchanged;
            } else {
                applied.unchanged += f.before_final + f.after_final;
            }
        }
        Ok(applied)
    }

    async fn prefetch(&self, txs: &[Transaction]) -> Result<PrefetchedLedger> {
        self.prefetch_batch(txs).await
    }

    async fn get(&self, id: RecordId) -> Result<Option<StoredOutcome>> {
        self.read(id, false).await
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
        self.history_page(card, range, limit, after).await
    }

    async fn summary(&self, card: CardId, range: DateRange) -> Result<Summary> {
        if range.is_empty() {
            return Ok(Summary::default());
        }
        self.summary_of(card, range).await
    }

    async fn missions(&self, cards: &[CardId]) -> Result<Vec<StoredMission>> {
        self.card_missions(cards).await
    }

    async fn ping(&self) -> Result<()> {
        self.run(&self.st.ping, ()).await.map(drop)
    }
}
