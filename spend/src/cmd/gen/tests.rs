use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use super::catalog::{BOUNDARY_MCCS, CURRENCIES, MERCHANTS, PROGRAMS, UNKNOWN_PROGRAMS};
use super::format::{csv_field, push_amount, push_padded, push_u64};
use super::*;

/// The contract's currency list (REWARDS.md §1): a code is valid when it is a line of the file.
static ISO4217: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    let file = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/spec/iso4217.txt"
    ));
    file.lines().filter(|l| !l.starts_with('#')).collect()
});

const FIELDS: &str = "id,transaction_id,merchant,mcc,currency,amount,transaction_date,card_id,\
card_pan,card_type,type,original_id";

fn generate(rows: u64, cards: u32, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    run(&GenArgs { rows, cards, seed }, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// One parsed data row, fields as written (the validator trims them itself).
fn records(file: &[u8]) -> Vec<csv::StringRecord> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(file);
    let header = reader.headers().expect("a header").clone();
    assert_eq!(header.iter().collect::<Vec<_>>().join(","), FIELDS);
    reader
        .records()
        .map(|r| r.expect("well-formed CSV"))
        .collect()
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn luhn_ok(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

fn is_amount(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let shape = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && (!s.contains('.') || (1..=2).contains(&frac.len()))
        && frac.bytes().all(|b| b.is_ascii_digit());
    if !shape {
        return false;
    }
    // Compared as integer hundredths: no float.
    let frac2 = format!("{frac:0<2}");
    match (int.parse::<u128>(), frac2.parse::<u128>()) {
        (Ok(i), Ok(f)) => {
            let hundredths = i * 100 + f;
            hundredths > 0 && hundredths <= 100_000_000_000
        }
        _ => false,
    }
}

/// The fields of `rec` that REWARDS.md §1 rejects, in column order.
fn invalid_fields(rec: &csv::StringRecord) -> Vec<&'static str> {
    let f: Vec<&str> = rec.iter().map(str::trim).collect();
    if f.len() != 12 {
        return vec!["row"];
    }
    let mut bad = Vec::new();
    if !is_uuid(f[0]) {
        bad.push("id");
    }
    if !(1..=64).contains(&f[1].chars().count()) {
        bad.push("transaction_id");
    }
    if !(1..=128).contains(&f[2].chars().count()) {
        bad.push("merchant");
    }
    let mcc_ok = (1..=4).contains(&f[3].len())
        && f[3].bytes().all(|b| b.is_ascii_digit())
        && f[3].parse::<u16>().is_ok_and(|m| (1..=9999).contains(&m));
    if !mcc_ok {
        bad.push("mcc");
    }
    if !ISO4217.contains(f[4]) {
        bad.push("currency");
    }
    if !is_amount(f[5]) {
        bad.push("amount");
    }
    let date_ok = f[6].len() == 10
        && f[6].bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
        && chrono::NaiveDate::parse_from_str(f[6], "%Y-%m-%d").is_ok_and(|d| {
            d >= chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
                && d <= chrono::NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()
        });
    if !date_ok {
        bad.push("transaction_date");
    }
    if !is_uuid(f[7]) {
        bad.push("card_id");
    }
    let pan: String = f[8].chars().filter(|&c| c != ' ' && c != '-').collect();
    if !((13..=19).contains(&pan.len()) && pan.bytes().all(|b| b.is_ascii_digit()) && luhn_ok(&pan))
    {
        bad.push("card_pan");
    }
    let program_ok = (1..=64).contains(&f[9].len())
        && f[9]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !program_ok {
        bad.push("card_type");
    }
    if !["", "purchase", "reversal"].contains(&f[10]) {
        bad.push("type");
    }
    let original_ok = if f[10] == "reversal" {
        is_uuid(f[11])
    } else {
        f[11].is_empty()
    };
    if !original_ok {
        bad.push("original_id");
    }
    bad
}

/// What 50,000 rows on 3,000 cards hold, counted once for all the tests that look at it.
struct Census {
    rows: usize,
    resends: usize,
    reversals: usize,
    /// Reversals whose original is an earlier purchase of the same card in the same currency.
    sound_reversals: usize,
    original_not_found: usize,
    currency_mismatch: usize,
    foreign: usize,
    no_fx_rate: usize,
    unknown_program: usize,
    cards: usize,
    amounts: HashSet<String>,
    mccs: HashSet<u16>,
}

fn census(file: &[u8]) -> Census {
    let recs = records(file);
    let mut c = Census {
        rows: recs.len(),
        resends: 0,
        reversals: 0,
        sound_reversals: 0,
        original_not_found: 0,
        currency_mismatch: 0,
        foreign: 0,
        no_fx_rate: 0,
        unknown_program: 0,
        cards: 0,
        amounts: HashSet::new(),
        mccs: HashSet::new(),
    };
    let mut seen: HashMap<String, &csv::StringRecord> = HashMap::new();
    // Purchase id → (card id, currency).
    let mut purchases: HashMap<&str, (&str, &str)> = HashMap::new();
    // Card id → (PAN digits, program): stable for the card.
    let mut cards: HashMap<&str, (String, &str)> = HashMap::new();
    // Merchant, trimmed and lower-cased → MCC: one merchant, one MCC.
    let mut merchant_mcc: HashMap<String, &str> = HashMap::new();
    for (i, rec) in recs.iter().enumerate() {
        let bad = invalid_fields(rec);
        assert!(
            bad.is_empty(),
            "row {} is invalid in {bad:?}: {rec:?}",
            i + 2
        );
        let id = &rec[0];
        assert_eq!(id, id.to_lowercase(), "ids are written in lower case");
        if let Some(earlier) = seen.insert(id.to_owned(), rec) {
            assert_eq!(earlier, rec, "a repeated id is an exact re-send");
            c.resends += 1;
            continue;
        }
        let (card, currency) = (&rec[7], &rec[4]);
        let pan: String = rec[8].chars().filter(char::is_ascii_digit).collect();
        let (known_pan, program) = cards.entry(card).or_insert((pan.clone(), &rec[9]));
        assert_eq!(
            (known_pan.as_str(), *program),
            (pan.as_str(), &rec[9]),
            "card {card} is stable"
        );
        let mcc = merchant_mcc
            .entry(rec[2].trim().to_lowercase())
            .or_insert(&rec[3]);
        assert_eq!(*mcc, &rec[3], "merchant {} keeps its MCC", &rec[2]);
        if rec[10] == *"reversal" {
            c.reversals += 1;
            match purchases.get(&rec[11]) {
                None => c.original_not_found += 1,
                Some(&(original_card, original_currency)) => {
                    assert_eq!(
                        original_card, card,
                        "a reversal returns a purchase of its card"
                    );
                    if original_currency == currency {
                        c.sound_reversals += 1;
                    } else {
                        c.currency_mismatch += 1;
                    }
                }
            }
        } else {
            purchases.insert(id, (card, currency));
            if currency == "SGD" {
                c.amounts.insert(rec[5].to_owned());
            }
            c.mccs.insert(rec[3].parse().unwrap());
        }
        if currency != "SGD" {
            c.foreign += 1;
        }
        if ["THB", "IDR", "HKD"].contains(&currency) {
            c.no_fx_rate += 1;
        }
        if !PROGRAMS.iter().any(|p| p.id == &rec[9]) {
            c.unknown_program += 1;
        }
    }
    c.cards = cards.len();
    c
}

fn share(n: usize, of: usize) -> f64 {
    n as f64 / of as f64
}

#[test]
fn same_arguments_same_bytes_other_seed_other_bytes() {
    let a = generate(20_000, 3000, 7);
    assert_eq!(a, generate(20_000, 3000, 7));
    assert_ne!(a, generate(20_000, 3000, 8));
    assert_ne!(a, generate(20_000, 2999, 7));
}

#[test]
fn a_shorter_file_is_a_prefix_of_a_longer_one() {
    let short = generate(1_000, 100, 3);
    let long = generate(5_000, 100, 3);
    assert!(long.starts_with(&short));
}

#[test]
fn writes_the_header_and_exactly_the_rows_asked_for_with_lf_ends() {
    for rows in [0, 1, 2, 999, 10_000] {
        let file = generate(rows, 50, 1);
        assert!(file.starts_with(HEADER));
        assert!(!file.contains(&b'\r'));
        assert!(file.ends_with(b"\n"));
        assert_eq!(records(&file).len() as u64, rows);
    }
}

#[test]
fn one_card_works_and_zero_cards_is_refused() {
    let file = generate(2_000, 1, 5);
    let c = census(&file);
    assert_eq!((c.rows, c.cards, c.unknown_program), (2_000, 1, 0));
    let err = run(
        &GenArgs {
            rows: 1,
            cards: 0,
            seed: 1,
        },
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn fifty_thousand_rows_are_valid_realistic_and_hit_every_edge() {
    let c = census(&generate(50_000, 3000, 42));
    assert_eq!(c.rows, 50_000);
    let within = |what: &str, n: usize, lo: f64, hi: f64| {
        let s = share(n, c.rows);
        assert!(
            (lo..=hi).contains(&s),
            "{what}: {n} rows = {s:.4}, expected {lo}..={hi}"
        );
    };
    within("reversals", c.reversals, 0.016, 0.024);
    within("re-sends", c.resends, 0.0005, 0.002);
    within("foreign", c.foreign, 0.12, 0.18);
    within("no FX rate", c.no_fx_rate, 0.003, 0.008);
    within("unknown program", c.unknown_program, 0.001, 0.004);
    within("unknown originals", c.original_not_found, 0.0001, 0.0006);
    within("currency mismatches", c.currency_mismatch, 0.0001, 0.0006);
    assert!(share(c.sound_reversals, c.reversals) > 0.97);
    assert!((2_900..=3_000).contains(&c.cards), "{} cards", c.cards);
    for amount in ["500.00", "500.01", "2000.00", "2000.01", "100.00", "99.99"] {
        assert!(c.amounts.contains(amount), "no SGD purchase of {amount}");
    }
    for mcc in BOUNDARY_MCCS {
        assert!(c.mccs.contains(mcc), "no purchase at MCC {mcc}");
    }
}

#[test]
fn the_catalog_is_consistent() {
    for c in CURRENCIES {
        assert!(ISO4217.contains(c.code), "{}", c.code);
        assert!(c.minor_digits == 0 || c.minor_digits == 2);
        assert!(
            MERCHANTS.iter().any(|m| m.currency == c.code),
            "no merchant bills in {}",
            c.code
        );
    }
    assert_eq!(CURRENCIES[usize::from(SGD)].code, "SGD");
    for c in CURRENCIES {
        // A merchant's median in minor units is then an exact integer (see `amount`).
        let scale = 1000 / 10u64.pow(u32::from(c.minor_digits));
        assert!(
            c.per_sgd_milli > 0 && c.per_sgd_milli % scale == 0,
            "{}",
            c.code
        );
    }
    assert_eq!(CURRENCIES.iter().map(|c| c.weight).sum::<u32>(), 100_000);
    let with_rate = ["SGD", "USD", "EUR", "GBP", "MYR", "JPY", "AUD"];
    let codes: Vec<&str> = CURRENCIES[..FX_CURRENCIES].iter().map(|c| c.code).collect();
    assert_eq!(codes, with_rate, "the reference FX rates, SGD first");
    for m in MERCHANTS {
        assert!(
            (1..=9999).contains(&m.mcc) && m.weight > 0 && m.median_sgd > 0,
            "{}",
            m.name
        );
        assert!(!m.name.trim().is_empty() && m.name.trim() == m.name && m.name.len() <= 120);
    }
    for p in UNKNOWN_PROGRAMS {
        assert!(!PROGRAMS.iter().any(|known| known.id == *p));
    }
    // Panics if a boundary MCC had no merchant.
    Generator::new(&GenArgs {
        rows: 0,
        cards: 1,
        seed: 0,
    })
    .unwrap();
}

#[test]
fn merchant_names_that_need_it_are_quoted() {
    assert_eq!(csv_field("Sushi Tei, VivoCity"), b"\"Sushi Tei, VivoCity\"");
    assert_eq!(csv_field("Toys\"R\"Us"), b"\"Toys\"\"R\"\"Us\"");
    assert_eq!(csv_field(" SHOPEE "), b" SHOPEE ");
    let names: HashSet<String> = records(&generate(50_000, 3000, 42))
        .iter()
        .map(|r| r[2].to_owned())
        .collect();
    assert!(names.contains("Sushi Tei, VivoCity") && names.contains("Toys\"R\"Us"));
    assert!(
        names.iter().any(|n| n.trim() != n),
        "some names have stray white space"
    );
}

#[test]
fn numbers_are_written_exactly() {
    let written = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    };
    assert_eq!(written(&|v| push_amount(v, 1, 2)), "0.01");
    assert_eq!(written(&|v| push_amount(v, 50_001, 2)), "500.01");
    assert_eq!(
        written(&|v| push_amount(v, 100_000_000_000, 2)),
        "1000000000.00"
    );
    assert_eq!(written(&|v| push_amount(v, 25_000, 0)), "25000");
    assert_eq!(written(&|v| push_padded(v, 42, 6)), "000042");
    assert_eq!(written(&|v| push_padded(v, 1_234_567, 6)), "1234567");
    assert_eq!(written(&|v| push_u64(v, 0)), "0");
    assert_eq!(written(&|v| push_u64(v, u64::MAX)), u64::MAX.to_string());
}

#[test]
fn luhn_check_digits_are_right() {
    assert_eq!(cards::luhn_check_digit(b"411111111111111"), b'1');
    assert_eq!(cards::luhn_check_digit(b"37828224631000"), b'5');
    assert_eq!(cards::luhn_check_digit(b"7992739871"), b'3');
}

/// `cargo test -p spend --release gen::tests::throughput -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check: run it in release"]
fn throughput() {
    let rows = 1_000_000;
    let start = std::time::Instant::now();
    run(
        &GenArgs {
            rows,
            cards: 3000,
            seed: 42,
        },
        &mut io::sink(),
    )
    .unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "gen: {rows} rows in {secs:.3} s = {:.0} rows/s",
        rows as f64 / secs
    );
}
