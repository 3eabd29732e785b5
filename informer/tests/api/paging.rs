//! Paging a long history over real HTTP: 10,000 outcomes over 30 months read 7 at a time, date
//! filters at month edges, cursors across ranges and cards, exact summary totals, and no full PAN
//! in any page.

use std::collections::{BTreeMap, HashSet};

use crate::common::*;
use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;
use serde_json::Value;
use spend_domain::eval::DeadLetterReason;
use spend_domain::{ProgramId, RecordId, TxKind, Unit};
use spend_store::reward_store::StoredOutcome;

const START: &str = "2022-01-01";
const END: &str = "2024-06-30"; // 30 months

/// What card 1's history holds, for computing the expected answers.
#[derive(Clone, Debug)]
struct Row {
    date: NaiveDate,
    id: RecordId,
    reward: Decimal,
    unit: Unit,
}

fn month_edges(ids: &mut Ids) -> NaiveDate {
    let month = ids.below(30) as i32;
    let (y, m) = (2022 + month / 12, (month % 12) as u32 + 1);
    let first = NaiveDate::from_ymd_opt(y, m, 1).unwrap();
    if ids.below(2) == 0 {
        first
    } else {
        let next = if m == 12 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(y, m + 1, 1)
        };
        next.unwrap() - Duration::days(1)
    }
}

