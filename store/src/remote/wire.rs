//! The bodies of the remote store's routes, both ways. The layout is in the documentation of
//! [`crate::remote`]; every decoder checks lengths, counts, codes and trailing bytes, and reads
//! outcomes through the embedded store's codec, which re-validates every field through the
//! domain's constructors (mission states through the store's mission codec). A decoder never
//! panics and never allocates more than its input justifies. The apply request and the
//! missions route are in [`missions`]; reading a body is [`reader`].

mod missions;
mod reader;

use chrono::{DateTime, Datelike};
use rust_decimal::Decimal;
use spend_domain::eval::DeadLetterReason;
use spend_domain::ledger::{OriginalPurchase, Prior};
use spend_domain::{Amount, CardId, CurrencyCode, RecordId, Transaction, Unit};

pub use self::missions::{
    decode_apply, decode_cards, decode_missions, encode_apply, encode_cards, encode_missions,
};
use self::reader::Reader;
use crate::reward_store::{
    encode_outcome, Applied, Cursor, DateRange, Page, PrefetchedLedger, StoredOutcome,
    StoredStatus, Summary,
};

/// The first byte of every body.
pub const VERSION: u8 = 1;

const PRIOR_REWARDED: u8 = 1;
const PRIOR_DEAD_LETTER: u8 = 2;
const RANGE_FROM: u8 = 1;
const RANGE_TO: u8 = 2;
/// The smallest encoded outcome (header, ids, fixed fields, empty strings): bounds how many
/// records a body of a given length can claim to hold.
const MIN_RECORD: usize = 4 + 19 + 16 + 16 + 4 + 2 + 3 + 16 + 1 + 8 + 4 * 4;
const ORIGINAL_LEN: usize = 16 + 16 + 16 + 16 + 3 + 1 + 16;
/// The longest cursor text accepted (a cursor is 44 characters).
const MAX_CURSOR_TEXT: usize = 64;

/// What is wrong with a body. The server answers it with a 400, the client turns it into
/// [`RewardStoreError::Corrupt`].
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{0}")]
pub struct WireError(String);

impl WireError {
    pub(crate) fn new(what: impl Into<String>) -> Self {
        Self(what.into())
    }
}

fn bad(what: impl Into<String>) -> WireError {
    WireError::new(what)
}

/// A history request as it travels; the cursor stays text until the server reads it for the
/// card, so a bad cursor is told apart from a bad body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HistoryRequest {
    pub card: CardId,
    pub range: DateRange,
    pub limit: u32,
    pub cursor: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Requests

/// Each transaction travels as a dead-letter outcome (the codec's transaction part; the status
/// and the time mean nothing here), so the server re-validates every field the same way.
pub fn encode_prefetch(txs: &[Transaction]) -> Vec<u8> {
    let mut b = start(8 + txs.len() * 224);
    put_count(&mut b, txs.len());
    for tx in txs {
        let carrier = StoredOutcome {
            tx: tx.clone(),
            status: StoredStatus::DeadLetter(DeadLetterReason::Undecodable),
            processed_at: DateTime::UNIX_EPOCH,
            payout: None,
            missions: Vec::new(),
        };
        put_bytes(&mut b, &encode_outcome(&carrier));
    }
    b
}

pub fn decode_prefetch(b: &[u8]) -> Result<Vec<Transaction>, WireError> {
    let mut r = Reader::open(b)?;
    let txs = r
        .outcomes("transaction")?
        .into_iter()
        .map(|o| o.tx)
        .collect();
    r.finish()?;
    Ok(txs)
}

pub fn encode_id(id: RecordId) -> Vec<u8> {
    let mut b = start(17);
    b.extend_from_slice(id.0.as_bytes());
    b
}

pub fn decode_id(b: &[u8]) -> Result<RecordId, WireError> {
    let mut r = Reader::open(b)?;
    let id = RecordId(r.uuid("record id")?);
    r.finish()?;
    Ok(id)
}

pub fn encode_history(req: &HistoryRequest) -> Vec<u8> {
    let mut b = start(64 + MAX_CURSOR_TEXT);
    b.extend_from_slice(req.card.0.as_bytes());
    put_range(&mut b, req.range);
    b.extend_from_slice(&req.limit.to_be_bytes());
    put_cursor(&mut b, req.cursor.as_deref());
    b
}

