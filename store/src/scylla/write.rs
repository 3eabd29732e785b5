//! Writing outcomes: the lightweight transaction that decides an id, then the derived rows of a
//! final reward and the mission writes decided with it. The ordering argument is in the module
//! documentation of [`super`] and of [`super::missions`].

use ::scylla::response::query_result::QueryResult;
use ::scylla::value::{CqlValue, Row};

use super::missions::leaves_pending;
use super::rows::{
    to_cql_decimal, DecideValues, OutcomeValues, ReplaceValues, DEAD_LETTER, REWARDED,
};
use super::{corrupt, ScyllaRewardStore};
use crate::reward_store::{Applied, Result, RewardStoreError, StoredOutcome};

/// How often a decision is retried when another writer keeps changing the row in between.
const LWT_ROUNDS: usize = 4;

/// What a lightweight transaction answered: whether it was applied and, if not, the status the
/// row has (`None`: there is no row).
struct Answer {
    applied: bool,
    status: Option<String>,
}

/// Reads `[applied]` and `status` by name from an LWT's result, whichever other columns the
/// server returns with them (ScyllaDB and Cassandra differ).
fn answer(result: QueryResult) -> Result<Answer> {
    let rows = result.into_rows_result().map_err(corrupt)?;
    let specs = rows.column_specs();
    let applied_at = specs.get_by_name("[applied]").map(|(i, _)| i);
    let status_at = specs.get_by_name("status").map(|(i, _)| i);
    let row: Row = rows.first_row().map_err(corrupt)?;
    let column = |at: Option<usize>| at.and_then(|i| row.columns.get(i)).and_then(Option::as_ref);
    let applied = match column(applied_at) {
        Some(CqlValue::Boolean(applied)) => *applied,
        _ => {
            return Err(corrupt(
                "lightweight transaction answered without [applied]",
            ))
        }
    };
    let status = match column(status_at) {
        None => None,
        Some(CqlValue::Text(s) | CqlValue::Ascii(s)) => Some(s.clone()),
        Some(other) => return Err(corrupt(format!("outcome status {other:?}"))),
    };
    Ok(Answer { applied, status })
}

/// Which decision to attempt next for an id.
#[derive(Clone, Copy)]
enum Expect {
    /// No row: `INSERT … IF NOT EXISTS`.
    Absent,
    /// A dead letter: `UPDATE … IF status = 'dead_letter'`.
    DeadLetter,
}

impl ScyllaRewardStore {
    async fn lwt(&self, o: &StoredOutcome, expect: Expect) -> Result<Answer> {
        let result = match expect {
            Expect::Absent => {
                self.run(&self.st.insert_if_absent, DecideValues::of(o))
                    .await?
            }
            Expect::DeadLetter => {
                self.run(&self.st.replace_dead_letter, ReplaceValues::of(o))
                    .await?
            }
        };
        answer(result)
    }

    /// Decides one id: `Ok(true)` if `o` is now its stored outcome. Writes no derived row.
    ///
    /// No read comes first: the LWT's own answer says what the row holds when it was not
    /// applied, so a new id costs exactly one Paxos round.
    pub(super) async fn decide(&self, o: &StoredOutcome) -> Result<bool> {
        let mut expect = Expect::Absent;
        for _ in 0..LWT_ROUNDS {
            let answer = self.lwt(o, expect).await?;
            if answer.applied {
                return Ok(true);
            }
            expect = match answer.status.as_deref() {
                Some(REWARDED) => return Ok(false),
                Some(DEAD_LETTER) => Expect::DeadLetter,
                // An UPDATE … IF on a row that is not there; outcomes are never deleted, so
                // only a row expected to exist that did not: insert it.
                None => Expect::Absent,
                Some(other) => return Err(corrupt(format!("outcome status {other:?}"))),
            };
        }
        Err(RewardStoreError::Unavailable(format!(
            "scylla: outcome {} kept changing under its lightweight transaction",
            o.id()
        )))
    }

    /// Stores one id's outcome under the once-only rules: whether it was written, and what the
    /// payouts it caused did (nothing when it was not written).
    ///
    /// A final reward's derived rows and mission writes are made after the decision, by the
    /// winner; a writer that finds the id already rewarded (a retry after an error, the loser
    /// of a race) completes them from the stored winner's row ([`Self::repair`]), so an attempt
    /// that decided and then failed is completed by its retry. A dead letter has no derived
    /// rows and deletes none.
    pub(super) async fn apply_one(&self, o: &StoredOutcome) -> Result<(bool, Applied)> {
        if !self.decide(o).await? {
            if let Some(winner) = self.read(o.id(), true).await? {
                if winner.is_rewarded() {
                    self.repair(&winner, true).await?;
                }
            }
            return Ok((false, Applied::default()));
        }
        let derived = async {
            if o.is_rewarded() {
                self.write_derived(o).await?;
            }
            Ok::<_, RewardStoreError>(())
        };
        let (_, caused) = tokio::try_join!(derived, self.write_missions(&o.missions))?;
        if leaves_pending(o) {
            self.clear_pending(o.id()).await?;
        }
        Ok((true, caused))
    }

    /// Stores a mission payout row (which causes nothing itself) as [`Self::apply_one`] stores
    /// an outcome; `true` if it was written.
    pub(super) async fn settle(&self, payout: &StoredOutcome) -> Result<bool> {
        if self.decide(payout).await? {
            if payout.is_rewarded() {
                self.write_derived(payout).await?;
            }
            return Ok(true);
        }
        if let Some(winner) = self.read(payout.id(), true).await? {
            if winner.is_rewarded() {
                self.write_derived(&winner).await?;
            }
        }
        Ok(false)
    }

    /// Completes a final reward, as read back: its derived rows, and the mission writes it
    /// still has pending (read at SERIAL when `serial`). Rewriting what is already there
    /// changes nothing.
    pub(super) async fn repair(&self, winner: &StoredOutcome, serial: bool) -> Result<()> {
        let (_, pending) = tokio::try_join!(
            self.write_derived(winner),
            self.pending(winner.id(), serial)
        )?;
        if let Some(writes) = pending {
            self.write_missions(&writes).await?;
            self.clear_pending(winner.id()).await?;
        }
        Ok(())
    }

    /// The idempotent rows a final reward implies: its history row, its card's month, and for
    /// a reversal its claim on its original. Only ever called with a reward that won its LWT
    /// (as decided, or as read back from `outcomes`), so the values are the winner's.
    pub(super) async fn write_derived(&self, o: &StoredOutcome) -> Result<()> {
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
}
