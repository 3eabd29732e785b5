//! Reading: outcomes by id, what evaluation needs of a batch (with the repair of derived rows a
//! crash left unwritten), history pages and summaries.

use std::collections::HashSet;

use ::scylla::value::CqlDecimal;
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};
use rust_decimal::Decimal;
use spend_domain::ledger::{OriginalPurchase, Prior};
use spend_domain::{CardId, RecordId, Transaction, TxKind, Unit};
use uuid::Uuid;

use super::errors::{from_next_row, from_pager};
use super::rows::{from_cql_decimal, OutcomeRow};
use super::{corrupt, ScyllaRewardStore};
use crate::reward_store::{
    month_of, page_limit, Cursor, DateRange, Page, PrefetchedLedger, Result, RewardStoreError,
    StoredOutcome, StoredStatus, Summary,
};

impl ScyllaRewardStore {
    /// One outcome by id; `serial` reads at SERIAL, seeing every decision made anywhere.
    pub(super) async fn read(&self, id: RecordId, serial: bool) -> Result<Option<StoredOutcome>> {
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

    /// The prior outcome of `id`. A reward found here is rewritten into its derived rows, and
    /// its pending mission writes are made: the record is being delivered again, and if the
    /// attempt that decided it crashed before those writes, this is the only moment anyone will
    /// (the rewarder treats the record as a duplicate and never offers it to `apply`).
    /// Duplicates are rare, and the rows are the stored winner's, so rewriting them changes
    /// nothing that was already right.
    async fn prior(&self, id: RecordId) -> Result<Option<Prior>> {
        let Some(stored) = self.read(id, false).await? else {
            return Ok(None);
        };
        if !stored.is_rewarded() {
            return Ok(Some(Prior::DeadLetter));
        }
        self.repair(&stored, false).await?;
        Ok(Some(Prior::Rewarded))
    }

    /// What evaluation needs of a batch. Priors first: their repair may add a reversal's claim
    /// that an original read below must count, and mission states the rewarder reads next.
    pub(super) async fn prefetch_batch(&self, txs: &[Transaction]) -> Result<PrefetchedLedger> {
        let ids: HashSet<RecordId> = txs.iter().map(|t| t.id).collect();
        let originals: HashSet<RecordId> =
            txs.iter().filter_map(|t| t.kind.original_id()).collect();
        let priors: Vec<(RecordId, Option<Prior>)> = futures::stream::iter(ids)
            .map(|id| async move { Ok::<_, RewardStoreError>((id, self.prior(id).await?)) })
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

    /// `S` of `original`: the magnitudes of its claims. A claim row is only ever written after
    /// its reversal's reward is final, with the winner's magnitude, so every row counts.
    async fn reversed_total(&self, original: RecordId) -> Result<Decimal> {
        let claims: Vec<(Uuid, CqlDecimal)> =
            self.rows(&self.st.reversals_of, (original.0,)).await?;
        let mut total = Decimal::ZERO;
        for (_, magnitude) in &claims {
            total += from_cql_decimal(magnitude)?;
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
        if stored.is_payout() {
            // A mission payout is no purchase a reversal can name.
            return Ok(None);
        }
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

    /// One page, newest first. Every slice read is bounded by the range's dates and by the
    /// number of rows the page still needs.
    pub(super) async fn history_page(
        &self,
        card: CardId,
        range: DateRange,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<Page> {
        let limit = page_limit(limit);
        let lowest = range.lowest();
        // A cursor past `to` (the client narrowed the range) counts as no cursor; one below
        // `from` has nothing after it.
        let after = after.filter(|c| c.date() <= range.highest());
        if after.is_some_and(|c| c.date() < lowest) {
            return Ok(Page::default());
        }
        let upper = after.map_or(range.highest(), |c| c.date());
        let mut items: Vec<StoredOutcome> = Vec::with_capacity(limit.min(64) + 1);
        for month in self.months(card, lowest, upper).await? {
            // One more than the page holds: whether there is a next page.
            let room = limit + 1 - items.len();
            let want = |room: usize| i32::try_from(room).unwrap_or(i32::MAX);
            let rows: Vec<OutcomeRow> = match after {
                Some(c) if month == month_of(c.date()) => {
                    let ties = (card.0, month, c.date(), *c.id().0.as_bytes(), want(room));
                    let mut rows: Vec<OutcomeRow> = self.rows(&self.st.history_tie, ties).await?;
                    if rows.len() < room {
                        let before = (card.0, month, c.date(), lowest, want(room - rows.len()));
                        rows.extend(self.rows(&self.st.history_before, before).await?);
                    }
                    rows
                }
                _ => {
                    let values = (card.0, month, upper, lowest, want(room));
                    self.rows(&self.st.history_upto, values).await?
                }
            };
            for row in rows {
                items.push(row.into_outcome()?);
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

    /// The count and totals of one month partition's rows in `[lowest, highest]`.
    async fn month_summary(
        &self,
        card: CardId,
        month: i32,
        lowest: NaiveDate,
        highest: NaiveDate,
    ) -> Result<Summary> {
        let _permit = self.permits.acquire().await.map_err(super::closed)?;
        let mut rows = self
            .session
            .execute_iter(self.st.summary.clone(), (card.0, month, lowest, highest))
            .await
            .map_err(from_pager)?
            .rows_stream::<(Option<String>, Option<CqlDecimal>)>()
            .map_err(corrupt)?;
        let mut summary = Summary::default();
        while let Some(row) = rows.next().await {
            let (unit, reward) = row.map_err(from_next_row)?;
            let unit = unit.as_deref().and_then(Unit::parse);
            let (Some(unit), Some(reward)) = (unit, reward) else {
                return Err(corrupt("history row without unit or reward"));
            };
            summary.add(unit, from_cql_decimal(&reward)?);
        }
        Ok(summary)
    }

    /// Every month partition of the range read concurrently (within the store's in-flight cap),
    /// then added up exactly.
    pub(super) async fn summary_of(&self, card: CardId, range: DateRange) -> Result<Summary> {
        let (lowest, highest) = (range.lowest(), range.highest());
        let months = self.months(card, lowest, highest).await?;
        let parts: Vec<Summary> = futures::stream::iter(months)
            .map(|month| self.month_summary(card, month, lowest, highest))
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let mut summary = Summary::default();
        let mut count = 0;
        for part in parts {
            count += part.count;
            for (unit, total) in part.totals {
                summary.add(unit, total);
            }
        }
        // `add` counted one per month and unit; the outcomes are what counts.
        summary.count = count;
        Ok(summary.finish())
    }
}
