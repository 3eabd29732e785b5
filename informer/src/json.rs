//! The JSON the reward routes answer with, written straight from the stored values into the
//! response buffer: no intermediate `serde_json::Value`, no copies of the strings.
//!
//! A Reward (API.md): `id, transaction_id, card_id, card_pan, program, unit, merchant, mcc,
//! currency, amount, amount_sgd, transaction_date, type, original_id, reward, base_campaign,
//! promo_campaign, remark, config_revision, processed_at`. Decimals are strings with exactly 2
//! fractional digits, `null` where absent; `mcc` is a number; `processed_at` is RFC 3339 UTC with
//! milliseconds. `card_pan` is the masked PAN, the only card number the store has. Added here:
//! `mission_id`, the mission a payout row pays or claws back (`type` `mission` or
//! `mission_clawback`, docs/missions.md), `null` on every other row.
//!
//! **Why Rewards are written by hand.** A history page is up to 1,000 of them and the hot path of
//! the service. Through serde, every key and every value is scanned for characters to escape;
//! here keys are constants, and values whose type cannot hold such a character (ids, dates,
//! decimals, currency codes, program ids, the masked PAN) are copied as they are. The free text —
//! `transaction_id`, `merchant`, `remark` — still goes through serde_json's string escaping. The
//! small answers (summary, dead letter) use serde.

use std::fmt;
use std::io::Write as _;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use spend_domain::eval::Reward;
use spend_domain::CardId;
use spend_runtime::ApiError;
use spend_store::reward_store::{Page, StoredOutcome, StoredStatus, Summary};
use uuid::Uuid;

/// A decimal written with exactly 2 fractional digits, never `-0.00`.
struct Dec2(Decimal);

impl fmt::Display for Dec2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.scale() == 2 && !(self.0.is_zero() && self.0.is_sign_negative()) {
            return fmt::Display::fmt(&self.0, f);
        }
        fmt::Display::fmt(&spend_domain::money::round2(self.0), f)
    }
}

impl Serialize for Dec2 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A UUID in lower-case hyphenated form.
struct Id(Uuid);

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 36];
        s.serialize_str(self.0.hyphenated().encode_lower(&mut buf))
    }
}

/// `n` as exactly `out.len()` decimal digits (the caller keeps `n` below `10^out.len()`).
fn digits(out: &mut [u8], mut n: u32) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// `YYYY-MM-DD` into `out[..10]`; `None` for a year outside 0..=9999.
fn date_bytes(out: &mut [u8], date: NaiveDate) -> Option<()> {
    let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
    digits(&mut out[0..4], year);
    out[4] = b'-';
    digits(&mut out[5..7], date.month());
    out[7] = b'-';
    digits(&mut out[8..10], date.day());
    Some(())
}

