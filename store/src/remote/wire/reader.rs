//! Reading a body: every read checks what is left, every count is bounded by the bytes that
//! could hold it, and every refusal names what is wrong.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use spend_domain::Unit;
use uuid::Uuid;

use super::{bad, WireError, MAX_CURSOR_TEXT, MIN_RECORD, RANGE_FROM, RANGE_TO, VERSION};
use crate::reward_store::{decode_outcome, DateRange, RewardStoreError, StoredOutcome};

pub(super) struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// Checks the version byte.
    pub(super) fn open(b: &'a [u8]) -> Result<Self, WireError> {
        match b.first() {
            None => Err(bad("empty body")),
            Some(&VERSION) => Ok(Self { b, at: 1 }),
            Some(v) => Err(bad(format!(
                "wire format version {v} is not supported (this build reads {VERSION})"
            ))),
        }
    }

    /// Checks the version byte of a body that has versions 1 to `newest`; which one it is.
    pub(super) fn open_up_to(b: &'a [u8], newest: u8) -> Result<(Self, u8), WireError> {
        match b.first() {
            None => Err(bad("empty body")),
            Some(&v) if (VERSION..=newest).contains(&v) => Ok((Self { b, at: 1 }, v)),
            Some(v) => Err(bad(format!(
                "wire format version {v} is not supported here (this build reads {VERSION} to \
                 {newest})"
            ))),
        }
    }

    pub(super) fn finish(self) -> Result<(), WireError> {
        match self.b.len() - self.at {
            0 => Ok(()),
            n => Err(bad(format!("{n} trailing bytes"))),
        }
    }

    pub(super) fn remaining(&self) -> usize {
        self.b.len() - self.at
    }

    pub(super) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], WireError> {
        if n > self.remaining() {
            return Err(bad(format!("truncated at {what}")));
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    pub(super) fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    pub(super) fn u8(&mut self, what: &str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }

    pub(super) fn u32(&mut self, what: &str) -> Result<usize, WireError> {
        Ok(u32::from_be_bytes(self.array(what)?) as usize)
    }

    pub(super) fn usize(&mut self, what: &str) -> Result<usize, WireError> {
        let n = u64::from_be_bytes(self.array(what)?);
        usize::try_from(n).map_err(|_| bad(format!("{what} {n} is out of range")))
    }

    pub(super) fn uuid(&mut self, what: &str) -> Result<Uuid, WireError> {
        Ok(Uuid::from_bytes(self.array(what)?))
    }

    /// A decimal in `rust_decimal`'s 16-byte form, refused unless it is the one spelling of its
    /// value (so no bits are silently dropped).
    pub(super) fn decimal(&mut self, what: &str) -> Result<Decimal, WireError> {
        let a: [u8; 16] = self.array(what)?;
        let d = Decimal::deserialize(a);
        if d.serialize() != a {
            return Err(bad(format!("{what} is not a valid 16-byte decimal")));
        }
        Ok(d)
    }

    pub(super) fn unit(&mut self, what: &str) -> Result<Unit, WireError> {
        match self.u8(what)? {
            1 => Ok(Unit::Points),
            2 => Ok(Unit::Miles),
            3 => Ok(Unit::Cashback),
            other => Err(bad(format!("{what} {other} is not 1, 2 or 3"))),
        }
    }

    pub(super) fn date(&mut self, what: &str) -> Result<NaiveDate, WireError> {
        let days = i32::from_be_bytes(self.array(what)?);
        NaiveDate::from_num_days_from_ce_opt(days)
            .ok_or_else(|| bad(format!("{what} is not a date")))
    }

    pub(super) fn range(&mut self) -> Result<DateRange, WireError> {
        let flags = self.u8("date range flags")?;
        if flags & !(RANGE_FROM | RANGE_TO) != 0 {
            return Err(bad(format!("date range flags {flags:#04x} are unknown")));
        }
        let from = if flags & RANGE_FROM != 0 {
            Some(self.date("from date")?)
        } else {
            None
        };
        let to = if flags & RANGE_TO != 0 {
            Some(self.date("to date")?)
        } else {
            None
        };
        Ok(DateRange::new(from, to))
    }

    pub(super) fn cursor(&mut self) -> Result<Option<String>, WireError> {
        let len = usize::from(u16::from_be_bytes(self.array("cursor length")?));
        if len == 0 {
            return Ok(None);
        }
        if len > MAX_CURSOR_TEXT {
            return Err(bad(format!("cursor of {len} bytes is too long")));
        }
        let text = std::str::from_utf8(self.take(len, "cursor")?)
            .map_err(|_| bad("cursor is not UTF-8"))?;
        Ok(Some(text.to_owned()))
    }

    /// A count of items of at least `min_len` bytes each, refused if the rest of the body is
    /// too short to hold them.
    pub(super) fn count(&mut self, what: &str, min_len: usize) -> Result<usize, WireError> {
        let n = self.u32(&format!("{what} count"))?;
        if n.saturating_mul(min_len) > self.remaining() {
            return Err(bad(format!(
                "{n} {what}s announced, the body is too short for them"
            )));
        }
        Ok(n)
    }

    pub(super) fn outcome(&mut self, what: &str) -> Result<StoredOutcome, WireError> {
        let len = self.u32(&format!("{what} length"))?;
        let bytes = self.take(len, what)?;
        decode_outcome(bytes).map_err(|e| bad(format!("{what}: {}", codec_message(e))))
    }

    pub(super) fn outcomes(&mut self, what: &str) -> Result<Vec<StoredOutcome>, WireError> {
        let n = self.count(what, MIN_RECORD)?;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(self.outcome(&format!("{what} {i}"))?);
        }
        Ok(out)
    }
}

/// The codec reports bad bytes as stored data gone bad; on the wire they are a bad body.
pub(super) fn codec_message(e: RewardStoreError) -> String {
    match e {
        RewardStoreError::Corrupt(what) => what.replacen("stored outcome: ", "", 1),
        other => other.to_string(),
    }
}