/// 10,000 rewarded outcomes of card 1 over 30 months (two in five on the first or last day of a
/// month, many sharing a date), 300 dead letters of card 1, and 2,000 outcomes of card 2 on the
/// same dates.
fn dataset() -> (Vec<StoredOutcome>, Vec<Row>) {
    let mut ids = Ids::new(7);
    let (start, end) = (date(START), date(END));
    let span = (end - start).num_days() as u64 + 1;
    let mut outcomes = Vec::new();
    let mut rows = Vec::new();
    let mut purchases: Vec<RecordId> = Vec::new();
    for i in 0..10_000u64 {
        let day = if ids.below(5) < 2 {
            month_edges(&mut ids)
        } else {
            start + Duration::days(ids.below(span) as i64)
        };
        let id = ids.record();
        let cents = 100 + ids.below(50_000);
        let amount = format!("{}.{:02}", cents / 100, cents % 100);
        let mut tx = transaction(id, 1, day, &amount);
        let kind = ids.below(20);
        let (r, unit) = if kind < 2 && !purchases.is_empty() {
            // A reversal of an earlier purchase.
            let original_id = purchases[ids.below(purchases.len() as u64) as usize];
            tx.kind = TxKind::Reversal { original_id };
            let v = format!("-{}.{:02}", ids.below(40), ids.below(100));
            (reward(&v, Unit::Points, None), Unit::Points)
        } else if kind < 3 {
            let mut r = reward("0.00", Unit::Points, Some(&amount));
            r.base_campaign = None;
            r.remark = "excluded: quasi-cash".into();
            (r, Unit::Points)
        } else if kind < 7 {
            tx.card_type = ProgramId::parse("scis_freedom").unwrap();
            let v = format!("{}.{:02}", ids.below(30), ids.below(100));
            (reward(&v, Unit::Cashback, Some(&amount)), Unit::Cashback)
        } else {
            let v = format!("{}.{:02}", cents / 10, ids.below(100));
            (reward(&v, Unit::Points, Some(&amount)), Unit::Points)
        };
        if tx.kind == TxKind::Purchase {
            purchases.push(id);
        }
        rows.push(Row {
            date: day,
            id,
            reward: r.reward,
            unit,
        });
        outcomes.push(rewarded(&tx, r));
        if i % 33 == 0 {
            let dl = transaction(ids.record(), 1, day, "5.00");
            outcomes.push(dead_letter(&dl, DeadLetterReason::NoFxRate));
        }
        if i % 5 == 0 {
            let other = transaction(ids.record(), 2, day, "9.99");
            outcomes.push(rewarded(&other, reward("99.90", Unit::Miles, Some("9.99"))));
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse((r.date, r.id)));
    (outcomes, rows)
}

fn in_range(rows: &[Row], from: Option<&str>, to: Option<&str>) -> Vec<RecordId> {
    let (from, to) = (from.map(date), to.map(date));
    rows.iter()
        .filter(|r| from.is_none_or(|f| r.date >= f) && to.is_none_or(|t| r.date <= t))
        .map(|r| r.id)
        .collect()
}

/// Pages through card `card_n`'s history with `limit`, returning every item's id in order and
/// checking each page's size and ordering. Asserts that no body holds a full PAN.
async fn read_all(
    server: &Server,
    card_n: u128,
    limit: u32,
    from: Option<&str>,
    to: Option<&str>,
) -> Vec<RecordId> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let limit_s = limit.to_string();
    loop {
        let mut q: Vec<(&str, &str)> = vec![("limit", &limit_s)];
        if let Some(f) = from {
            q.push(("from", f));
        }
        if let Some(t) = to {
            q.push(("to", t));
        }
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let path = format!("/v1/cards/{}/rewards{}", card(card_n), query(&q));
        let a = server.get(&path, Some(&admin())).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert!(!a.text.contains(&full_pan(card_n)), "a full PAN was served");
        let items = a.body["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        for item in items {
            out.push(RecordId::parse(item["id"].as_str().unwrap()).unwrap());
        }
        match &a.body["next_cursor"] {
            Value::String(c) => {
                assert_eq!(items.len(), limit as usize, "a short page before the end");
                cursor = Some(c.clone());
            }
            Value::Null => return out,
            other => panic!("next_cursor {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_outcomes_over_thirty_months() {
    let server = Server::start().await;
    let (outcomes, rows) = dataset();
    server.apply(outcomes).await;
    assert_eq!(rows.len(), 10_000);

    // Every outcome once, in order, 7 at a time.
    let all = read_all(&server, 1, 7, None, None).await;
    let expected: Vec<RecordId> = rows.iter().map(|r| r.id).collect();
    assert_eq!(all.len(), expected.len());
    assert_eq!(all, expected);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 10_000);

    // `from`/`to` on month edges, across month and year ends, a leap day, open ends.
    for (from, to) in [
        (Some("2023-03-01"), Some("2023-03-31")),
        (Some("2022-12-31"), Some("2023-01-01")),
        (Some("2024-02-01"), Some("2024-02-29")),
        (Some("2024-02-29"), Some("2024-03-01")),
        (Some("2023-05-01"), Some("2023-05-01")),
        (Some("2022-01-31"), Some("2022-02-01")),
        (Some("2024-06-01"), None),
        (None, Some("2022-01-31")),
        (Some("2021-01-01"), Some("2021-12-31")),
        (Some(END), Some("2030-01-01")),
    ] {
        let got = read_all(&server, 1, 7, from, to).await;
        let want = in_range(&rows, from, to);
        assert_eq!(got, want, "from {from:?} to {to:?}");
        // The edges themselves are in the data, so these ranges are not trivially empty.
        if from == Some("2023-03-01") {
            assert!(want.len() > 100, "{}", want.len());
        }
    }

    // Larger pages give the same sequence.
    assert_eq!(read_all(&server, 1, 1000, None, None).await, expected);
    assert_eq!(
        read_all(&server, 1, 50, Some("2023-01-01"), Some("2023-12-31")).await,
        in_range(&rows, Some("2023-01-01"), Some("2023-12-31"))
    );

    // Summaries: exact totals per unit, over everything and over month-edge ranges.
    for (from, to) in [
        (None, None),
        (Some("2023-03-01"), Some("2023-03-31")),
        (Some("2024-02-29"), Some("2024-02-29")),
        (Some("2020-01-01"), Some("2020-12-31")),
    ] {
        let (f, t) = (from.map(date), to.map(date));
        let mut count = 0u64;
        let mut totals: BTreeMap<u8, (Unit, Decimal)> = BTreeMap::new();
        for r in rows
            .iter()
            .filter(|r| f.is_none_or(|f| r.date >= f) && t.is_none_or(|t| r.date <= t))
        {
            count += 1;
            let rank = match r.unit {
                Unit::Points => 0,
                Unit::Miles => 1,
                Unit::Cashback => 2,
            };
            totals.entry(rank).or_insert((r.unit, Decimal::ZERO)).1 += r.reward;
        }
        let mut q = Vec::new();
        if let Some(f) = from {
            q.push(("from", f));
        }
        if let Some(t) = to {
            q.push(("to", t));
        }
        let a = server
            .get(
                &format!("/v1/cards/{}/summary{}", card(1), query(&q)),
                Some(&admin()),
            )
            .await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.body["card_id"], card(1).to_string());
        assert_eq!(a.body["count"], count, "from {from:?} to {to:?}");
        let want: Vec<Value> = totals
            .values()
            .map(|(unit, total)| {
                let mut t = *total;
                t.rescale(2);
                serde_json::json!({"unit": unit.as_str(), "reward": t.to_string()})
            })
            .collect();
        assert_eq!(
            a.body["totals"],
            Value::Array(want),
            "from {from:?} to {to:?}"
        );
    }

    // Card 2 is apart, and its cursors are refused on card 1.
    let a = server
        .get(
            &format!("/v1/cards/{}/rewards?limit=3", card(2)),
            Some(&admin()),
        )
        .await;
    assert_eq!(a.body["items"].as_array().unwrap().len(), 3);
    let other_cursor = a.body["next_cursor"].as_str().unwrap().to_owned();
    let a = server
        .get(
            &format!(
                "/v1/cards/{}/rewards{}",
                card(1),
                query(&[("cursor", &other_cursor)])
            ),
            Some(&admin()),
        )
        .await;
    assert_eq!(
        (a.status, a.error()),
        (400, "cursor belongs to another card")
    );

    // A cursor is a position: paging on with another range continues after it.
    let a = server
        .get(
            &format!("/v1/cards/{}/rewards?limit=10", card(1)),
            Some(&admin()),
        )
        .await;
    let cursor = a.body["next_cursor"].as_str().unwrap().to_owned();
    let a = server
        .get(
            &format!(
                "/v1/cards/{}/rewards{}",
                card(1),
                query(&[("cursor", &cursor), ("limit", "5")])
            ),
            Some(&admin()),
        )
        .await;
    let next: Vec<&str> = a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    let want: Vec<String> = expected[10..15].iter().map(|id| id.to_string()).collect();
    assert_eq!(next, want);

    server.stop().await;
}
