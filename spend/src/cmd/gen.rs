//! `spend gen`: a realistic synthetic transactions CSV (API.md), the input of throughput tests.
//!
//! The file is a pure function of the arguments: one `ChaCha8Rng` seeded from `--seed` draws
//! everything, dates come from a fixed window (2024-01-01..=2025-12-31, never today's date), and
//! the first N rows of a longer file are the file of N rows. Every row is valid under REWARDS.md §1,
//! but the file exercises every outcome: each tier and exclusion boundary, foreign currencies with and
//! without an FX rate, cards on unknown programs, reversals (partial, full, larger than the
//! original, naming an unknown id, in another currency) and exact re-sends.
//!
//! Memory is bounded by `--cards`, never by `--rows`: rows are streamed, a card remembers only its
//! last few purchases for reversals, and re-sends come from a small ring of recent rows.
//!
//! Amounts are integer minor units. The one float is the log-normal draw of a ticket's size,
//! rounded once to minor units; the written value never passes through a float again. (A float
//! draw goes through the platform's `exp`/`ln`, so a different libm could in principle move an
//! amount by a cent; on one platform the file is byte-identical.)

mod cards;
mod catalog;
mod format;
#[cfg(test)]
mod tests;

use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use cards::{Card, Purchase};
use catalog::{
    BOUNDARY_AMOUNTS, BOUNDARY_MCCS, CURRENCIES, FX_CURRENCIES, MERCHANTS, PROGRAMS, SGD,
};
use format::{name_variants, push_amount, push_padded, push_u64, push_uuid};

/// Writes a realistic synthetic transactions CSV to stdout; the same file for the same arguments.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct GenArgs {
    /// Number of data rows to write (the header comes on top).
    #[arg(long, value_name = "N")]
    pub(crate) rows: u64,
    /// Number of distinct cards; a few of them (1 per 500, at most 8, none if fewer than 2 cards)
    /// are on programs the reference configuration does not know.
    #[arg(long, value_name = "C", default_value_t = 3000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) cards: u32,
    /// Seed of the random generator.
    #[arg(long, value_name = "S", default_value_t = 42)]
    pub(crate) seed: u64,
}

/// Writes the header and `args.rows` rows to `out`, then flushes it.
///
/// Rows are assembled in a 64 KiB buffer and handed to `out` in whole chunks, so `out` need not be
/// buffered. Fails only when `out` does, or with `InvalidInput` when `args.cards` is 0.
pub(crate) fn run(args: &GenArgs, out: &mut impl Write) -> io::Result<()> {
    let mut generator = Generator::new(args)?;
    let mut chunk = Vec::with_capacity(CHUNK + 1024);
    chunk.extend_from_slice(HEADER);
    for _ in 0..args.rows {
        generator.row(&mut chunk);
        if chunk.len() >= CHUNK {
            out.write_all(&chunk)?;
            chunk.clear();
        }
    }
    out.write_all(&chunk)?;
    out.flush()
}

const HEADER: &[u8] = b"id,transaction_id,merchant,mcc,currency,amount,transaction_date,\
card_id,card_pan,card_type,type,original_id\n";

const CHUNK: usize = 1 << 16;

// Shares of rows, in rows per million. Reversals and re-sends need history; without it a purchase
// is written instead, so their real shares run a little under these.
const RESEND_PPM: u32 = 1_000;
const BAD_REVERSAL_PPM: u32 = 500;
const REVERSAL_PPM: u32 = 20_000;
const BOUNDARY_AMOUNT_PPM: u32 = 5_000;
const BOUNDARY_MCC_PPM: u32 = 5_000;
const RESEND_END: u32 = RESEND_PPM;
const BAD_REVERSAL_END: u32 = RESEND_END + BAD_REVERSAL_PPM;
const REVERSAL_END: u32 = BAD_REVERSAL_END + REVERSAL_PPM;
const BOUNDARY_AMOUNT_END: u32 = REVERSAL_END + BOUNDARY_AMOUNT_PPM;
const BOUNDARY_MCC_END: u32 = BOUNDARY_AMOUNT_END + BOUNDARY_MCC_PPM;
// Shares of purchases.
const UNKNOWN_PROGRAM_PPM: u32 = 2_000;
const MERCHANT_VARIANT_PPM: u32 = 30_000;
const FORMATTED_PAN_PPM: u32 = 5_000;

/// How many recent rows a re-send may copy.
const RECENT_ROWS: usize = 64;

/// The date window: 2024-01-01 and the 730 days after it, up to 2025-12-31.
const FIRST_DAY: (i32, u32, u32) = (2024, 1, 1);
const DAYS: u16 = 731;
/// A reversal comes at most this many days after its purchase (and never after the window).
const REVERSAL_MAX_DELAY_DAYS: u16 = 30;

