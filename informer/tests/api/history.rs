//! A card's history and one record over real HTTP: the exact Reward shape, records by id,
//! parameter checks, forged and foreign cursors, escaping of free text.

use crate::common::*;
use spend_domain::eval::DeadLetterReason;
use spend_domain::{TxKind, Unit};

#[tokio::test]
async fn forged_and_foreign_cursors_are_400() {
    let server = Server::start().await;
    let mut outcomes = Vec::new();
    let mut ids = Ids::new(3);
    for n in [1, 2] {
        for d in 1..=5 {
            let tx = transaction(ids.record(), n, date(&format!("2024-01-0{d}")), "10.00");
            outcomes.push(rewarded(&tx, reward("10.00", Unit::Points, Some("10.00"))));
        }
    }
    server.apply(outcomes).await;
    let page = |n: u128, extra: &[(&str, &str)]| {
        let mut q = vec![("limit", "2")];
        q.extend_from_slice(extra);
        format!("/v1/cards/{}/rewards{}", card(n), query(&q))
    };
    let a = server.get(&page(1, &[]), Some(&admin())).await;
    let valid = a.body["next_cursor"].as_str().unwrap().to_owned();
    let b = server.get(&page(2, &[]), Some(&admin())).await;
    let foreign = b.body["next_cursor"].as_str().unwrap().to_owned();

    let mut edited = valid.clone().into_bytes();
    edited[12] = if edited[12] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).unwrap();
    let cases: Vec<(String, &str)> = vec![
        (foreign, "cursor belongs to another card"),
        (edited, "cursor is malformed"),
        (valid[..valid.len() - 3].to_owned(), "cursor is malformed"),
        ("bm90IGEgY3Vyc29y".into(), "cursor is malformed"),
        ("!!!".into(), "cursor is malformed"),
        ("A".repeat(5000), "cursor is malformed"),
        ("\u{e9}t\u{e9}".into(), "cursor is malformed"),
    ];
    for (cursor, message) in cases {
        let a = server
            .get(&page(1, &[("cursor", &cursor)]), Some(&admin()))
            .await;
        assert_eq!((a.status, a.error()), (400, message), "{cursor}");
    }
    // The valid one still works.
    let a = server
        .get(&page(1, &[("cursor", &valid)]), Some(&admin()))
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["items"].as_array().unwrap().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn parameters_are_checked() {
    let server = Server::start().await;
    let c = card(1);
    let base = format!("/v1/cards/{c}");
    for (path, status, message) in [
        (
            format!("{base}/rewards?limit=0"),
            400,
            "limit must be an integer from 1 to 1000",
        ),
        (
            format!("{base}/rewards?limit=1001"),
            400,
            "limit must be an integer from 1 to 1000",
        ),
        (
            format!("{base}/rewards?limit=x"),
            400,
            "limit must be an integer from 1 to 1000",
        ),
        (
            format!("{base}/rewards?from=2024-13-01"),
            400,
            "from must be a date written YYYY-MM-DD",
        ),
        (
            format!("{base}/summary?to=yesterday"),
            400,
            "to must be a date written YYYY-MM-DD",
        ),
        (
            format!("{base}/summary?from=2024-02-02&to=2024-02-01"),
            400,
            "from is after to",
        ),
        (
            format!("{base}/rewards?from=2024-02-02&to=2024-02-01"),
            400,
            "from is after to",
        ),
        (
            format!("{base}/rewards?limit=5&limit=6"),
            400,
            "invalid query: duplicate field `limit`",
        ),
        (
            "/v1/cards/not-a-card/rewards".into(),
            400,
            "card_id must be a uuid (8-4-4-4-12 hex digits)",
        ),
        (
            "/v1/cards/00000000000040008000000000000001/summary".into(),
            400,
            "card_id must be a uuid (8-4-4-4-12 hex digits)",
        ),
        (
            "/v1/transactions/42".into(),
            400,
            "id must be a uuid (8-4-4-4-12 hex digits)",
        ),
    ] {
        let a = server.get(&path, Some(&admin())).await;
        assert_eq!((a.status, a.error()), (status, message), "{path}");
    }
    // An empty parameter is not of its type (the document says date, integer, cursor): 400.
    for (query, message) in [
        ("from=", "from must be a date written YYYY-MM-DD"),
        ("to=", "to must be a date written YYYY-MM-DD"),
        ("limit=", "limit must be an integer from 1 to 1000"),
        ("cursor=", "cursor is malformed"),
    ] {
        let a = server
            .get(&format!("{base}/rewards?{query}"), Some(&admin()))
            .await;
        assert_eq!((a.status, a.error()), (400, message), "{query}");
    }
    // Unknown parameters are ignored, an unknown card is an empty page.
    for path in [
        format!("{base}/rewards?nocache=123&nocache2="),
        format!("{base}/rewards"),
        format!("/v1/cards/{}/rewards", c.to_string().to_uppercase()),
    ] {
        let a = server.get(&path, Some(&admin())).await;
        assert_eq!(a.status, 200, "{path}: {a:?}");
        assert_eq!(
            a.body,
            serde_json::json!({"items": [], "next_cursor": null})
        );
    }
    let a = server.get(&format!("{base}/summary"), Some(&admin())).await;
    assert_eq!(
        a.body,
        serde_json::json!({"card_id": c.to_string(), "count": 0, "totals": []})
    );
    server.stop().await;
}

