use std::str::FromStr;

use scylla::frame::response::result::{ColumnSpec, ColumnType, NativeType, TableSpec};
use scylla::serialize::row::{RowSerializationContext, SerializeRow};
use scylla::serialize::writers::RowWriter;
use spend_domain::eval::Outcome;

use super::*;

/// How each value of `values` is bound, by column name: `Some(len)` for a value, `None` for
/// null (-1) and `Some(-2)` for unset.
fn binds(values: &impl SerializeRow, extra: &[&str]) -> Vec<(String, Option<i32>)> {
    use NativeType as N;
    let table = TableSpec::owned("spend".into(), "outcomes".into());
    let typ = |name: &str| match name {
        "id" | "card_id" | "original_id" | "base_campaign" | "promo_campaign" | "mission_id"
        | "caused_by" => N::Uuid,
        "mcc" | "month" => N::Int,
        "id_order" | "pending_missions" => N::Blob,
        "amount" | "reward" | "amount_sgd" => N::Decimal,
        "transaction_date" => N::Date,
        "config_revision" => N::BigInt,
        "processed_at" => N::Timestamp,
        _ => N::Text,
    };
    let names: Vec<&str> = COLUMNS.split(", ").chain(extra.iter().copied()).collect();
    let specs: Vec<ColumnSpec<'static>> = names
        .iter()
        .map(|n| ColumnSpec::owned((*n).into(), ColumnType::Native(typ(n)), table.clone()))
        .collect();
    let mut buf = Vec::new();
    values
        .serialize(
            &RowSerializationContext::from_specs(&specs),
            &mut RowWriter::new(&mut buf),
        )
        .unwrap();
    let mut at = 0;
    let mut out = Vec::new();
    for name in names {
        let len = i32::from_be_bytes(buf[at..at + 4].try_into().unwrap());
        at += 4 + usize::try_from(len.max(0)).unwrap();
        out.push((name.to_owned(), (len != -1).then_some(len)));
    }
    assert_eq!(at, buf.len());
    out
}

fn outcome(o: Outcome) -> StoredOutcome {
    let tx = Transaction {
        id: RecordId(Uuid::from_u128(1)),
        transaction_id: "t".into(),
        merchant: "m".into(),
        mcc: Mcc::new(5999).unwrap(),
        currency: CurrencyCode::SGD,
        amount: Amount::new(Decimal::ONE).unwrap(),
        transaction_date: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
        card_id: CardId(Uuid::from_u128(2)),
        card_pan: MaskedPan::mask("4111111111111111").unwrap(),
        card_type: ProgramId::parse("p").unwrap(),
        kind: TxKind::Purchase,
    };
    StoredOutcome::new(&tx, &o, Utc::now()).unwrap()
}