/// A row's `id`, as the 16 bytes of a version-4 UUID.
type RowId = [u8; 16];

fn new_id(rng: &mut ChaCha8Rng) -> RowId {
    *uuid::Builder::from_random_bytes(rng.gen())
        .into_uuid()
        .as_bytes()
}

/// Index `i` drawn with probability `weight[i] / total`, where `cum` holds the running sums.
fn pick(cum: &[u32], rng: &mut ChaCha8Rng) -> usize {
    let total = cum.last().copied().unwrap_or(0);
    let r = rng.gen_range(0..total);
    cum.partition_point(|&c| c <= r)
}

fn cumulative(weights: impl Iterator<Item = u32>) -> Vec<u32> {
    weights
        .scan(0u32, |sum, w| {
            *sum += w;
            Some(*sum)
        })
        .collect()
}

/// How a purchase's figures are chosen.
#[derive(Clone, Copy)]
enum PurchaseKind {
    Ordinary,
    BoundaryAmount,
    BoundaryMcc,
}

/// One row before it is written.
struct Row {
    id: RowId,
    merchant: u16,
    /// 0 for the canonical merchant name, else one of its odd variants.
    merchant_variant: u8,
    currency: u8,
    minor: u64,
    day: u16,
    card: usize,
    original: Option<RowId>,
}

struct Generator {
    rng: ChaCha8Rng,
    /// Ticket size relative to the merchant's median.
    spread: LogNormal<f64>,
    cards: Vec<Card>,
    /// `cards[..known]` are on reference programs, the rest on unknown ones.
    known: usize,
    currency_cum: Vec<u32>,
    /// Per currency: merchant indices and their running weights.
    merchants_of: Vec<(Vec<u16>, Vec<u32>)>,
    /// Per merchant: the name as written (CSV-quoted where needed) and its odd variants.
    names: Vec<Vec<Vec<u8>>>,
    merchant_currency: Vec<u8>,
    /// Per entry of `BOUNDARY_MCCS`: a merchant with that MCC.
    boundary_merchants: Vec<u16>,
    /// `YYYY-MM-DD` of each day of the window.
    dates: Vec<[u8; 10]>,
    /// The last rows written (purchases and reversals), for re-sends.
    recent_rows: Vec<Vec<u8>>,
    recent_next: usize,
    next_transaction: u64,
}

impl Generator {
    fn new(args: &GenArgs) -> io::Result<Self> {
        if args.cards == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--cards must be at least 1",
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
        let total = args.cards as usize;
        let unknown = if total < 2 {
            0
        } else {
            (total / 500).clamp(1, 8)
        };
        let known = total - unknown;
        let program_cum = cumulative(PROGRAMS.iter().map(|p| p.weight));
        let cards = (0..total)
            .map(|i| Card::new(&mut rng, &program_cum, i.checked_sub(known)))
            .collect();

        let merchant_currency: Vec<u8> = MERCHANTS
            .iter()
            .map(|m| {
                let i = CURRENCIES.iter().position(|c| c.code == m.currency);
                i.expect("every merchant bills in a listed currency") as u8
            })
            .collect();
        let merchants_of = (0..CURRENCIES.len())
            .map(|c| {
                let idx: Vec<u16> = (0..MERCHANTS.len())
                    .filter(|&m| usize::from(merchant_currency[m]) == c)
                    .map(|m| m as u16)
                    .collect();
                let cum = cumulative(idx.iter().map(|&m| MERCHANTS[usize::from(m)].weight));
                assert!(!idx.is_empty(), "every currency has a merchant");
                (idx, cum)
            })
            .collect();
        let boundary_merchants = BOUNDARY_MCCS
            .iter()
            .map(|&mcc| {
                let m = MERCHANTS.iter().position(|m| m.mcc == mcc);
                m.expect("every boundary MCC has a merchant") as u16
            })
            .collect();
        let first = chrono::NaiveDate::from_ymd_opt(FIRST_DAY.0, FIRST_DAY.1, FIRST_DAY.2)
            .expect("a real date");
        let dates = first
            .iter_days()
            .take(usize::from(DAYS))
            .map(|d| {
                let mut b = [0u8; 10];
                b.copy_from_slice(d.format("%Y-%m-%d").to_string().as_bytes());
                b
            })
            .collect();

        Ok(Generator {
            rng,
            spread: LogNormal::new(0.0, 0.9).expect("a valid log-normal"),
            cards,
            known,
            currency_cum: cumulative(CURRENCIES.iter().map(|c| c.weight)),
            merchants_of,
            names: MERCHANTS.iter().map(|m| name_variants(m.name)).collect(),
            merchant_currency,
            boundary_merchants,
            dates,
            recent_rows: Vec::with_capacity(RECENT_ROWS),
            recent_next: 0,
            next_transaction: 1,
        })
    }