#[tokio::test]
async fn one_reward_and_records_by_id() {
    let server = Server::start().await;
    let mut ids = Ids::new(11);
    let purchase = transaction(ids.record(), 1, date("2024-02-29"), "123.40");
    let mut r = reward("1234.00", Unit::Points, Some("123.40"));
    r.promo_campaign = Some(uuid::Uuid::from_u128(0xabc));
    r.remark = "Online spend 10 pts/SGD + Leap day".into();
    let mut reversal = transaction(ids.record(), 1, date("2024-03-01"), "23.40");
    reversal.kind = TxKind::Reversal {
        original_id: purchase.id,
    };
    let mut rr = reward("-234.00", Unit::Points, None);
    rr.base_campaign = None;
    rr.remark = "reversal".into();
    let dl = transaction(ids.record(), 1, date("2024-03-02"), "5.00");
    server
        .apply(vec![
            rewarded(&purchase, r),
            rewarded(&reversal, rr),
            dead_letter(&dl, DeadLetterReason::UnknownProgram),
        ])
        .await;

    let a = server
        .get(&format!("/v1/cards/{}/rewards", card(1)), Some(&admin()))
        .await;
    assert_eq!(a.status, 200);
    let pan = full_pan(1);
    let masked = format!("{}******{}", &pan[..6], &pan[12..]);
    assert!(!a.text.contains(&full_pan(1)));
    let want_purchase = serde_json::json!({
        "id": purchase.id.to_string(),
        "transaction_id": purchase.transaction_id,
        "card_id": card(1).to_string(),
        "card_pan": masked,
        "program": "scis_shopping",
        "unit": "points",
        "merchant": "Café Lumière",
        "mcc": 5411,
        "currency": "SGD",
        "amount": "123.40",
        "amount_sgd": "123.40",
        "transaction_date": "2024-02-29",
        "type": "purchase",
        "original_id": null,
        "reward": "1234.00",
        "base_campaign": "00000000-0000-0000-0000-00000000ba5e",
        "promo_campaign": "00000000-0000-0000-0000-000000000abc",
        "remark": "Online spend 10 pts/SGD + Leap day",
        "config_revision": 17,
        "processed_at": "2024-07-03T09:46:40.123Z",
        "mission_id": null,
    });
    let want_reversal = serde_json::json!({
        "id": reversal.id.to_string(),
        "transaction_id": reversal.transaction_id,
        "card_id": card(1).to_string(),
        "card_pan": masked,
        "program": "scis_shopping",
        "unit": "points",
        "merchant": "Café Lumière",
        "mcc": 5411,
        "currency": "SGD",
        "amount": "23.40",
        "amount_sgd": null,
        "transaction_date": "2024-03-01",
        "type": "reversal",
        "original_id": purchase.id.to_string(),
        "reward": "-234.00",
        "base_campaign": null,
        "promo_campaign": null,
        "remark": "reversal",
        "config_revision": 17,
        "processed_at": "2024-07-03T09:46:40.123Z",
        "mission_id": null,
    });
    assert_eq!(
        a.body,
        serde_json::json!({"items": [want_reversal, want_purchase], "next_cursor": null})
    );
    // The keys come in API.md's order.
    let positions: Vec<usize> = [
        "id",
        "transaction_id",
        "card_id",
        "card_pan",
        "program",
        "unit",
        "merchant",
        "mcc",
        "currency",
        "amount",
        "amount_sgd",
        "transaction_date",
        "type",
        "original_id",
        "reward",
        "base_campaign",
        "promo_campaign",
        "remark",
        "config_revision",
        "processed_at",
    ]
    .iter()
    .map(|k| a.text.find(&format!("\"{k}\":")).unwrap())
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{}", a.text);

    let a = server
        .get(&format!("/v1/transactions/{}", purchase.id), Some(&admin()))
        .await;
    let mut want = want_purchase.clone();
    want["status"] = "rewarded".into();
    assert_eq!((a.status, &a.body), (200, &want));
    let a = server
        .get(
            &format!("/v1/transactions/{}", dl.id.to_string().to_uppercase()),
            Some(&admin()),
        )
        .await;
    assert_eq!(
        (a.status, &a.body),
        (
            200,
            &serde_json::json!({"id": dl.id.to_string(), "status": "dead_letter",
                "reason": "unknown_program"})
        )
    );
    let unknown = ids.record();
    let a = server
        .get(&format!("/v1/transactions/{unknown}"), Some(&admin()))
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(
        a.error(),
        format!("no outcome is stored for transaction {unknown}")
    );
    // Dead letters are not in the history or the summary.
    let a = server
        .get(&format!("/v1/cards/{}/summary", card(1)), Some(&admin()))
        .await;
    assert_eq!(
        a.body,
        serde_json::json!({"card_id": card(1).to_string(), "count": 2,
            "totals": [{"unit": "points", "reward": "1000.00"}]})
    );
    server.stop().await;
}

#[tokio::test]
async fn free_text_is_escaped() {
    let server = Server::start().await;
    let mut ids = Ids::new(13);
    let mut tx = transaction(ids.record(), 1, date("2024-01-01"), "1.00");
    tx.merchant = "Bob's \"Best\" \\ Bagels\t\u{1}\u{7f} — 東京".into();
    tx.transaction_id = "ref\"</script>".into();
    let mut r = reward("10.00", Unit::Points, Some("1.00"));
    r.remark = "line one\nline two".into();
    server.apply(vec![rewarded(&tx, r)]).await;
    for path in [
        format!("/v1/cards/{}/rewards", card(1)),
        format!("/v1/transactions/{}", tx.id),
    ] {
        let a = server.get(&path, Some(&admin())).await;
        assert_eq!(a.status, 200, "{a:?}");
        let item = if a.body["items"].is_array() {
            &a.body["items"][0]
        } else {
            &a.body
        };
        assert_eq!(item["merchant"], tx.merchant.as_str());
        assert_eq!(item["transaction_id"], tx.transaction_id.as_str());
        assert_eq!(item["remark"], "line one\nline two");
    }
    server.stop().await;
}
