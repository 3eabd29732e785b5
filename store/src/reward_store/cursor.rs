//! The history cursor: the position `(transaction_date, id)` of the last item a page returned,
//! bound to its card, written as an opaque string.
//!
//! Wire form (version 1), base64url without padding of 33 bytes:
//!
//! ```text
//! [0]      version = 1
//! [1..5]   transaction_date, days from 0001-01-01 (CE), i32 big-endian
//! [5..21]  record id, 16 bytes
//! [21..29] card tag: FNV-1a 64 of the card id's 16 bytes
//! [29..33] check: FNV-1a 32 of bytes 0..29
//! ```
//!
//! The check catches a mistyped, truncated or hand-edited cursor (`malformed`); the card tag tells
//! a cursor issued for another card (`other card`). Neither is a secret: the card route is already
//! authorised, and a cursor only positions a read inside that card's own history. A position says
//! nothing of the date filter, so a cursor stays valid if a client changes `from`/`to`.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use spend_domain::{CardId, RecordId};
use uuid::Uuid;

use super::StoredOutcome;

const VERSION: u8 = 1;
const LEN: usize = 33;
/// The longest string that can decode to [`LEN`] bytes (and a little slack): anything longer is
/// refused before it is decoded.
const MAX_TEXT: usize = 64;

/// A position in one card's history: the last item a page returned.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    card: CardId,
    date: NaiveDate,
    id: RecordId,
}

/// Why a cursor string was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum CursorError {
    #[error("cursor is malformed")]
    Malformed,
    #[error("cursor version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("cursor belongs to another card")]
    OtherCard,
}

impl Cursor {
    pub fn new(card: CardId, date: NaiveDate, id: RecordId) -> Self {
        Self { card, date, id }
    }

    /// The position right after `item`.
    pub fn after(item: &StoredOutcome) -> Self {
        Self::new(item.tx.card_id, item.tx.transaction_date, item.tx.id)
    }

    pub fn card(&self) -> CardId {
        self.card
    }

    pub fn date(&self) -> NaiveDate {
        self.date
    }

    pub fn id(&self) -> RecordId {
        self.id
    }

    /// The opaque string form.
    pub fn encode(&self) -> String {
        let mut b = [0u8; LEN];
        b[0] = VERSION;
        b[1..5].copy_from_slice(&self.date.num_days_from_ce().to_be_bytes());
        b[5..21].copy_from_slice(self.id.0.as_bytes());
        b[21..29].copy_from_slice(&card_tag(self.card).to_be_bytes());
        let check = fnv1a32(&b[..29]);
        b[29..33].copy_from_slice(&check.to_be_bytes());
        base64url_encode(&b)
    }

    /// Reads a cursor that [`Cursor::encode`] wrote for `card`.
    pub fn decode(s: &str, card: CardId) -> Result<Self, CursorError> {
        if s.len() > MAX_TEXT {
            return Err(CursorError::Malformed);
        }
        let b = base64url_decode(s).ok_or(CursorError::Malformed)?;
        let b: [u8; LEN] = b.try_into().map_err(|_| CursorError::Malformed)?;
        if b[0] != VERSION {
            return Err(CursorError::UnsupportedVersion(b[0]));
        }
        let check = u32::from_be_bytes([b[29], b[30], b[31], b[32]]);
        if check != fnv1a32(&b[..29]) {
            return Err(CursorError::Malformed);
        }
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&b[21..29]);
        if u64::from_be_bytes(tag) != card_tag(card) {
            return Err(CursorError::OtherCard);
        }
        let days = i32::from_be_bytes([b[1], b[2], b[3], b[4]]);
        let date = NaiveDate::from_num_days_from_ce_opt(days).ok_or(CursorError::Malformed)?;
        let mut id = [0u8; 16];
        id.copy_from_slice(&b[5..21]);
        Ok(Self::new(card, date, RecordId(Uuid::from_bytes(id))))
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({}, {}, {})", self.card, self.date, self.id)
    }
}

fn card_tag(card: CardId) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in card.0.as_bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &byte in bytes {
        h ^= u32::from(byte);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let digits = s
        .bytes()
        .map(|c| ALPHABET.iter().position(|&a| a == c).map(|v| v as u32))
        .collect::<Option<Vec<u32>>>()?;
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | d << (18 - 6 * i));
        let bytes = chunk.len() - 1;
        // Unused low bits must be zero, so every cursor has exactly one spelling.
        if n & ((1 << (8 * (3 - bytes))) - 1) != 0 {
            return None;
        }
        for i in 0..bytes {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(n: u128) -> CardId {
        CardId(Uuid::from_u128(n))
    }

    #[test]
    fn round_trip() {
        let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        let c = Cursor::new(card(7), date, RecordId(Uuid::from_u128(u128::MAX - 3)));
        let s = c.encode();
        assert_eq!(s.len(), 44);
        assert!(s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Cursor::decode(&s, card(7)), Ok(c));
    }

    #[test]
    fn refusals() {
        let date = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let s = Cursor::new(card(1), date, RecordId(Uuid::from_u128(9))).encode();
        assert_eq!(Cursor::decode(&s, card(2)), Err(CursorError::OtherCard));
        assert_eq!(Cursor::decode("", card(1)), Err(CursorError::Malformed));
        assert_eq!(Cursor::decode("!!!!", card(1)), Err(CursorError::Malformed));
        assert_eq!(
            Cursor::decode(&s[..40], card(1)),
            Err(CursorError::Malformed)
        );
        let mut edited = s.clone().into_bytes();
        edited[10] = if edited[10] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(edited).unwrap();
        assert_eq!(
            Cursor::decode(&edited, card(1)),
            Err(CursorError::Malformed)
        );
        let v2 = base64url_encode(&[2u8; LEN]);
        assert_eq!(
            Cursor::decode(&v2, card(1)),
            Err(CursorError::UnsupportedVersion(2))
        );
        assert_eq!(
            Cursor::decode(&"A".repeat(100), card(1)),
            Err(CursorError::Malformed)
        );
    }

    #[test]
    fn base64url_matches_known_vectors() {
        assert_eq!(base64url_encode(b"f"), "Zg");
        assert_eq!(base64url_encode(b"fo"), "Zm8");
        assert_eq!(base64url_encode(b"foo"), "Zm9v");
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
        for n in 0..40u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(
                base64url_decode(&base64url_encode(&bytes)).as_deref(),
                Some(&bytes[..])
            );
        }
        assert_eq!(base64url_decode("Zh"), None, "non-zero trailing bits");
    }
}
