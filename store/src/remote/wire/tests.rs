use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, Utc};
use spend_domain::eval::{Outcome, Reward};
use spend_domain::ledger::Ledger;
use spend_domain::{MaskedPan, Mcc, ProgramId, TxKind};
use uuid::Uuid;

use super::*;
use crate::reward_store::StoredMission;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn tx(n: u128, kind: TxKind) -> Transaction {
    Transaction {
        id: RecordId(Uuid::from_u128(n)),
        transaction_id: format!("T-{n}"),
        merchant: "Café ☕".into(),
        mcc: Mcc::new(5999).unwrap(),
        currency: CurrencyCode::parse("USD").unwrap(),
        amount: Amount::new(d("12.30")).unwrap(),
        transaction_date: NaiveDate::from_ymd_opt(2024, 3, 31).unwrap(),
        card_id: CardId(Uuid::from_u128(2)),
        card_pan: MaskedPan::mask("4111111111111111").unwrap(),
        card_type: ProgramId::parse("scis_shopping").unwrap(),
        kind,
    }
}

fn outcomes() -> Vec<StoredOutcome> {
    let reward = Reward {
        reward: d("-1.25"),
        unit: Unit::Miles,
        amount_sgd: Some(d("16.61")),
        base_campaign: Some(Uuid::from_u128(9)),
        promo_campaign: None,
        remark: "a + b".into(),
        config_revision: 42,
        reversal_of: None,
    };
    let reversal = TxKind::Reversal {
        original_id: RecordId(Uuid::from_u128(1)),
    };
    vec![
        StoredOutcome::new(
            &tx(1, TxKind::Purchase),
            &Outcome::Rewarded(reward.clone()),
            Utc::now(),
        ),
        StoredOutcome::new(&tx(3, reversal), &Outcome::Rewarded(reward), Utc::now()),
        StoredOutcome::new(
            &tx(4, TxKind::Purchase),
            &Outcome::DeadLetter(DeadLetterReason::NoFxRate),
            Utc::now(),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn ledger() -> PrefetchedLedger {
    let mut l = PrefetchedLedger::new();
    l.insert_prior(RecordId(Uuid::from_u128(5)), Prior::DeadLetter);
    l.insert_prior(RecordId(Uuid::from_u128(6)), Prior::Rewarded);
    l.insert_original(
        RecordId(Uuid::from_u128(7)),
        OriginalPurchase {
            card_id: CardId(Uuid::from_u128(2)),
            reward: d("4.00"),
            amount: Amount::new(d("40.00")).unwrap(),
            currency: CurrencyCode::SGD,
            unit: Unit::Cashback,
            reversed: d("1.50"),
        },
    );
    l
}

/// Every proper prefix and one trailing byte are refused, and no byte flip panics.
fn refuses_damage<T: fmt::Debug>(bytes: &[u8], decode: impl Fn(&[u8]) -> Result<T, WireError>) {
    for n in 0..bytes.len() {
        assert!(decode(&bytes[..n]).is_err(), "prefix of {n} bytes");
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(decode(&longer).is_err(), "trailing byte");
    for i in 0..bytes.len() {
        for v in [0u8, 0x7f, 0xff] {
            let mut b = bytes.to_vec();
            b[i] = v;
            let _ = decode(&b);
        }
    }
}

#[test]
fn apply_and_applied_round_trip() {
    let batch = outcomes();
    let bytes = encode_apply(&batch);
    assert_eq!(decode_apply(&bytes).unwrap(), batch);
    refuses_damage(&bytes, decode_apply);
    let applied = Applied {
        written: 3,
        unchanged: 7,
    };
    let bytes = encode_applied(applied);
    assert_eq!(decode_applied(&bytes).unwrap(), applied);
    refuses_damage(&bytes, decode_applied);
    assert_eq!(decode_apply(&encode_apply(&[])).unwrap(), vec![]);
}

#[test]
fn prefetch_carries_whole_transactions() {
    let txs: Vec<Transaction> = outcomes().into_iter().map(|o| o.tx).collect();
    let bytes = encode_prefetch(&txs);
    assert_eq!(decode_prefetch(&bytes).unwrap(), txs);
    refuses_damage(&bytes, decode_prefetch);
}

#[test]
fn ledger_round_trips() {
    let l = ledger();
    let bytes = encode_ledger(&l);
    let back = decode_ledger(&bytes).unwrap();
    for n in 0..10 {
        let id = RecordId(Uuid::from_u128(n));
        assert_eq!(back.prior(id), l.prior(id), "{n}");
        let card = CardId(Uuid::from_u128(2));
        assert_eq!(back.original(card, id), l.original(card, id), "{n}");
    }
    assert_eq!(back.priors().len(), 3);
    assert_eq!(back.originals().len(), 1);
    refuses_damage(&bytes, decode_ledger);
}

#[test]
fn requests_round_trip() {
    let id = RecordId(Uuid::from_u128(99));
    assert_eq!(decode_id(&encode_id(id)).unwrap(), id);
    refuses_damage(&encode_id(id), decode_id);

    let card = CardId(Uuid::from_u128(2));
    let date = |m, day| NaiveDate::from_ymd_opt(2024, m, day);
    for range in [
        DateRange::ALL,
        DateRange::new(date(1, 31), None),
        DateRange::new(None, date(2, 29)),
        DateRange::new(date(1, 1), date(12, 31)),
    ] {
        let cursor = Cursor::new(card, NaiveDate::MIN, id).encode();
        for cursor in [None, Some(cursor)] {
            let req = HistoryRequest {
                card,
                range,
                limit: 1000,
                cursor,
            };
            let bytes = encode_history(&req);
            assert_eq!(decode_history(&bytes).unwrap(), req);
            refuses_damage(&bytes, decode_history);
        }
        let bytes = encode_summary_request(card, range);
        assert_eq!(decode_summary_request(&bytes).unwrap(), (card, range));
        refuses_damage(&bytes, decode_summary_request);
    }
}

#[test]
fn answers_round_trip() {
    let batch = outcomes();
    for found in [None, Some(&batch[0]), Some(&batch[2])] {
        let bytes = encode_found(found);
        assert_eq!(decode_found(&bytes).unwrap().as_ref(), found);
        refuses_damage(&bytes, decode_found);
    }

    let card = CardId(Uuid::from_u128(2));
    for next_cursor in [None, Some(Cursor::after(&batch[1]))] {
        let page = Page {
            items: batch.clone(),
            next_cursor,
        };
        let bytes = encode_page(&page);
        assert_eq!(decode_page(&bytes, card).unwrap(), page);
        refuses_damage(&bytes, |b| decode_page(b, card));
    }
    // A next cursor of another card is refused.
    let page = Page {
        items: vec![],
        next_cursor: Some(Cursor::after(&batch[0])),
    };
    let err = decode_page(&encode_page(&page), CardId(Uuid::from_u128(3))).unwrap_err();
    assert!(err.to_string().contains("another card"), "{err}");

    let summary = Summary {
        count: 334,
        totals: vec![(Unit::Points, d("3.43")), (Unit::Cashback, d("-0.10"))],
    };
    let bytes = encode_summary(&summary);
    let back = decode_summary(&bytes).unwrap();
    assert_eq!(back, summary);
    assert_eq!(back.totals[0].1.to_string(), "3.43");
    refuses_damage(&bytes, decode_summary);
}

#[test]
fn refusals_name_what_is_wrong() {
    let msg = |r: Result<Vec<StoredOutcome>, WireError>| r.unwrap_err().to_string();
    assert_eq!(msg(decode_apply(b"")), "empty body");
    assert!(msg(decode_apply(&[3, 0, 0, 0, 0])).contains("version 3"));
    assert!(decode_prefetch(&[2, 0, 0, 0, 0])
        .unwrap_err()
        .to_string()
        .contains("version 2"));
    // A count far beyond what the body holds is refused before anything is allocated.
    assert!(msg(decode_apply(&[1, 0xff, 0xff, 0xff, 0xff])).contains("too short"));
    let mut one = encode_apply(&outcomes()[..1]);
    let mcc_at = 1 + 4 + 4 + 19 + 16 + 16 + 4;
    one[mcc_at..mcc_at + 2].copy_from_slice(&0u16.to_be_bytes());
    assert_eq!(msg(decode_apply(&one)), "outcome 0: bad mcc");

    // A decimal with bits the 16-byte form never sets.
    let mut s = encode_summary(&Summary {
        count: 1,
        totals: vec![(Unit::Points, d("1.00"))],
    });
    let last = s.len() - 16;
    s[last] = 0x01;
    assert!(decode_summary(&s)
        .unwrap_err()
        .to_string()
        .contains("not a valid 16-byte decimal"));
    // Unknown range flags.
    let mut h = encode_summary_request(CardId(Uuid::nil()), DateRange::ALL);
    h[17] = 4;
    assert!(decode_summary_request(&h)
        .unwrap_err()
        .to_string()
        .contains("flags"));
}

/// Outcomes with mission writes: a purchase that completes a mission (a state and a reward
/// payout), one that only moves it, and a dead letter with none.
fn with_missions() -> Vec<StoredOutcome> {
    use spend_domain::config::MissionTarget;
    use spend_domain::mission::{
        payout_id, MissionEffect, MissionInfo, MissionPayout, MissionState, PayoutKind,
    };
    let mission_id = Uuid::from_u128(0xd001);
    let card = CardId(Uuid::from_u128(2));
    let effect = |state: MissionState, payout| MissionEffect {
        card_id: card,
        mission_id,
        info: MissionInfo {
            name: "Dine ☕".into(),
            target: MissionTarget::AmountSgd(d("100")),
            reward: d("50.00"),
            unit: Unit::Points,
        },
        state,
        payout,
    };
    let mut state = MissionState::open(NaiveDate::from_ymd_opt(2024, 3, 30).unwrap(), 7);
    state.progress_amount_sgd = d("110.00");
    state.progress_count = 3;
    state.completions = 1;
    let payout = MissionPayout {
        id: payout_id(mission_id, card, 1, PayoutKind::Reward),
        mission_id,
        kind: PayoutKind::Reward,
        completion: 1,
        reward: d("50.00"),
        unit: Unit::Points,
        remark: "mission: Dine ☕".into(),
        config_revision: 42,
    };
    let mut batch = outcomes();
    batch[0] = batch[0]
        .clone()
        .with_missions(vec![effect(state.clone(), Some(payout))]);
    batch[1] = batch[1].clone().with_missions(vec![effect(state, None)]);
    batch
}

#[test]
fn apply_carries_mission_writes_as_version_2() {
    let batch = with_missions();
    assert!(batch[0].missions[0]
        .payout
        .as_ref()
        .is_some_and(StoredOutcome::is_payout));
    let bytes = encode_apply(&batch);
    assert_eq!(bytes[0], 2);
    assert_eq!(decode_apply(&bytes).unwrap(), batch);
    refuses_damage(&bytes, decode_apply);
    // Without mission writes it is version 1, as earlier builds send and read it.
    let plain = outcomes();
    let bytes = encode_apply(&plain);
    assert_eq!(bytes[0], 1);
    assert_eq!(decode_apply(&bytes).unwrap(), plain);
    // A payout row on its own is version 2 as well: an earlier build could not read it.
    let payout = batch[0].missions[0].payout.clone().unwrap();
    let bytes = encode_apply(std::slice::from_ref(&payout));
    assert_eq!(bytes[0], 2);
    assert_eq!(decode_apply(&bytes).unwrap(), vec![payout]);
}

#[test]
fn a_payout_write_must_be_a_rewarded_payout_row() {
    let mut batch = with_missions();
    let write = &mut batch[0].missions[0];
    let mut payout = write.payout.clone().unwrap();
    payout.payout = None;
    write.payout = Some(payout);
    let err = decode_apply(&encode_apply(&batch)).unwrap_err().to_string();
    assert!(
        err.contains("mission write 0 of outcome 0: payout is not"),
        "{err}"
    );
    // A bad flag, named.
    let mut batch = with_missions();
    batch[0].missions[0].payout = None;
    let mut bytes = encode_apply(&batch[..1]);
    let flag = bytes.len() - 1;
    bytes[flag] = 7;
    let err = decode_apply(&bytes).unwrap_err().to_string();
    assert!(err.contains("payout flag 7"), "{err}");
    // A state that does not decode, named by the codec.
    let mut bytes = encode_apply(&batch[..1]);
    let state = find_state(&bytes);
    bytes[state] = 9;
    let err = decode_apply(&bytes).unwrap_err().to_string();
    assert!(err.contains("mission write 0 of outcome 0"), "{err}");
}

/// Where the first mission state of a one-outcome version-2 body starts.
fn find_state(bytes: &[u8]) -> usize {
    let outcome_len = u32::from_be_bytes(bytes[5..9].try_into().unwrap()) as usize;
    // version, outcome count, outcome length, outcome, write count, state length.
    1 + 4 + 4 + outcome_len + 4 + 4
}

#[test]
fn missions_route_round_trips() {
    let cards = vec![CardId(Uuid::from_u128(2)), CardId(Uuid::from_u128(3))];
    let bytes = encode_cards(&cards);
    assert_eq!(decode_cards(&bytes).unwrap(), cards);
    refuses_damage(&bytes, decode_cards);
    assert_eq!(decode_cards(&encode_cards(&[])).unwrap(), vec![]);

    let states: Vec<StoredMission> = with_missions()
        .into_iter()
        .flat_map(|o| o.missions)
        .map(|w| w.mission)
        .collect();
    assert_eq!(states.len(), 2);
    let bytes = encode_missions(&states);
    assert_eq!(decode_missions(&bytes).unwrap(), states);
    refuses_damage(&bytes, decode_missions);
    assert_eq!(decode_missions(&encode_missions(&[])).unwrap(), vec![]);
    let err = decode_missions(&[1, 0, 0, 0, 9]).unwrap_err().to_string();
    assert!(err.contains("too short"), "{err}");
}