pub fn decode_history(b: &[u8]) -> Result<HistoryRequest, WireError> {
    let mut r = Reader::open(b)?;
    let card = CardId(r.uuid("card id")?);
    let range = r.range()?;
    let limit = u32::from_be_bytes(r.array("limit")?);
    let cursor = r.cursor()?;
    r.finish()?;
    Ok(HistoryRequest {
        card,
        range,
        limit,
        cursor,
    })
}

pub fn encode_summary_request(card: CardId, range: DateRange) -> Vec<u8> {
    let mut b = start(32);
    b.extend_from_slice(card.0.as_bytes());
    put_range(&mut b, range);
    b
}

pub fn decode_summary_request(b: &[u8]) -> Result<(CardId, DateRange), WireError> {
    let mut r = Reader::open(b)?;
    let card = CardId(r.uuid("card id")?);
    let range = r.range()?;
    r.finish()?;
    Ok((card, range))
}

// ---------------------------------------------------------------------------------------------
// Answers

pub fn encode_applied(applied: Applied) -> Vec<u8> {
    let mut b = start(17);
    for n in [applied.written, applied.unchanged] {
        b.extend_from_slice(&(n as u64).to_be_bytes());
    }
    b
}

pub fn decode_applied(b: &[u8]) -> Result<Applied, WireError> {
    let mut r = Reader::open(b)?;
    let written = r.usize("written")?;
    let unchanged = r.usize("unchanged")?;
    r.finish()?;
    Ok(Applied { written, unchanged })
}

pub fn encode_ledger(ledger: &PrefetchedLedger) -> Vec<u8> {
    let priors = ledger.priors();
    let originals = ledger.originals();
    let mut b = start(9 + priors.len() * 17 + originals.len() * ORIGINAL_LEN);
    put_count(&mut b, priors.len());
    for (id, prior) in priors {
        b.extend_from_slice(id.0.as_bytes());
        b.push(match prior {
            Prior::Rewarded => PRIOR_REWARDED,
            Prior::DeadLetter => PRIOR_DEAD_LETTER,
        });
    }
    put_count(&mut b, originals.len());
    for (id, o) in originals {
        b.extend_from_slice(id.0.as_bytes());
        b.extend_from_slice(o.card_id.0.as_bytes());
        b.extend_from_slice(&o.reward.serialize());
        b.extend_from_slice(&o.amount.get().serialize());
        b.extend_from_slice(o.currency.as_str().as_bytes());
        b.push(unit_code(o.unit));
        b.extend_from_slice(&o.reversed.serialize());
    }
    b
}

pub fn decode_ledger(b: &[u8]) -> Result<PrefetchedLedger, WireError> {
    let mut r = Reader::open(b)?;
    let mut ledger = PrefetchedLedger::new();
    let priors = r.count("prior", 17)?;
    for _ in 0..priors {
        let id = RecordId(r.uuid("prior id")?);
        let prior = match r.u8("prior")? {
            PRIOR_REWARDED => Prior::Rewarded,
            PRIOR_DEAD_LETTER => Prior::DeadLetter,
            other => return Err(bad(format!("prior {other} is not 1 or 2"))),
        };
        ledger.insert_prior(id, prior);
    }
    let originals = r.count("original", ORIGINAL_LEN)?;
    for _ in 0..originals {
        let id = RecordId(r.uuid("original id")?);
        let card_id = CardId(r.uuid("original card id")?);
        let reward = r.decimal("original reward")?;
        let amount =
            Amount::new(r.decimal("original amount")?).ok_or_else(|| bad("original amount"))?;
        let currency = std::str::from_utf8(r.take(3, "original currency")?)
            .ok()
            .and_then(CurrencyCode::parse)
            .ok_or_else(|| bad("original currency is not an ISO 4217 code"))?;
        let unit = r.unit("original unit")?;
        let reversed = r.decimal("original reversed total")?;
        ledger.insert_original(
            id,
            OriginalPurchase {
                card_id,
                reward,
                amount,
                currency,
                unit,
                reversed,
            },
        );
    }
    r.finish()?;
    Ok(ledger)
}

