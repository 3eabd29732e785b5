//! What the end-to-end tests (`spend dev`, and the distributed services) share: the example
//! campaigns loaded through the campaign API, the example files uploaded through the ingest API,
//! every id's outcome read back through `GET /v1/transactions/{id}` and compared with
//! `expected.csv`, and the scans for full PANs.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/spec/examples");

/// Waits until `GET {url}/readyz` answers 200.
pub async fn wait_ready(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{url} never became ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The example campaigns and exclusions, one object at a time, through the campaign API.
pub async fn load_example_campaigns(client: &reqwest::Client, url: &str, admin: &str) {
    let campaigns: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{EXAMPLES}/example-campaigns.json")).unwrap(),
    )
    .unwrap();
    for resource in ["campaigns", "exclusions"] {
        for object in campaigns[resource].as_array().unwrap() {
            let r = client
                .post(format!("{url}/v1/{resource}"))
                .bearer_auth(admin)
                .json(object)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), reqwest::StatusCode::CREATED, "{object}");
        }
    }
}

/// Uploads `transactions.csv` (all 43 rows accepted) and `invalid.csv` (24 of 26 rejected), and
/// checks that no answer holds a full PAN.
pub async fn upload_examples(client: &reqwest::Client, url: &str, bank: &str) {
    let summary = upload(client, url, bank, "transactions.csv").await;
    assert_eq!(summary["rows"], 43);
    assert_eq!(summary["accepted"], 43);
    assert_eq!(summary["rejected"], 0);
    // Their errors name fields, never the PAN.
    let summary = upload(client, url, bank, "invalid.csv").await;
    assert_eq!(summary["rows"], 26);
    assert_eq!(summary["rejected"], 24);
}

async fn upload(client: &reqwest::Client, url: &str, bank: &str, file: &str) -> Value {
    let csv = std::fs::read(format!("{EXAMPLES}/{file}")).unwrap();
    let r = client
        .post(format!("{url}/v1/batches"))
        .bearer_auth(bank)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK, "{file}");
    let body = r.bytes().await.unwrap();
    assert_no_pan(&format!("the answer to uploading {file}"), &body);
    serde_json::from_slice(&body).unwrap()
}

/// expected.csv by id; a duplicate row keeps the first outcome (REWARDS.md §4).
pub fn expected() -> BTreeMap<String, Vec<String>> {
    let mut r = csv::Reader::from_path(format!("{EXAMPLES}/expected.csv")).unwrap();
    let mut out = BTreeMap::new();
    for row in r.records() {
        let row: Vec<String> = row.unwrap().iter().map(str::to_owned).collect();
        if row[1] != "duplicate" {
            out.insert(row[0].clone(), row);
        }
    }
    out
}

/// The expected.csv columns of a stored outcome.
fn as_expected_row(id: &str, v: &Value) -> Vec<String> {
    let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
    match v["status"].as_str() {
        Some("rewarded") => vec![
            id.to_owned(),
            "rewarded".into(),
            s("reward"),
            s("unit"),
            s("amount_sgd"),
            s("base_campaign"),
            s("promo_campaign"),
            s("remark"),
        ],
        Some("dead_letter") => vec![
            id.to_owned(),
            "dead_letter".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            s("reason"),
        ],
        other => panic!("unexpected status {other:?} in {v}"),
    }
}

/// Every id of expected.csv, read back through `GET /v1/transactions/{id}` (waiting up to 90 s
/// for each to appear), equals its expected row; stored PANs are masked.
pub async fn check_outcomes(client: &reqwest::Client, url: &str, admin: &str) {
    let expected = expected();
    let deadline = Instant::now() + Duration::from_secs(90);
    for (id, want) in &expected {
        let got = loop {
            let r = client
                .get(format!("{url}/v1/transactions/{id}"))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap();
            if r.status() == reqwest::StatusCode::OK {
                let body = r.bytes().await.unwrap();
                assert_no_pan("a record response", &body);
                break serde_json::from_slice::<Value>(&body).unwrap();
            }
            assert_eq!(r.status(), reqwest::StatusCode::NOT_FOUND, "{id}");
            assert!(Instant::now() < deadline, "no outcome for {id} in time");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(&as_expected_row(id, &got), want, "{id}: {got}");
        let pan = got["card_pan"].as_str().unwrap_or_default();
        assert!(
            pan.is_empty() || pan.contains('*'),
            "a stored PAN must be masked"
        );
    }
}

/// The history pages of the example cards hold no full PAN.
pub async fn check_histories(client: &reqwest::Client, url: &str, admin: &str) {
    for card in ["a1", "a2", "a3", "a4", "a5"] {
        let page =
            format!("{url}/v1/cards/00000000-0000-4000-8000-0000000000{card}/rewards?limit=1000");
        let r = client.get(page).bearer_auth(admin).send().await.unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        assert_no_pan("a history page", &r.bytes().await.unwrap());
    }
}

/// The sum of every series of the metric `name` (any labels) on `{url}/metrics`, or `None` when
/// the service does not export it (yet).
pub async fn metric_sum(client: &reqwest::Client, url: &str, name: &str) -> Option<i64> {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let values: Vec<i64> = text
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Every full PAN of the input files, in each way they are written there.
const PANS: [&str; 3] = [
    "4111117777777772",
    "4111-1177-7777-7772",
    "4111117777777773",
];

pub fn assert_no_pan(what: &str, bytes: &[u8]) {
    for pan in PANS {
        assert!(
            !bytes.windows(pan.len()).any(|w| w == pan.as_bytes()),
            "a full PAN was found in {what}"
        );
    }
}

/// Every file under `dir`, byte for byte.
pub fn assert_no_pan_in_dir(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_no_pan_in_dir(&path);
        } else {
            assert_no_pan(&path.display().to_string(), &std::fs::read(&path).unwrap());
        }
    }
}