/// Appends the JSON of one Reward, with `"status": "rewarded"` after `id` if asked.
struct RewardWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl RewardWriter<'_> {
    fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// A string that cannot hold `"`, `\` or a control character (by its type).
    fn plain(&mut self, s: &str) {
        debug_assert!(!s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20));
        self.out.push(b'"');
        self.out.extend_from_slice(s.as_bytes());
        self.out.push(b'"');
    }

    /// Free text: escaped by serde_json.
    fn text(&mut self, s: &str) -> serde_json::Result<()> {
        serde_json::to_writer(&mut *self.out, s)
    }

    fn id(&mut self, id: Uuid) {
        let mut buf = [0u8; 36];
        self.plain(id.hyphenated().encode_lower(&mut buf));
    }

    fn opt_id(&mut self, id: Option<Uuid>) {
        match id {
            Some(id) => self.id(id),
            None => self.raw(b"null"),
        }
    }

    fn decimal(&mut self, d: Decimal) -> std::io::Result<()> {
        write!(self.out, "\"{}\"", Dec2(d))
    }

    fn opt_decimal(&mut self, d: Option<Decimal>) -> std::io::Result<()> {
        match d {
            Some(d) => self.decimal(d),
            None => {
                self.raw(b"null");
                Ok(())
            }
        }
    }

    fn date(&mut self, d: NaiveDate) -> std::io::Result<()> {
        let mut buf = *b"\"0000-00-00\"";
        match date_bytes(&mut buf[1..11], d) {
            Some(()) => {
                self.raw(&buf);
                Ok(())
            }
            None => write!(self.out, "\"{d}\""),
        }
    }

    /// `2024-07-03T09:46:40.123Z`.
    fn timestamp(&mut self, t: DateTime<Utc>) -> std::io::Result<()> {
        let mut buf = *b"\"0000-00-00T00:00:00.000Z\"";
        if date_bytes(&mut buf[1..11], t.date_naive()).is_none() {
            return write!(self.out, "\"{}\"", t.format("%Y-%m-%dT%H:%M:%S%.3fZ"));
        }
        digits(&mut buf[12..14], t.hour());
        digits(&mut buf[15..17], t.minute());
        digits(&mut buf[18..20], t.second());
        digits(&mut buf[21..24], t.timestamp_subsec_millis().min(999));
        self.raw(&buf);
        Ok(())
    }

    fn reward(&mut self, o: &StoredOutcome, r: &Reward, with_status: bool) -> Result<(), String> {
        let tx = &o.tx;
        self.raw(b"{\"id\":");
        self.id(tx.id.0);
        if with_status {
            self.raw(b",\"status\":\"rewarded\"");
        }
        self.raw(b",\"transaction_id\":");
        self.text(&tx.transaction_id).map_err(|e| e.to_string())?;
        self.raw(b",\"card_id\":");
        self.id(tx.card_id.0);
        self.raw(b",\"card_pan\":");
        self.plain(tx.card_pan.as_str());
        self.raw(b",\"program\":");
        self.plain(tx.card_type.as_str());
        self.raw(b",\"unit\":");
        self.plain(r.unit.as_str());
        self.raw(b",\"merchant\":");
        self.text(&tx.merchant).map_err(|e| e.to_string())?;
        let io = |e: std::io::Error| e.to_string();
        write!(self.out, ",\"mcc\":{}", tx.mcc.get()).map_err(io)?;
        self.raw(b",\"currency\":");
        self.plain(tx.currency.as_str());
        self.raw(b",\"amount\":");
        self.decimal(tx.amount.get()).map_err(io)?;
        self.raw(b",\"amount_sgd\":");
        self.opt_decimal(r.amount_sgd).map_err(io)?;
        self.raw(b",\"transaction_date\":");
        self.date(tx.transaction_date).map_err(io)?;
        self.raw(b",\"type\":");
        match &o.payout {
            Some(p) => self.plain(p.kind.as_str()),
            None => self.plain(tx.kind.type_str()),
        }
        self.raw(b",\"original_id\":");
        self.opt_id(tx.kind.original_id().map(|id| id.0));
        self.raw(b",\"reward\":");
        self.decimal(r.reward).map_err(io)?;
        self.raw(b",\"base_campaign\":");
        self.opt_id(r.base_campaign);
        self.raw(b",\"promo_campaign\":");
        self.opt_id(r.promo_campaign);
        self.raw(b",\"remark\":");
        self.text(&r.remark).map_err(|e| e.to_string())?;
        write!(self.out, ",\"config_revision\":{}", r.config_revision).map_err(io)?;
        self.raw(b",\"mission_id\":");
        self.opt_id(o.payout.map(|p| p.mission_id));
        self.raw(b",\"processed_at\":");
        self.timestamp(o.processed_at).map_err(io)?;
        self.raw(b"}");
        Ok(())
    }
}

/// About what one Reward takes, so a page's buffer is allocated once.
const REWARD_BYTES: usize = 720;

/// `{"items": [Reward...], "next_cursor": string|null}`. Only rewarded outcomes are in a
/// history; a dead letter handed over by a faulty store is skipped rather than served.
pub(crate) fn page(page: &Page) -> Response {
    let mut out = Vec::with_capacity(page.items.len() * REWARD_BYTES + 128);
    let mut w = RewardWriter { out: &mut out };
    w.raw(b"{\"items\":[");
    let mut first = true;
    for outcome in &page.items {
        let StoredStatus::Rewarded(reward) = &outcome.status else {
            continue;
        };
        if !first {
            w.raw(b",");
        }
        first = false;
        if let Err(e) = w.reward(outcome, reward, false) {
            return ApiError::internal(format!("cannot write json: {e}")).into_response();
        }
    }
    w.raw(b"],\"next_cursor\":");
    match page.next_cursor {
        // Base64url: nothing to escape.
        Some(c) => w.plain(&c.encode()),
        None => w.raw(b"null"),
    }
    w.raw(b"}");
    json_body(out)
}

