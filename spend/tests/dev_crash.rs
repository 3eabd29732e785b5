//! `spend dev` killed with SIGKILL — a crash, an OOM kill, a laptop lid — at different moments of
//! an upload, then started again on the same data directory. "Accepted" means durably in the
//! broker's log: every row the answer counted is rewarded after the restart, and none twice.
//!
//! What each id's outcome must be comes from `spend eval` over the same file (the same engine
//! the pipeline runs, in file order); "none twice" is checked through each card's summary, whose
//! count and totals would grow if any record were applied twice.

mod e2e_support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use e2e_support::{assert_no_pan_in_dir, metric_sum, spend, upload_csv, Service};
use rust_decimal::Decimal;
use serde_json::Value;
use spend_testkit::net::free_port;
use spend_testkit::outcomes::api_columns;

const ROWS: usize = 20_000;
const CARDS: usize = 150;

fn start_dev(data_dir: &Path, log: &Path) -> Service {
    let port = free_port();
    let mut c = spend();
    c.args(["dev", "--port", &port.to_string(), "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "info");
    Service::start("spend dev", c, port, log.to_path_buf())
}

fn token(data_dir: &Path, name: &str) -> String {
    std::fs::read_to_string(data_dir.join(name))
        .unwrap()
        .trim()
        .to_owned()
}

/// The generated file, its rows' (id, card) in file order, and `spend eval`'s outcome per id
/// (the first outcome of an id: a re-sent id is a duplicate).
struct Workload {
    csv: Vec<u8>,
    rows: Vec<(String, String)>,
    expected: BTreeMap<String, Vec<String>>,
}

fn workload() -> Workload {
    let generated = spend()
        .args(["gen", "--rows", &ROWS.to_string()])
        .args(["--cards", &CARDS.to_string(), "--seed", "23"])
        .output()
        .unwrap();
    assert!(generated.status.success());
    let csv = generated.stdout;
    let mut rows = Vec::new();
    for row in csv::Reader::from_reader(csv.as_slice()).records() {
        let row = row.unwrap();
        rows.push((row[0].to_owned(), row[7].to_owned()));
    }

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, &csv).unwrap();
    let out = spend()
        .args(["eval", "--config"])
        .arg(spend_testkit::fixtures::REFERENCE_CONFIG)
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut expected = BTreeMap::new();
    for row in csv::Reader::from_reader(out.stdout.as_slice()).records() {
        let row: Vec<String> = row.unwrap().iter().map(str::to_owned).collect();
        if row[1] == "rewarded" || row[1] == "dead_letter" {
            expected.entry(row[0].clone()).or_insert(row);
        }
    }
    Workload {
        csv,
        rows,
        expected,
    }
}

async fn outcome(client: &reqwest::Client, url: &str, admin: &str, id: &str) -> Option<Value> {
    let r = client
        .get(format!("{url}/v1/transactions/{id}"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    if r.status() == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(r.status(), reqwest::StatusCode::OK, "{id}");
    Some(r.json().await.unwrap())
}

/// Waits until the last row of every card has an outcome: a card's records are in order on one
/// partition, so then all of them have.
async fn wait_all_rewarded(client: &reqwest::Client, url: &str, admin: &str, w: &Workload) {
    let mut last_of_card = HashMap::new();
    for (id, card) in &w.rows {
        last_of_card.insert(card.clone(), id.clone());
    }
    let deadline = Instant::now() + Duration::from_secs(240);
    for id in last_of_card.values() {
        while outcome(client, url, admin, id).await.is_none() {
            assert!(Instant::now() < deadline, "{id} was never rewarded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Every id has exactly the outcome `spend eval` gives it, and every card's summary counts each
/// rewarded record once.
async fn check_exactly_once(client: &reqwest::Client, url: &str, admin: &str, w: &Workload) {
    let mut per_card: HashMap<String, (i64, BTreeMap<String, Decimal>)> = HashMap::new();
    let card_of: HashMap<&str, &str> = w
        .rows
        .iter()
        .map(|(id, card)| (id.as_str(), card.as_str()))
        .collect();
    for (id, want) in &w.expected {
        let got = outcome(client, url, admin, id)
            .await
            .unwrap_or_else(|| panic!("{id} was accepted but has no outcome"));
        assert_eq!(api_columns(&got), want[1..], "{id}: {got}");
        if want[1] == "rewarded" {
            let entry = per_card.entry(card_of[id.as_str()].to_owned()).or_default();
            entry.0 += 1;
            *entry.1.entry(want[3].clone()).or_default() += want[2].parse::<Decimal>().unwrap();
        }
    }
    for (card, (count, totals)) in &per_card {
        let summary: Value = client
            .get(format!("{url}/v1/cards/{card}/summary"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(summary["count"], *count, "card {card}: {summary}");
        for total in summary["totals"].as_array().unwrap() {
            let unit = total["unit"].as_str().unwrap();
            let reward: Decimal = total["reward"].as_str().unwrap().parse().unwrap();
            assert_eq!(
                Some(&reward),
                totals.get(unit),
                "card {card} {unit}: {summary}"
            );
        }
    }
}

/// Killed the moment the upload is answered, and again while the rewarder is halfway through:
/// after each restart every accepted row is rewarded exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_upload_survives_sigkill() {
    let w = workload();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let log = root.path().join("dev.log");
    let client = reqwest::Client::new();

    // 1. SIGKILL right after the answer.
    let mut dev = start_dev(&data, &log);
    dev.wait_ready(&client).await;
    let (admin, bank) = (token(&data, "admin-token"), token(&data, "bank-token"));
    let summary = upload_csv(
        &client,
        &dev.url,
        &bank,
        w.csv.clone(),
        "the generated file",
    )
    .await;
    assert_eq!(summary["accepted"], ROWS, "{summary}");
    dev.kill();

    // 2. Restarted; SIGKILL again once the rewarder has written some but not all.
    let mut dev = start_dev(&data, &log);
    dev.wait_ready(&client).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while metric_sum(&client, &dev.url, "spend_rewarder_records_total")
        .await
        .unwrap_or(0)
        < 1
    {
        assert!(
            Instant::now() < deadline,
            "nothing was rewarded after the restart"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    dev.kill();

    // 3. Restarted: everything, once.
    let mut dev = start_dev(&data, &log);
    dev.wait_ready(&client).await;
    wait_all_rewarded(&client, &dev.url, &admin, &w).await;
    check_exactly_once(&client, &dev.url, &admin, &w).await;
    dev.stop("INT");
    assert_no_pan_in_dir(&data);
}

/// Killed mid-upload: the client never gets an answer, so no row was promised. The bank sends
/// the file again after the restart; every row then has its one outcome — rows that reached the
/// log before the crash are not applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_by_sigkill_is_sent_again_and_nothing_counts_twice() {
    let w = workload();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let log = root.path().join("dev.log");
    let client = reqwest::Client::new();

    let mut dev = start_dev(&data, &log);
    dev.wait_ready(&client).await;
    let (admin, bank) = (token(&data, "admin-token"), token(&data, "bank-token"));

    // Stream the file in small pieces; kill the process once half of it has been sent.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let request = client
        .post(format!("{}/v1/batches", dev.url))
        .bearer_auth(&bank)
        .header("content-type", "text/csv")
        .body(body)
        .send();
    let sending = tokio::spawn(request);
    let half = w.csv.len() / 2;
    for chunk in w.csv[..half].chunks(16 * 1024) {
        tx.send(Ok(chunk.to_vec())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Give the ingestor a moment to publish what it has read, then crash.
    tokio::time::sleep(Duration::from_millis(300)).await;
    dev.kill();
    drop(tx);
    let answer = sending.await.unwrap();
    assert!(
        answer.is_err() || !answer.unwrap().status().is_success(),
        "the upload cannot have been answered: the process was killed mid-body"
    );

    let mut dev = start_dev(&data, &log);
    dev.wait_ready(&client).await;
    let summary = upload_csv(
        &client,
        &dev.url,
        &bank,
        w.csv.clone(),
        "the generated file",
    )
    .await;
    assert_eq!(summary["accepted"], ROWS, "{summary}");
    wait_all_rewarded(&client, &dev.url, &admin, &w).await;
    check_exactly_once(&client, &dev.url, &admin, &w).await;
    dev.stop("INT");
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
