//! [`RewardStore`] on ScyllaDB (or Cassandra) through the `scylla` driver: the distributed
//! deployment's store. Schema: `schemas/rewards.cql` ([`SCHEMA_CQL`]).
//!
//! **Driver setup.** Prepared statements only (values are always bound, never spliced; the
//! keyspace name is checked to be a plain identifier before it goes into statement text).
//! Token-aware, data-center-aware default load balancing, so a statement goes straight to a
//! replica of its partition. `LOCAL_QUORUM` for reads and writes, `LOCAL_SERIAL` for the
//! lightweight transactions. Client-side monotonic write timestamps, so this process's later
//! write to a row always wins over its earlier one. At most `max_in_flight` statements in flight
//! per store (a semaphore), whatever the number of concurrent batches.
//!
//! **Once-only and the crash-ordering argument.** The `outcomes` row of an id is the single
//! once-point; it is written only by LWT: `INSERT … IF NOT EXISTS`, or `UPDATE … IF status =
//! 'dead_letter'`. Everything else (the card's `history` row, `card_months`, the `reversals` row
//! a reversal adds to its original) is derived and idempotent: same key, same value. For a
//! rewarded outcome the derived rows are written **before** the LWT:
//!
//! - crash before the LWT: nothing is final. The offset was not committed, so the record is
//!   redelivered and re-evaluated (the store still has no rewarded outcome for it); the new
//!   outcome overwrites the same derived keys, then takes the LWT. If it is now a dead letter,
//!   applying it deletes the derived rows the crashed attempt left (below).
//! - crash after the LWT: everything is already written; redelivery finds the id rewarded
//!   (a duplicate) and writes nothing.
//!
//! Written the other way round (LWT first), a crash between the two would leave a final outcome
//! that redelivery can never complete, since a duplicate writes nothing.
//!
//! A dead letter is written LWT first, then the derived rows at its key are deleted if present
//! (orphans of a crashed rewarded attempt; a crash in between is repaired by the redelivery).
//!
//! **`S` of an original** is never a counter (a counter increment is not idempotent): it is the
//! sum over the original's `reversals` rows whose reversal has a *rewarded* `outcomes` row naming
//! that original, taking the magnitude from that outcome row. A reversal row written by an
//! attempt that crashed before its LWT therefore never counts, and one that got its LWT counts
//! exactly once, however often it is redelivered.
//!
//! **History order.** Partitions `(card_id, month)`, clustered `transaction_date DESC, id DESC`.
//! A page lists the card's months from `card_months` (one small partition), then reads month
//! partitions newest first, resuming inside the cursor's month with `(transaction_date, id) <
//! (cursor)`: the comparison is the clustering order itself, so no row is skipped or repeated.
//! Ties are in CQL `uuid` order, which for ids of one UUID version (the product's are random,
//! version 4) is byte order, as in the embedded store.
//!
//! **Concurrent writers of one id** (two rewarders during a rebalance) are outside the contract
//! of one owner per card, but converge: the LWT picks one winner; the loser then rewrites the
//! derived rows from the winner's row, so the history does not keep the loser's values.

mod fold;
mod rows;
mod statements;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ::scylla::client::execution_profile::ExecutionProfile;
use ::scylla::client::session::Session;
use ::scylla::client::session_builder::SessionBuilder;
use ::scylla::policies::load_balancing::DefaultPolicy;
use ::scylla::policies::timestamp_generator::MonotonicTimestampGenerator;
use ::scylla::response::query_result::QueryResult;
use ::scylla::serialize::row::SerializeRow;
use ::scylla::statement::prepared::PreparedStatement;
use ::scylla::statement::{Consistency, SerialConsistency};
use ::scylla::value::{CqlValue, Row};
use async_trait::async_trait;
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};
use rust_decimal::Decimal;
use spend_domain::ledger::{OriginalPurchase, Prior};
use spend_domain::{CardId, RecordId, Transaction, TxKind, Unit};
use tokio::sync::Semaphore;
use uuid::Uuid;