/// `{"card_id", "count", "totals": [{"unit", "reward"}]}`.
pub(crate) fn summary(card: CardId, summary: &Summary) -> Response {
    #[derive(Serialize)]
    struct Total {
        unit: &'static str,
        reward: Dec2,
    }
    #[derive(Serialize)]
    struct SummaryJson {
        card_id: Id,
        count: u64,
        totals: Vec<Total>,
    }
    serialized(&SummaryJson {
        card_id: Id(card.0),
        count: summary.count,
        totals: summary
            .totals
            .iter()
            .map(|(unit, total)| Total {
                unit: unit.as_str(),
                reward: Dec2(*total),
            })
            .collect(),
    })
}

/// A Reward with `"status": "rewarded"`, or `{"id", "status": "dead_letter", "reason"}`.
pub(crate) fn record(outcome: &StoredOutcome) -> Response {
    match &outcome.status {
        StoredStatus::Rewarded(reward) => {
            let mut out = Vec::with_capacity(REWARD_BYTES + 32);
            match (RewardWriter { out: &mut out }).reward(outcome, reward, true) {
                Ok(()) => json_body(out),
                Err(e) => ApiError::internal(format!("cannot write json: {e}")).into_response(),
            }
        }
        StoredStatus::DeadLetter(reason) => {
            #[derive(Serialize)]
            struct DeadLetterJson {
                id: Id,
                status: &'static str,
                reason: &'static str,
            }
            serialized(&DeadLetterJson {
                id: Id(outcome.id().0),
                status: "dead_letter",
                reason: reason.as_str(),
            })
        }
    }
}

pub(crate) fn serialized(value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => json_body(body),
        Err(e) => ApiError::internal(format!("cannot write json: {e}")).into_response(),
    }
}

fn json_body(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn written(f: impl FnOnce(&mut RewardWriter<'_>)) -> String {
        let mut out = Vec::new();
        f(&mut RewardWriter { out: &mut out });
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn decimals_have_two_digits_and_no_negative_zero() {
        let d = |s: &str| Dec2(Decimal::from_str(s).unwrap()).to_string();
        assert_eq!(d("12.3"), "12.30");
        assert_eq!(d("12.30"), "12.30");
        assert_eq!(d("-4.10"), "-4.10");
        assert_eq!(d("7"), "7.00");
        assert_eq!(d("-0.00"), "0.00");
        assert_eq!(d("0.125"), "0.12");
        let w = written(|w| {
            w.opt_decimal(Some(Decimal::from_str("1.5").unwrap()))
                .unwrap()
        });
        assert_eq!(w, "\"1.50\"");
        assert_eq!(written(|w| w.opt_decimal(None).unwrap()), "null");
    }

    #[test]
    fn timestamps_are_rfc3339_millis() {
        for millis in [1_700_000_000_123, 0, 1_720_000_000_007, 253_402_300_799_999] {
            let t = DateTime::from_timestamp_millis(millis).unwrap();
            assert_eq!(
                written(|w| w.timestamp(t).unwrap()),
                format!("\"{}\"", t.format("%Y-%m-%dT%H:%M:%S%.3fZ"))
            );
        }
        let t = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        assert_eq!(
            written(|w| w.timestamp(t).unwrap()),
            "\"2023-11-14T22:13:20.123Z\""
        );
    }

    #[test]
    fn dates_ids_and_text() {
        for s in ["2024-02-29", "0001-01-01", "9999-12-31", "2022-10-05"] {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
            assert_eq!(written(|w| w.date(d).unwrap()), format!("\"{s}\""));
        }
        let far = NaiveDate::from_ymd_opt(12345, 1, 2).unwrap();
        assert_eq!(written(|w| w.date(far).unwrap()), format!("\"{far}\""));
        let id = Uuid::from_u128(0xABCD_EF01_2345_6789_ABCD_EF01_2345_6789);
        let text = "\"abcdef01-2345-6789-abcd-ef0123456789\"";
        assert_eq!(written(|w| w.id(id)), text);
        assert_eq!(serde_json::to_string(&Id(id)).unwrap(), text);
        assert_eq!(written(|w| w.opt_id(None)), "null");
        let tricky = "Caf\u{e9} \"Q\" \\ \n\t\u{1}";
        let w = written(|w| w.text(tricky).unwrap());
        assert_eq!(serde_json::from_str::<String>(&w).unwrap(), tricky);
    }
}