#[test]
fn absent_values_are_unset_never_null() {
    let dead = outcome(Outcome::DeadLetter(DeadLetterReason::NoFxRate));
    let reward = outcome(Outcome::Rewarded(Reward {
        reward: Decimal::new(150, 2),
        unit: Unit::Points,
        amount_sgd: None,
        base_campaign: None,
        promo_campaign: None,
        remark: String::new(),
        config_revision: 4,
        reversal_of: None,
    }));
    for o in [&dead, &reward] {
        let got = binds(&OutcomeValues::of(o), &[]);
        assert!(got.iter().all(|(_, len)| len.is_some()), "a null: {got:?}");
        let unset: Vec<&str> = got
            .iter()
            .filter(|(_, len)| *len == Some(-2))
            .map(|(n, _)| n.as_str())
            .collect();
        let expected: &[&str] = if o.is_rewarded() {
            &[
                "original_id",
                "amount_sgd",
                "base_campaign",
                "promo_campaign",
                "reason",
                "mission_id",
                "payout_kind",
                "caused_by",
            ]
        } else {
            &[
                "original_id",
                "reward",
                "unit",
                "amount_sgd",
                "base_campaign",
                "promo_campaign",
                "remark",
                "config_revision",
                "mission_id",
                "payout_kind",
                "caused_by",
            ]
        };
        assert_eq!(unset, expected);
        let history = binds(&OutcomeValues::of(o).history(), &["month", "id_order"]);
        assert!(history.iter().all(|(_, len)| len.is_some()), "{history:?}");
    }
    // A reward replacing a dead letter clears the reason: the one deliberate null.
    let extra = ["pending_missions", "expected_status"];
    let replace = binds(&ReplaceValues::of(&reward), &extra);
    let nulls: Vec<&str> = replace
        .iter()
        .filter(|(_, len)| len.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(nulls, ["reason"]);
    let replace = binds(&ReplaceValues::of(&dead), &extra);
    assert!(replace.iter().all(|(_, len)| len.is_some()), "{replace:?}");
    // No mission writes: nothing pending.
    for o in [&dead, &reward] {
        let decide = binds(&DecideValues::of(o), &["pending_missions"]);
        assert_eq!(
            decide.last().unwrap(),
            &("pending_missions".into(), Some(-2))
        );
    }
}

#[test]
fn a_payout_row_binds_its_marker_and_a_reward_its_mission_writes() {
    let reward = outcome(Outcome::Rewarded(Reward {
        reward: Decimal::new(5000, 2),
        unit: Unit::Points,
        amount_sgd: Some(Decimal::ONE),
        base_campaign: None,
        promo_campaign: None,
        remark: String::new(),
        config_revision: 4,
        reversal_of: None,
    }));
    let mut payout = reward.clone();
    payout.tx.id = RecordId(Uuid::from_u128(9));
    payout.payout = Some(PayoutOf {
        mission_id: Uuid::from_u128(7),
        kind: PayoutKind::Clawback,
        caused_by: reward.id(),
    });
    let got = binds(&OutcomeValues::of(&payout), &[]);
    let marker: Vec<(String, Option<i32>)> = got[got.len() - 3..].to_vec();
    assert_eq!(
        marker,
        [
            ("mission_id".into(), Some(16)),
            ("payout_kind".into(), Some(16)),
            ("caused_by".into(), Some(16)),
        ]
    );
    let mut causing = reward.clone();
    causing.missions = vec![crate::reward_store::MissionWrite {
        mission: super::super::missions::tests::sample_mission(reward.card_id(), 1),
        payout: Some(payout),
    }];
    let decide = binds(&DecideValues::of(&causing), &["pending_missions"]);
    let (name, len) = decide.last().unwrap();
    assert_eq!(name, "pending_missions");
    assert!(len.is_some_and(|n| n > 100), "{len:?}");
    // A dead letter never leaves mission writes behind.
    let mut dead = outcome(Outcome::DeadLetter(DeadLetterReason::NoFxRate));
    dead.missions = causing.missions.clone();
    let decide = binds(&DecideValues::of(&dead), &["pending_missions"]);
    assert_eq!(decide.last().unwrap().1, Some(-2));
}

#[test]
fn decimals_round_trip_through_cql() {
    for s in [
        "0.00",
        "0.01",
        "-0.01",
        "1.27",
        "1.28",
        "-1.28",
        "-1.29",
        "255.00",
        "-12345678901.23",
        "1000000000.00",
        "79228162514264337593543950335",
        "-79228162514264337593543950335",
    ] {
        let d = Decimal::from_str(s).unwrap();
        let c = to_cql_decimal(d);
        let back = from_cql_decimal(&c).unwrap();
        assert_eq!(back, d, "{s}");
        assert_eq!(back.scale(), d.scale(), "{s}");
    }
    // Minimal encodings: 1.27 is 127 = 0x7f (one byte); 1.28 is 128 = 0x00 0x80.
    let (b, _) =
        to_cql_decimal(Decimal::from_str("1.27").unwrap()).into_signed_be_bytes_and_exponent();
    assert_eq!(b, [0x7f]);
    let (b, _) =
        to_cql_decimal(Decimal::from_str("1.28").unwrap()).into_signed_be_bytes_and_exponent();
    assert_eq!(b, [0x00, 0x80]);
    let (b, _) =
        to_cql_decimal(Decimal::from_str("-1.28").unwrap()).into_signed_be_bytes_and_exponent();
    assert_eq!(b, [0x80]);
    let too_big = CqlDecimal::from_signed_be_bytes_and_exponent(vec![1; 17], 2);
    assert!(from_cql_decimal(&too_big).is_err());
    let negative_scale = CqlDecimal::from_signed_be_bytes_and_exponent(vec![1], -1);
    assert!(from_cql_decimal(&negative_scale).is_err());
    let empty = CqlDecimal::from_signed_be_bytes_and_exponent(vec![], 2);
    assert_eq!(from_cql_decimal(&empty).unwrap(), Decimal::new(0, 2));
}
