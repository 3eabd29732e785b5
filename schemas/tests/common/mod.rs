//! Sample records shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use spend_domain::eval::{DeadLetterReason, Reward};
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind, Unit,
};
use spend_schemas::{DeadLetterRecord, OutcomeRecord, TransactionRecord};

pub const PAN: &str = "4111111111111111";

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

pub fn purchase() -> Transaction {
    Transaction {
        id: RecordId::parse("6F9619FF-8B86-D011-B42D-00C04FC964FF").unwrap(),
        transaction_id: "bank-ref-000017".to_owned(),
        merchant: "Café Ñandú, Orchard Rd".to_owned(),
        mcc: Mcc::new(742).unwrap(),
        currency: CurrencyCode::parse("THB").unwrap(),
        amount: Amount::new(dec("1234.5")).unwrap(),
        transaction_date: NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
        card_id: CardId::parse("00000000-0000-4000-8000-0000000000c1").unwrap(),
        card_pan: MaskedPan::mask(PAN).unwrap(),
        card_type: ProgramId::parse("scis_shopping").unwrap(),
        kind: TxKind::Purchase,
    }
}

pub fn reversal() -> Transaction {
    Transaction {
        id: RecordId::parse("00000000-0000-4000-8000-0000000000a2").unwrap(),
        amount: Amount::new(dec("100")).unwrap(),
        kind: TxKind::Reversal {
            original_id: purchase().id,
        },
        ..purchase()
    }
}

pub fn transaction_record() -> TransactionRecord {
    TransactionRecord::from_transaction(&purchase(), 1_709_164_800_123, Some("batch-7"), Some(42))
}

pub fn reward() -> Reward {
    Reward {
        reward: dec("12345.60"),
        unit: Unit::Points,
        amount_sgd: Some(dec("45.67")),
        base_campaign: Some(uuid::Uuid::parse_str("3b1f0000-0000-4000-8000-000000000001").unwrap()),
        promo_campaign: None,
        remark: "Online spend 10 pts/SGD".to_owned(),
        config_revision: 812,
        reversal_of: None,
    }
}

pub fn rewarded_outcome() -> OutcomeRecord {
    OutcomeRecord::rewarded(&purchase(), &reward(), 1_709_164_801_000)
}

pub fn dead_letter_outcome() -> OutcomeRecord {
    OutcomeRecord::dead_letter(
        &purchase(),
        DeadLetterReason::NoFxRate,
        Some(812),
        1_709_164_801_000,
    )
}

pub fn dead_letter() -> DeadLetterRecord {
    DeadLetterRecord::for_transaction(
        transaction_record(),
        DeadLetterReason::UnknownProgram,
        Some(9),
        1_709_164_802_000,
    )
}
