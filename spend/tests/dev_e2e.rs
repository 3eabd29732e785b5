//! `spend dev` as a user runs it: a process, the example campaigns loaded through the campaign API,
//! `examples/transactions.csv` uploaded over HTTP, every id's outcome read back through
//! `GET /v1/transactions/{id}` and compared with `expected.csv`; then Ctrl-C (SIGINT), a restart on
//! the same data directory, and the same check again.

mod e2e_support;

use std::path::Path;
use std::time::{Duration, Instant};

use e2e_support::{
    assert_no_pan, assert_no_pan_in_dir, check_histories, check_outcomes, load_example_campaigns,
    metric_sum, spend, upload_examples, Service,
};
use serde_json::Value;
use spend_testkit::net::free_port;

/// `spend dev` on `data_dir` with `args` added, its log appended to `log`.
fn start_dev(data_dir: &Path, log: &Path, args: &[&str]) -> Service {
    let port = free_port();
    let mut c = spend();
    c.args(["dev", "--port", &port.to_string(), "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env(
            "RUST_LOG",
            "debug,h2=info,hyper=info,fjall=info,lsm_tree=info",
        );
    Service::start("spend dev", c, port, log.to_path_buf())
}

fn token(data_dir: &Path, name: &str) -> String {
    std::fs::read_to_string(data_dir.join(name))
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_rewards_the_examples_and_keeps_them_across_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let data = data.as_path();
    let log = root.path().join("dev.log");
    let client = reqwest::Client::new();

    let mut dev = start_dev(data, &log, &[]);
    dev.wait_ready(&client).await;
    let admin = token(data, "admin-token");
    let bank = token(data, "bank-token");

    load_example_campaigns(&client, &dev.url, &admin).await;
    upload_examples(&client, &dev.url, &bank).await;
    check_outcomes(&client, &dev.url, &admin).await;
    check_histories(&client, &dev.url, &admin).await;

    // Ctrl-C drains and exits cleanly; the rewards are kept on disk.
    dev.stop("INT");
    let mut dev = start_dev(data, &log, &[]);
    dev.wait_ready(&client).await;
    check_outcomes(&client, &dev.url, &admin).await;

    // The configuration survived too: the promos loaded through the API are still there.
    let config: Value = client
        .get(format!("{}/v1/config", dev.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["campaigns"].as_array().unwrap().len(), 13 + 5);
    dev.stop("INT");

    // Nothing kept on disk and no log line holds a full PAN.
    assert_no_pan_in_dir(data);
    let log = std::fs::read(&log).unwrap();
    assert!(!log.is_empty(), "the dev log was captured");
    assert_no_pan("the dev log", &log);
}

/// An upload many times larger than the rewarder's reach at any moment, on one partition, is
/// rewarded whole. (librdkafka's mock cluster, the in-memory broker `spend dev` had before, kept
/// only the last 5 MiB of each partition: a 1,000,000-row upload had 183,000 rewarded.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_rewards_every_row_of_an_upload_larger_than_its_broker_keeps() {
    const ROWS: i64 = 150_000;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let log = root.path().join("dev.log");
    let client = reqwest::Client::new();

    let generated = spend()
        .args([
            "gen",
            "--rows",
            &ROWS.to_string(),
            "--cards",
            "300",
            "--seed",
            "7",
        ])
        .output()
        .unwrap();
    assert!(generated.status.success());
    let csv = generated.stdout;
    assert!(
        csv.len() > 4 * (5 << 20),
        "the file is not much larger than the broker keeps"
    );
    // The last id of each card: a card's records are in order on one partition, so once its
    // last is stored, all of its records are.
    let mut last_of_card = std::collections::HashMap::new();
    for row in csv::Reader::from_reader(csv.as_slice()).records() {
        let row = row.unwrap();
        last_of_card.insert(row[7].to_owned(), row[0].to_owned());
    }

    let mut dev = start_dev(&data, &log, &["--partitions", "1"]);
    dev.wait_ready(&client).await;
    let admin = token(&data, "admin-token");
    let bank = token(&data, "bank-token");
    let r = client
        .post(format!("{}/v1/batches", dev.url))
        .bearer_auth(&bank)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let summary: Value = r.json().await.unwrap();
    assert_eq!(summary["accepted"], ROWS, "{summary}");

    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let written = metric_sum(&client, &dev.url, "spend_rewarder_records_total")
            .await
            .unwrap_or(0);
        if written >= ROWS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {written} of {ROWS} records were rewarded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (card, id) in &last_of_card {
        let r = client
            .get(format!("{}/v1/transactions/{id}", dev.url))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK, "card {card}, id {id}");
    }
    dev.stop("INT");
}
