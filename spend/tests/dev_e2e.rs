//! `spend dev` as a user runs it: a process, the example campaigns loaded through the campaign API,
//! `examples/transactions.csv` uploaded over HTTP, every id's outcome read back through
//! `GET /v1/transactions/{id}` and compared with `expected.csv`; then Ctrl-C (SIGINT), a restart on
//! the same data directory, and the same check again.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/spec/examples");

struct Dev {
    child: Child,
    url: String,
}

impl Dev {
    fn start(data_dir: &Path, log: &Path) -> Dev {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(env!("CARGO_BIN_EXE_spend"))
            .args(["dev", "--port", &port.to_string(), "--data-dir"])
            .arg(data_dir)
            .env(
                "RUST_LOG",
                "debug,h2=info,hyper=info,fjall=info,lsm_tree=info",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .unwrap(),
            )
            .spawn()
            .expect("start spend dev");
        Dev {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// SIGINT, as Ctrl-C sends, then wait for a clean exit.
    fn interrupt(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "spend dev exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "spend dev did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_ready(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "spend dev never became ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn token(data_dir: &Path, name: &str) -> String {
    std::fs::read_to_string(data_dir.join(name))
        .unwrap()
        .trim()
        .to_owned()
}

/// expected.csv by id; a duplicate row keeps the first outcome (REWARDS.md §4).
fn expected() -> BTreeMap<String, Vec<String>> {
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

/// Every full PAN of the input files, in each way they are written there.
const PANS: [&str; 3] = [
    "4111117777777772",
    "4111-1177-7777-7772",
    "4111117777777773",
];

fn assert_no_pan(what: &str, bytes: &[u8]) {
    for pan in PANS {
        assert!(
            !bytes.windows(pan.len()).any(|w| w == pan.as_bytes()),
            "a full PAN was found in {what}"
        );
    }
}

/// Every file under `dir`, byte for byte.
fn assert_no_pan_in_dir(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_no_pan_in_dir(&path);
        } else {
            assert_no_pan(&path.display().to_string(), &std::fs::read(&path).unwrap());
        }
    }
}

async fn check_outcomes(client: &reqwest::Client, url: &str, admin: &str) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_rewards_the_examples_and_keeps_them_across_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let data = data.as_path();
    let log = root.path().join("dev.log");
    let client = reqwest::Client::new();

    let dev = Dev::start(data, &log);
    wait_ready(&client, &dev.url).await;
    let admin = token(data, "admin-token");
    let bank = token(data, "bank-token");

    // The example campaigns, one object at a time, through the campaign API.
    let campaigns: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{EXAMPLES}/example-campaigns.json")).unwrap(),
    )
    .unwrap();
    for resource in ["campaigns", "exclusions"] {
        for object in campaigns[resource].as_array().unwrap() {
            let r = client
                .post(format!("{}/v1/{resource}", dev.url))
                .bearer_auth(&admin)
                .json(object)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), reqwest::StatusCode::CREATED, "{object}");
        }
    }

    let csv = std::fs::read(format!("{EXAMPLES}/transactions.csv")).unwrap();
    let r = client
        .post(format!("{}/v1/batches", dev.url))
        .bearer_auth(&bank)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let body = r.bytes().await.unwrap();
    assert_no_pan("the batch answer", &body);
    let summary: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(summary["rows"], 43);
    assert_eq!(summary["accepted"], 43);
    assert_eq!(summary["rejected"], 0);

    // The invalid rows too: their errors name fields, never the PAN.
    let invalid = std::fs::read(format!("{EXAMPLES}/invalid.csv")).unwrap();
    let r = client
        .post(format!("{}/v1/batches", dev.url))
        .bearer_auth(&bank)
        .header("content-type", "text/csv")
        .body(invalid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let body = r.bytes().await.unwrap();
    assert_no_pan("the invalid batch answer", &body);
    let summary: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(summary["rows"], 26);
    assert_eq!(summary["rejected"], 24);

    check_outcomes(&client, &dev.url, &admin).await;
    for card in ["a1", "a2", "a3", "a4", "a5"] {
        let url = format!(
            "{}/v1/cards/00000000-0000-4000-8000-0000000000{card}/rewards?limit=1000",
            dev.url
        );
        let r = client.get(url).bearer_auth(&admin).send().await.unwrap();
        assert_no_pan("a history page", &r.bytes().await.unwrap());
    }

    // Ctrl-C drains and exits cleanly; the rewards are kept on disk.
    dev.interrupt();
    let dev = Dev::start(data, &log);
    wait_ready(&client, &dev.url).await;
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
    dev.interrupt();

    // Nothing kept on disk and no log line holds a full PAN.
    assert_no_pan_in_dir(data);
    let log = std::fs::read(&log).unwrap();
    assert!(!log.is_empty(), "the dev log was captured");
    assert_no_pan("the dev log", &log);
}