    /// Appends one row to `out`.
    fn row(&mut self, out: &mut Vec<u8>) {
        let start = out.len();
        let row = match self.rng.gen_range(0..1_000_000u32) {
            0..RESEND_END if !self.recent_rows.is_empty() => {
                // An exact re-send is not remembered again: it is already in the ring.
                let i = self.rng.gen_range(0..self.recent_rows.len());
                out.extend_from_slice(&self.recent_rows[i]);
                return;
            }
            0..RESEND_END => self.purchase(PurchaseKind::Ordinary),
            RESEND_END..BAD_REVERSAL_END => self.bad_reversal(),
            BAD_REVERSAL_END..REVERSAL_END => self
                .reversal()
                .unwrap_or_else(|| self.purchase(PurchaseKind::Ordinary)),
            REVERSAL_END..BOUNDARY_AMOUNT_END => self.purchase(PurchaseKind::BoundaryAmount),
            BOUNDARY_AMOUNT_END..BOUNDARY_MCC_END => self.purchase(PurchaseKind::BoundaryMcc),
            _ => self.purchase(PurchaseKind::Ordinary),
        };
        if row.original.is_none() {
            self.cards[row.card].remember(Purchase {
                id: row.id,
                minor: row.minor,
                merchant: row.merchant,
                currency: row.currency,
                day: row.day,
            });
        }
        self.write(&row, out);
        self.remember_row(&out[start..]);
    }

    fn remember_row(&mut self, line: &[u8]) {
        if self.recent_rows.len() < RECENT_ROWS {
            self.recent_rows.push(line.to_vec());
        } else {
            let slot = &mut self.recent_rows[self.recent_next];
            slot.clear();
            slot.extend_from_slice(line);
        }
        self.recent_next = (self.recent_next + 1) % RECENT_ROWS;
    }

    /// A card for a new row: a few on unknown programs, the rest skewed so that some cards are
    /// much busier than others (the busiest tenth of the cards makes about a third of the rows).
    fn pick_card(&mut self) -> usize {
        let unknown = self.cards.len() - self.known;
        if unknown > 0 && self.rng.gen_range(0..1_000_000u32) < UNKNOWN_PROGRAM_PPM {
            return self.known + self.rng.gen_range(0..unknown);
        }
        let u: f64 = self.rng.gen();
        ((u * u * self.known as f64) as usize).min(self.known - 1)
    }

    fn purchase(&mut self, kind: PurchaseKind) -> Row {
        let card = self.pick_card();
        let (merchant, currency, minor) = match kind {
            PurchaseKind::Ordinary => {
                let currency = pick(&self.currency_cum, &mut self.rng) as u8;
                let merchant = self.pick_merchant(currency);
                (merchant, currency, self.amount(merchant, currency))
            }
            PurchaseKind::BoundaryAmount => {
                let merchant = self.pick_merchant(SGD);
                let minor = BOUNDARY_AMOUNTS[self.rng.gen_range(0..BOUNDARY_AMOUNTS.len())];
                (merchant, SGD, minor)
            }
            PurchaseKind::BoundaryMcc => {
                let i = self.rng.gen_range(0..self.boundary_merchants.len());
                let merchant = self.boundary_merchants[i];
                let currency = self.merchant_currency[usize::from(merchant)];
                (merchant, currency, self.amount(merchant, currency))
            }
        };
        let merchant_variant = if self.rng.gen_range(0..1_000_000u32) < MERCHANT_VARIANT_PPM {
            self.rng
                .gen_range(1..self.names[usize::from(merchant)].len()) as u8
        } else {
            0
        };
        Row {
            id: new_id(&mut self.rng),
            merchant,
            merchant_variant,
            currency,
            minor,
            day: self.rng.gen_range(0..DAYS),
            card,
            original: None,
        }
    }

    /// A reversal of a recent purchase of a busy-enough card, or `None` when the cards tried have
    /// no purchase yet. Mostly the full amount, often part of it, sometimes more than it.
    fn reversal(&mut self) -> Option<Row> {
        for _ in 0..4 {
            let card = self.pick_card();
            let Some(original) = self.cards[card].recent_purchase(&mut self.rng) else {
                continue;
            };
            let full = original.minor;
            let minor = match self.rng.gen_range(0..100u32) {
                0..=54 => full,
                55..=89 if full > 1 => self.rng.gen_range(1..full),
                55..=89 => full,
                _ => (full + self.rng.gen_range(1..=full / 2 + 1))
                    .min(self.max_minor(original.currency)),
            };
            return Some(self.reversal_row(card, original, original.currency, minor));
        }
        None
    }