pub fn encode_found(found: Option<&StoredOutcome>) -> Vec<u8> {
    let mut b = start(256);
    match found {
        None => b.push(0),
        Some(o) => {
            b.push(1);
            put_bytes(&mut b, &encode_outcome(o));
        }
    }
    b
}

pub fn decode_found(b: &[u8]) -> Result<Option<StoredOutcome>, WireError> {
    let mut r = Reader::open(b)?;
    let found = match r.u8("presence")? {
        0 => None,
        1 => Some(r.outcome("outcome")?),
        other => return Err(bad(format!("presence {other} is not 0 or 1"))),
    };
    r.finish()?;
    Ok(found)
}

pub fn encode_page(page: &Page) -> Vec<u8> {
    let mut b = start(8 + page.items.len() * 256);
    put_count(&mut b, page.items.len());
    for o in &page.items {
        put_bytes(&mut b, &encode_outcome(o));
    }
    let cursor = page.next_cursor.as_ref().map(Cursor::encode);
    put_cursor(&mut b, cursor.as_deref());
    b
}

/// Reads a page of `card`'s history; its next cursor must be one of that card's.
pub fn decode_page(b: &[u8], card: CardId) -> Result<Page, WireError> {
    let mut r = Reader::open(b)?;
    let items = r.outcomes("item")?;
    let next_cursor = match r.cursor()? {
        None => None,
        Some(text) => {
            Some(Cursor::decode(&text, card).map_err(|e| bad(format!("next cursor: {e}")))?)
        }
    };
    r.finish()?;
    Ok(Page { items, next_cursor })
}

pub fn encode_summary(summary: &Summary) -> Vec<u8> {
    let mut b = start(10 + summary.totals.len() * 17);
    b.extend_from_slice(&summary.count.to_be_bytes());
    // At most one total per unit, so the count fits a byte.
    b.push(u8::try_from(summary.totals.len()).unwrap_or(u8::MAX));
    for (unit, total) in &summary.totals {
        b.push(unit_code(*unit));
        b.extend_from_slice(&total.serialize());
    }
    b
}

pub fn decode_summary(b: &[u8]) -> Result<Summary, WireError> {
    let mut r = Reader::open(b)?;
    let count = u64::from_be_bytes(r.array("count")?);
    let n = r.u8("number of totals")?;
    if n > 3 {
        return Err(bad(format!("{n} totals: there are 3 units")));
    }
    let mut totals: Vec<(Unit, Decimal)> = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let unit = r.unit("total unit")?;
        if totals.iter().any(|(u, _)| *u == unit) {
            return Err(bad(format!("two totals in {}", unit.as_str())));
        }
        totals.push((unit, r.decimal("total")?));
    }
    r.finish()?;
    Ok(Summary { count, totals })
}

// ---------------------------------------------------------------------------------------------
// Pieces

fn start(capacity: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(capacity);
    b.push(VERSION);
    b
}

fn put_count(b: &mut Vec<u8>, n: usize) {
    // A body is capped far below 4 GiB, so no list comes near u32::MAX entries.
    b.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_bytes(b: &mut Vec<u8>, bytes: &[u8]) {
    put_count(b, bytes.len());
    b.extend_from_slice(bytes);
}

fn put_range(b: &mut Vec<u8>, range: DateRange) {
    let flags = if range.from.is_some() { RANGE_FROM } else { 0 }
        | if range.to.is_some() { RANGE_TO } else { 0 };
    b.push(flags);
    for date in [range.from, range.to].into_iter().flatten() {
        b.extend_from_slice(&date.num_days_from_ce().to_be_bytes());
    }
}

fn put_cursor(b: &mut Vec<u8>, cursor: Option<&str>) {
    let text = cursor.unwrap_or("");
    // A cursor is 44 ASCII characters.
    b.extend_from_slice(&u16::try_from(text.len()).unwrap_or(0).to_be_bytes());
    b.extend_from_slice(text.as_bytes());
}

fn unit_code(unit: Unit) -> u8 {
    match unit {
        Unit::Points => 1,
        Unit::Miles => 2,
        Unit::Cashback => 3,
    }
}

#[cfg(test)]
mod tests;
