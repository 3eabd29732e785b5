//! The card population: stable ids, Luhn-valid PANs and programs, and each card's recent purchases.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::catalog::{PROGRAMS, UNKNOWN_PROGRAMS};
use super::{new_id, pick, RowId};

/// How many recent purchases a card remembers for its reversals to name: bounded memory per card.
const RECENT_PURCHASES: usize = 4;

/// A purchase a later reversal may return.
#[derive(Clone, Copy, Default)]
pub(super) struct Purchase {
    pub(super) id: RowId,
    pub(super) minor: u64,
    pub(super) merchant: u16,
    pub(super) currency: u8,
    pub(super) day: u16,
}

pub(super) struct Card {
    /// The card id, a lower-case UUID as written.
    pub(super) id: [u8; 36],
    pan: [u8; 19],
    pan_len: u8,
    pub(super) program: &'static str,
    recent: [Purchase; RECENT_PURCHASES],
    recent_len: u8,
    recent_next: u8,
}

impl Card {
    /// A new card; `program` is `None` for one of the reference programs (drawn by weight) or
    /// `Some(i)` for the `i`-th unknown program.
    pub(super) fn new(rng: &mut ChaCha8Rng, program_cum: &[u32], unknown: Option<usize>) -> Self {
        let mut id = [0u8; 36];
        uuid::Uuid::from_bytes(new_id(rng))
            .hyphenated()
            .encode_lower(&mut id);
        let (pan, pan_len) = new_pan(rng);
        let program = match unknown {
            Some(i) => UNKNOWN_PROGRAMS[i % UNKNOWN_PROGRAMS.len()],
            None => PROGRAMS[pick(program_cum, rng)].id,
        };
        Card {
            id,
            pan,
            pan_len,
            program,
            recent: [Purchase::default(); RECENT_PURCHASES],
            recent_len: 0,
            recent_next: 0,
        }
    }

    /// The PAN's digits, ASCII.
    pub(super) fn pan(&self) -> &[u8] {
        &self.pan[..usize::from(self.pan_len)]
    }

    pub(super) fn remember(&mut self, purchase: Purchase) {
        self.recent[usize::from(self.recent_next)] = purchase;
        self.recent_next = (self.recent_next + 1) % RECENT_PURCHASES as u8;
        self.recent_len = (self.recent_len + 1).min(RECENT_PURCHASES as u8);
    }

    /// One of the card's recent purchases, if it has any.
    pub(super) fn recent_purchase(&self, rng: &mut ChaCha8Rng) -> Option<Purchase> {
        if self.recent_len == 0 {
            return None;
        }
        Some(self.recent[rng.gen_range(0..usize::from(self.recent_len))])
    }
}

/// Card schemes: leading digits, length, weight. Visa and Mastercard 16 digits, Amex 15, and a few
/// 19-digit UnionPay cards so the whole 13–19 length range of §1 is not just 16.
const SCHEMES: &[(&[&[u8]], u8, u32)] = &[
    (&[b"4"], 16, 53),
    (&[b"51", b"52", b"53", b"54", b"55"], 16, 35),
    (&[b"34", b"37"], 15, 10),
    (&[b"62"], 19, 2),
];

fn new_pan(rng: &mut ChaCha8Rng) -> ([u8; 19], u8) {
    let total: u32 = SCHEMES.iter().map(|s| s.2).sum();
    let mut r = rng.gen_range(0..total);
    let mut scheme = &SCHEMES[0];
    for s in SCHEMES {
        if r < s.2 {
            scheme = s;
            break;
        }
        r -= s.2;
    }
    let (prefixes, len, _) = *scheme;
    let prefix = prefixes[rng.gen_range(0..prefixes.len())];
    let len = usize::from(len);
    let mut pan = [b'0'; 19];
    pan[..prefix.len()].copy_from_slice(prefix);
    for d in &mut pan[prefix.len()..len - 1] {
        *d = b'0' + rng.gen_range(0..10u8);
    }
    pan[len - 1] = luhn_check_digit(&pan[..len - 1]);
    (pan, len as u8)
}

/// The digit that makes `payload` followed by it pass the Luhn check.
pub(super) fn luhn_check_digit(payload: &[u8]) -> u8 {
    let mut sum = 0u32;
    // The check digit will be rightmost, so the payload's rightmost digit is the first doubled.
    for (i, &c) in payload.iter().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    b'0' + ((10 - sum % 10) % 10) as u8
}