    /// A reversal that must dead-letter: half name an id that was never sent
    /// (`original_not_found`), half return a real purchase in another currency
    /// (`currency_mismatch`).
    fn bad_reversal(&mut self) -> Row {
        if self.rng.gen_bool(0.5) {
            for _ in 0..4 {
                let card = self.pick_card();
                let Some(original) = self.cards[card].recent_purchase(&mut self.rng) else {
                    continue;
                };
                let currency = loop {
                    let c = self.rng.gen_range(0..FX_CURRENCIES) as u8;
                    if c != original.currency {
                        break c;
                    }
                };
                let minor = self.amount(original.merchant, currency);
                return self.reversal_row(card, original, currency, minor);
            }
        }
        let mut row = self.purchase(PurchaseKind::Ordinary);
        row.merchant_variant = 0;
        row.original = Some(new_id(&mut self.rng));
        row
    }

    fn reversal_row(&mut self, card: usize, original: Purchase, currency: u8, minor: u64) -> Row {
        let delay = self.rng.gen_range(0..=REVERSAL_MAX_DELAY_DAYS);
        Row {
            id: new_id(&mut self.rng),
            merchant: original.merchant,
            merchant_variant: 0,
            currency,
            minor,
            day: (original.day + delay).min(DAYS - 1),
            card,
            original: Some(original.id),
        }
    }

    fn pick_merchant(&mut self, currency: u8) -> u16 {
        let (idx, cum) = &self.merchants_of[usize::from(currency)];
        idx[pick(cum, &mut self.rng)]
    }

    /// A log-normal ticket around the merchant's median, in minor units of `currency`. The
    /// median is integer arithmetic; the one float is the log-normal factor drawn for the row,
    /// applied once and rounded to an integer before anything is written.
    fn amount(&mut self, merchant: u16, currency: u8) -> u64 {
        let c = &CURRENCIES[usize::from(currency)];
        // Whole SGD × thousandths per SGD × minor units per unit / 1000: exact for the catalog
        // (every `per_sgd_milli` of a currency with minor units is a multiple of 10).
        let median_minor = MERCHANTS[usize::from(merchant)].median_sgd
            * c.per_sgd_milli
            * 10u64.pow(u32::from(c.minor_digits))
            / 1000;
        let minor = (self.spread.sample(&mut self.rng) * median_minor as f64).round() as u64;
        minor.clamp(1, self.max_minor(currency))
    }

    /// 1,000,000,000 (the most §1 allows) in minor units of `currency`.
    fn max_minor(&self, currency: u8) -> u64 {
        1_000_000_000 * 10u64.pow(u32::from(CURRENCIES[usize::from(currency)].minor_digits))
    }

    fn write(&mut self, row: &Row, out: &mut Vec<u8>) {
        let mut id = [0u8; 36];
        push_uuid(out, &row.id, &mut id);
        out.extend_from_slice(b",T");
        push_padded(out, self.next_transaction, 6);
        self.next_transaction += 1;
        out.push(b',');
        out.extend_from_slice(
            &self.names[usize::from(row.merchant)][usize::from(row.merchant_variant)],
        );
        out.push(b',');
        push_u64(out, u64::from(MERCHANTS[usize::from(row.merchant)].mcc));
        out.push(b',');
        let currency = &CURRENCIES[usize::from(row.currency)];
        out.extend_from_slice(currency.code.as_bytes());
        out.push(b',');
        push_amount(out, row.minor, currency.minor_digits);
        out.push(b',');
        out.extend_from_slice(&self.dates[usize::from(row.day)]);
        out.push(b',');
        let card = &self.cards[row.card];
        out.extend_from_slice(&card.id);
        out.push(b',');
        if self.rng.gen_range(0..1_000_000u32) < FORMATTED_PAN_PPM {
            // Grouped as printed on the card; §1 removes spaces and dashes before checking.
            let sep = if self.rng.gen_bool(0.5) { b' ' } else { b'-' };
            for (i, group) in card.pan().chunks(4).enumerate() {
                if i > 0 {
                    out.push(sep);
                }
                out.extend_from_slice(group);
            }
        } else {
            out.extend_from_slice(card.pan());
        }
        out.push(b',');
        out.extend_from_slice(card.program.as_bytes());
        match &row.original {
            None => out.extend_from_slice(b",,\n"),
            Some(original) => {
                out.extend_from_slice(b",reversal,");
                push_uuid(out, original, &mut id);
                out.push(b'\n');
            }
        }
    }
}
