//! Encode and decode throughput of the wire records: `cargo bench -p spend-schemas`.

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rust_decimal::Decimal;
use spend_domain::eval::Reward;
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind, Unit,
};
use spend_schemas::{codec, OutcomeRecord, TransactionRecord};

fn transaction() -> Transaction {
    Transaction {
        id: RecordId::parse("6f9619ff-8b86-d011-b42d-00c04fc964ff").unwrap(),
        transaction_id: "bank-ref-000017".to_owned(),
        merchant: "Orchard Central Online Store".to_owned(),
        mcc: Mcc::new(5999).unwrap(),
        currency: CurrencyCode::parse("SGD").unwrap(),
        amount: Amount::new(Decimal::new(123_450, 2)).unwrap(),
        transaction_date: NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
        card_id: CardId::parse("00000000-0000-4000-8000-0000000000c1").unwrap(),
        card_pan: MaskedPan::mask("4111111111111111").unwrap(),
        card_type: ProgramId::parse("scis_shopping").unwrap(),
        kind: TxKind::Purchase,
    }
}

fn bench(c: &mut Criterion) {
    let codec = codec();
    let tx = transaction();
    let record = TransactionRecord::from_transaction(&tx, 1_709_164_800_123, Some("b-1"), Some(2));
    let bytes = codec.encode_transaction(&record);
    let outcome = OutcomeRecord::rewarded(
        &tx,
        &Reward {
            reward: Decimal::new(123_450, 2),
            unit: Unit::Points,
            amount_sgd: Some(Decimal::new(123_450, 2)),
            base_campaign: Some(uuid::Uuid::nil()),
            promo_campaign: None,
            remark: "Online spend 10 pts/SGD".to_owned(),
            config_revision: 812,
            reversal_of: None,
        },
        1_709_164_801_000,
    );
    let outcome_bytes = codec.encode_outcome(&outcome);

    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    group.bench_function("transaction/encode", |b| {
        let mut buf = Vec::with_capacity(256);
        b.iter(|| {
            buf.clear();
            codec
                .transaction()
                .encode_into(black_box(&record), &mut buf)
                .unwrap();
            black_box(buf.len())
        })
    });
    group.bench_function("transaction/encode_vec", |b| {
        b.iter(|| codec.encode_transaction(black_box(&record)))
    });
    group.bench_function("transaction/decode", |b| {
        b.iter(|| codec.decode_transaction(black_box(&bytes)).unwrap())
    });
    group.bench_function("transaction/decode+to_transaction", |b| {
        b.iter(|| {
            codec
                .decode_transaction(black_box(&bytes))
                .unwrap()
                .to_transaction()
                .unwrap()
        })
    });
    group.bench_function("transaction/from_transaction+encode", |b| {
        b.iter(|| {
            codec.encode_transaction(&TransactionRecord::from_transaction(
                black_box(&tx),
                1,
                None,
                None,
            ))
        })
    });
    group.bench_function("outcome/encode", |b| {
        b.iter(|| codec.encode_outcome(black_box(&outcome)))
    });
    group.bench_function("outcome/decode", |b| {
        b.iter(|| codec.decode_outcome(black_box(&outcome_bytes)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
