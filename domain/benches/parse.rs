//! Ingest hot paths: validating one transaction, and framing a CSV file (REWARDS.md §1).
//!
//! `cargo bench -p spend-domain --bench parse`

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spend_domain::csv::CsvFramer;
use spend_domain::transaction::{parse_transaction, RawTransaction};

const HEADER: &str = "id,transaction_id,merchant,mcc,currency,amount,transaction_date,card_id,card_pan,card_type,type,original_id\n";

fn raw(k: u32) -> RawTransaction {
    RawTransaction {
        id: format!("00000000-0000-4000-8000-{k:012x}"),
        transaction_id: format!("T{k:06}"),
        merchant: "Cold Storage Great World".into(),
        mcc: "5411".into(),
        currency: "SGD".into(),
        amount: "123.45".into(),
        transaction_date: "2024-05-02".into(),
        card_id: "00000000-0000-4000-8000-0000000000a1".into(),
        card_pan: "4111117777777772".into(),
        card_type: "scis_shopping".into(),
        type_: Some(String::new()),
        original_id: Some(String::new()),
    }
}

/// `rows` typical rows of about 150 bytes, one in ten with a quoted merchant.
fn file(rows: u32) -> Vec<u8> {
    let mut s = String::from(HEADER);
    for k in 0..rows {
        let merchant = if k % 10 == 0 {
            "\"Cold Storage, Great World\""
        } else {
            "Cold Storage Great World"
        };
        s.push_str(&format!(
            "00000000-0000-4000-8000-{k:012x},T{k:06},{merchant},5411,SGD,123.45,2024-05-02,\
             00000000-0000-4000-8000-0000000000a1,4111117777777772,scis_shopping,,\n"
        ));
    }
    s.into_bytes()
}

fn bench_parse(c: &mut Criterion) {
    let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    let valid = raw(1);
    let mut invalid = raw(2);
    invalid.mcc = "59a9".into();
    invalid.card_pan = "4111117777777773".into();

    let mut g = c.benchmark_group("parse_transaction");
    g.throughput(Throughput::Elements(1));
    g.bench_function("valid", |b| {
        b.iter(|| parse_transaction(black_box(&valid), today))
    });
    g.bench_function("invalid", |b| {
        b.iter(|| parse_transaction(black_box(&invalid), today))
    });
    g.finish();
}

fn bench_frame(c: &mut Criterion) {
    const ROWS: u32 = 10_000;
    let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    let input = file(ROWS);
    let mut g = c.benchmark_group("csv");
    g.throughput(Throughput::Elements(u64::from(ROWS)));
    g.bench_function("frame_10k_rows", |b| {
        let mut out = Vec::with_capacity(8192);
        b.iter(|| {
            let mut framer = CsvFramer::new();
            let mut n = 0;
            for chunk in input.chunks(64 * 1024) {
                framer.push(chunk, &mut out).unwrap();
                n += out.len();
                out.clear();
            }
            framer.finish(&mut out).unwrap();
            n + out.len()
        })
    });
    g.bench_function("frame_and_parse_10k_rows", |b| {
        let mut out = Vec::with_capacity(8192);
        b.iter(|| {
            let mut framer = CsvFramer::new();
            let mut valid = 0;
            for chunk in input.chunks(64 * 1024) {
                framer.push(chunk, &mut out).unwrap();
                for row in out.drain(..) {
                    let tx = row
                        .raw
                        .ok()
                        .and_then(|raw| parse_transaction(&raw, today).ok());
                    valid += usize::from(tx.is_some());
                }
            }
            framer.finish(&mut out).unwrap();
            assert_eq!(valid, ROWS as usize);
            valid
        })
    });
    g.finish();
}

criterion_group!(benches, bench_parse, bench_frame);
criterion_main!(benches);
