//! Missions through `spend dev` (docs/missions.md), as a programme manager and a cardholder see
//! them: missions created through `POST /v1/missions`, transactions sent through the ingest
//! API, progress read through `GET /v1/cards/{id}/missions`, payouts in the card's history and
//! summary. The pipeline must agree with `spend eval` on the same file.

mod e2e_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use e2e_support::{spend, upload_csv, Service};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use spend_testkit::fixtures::MISSION_EXAMPLES as MISSIONS;
use spend_testkit::net::free_port;
use spend_testkit::outcomes::api_columns;

fn start_dev(data: &Path, log: &Path) -> Service {
    let port = free_port();
    let mut c = spend();
    c.args(["dev", "--port", &port.to_string(), "--data-dir"])
        .arg(data);
    Service::start("spend dev", c, port, log.to_path_buf())
}

fn token(data: &Path, name: &str) -> String {
    std::fs::read_to_string(data.join(name))
        .unwrap()
        .trim()
        .to_owned()
}

async fn create_mission(client: &Client, url: &str, admin: &str, mission: &Value) -> String {
    let r = client
        .post(format!("{url}/v1/missions"))
        .bearer_auth(admin)
        .json(mission)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

async fn get_json(client: &Client, url: &str, token: &str) -> (StatusCode, Value) {
    let r = client.get(url).bearer_auth(token).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `GET /v1/transactions/{id}`, waiting up to 60 s for the outcome to be stored.
async fn outcome(client: &Client, url: &str, admin: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, v) = get_json(client, &format!("{url}/v1/transactions/{id}"), admin).await;
        if status == StatusCode::OK {
            return v;
        }
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {v}");
        assert!(Instant::now() < deadline, "no outcome for {id} in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A card's missions as `--missions-out` writes them (without the card id).
fn mission_rows(v: &Value) -> BTreeMap<String, Vec<String>> {
    let items = v["items"].as_array().expect("items");
    items
        .iter()
        .map(|m| {
            let s = |k: &str| match &m[k] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (
                s("mission_id"),
                vec![
                    s("status"),
                    s("progress_amount_sgd"),
                    s("progress_count"),
                    s("window_start"),
                    s("window_end"),
                    s("completions"),
                    s("completed_at"),
                ],
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mission_examples_through_spend_dev_agree_with_spend_eval() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let client = Client::new();
    let mut dev = start_dev(&data, &root.path().join("dev.log"));
    dev.wait_ready(&client).await;
    let admin = token(&data, "admin-token");
    let bank = token(&data, "bank-token");

    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{MISSIONS}/missions.json")).unwrap(),
    )
    .unwrap();
    for m in doc["missions"].as_array().unwrap() {
        create_mission(&client, &dev.url, &admin, m).await;
    }
    let csv = std::fs::read(format!("{MISSIONS}/transactions.csv")).unwrap();
    let summary = upload_csv(&client, &dev.url, &bank, csv, "the mission examples").await;
    assert_eq!(summary["rejected"], 0, "{summary}");

    // Every row of `spend eval`'s answer (missions_eval.rs keeps expected.csv equal to it),
    // payouts included, read back by id.
    let mut expected = csv::Reader::from_path(format!("{MISSIONS}/expected.csv")).unwrap();
    let mut checked = 0;
    for row in expected.records() {
        let want: Vec<String> = row.unwrap().iter().map(str::to_owned).collect();
        if want[1] == "duplicate" {
            continue;
        }
        let got = outcome(&client, &dev.url, &admin, &want[0]).await;
        assert_eq!(api_columns(&got), want[1..], "{got}");
        checked += 1;
    }
    assert!(checked > 20, "only {checked} rows checked");

    // Every card's final state in every mission, as `spend eval --missions-out` leaves it.
    let mut states = csv::Reader::from_path(format!("{MISSIONS}/expected-missions.csv")).unwrap();
    let mut by_card: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for row in states.records() {
        let row: Vec<String> = row.unwrap().iter().map(str::to_owned).collect();
        by_card
            .entry(row[0].clone())
            .or_default()
            .insert(row[1].clone(), row[2..].to_vec());
    }
    for (card, want) in &by_card {
        let (status, v) = get_json(
            &client,
            &format!("{}/v1/cards/{card}/missions", dev.url),
            &admin,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(&mission_rows(&v), want, "card {card}: {v}");
    }
    dev.stop("INT");
}

/// The walk-through: 40, 40, 30 SGD on 2, 3 and 4 May (80, then completed at 110, one
/// reward in the history); the third again (nothing changes); one on 9 May (outside the 7-day
/// window); a reversal of the third (80, `in_progress`, a clawback: two mission rows, net 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mission_completes_once_and_is_clawed_back() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let client = Client::new();
    let mut dev = start_dev(&data, &root.path().join("dev.log"));
    dev.wait_ready(&client).await;
    let url = dev.url.clone();
    let admin = token(&data, "admin-token");
    let bank = token(&data, "bank-token");
    let card = "00000000-0000-4000-9000-0000000c0001";

    let mission_id = create_mission(
        &client,
        &url,
        &admin,
        &json!({"name": "Dine SGD 100 in 7 days", "program": "scis_shopping",
            "start_date": "2024-05-01", "end_date": null, "window_days": 7,
            "target": {"amount_sgd": "100"},
            "conditions": [{"field": "mcc", "op": "in", "value": [[5811, 5814]]}],
            "reward": "50"}),
    )
    .await;

    let send = |n: u32, amount: &str, date: &str, original: Option<&str>| {
        let mut tx = json!({"id": format!("00000000-0000-4000-9000-0000000f{n:04}"),
            "transaction_id": format!("T{n}"), "merchant": "Din Tai Fung", "mcc": 5812,
            "currency": "SGD", "amount": amount, "transaction_date": date,
            "card_id": card, "card_pan": "4111111111111111", "card_type": "scis_shopping"});
        if let Some(original) = original {
            tx["type"] = json!("reversal");
            tx["original_id"] = json!(original);
        }
        let (client, url, bank) = (client.clone(), url.clone(), bank.clone());
        async move {
            let r = client
                .post(format!("{url}/v1/transactions"))
                .bearer_auth(&bank)
                .json(&tx)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::ACCEPTED, "{:?}", r.text().await);
            tx["id"].as_str().unwrap().to_owned()
        }
    };
    let progress = || {
        let (client, url, admin) = (client.clone(), url.clone(), admin.clone());
        async move {
            let (status, v) =
                get_json(&client, &format!("{url}/v1/cards/{card}/missions"), &admin).await;
            assert_eq!(status, StatusCode::OK, "{v}");
            assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
            v["items"][0].clone()
        }
    };
    let mission_rows = || {
        let (client, url, admin) = (client.clone(), url.clone(), admin.clone());
        async move {
            let (_, v) = get_json(
                &client,
                &format!("{url}/v1/cards/{card}/rewards?limit=1000"),
                &admin,
            )
            .await;
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["mission_id"].is_string())
                .cloned()
                .collect::<Vec<Value>>()
        }
    };
    let total = || {
        let (client, url, admin) = (client.clone(), url.clone(), admin.clone());
        async move {
            let (_, v) = get_json(&client, &format!("{url}/v1/cards/{card}/summary"), &admin).await;
            v["totals"][0]["reward"].as_str().unwrap().to_owned()
        }
    };

    for (n, amount, date) in [(1, "40.00", "2024-05-02"), (2, "40.00", "2024-05-03")] {
        let id = send(n, amount, date, None).await;
        outcome(&client, &url, &admin, &id).await;
    }
    let p = progress().await;
    // The window (2–8 May 2024) ended before today without completing: `expired`, still
    // showing its progress. A late purchase dated inside it can still count.
    assert_eq!(
        (p["status"].as_str(), p["progress_amount_sgd"].as_str()),
        (Some("expired"), Some("80.00")),
        "{p}"
    );
    assert_eq!(p["mission_id"], json!(mission_id));
    assert_eq!(
        (p["window_start"].as_str(), p["window_end"].as_str()),
        (Some("2024-05-02"), Some("2024-05-08"))
    );

    let third = send(3, "30.00", "2024-05-04", None).await;
    outcome(&client, &url, &admin, &third).await;
    let p = progress().await;
    assert_eq!(
        (
            p["status"].as_str(),
            p["progress_amount_sgd"].as_str(),
            p["completed_at"].as_str()
        ),
        (Some("completed"), Some("110.00"), Some("2024-05-04")),
        "{p}"
    );
    let rows = mission_rows().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["type"].as_str(), rows[0]["reward"].as_str()),
        (Some("mission"), Some("50.00"))
    );

    // The third again, then a purchase outside the window: nothing changes. A later record of
    // the same card is stored only after these (one partition per card, in order).
    send(3, "30.00", "2024-05-04", None).await;
    let outside = send(4, "25.00", "2024-05-09", None).await;
    outcome(&client, &url, &admin, &outside).await;
    let p = progress().await;
    assert_eq!(
        (
            p["status"].as_str(),
            p["progress_amount_sgd"].as_str(),
            p["progress_count"].as_u64()
        ),
        (Some("completed"), Some("110.00"), Some(3)),
        "{p}"
    );
    assert_eq!(mission_rows().await.len(), 1);

    // A reversal of the third: back to 80, in progress, clawed back; net 0 from the mission.
    let before = total().await;
    let reversal = send(5, "30.00", "2024-05-10", Some(&third)).await;
    outcome(&client, &url, &admin, &reversal).await;
    let p = progress().await;
    assert_eq!(
        (
            p["status"].as_str(),
            p["progress_amount_sgd"].as_str(),
            p["completed_at"].clone()
        ),
        (Some("in_progress"), Some("80.00"), Value::Null),
        "{p}"
    );
    let rows = mission_rows().await;
    let mut kinds: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["type"].as_str().unwrap(), r["reward"].as_str().unwrap()))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [("mission", "50.00"), ("mission_clawback", "-50.00")]
    );
    // The summary moved by the reversal's own reward (−120.00) and the clawback (−50.00).
    let after = total().await;
    let d = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
    assert_eq!(d(&before) - d(&after), d("170.00"), "{before} → {after}");

    // A customer sees its own card's missions, and not another's.
    let customer = spend()
        .args(["token", "--role", "customer", "--card", card, "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let customer = String::from_utf8(customer.stdout)
        .unwrap()
        .trim()
        .to_owned();
    let (status, _) = get_json(
        &client,
        &format!("{url}/v1/cards/{card}/missions"),
        &customer,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let other = "00000000-0000-4000-9000-0000000c0002";
    let (status, v) = get_json(
        &client,
        &format!("{url}/v1/cards/{other}/missions"),
        &customer,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    dev.stop("INT");
}