use self::fold::fold_batch;
use self::rows::{
    check_keyspace, from_cql_decimal, to_cql_decimal, OutcomeRow, OutcomeValues, ReplaceValues,
    DEAD_LETTER, REWARDED,
};
pub use self::rows::{schema_statements, SCHEMA_CQL};
use self::statements::Statements;
use crate::reward_store::{
    check_cursor, month_of, page_limit, Applied, Cursor, DateRange, Page, PrefetchedLedger, Result,
    RewardStore, RewardStoreError, StoredOutcome, StoredStatus, Summary,
};

/// How a [`ScyllaRewardStore`] connects.
#[derive(Clone, Debug)]
pub struct ScyllaOptions {
    /// `host:port` of one or more nodes; the rest of the cluster is discovered.
    pub nodes: Vec<String>,
    pub keyspace: String,
    /// The local data center; requests stay in it. `None`: any.
    pub local_dc: Option<String>,
    /// Statements in flight at once, per store.
    pub max_in_flight: usize,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for ScyllaOptions {
    fn default() -> Self {
        Self {
            nodes: vec!["127.0.0.1:9042".into()],
            keyspace: "spend".into(),
            local_dc: None,
            max_in_flight: 256,
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// How often an LWT is retried when another writer keeps changing the row in between.
const LWT_ROUNDS: usize = 4;

/// A [`RewardStore`] on a ScyllaDB keyspace holding `schemas/rewards.cql`. Cheap to clone.
#[derive(Clone)]
pub struct ScyllaRewardStore {
    session: Arc<Session>,
    st: Arc<Statements>,
    permits: Arc<Semaphore>,
    concurrency: usize,
    keyspace: Arc<str>,
}

fn unavailable(e: impl std::fmt::Display) -> RewardStoreError {
    RewardStoreError::Unavailable(format!("scylla: {e}"))
}

fn corrupt(e: impl std::fmt::Display) -> RewardStoreError {
    RewardStoreError::Corrupt(format!("scylla: {e}"))
}

impl ScyllaRewardStore {
    /// Connects to the cluster and prepares every statement against `options.keyspace`, which
    /// must already hold the schema ([`ScyllaRewardStore::install_schema`]).
    pub async fn connect(options: &ScyllaOptions) -> Result<Self> {
        let session = connect_session(options).await?;
        Self::with_session(Arc::new(session), &options.keyspace, options.max_in_flight).await
    }

    /// Uses an existing session (shared with other users of the cluster).
    pub async fn with_session(
        session: Arc<Session>,
        keyspace: &str,
        max_in_flight: usize,
    ) -> Result<Self> {
        check_keyspace(keyspace)?;
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

    /// Creates the keyspace (if absent) with `replication_factor` replicas per data center, and
    /// every table of [`SCHEMA_CQL`] in it (if absent), then waits for schema agreement.
    pub async fn install_schema(
        session: &Session,
        keyspace: &str,
        replication_factor: u32,
    ) -> Result<()> {
        let mut statements = schema_statements(keyspace, replication_factor)?.into_iter();
        let create_keyspace = statements.next().unwrap_or_default();
        // DDL has no values to bind; `schema_statements` checked the only spliced name.
        // Outcomes need LWT, which ScyllaDB releases with tablets on by default may not offer on
        // a tablets keyspace: ask for vnodes, and where the option is unknown (Cassandra, older
        // ScyllaDB), take the default, which is vnodes there.
        let vnodes = format!("{create_keyspace} AND tablets = {{'enabled': false}}");
        if session.query_unpaged(vnodes, ()).await.is_err() {
            session
                .query_unpaged(create_keyspace, ())
                .await
                .map_err(unavailable)?;
        }
        for statement in statements {
            session
                .query_unpaged(statement, ())
                .await
                .map_err(unavailable)?;
        }
        session
            .await_schema_agreement()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// The keyspace the store's statements were prepared against.
    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    async fn run(&self, st: &PreparedStatement, values: impl SerializeRow) -> Result<QueryResult> {
        let _permit = self.permits.acquire().await.map_err(unavailable)?;
        self.session
            .execute_unpaged(st, values)
            .await
            .map_err(unavailable)
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

    async fn read(&self, id: RecordId, serial: bool) -> Result<Option<StoredOutcome>> {
        let st = if serial {
            &self.st.get_serial
        } else {
            &self.st.get
        };
        let rows: Vec<OutcomeRow> = self.rows(st, (id.0,)).await?;
        rows.into_iter()
            .next()
            .map(OutcomeRow::into_outcome)
            .transpose()
    }

    async fn read_status(&self, id: RecordId) -> Result<Option<Prior>> {
        let rows: Vec<(Option<String>,)> = self.rows(&self.st.get_status, (id.0,)).await?;
        match rows.into_iter().next() {
            None => Ok(None),
            Some((Some(s),)) if s == REWARDED => Ok(Some(Prior::Rewarded)),
            Some((Some(s),)) if s == DEAD_LETTER => Ok(Some(Prior::DeadLetter)),
            Some(_) => Err(corrupt("bad outcome status")),
        }
    }

    /// Runs an LWT and tells whether it was applied.
    async fn lwt(&self, st: &PreparedStatement, values: impl SerializeRow) -> Result<bool> {
        let result = self.run(st, values).await?;
        let rows = result.into_rows_result().map_err(corrupt)?;
        let row: Row = rows.first_row().map_err(corrupt)?;
        match row.columns.first() {
            Some(Some(CqlValue::Boolean(applied))) => Ok(*applied),
            _ => Err(corrupt(
                "lightweight transaction answered without [applied]",
            )),
        }
    }

    /// The idempotent rows a rewarded outcome implies.
    async fn write_derived(&self, o: &StoredOutcome) -> Result<()> {
        let history = OutcomeValues::of(o).history();
        let month = history.month;
        let card = o.card_id().0;
        let reversal = async {
            match o.reversal_claim() {
                Some((original, magnitude)) => self
                    .run(
                        &self.st.insert_reversal,
                        (original.0, o.id().0, to_cql_decimal(magnitude)),
                    )
                    .await
                    .map(drop),
                None => Ok(()),
            }
        };
        tokio::try_join!(
            self.run(&self.st.insert_history, history),
            self.run(&self.st.insert_card_month, (card, month)),
            reversal,
        )?;
        Ok(())
    }

    /// Deletes the derived rows at a dead letter's key, if an earlier attempt left them.
    async fn clear_derived(&self, o: &StoredOutcome) -> Result<()> {
        let tx = &o.tx;
        let key = (
            tx.card_id.0,
            month_of(tx.transaction_date),
            tx.transaction_date,
            tx.id.0,
        );
        // Read first: deleting what is not there would still write a tombstone into the
        // card's history partition, and dead letters can be many.
        let found: Vec<(Uuid,)> = self.rows(&self.st.history_exists, key).await?;
        if !found.is_empty() {
            self.run(&self.st.delete_history, key).await?;
        }
        if let TxKind::Reversal { original_id } = tx.kind {
            let key = (original_id.0, tx.id.0);
            let found: Vec<(Uuid,)> = self.rows(&self.st.reversal_exists, key).await?;
            if !found.is_empty() {
                self.run(&self.st.delete_reversal, key).await?;
            }
        }
        Ok(())
    }

    /// Stores one outcome under the once-only rules; `true` if it was written.
    async fn apply_one(&self, o: &StoredOutcome) -> Result<bool> {
        let mut stored = self.read_status(o.id()).await?;
        if stored == Some(Prior::Rewarded) {
            return Ok(false);
        }
        if o.is_rewarded() {
            self.write_derived(o).await?;
        }
        for _ in 0..LWT_ROUNDS {
            let values = OutcomeValues::of(o);
            let applied = match stored {
                None => self.lwt(&self.st.insert_if_absent, values).await?,
                Some(Prior::DeadLetter) => {
                    let values = ReplaceValues {
                        row: values,
                        expected_status: DEAD_LETTER,
                    };
                    self.lwt(&self.st.replace_dead_letter, values).await?
                }
                Some(Prior::Rewarded) => false,
            };
            if applied {
                if !o.is_rewarded() {
                    self.clear_derived(o).await?;
                }
                return Ok(true);
            }
            let current = self.read(o.id(), true).await?;
            if let Some(winner) = current.as_ref().filter(|w| w.is_rewarded()) {
                // Someone else's reward is final: make the derived rows say what it says.
                self.write_derived(winner).await?;
                return Ok(false);
            }
            stored = current.map(|_| Prior::DeadLetter);
        }
        Err(RewardStoreError::Unavailable(format!(
            "scylla: outcome {} kept changing under its lightweight transaction",
            o.id()
        )))
    }

    /// `S` of `original`: the magnitudes of its rewarded reversals, read from their outcomes.
    async fn reversed_total(&self, original: RecordId) -> Result<Decimal> {
        let claims: Vec<(Uuid,)> = self.rows(&self.st.reversals_of, (original.0,)).await?;
        let reads = futures::stream::iter(claims)
            .map(|(reversal,)| self.read(RecordId(reversal), false))
            .buffer_unordered(self.concurrency);
        let outcomes: Vec<Option<StoredOutcome>> = reads.try_collect().await?;
        let mut total = Decimal::ZERO;
        for o in outcomes.iter().flatten() {
            if let Some((of, magnitude)) = o.reversal_claim() {
                if of == original {
                    total += magnitude;
                }
            }
        }
        Ok(total)
    }

    async fn original(&self, id: RecordId) -> Result<Option<OriginalPurchase>> {
        let Some(stored) = self.read(id, false).await? else {
            return Ok(None);
        };
        let (StoredStatus::Rewarded(r), TxKind::Purchase) = (&stored.status, stored.tx.kind) else {
            return Ok(None);
        };
        Ok(Some(OriginalPurchase {
            card_id: stored.tx.card_id,
            reward: r.reward,
            amount: stored.tx.amount,
            currency: stored.tx.currency,
            unit: r.unit,
            reversed: self.reversed_total(id).await?,
        }))
    }

    /// The months of `card` with history between `lowest` and `highest`, newest first.
    async fn months(
        &self,
        card: CardId,
        lowest: NaiveDate,
        highest: NaiveDate,
    ) -> Result<Vec<i32>> {
        let rows: Vec<(i32,)> = self
            .rows(
                &self.st.card_months,
                (card.0, month_of(lowest), month_of(highest)),
            )
            .await?;
        Ok(rows.into_iter().map(|(m,)| m).collect())
    }
}

/// A session set up as the store wants it (token-aware, `LOCAL_QUORUM`, `LOCAL_SERIAL`,
/// monotonic client timestamps), e.g. to install the schema before
/// [`ScyllaRewardStore::with_session`].
pub async fn connect_session(options: &ScyllaOptions) -> Result<Session> {
    let mut policy = DefaultPolicy::builder().token_aware(true);
    if let Some(dc) = &options.local_dc {
        policy = policy
            .prefer_datacenter(dc.clone())
            .permit_dc_failover(false);
    }
    let profile = ExecutionProfile::builder()
        .consistency(Consistency::LocalQuorum)
        .serial_consistency(Some(SerialConsistency::LocalSerial))
        .request_timeout(Some(options.request_timeout))
        .load_balancing_policy(policy.build())
        .build();
    SessionBuilder::new()
        .known_nodes(&options.nodes)
        .connection_timeout(options.connect_timeout)
        .default_execution_profile_handle(profile.into_handle())
        .timestamp_generator(Arc::new(MonotonicTimestampGenerator::new()))
        .build()
        .await
        .map_err(unavailable)
}

#[async_trait]
impl RewardStore for ScyllaRewardStore {
    async fn apply(&self, batch: Vec<StoredOutcome>) -> Result<Applied> {
        let folded = fold_batch(batch);
        // Indices, not references: the stream's closure must not take a borrowed argument.
        let folded = &folded;
        let results: Vec<(bool, usize)> = futures::stream::iter(0..folded.len())
            .map(|i| async move {
                Ok::<_, RewardStoreError>((self.apply_one(&folded[i].outcome).await?, i))
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let mut applied = Applied::default();
        for (written, i) in results {
            let f = &folded[i];
            if written {
                applied.written += f.before_final;
                applied.unchanged += f.after_final;
            } else {
                applied.unchanged += f.before_final + f.after_final;
            }
        }
        Ok(applied)
    }

    async fn prefetch(&self, txs: &[Transaction]) -> Result<PrefetchedLedger> {
        let ids: HashSet<RecordId> = txs.iter().map(|t| t.id).collect();
        let originals: HashSet<RecordId> =
            txs.iter().filter_map(|t| t.kind.original_id()).collect();
        let priors: Vec<(RecordId, Option<Prior>)> = futures::stream::iter(ids)
            .map(|id| async move { Ok::<_, RewardStoreError>((id, self.read_status(id).await?)) })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let found: Vec<(RecordId, Option<OriginalPurchase>)> = futures::stream::iter(originals)
            .map(|id| async move { Ok::<_, RewardStoreError>((id, self.original(id).await?)) })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let mut ledger = PrefetchedLedger::new();
        for (id, prior) in priors {
            if let Some(prior) = prior {
                ledger.insert_prior(id, prior);
            }
        }
        for (id, original) in found {
            if let Some(original) = original {
                ledger.insert_original(id, original);
            }
        }
        Ok(ledger)
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
        let limit = page_limit(limit);
        // A cursor past `to` (the client narrowed the range) counts as no cursor.
        let after = after.filter(|c| c.date() <= range.highest());
        let upper = after.map_or(range.highest(), |c| c.date());
        let lowest = range.lowest();
        let mut items: Vec<StoredOutcome> = Vec::with_capacity(limit.min(64) + 1);
        'months: for month in self.months(card, lowest, upper).await? {
            let want = i32::try_from(limit + 1 - items.len()).unwrap_or(i32::MAX);
            let rows: Vec<OutcomeRow> = match after {
                Some(c) if month == month_of(c.date()) => {
                    let values = (card.0, month, c.date(), c.id().0, want);
                    self.rows(&self.st.history_after, values).await?
                }
                _ => {
                    let values = (card.0, month, upper, want);
                    self.rows(&self.st.history_upto, values).await?
                }
            };
            for row in rows {
                let o = row.into_outcome()?;
                if o.tx.transaction_date < lowest {
                    break 'months;
                }
                items.push(o);
            }
            if items.len() > limit {
                break;
            }
        }
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(Cursor::after)
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn summary(&self, card: CardId, range: DateRange) -> Result<Summary> {
        if range.is_empty() {
            return Ok(Summary::default());
        }
        let (lowest, highest) = (range.lowest(), range.highest());
        let mut summary = Summary::default();
        for month in self.months(card, lowest, highest).await? {
            let _permit = self.permits.acquire().await.map_err(unavailable)?;
            let mut rows = self
                .session
                .execute_iter(self.st.summary.clone(), (card.0, month, lowest, highest))
                .await
                .map_err(unavailable)?
                .rows_stream::<(Option<String>, Option<::scylla::value::CqlDecimal>)>()
                .map_err(corrupt)?;
            while let Some(row) = rows.next().await {
                let (unit, reward) = row.map_err(unavailable)?;
                let unit = unit.as_deref().and_then(Unit::parse);
                let (Some(unit), Some(reward)) = (unit, reward) else {
                    return Err(corrupt("history row without unit or reward"));
                };
                summary.add(unit, from_cql_decimal(&reward)?);
            }
        }
        Ok(summary.finish())
    }

    async fn ping(&self) -> Result<()> {
        self.run(&self.st.ping, ()).await.map(drop)
    }
}
