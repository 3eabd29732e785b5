//! What the tests that run `spend` services as processes share: starting one (with none of the
//! developer's `SPEND_*` variables), waiting for it, stopping it by signal; the example campaigns
//! loaded through the campaign API, the example files uploaded through the ingest API, every
//! id's outcome read back through `GET /v1/transactions/{id}` and compared with `expected.csv`;
//! and the scans for full PANs.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use spend_testkit::fixtures::{read_spec_example, SPEC_EXAMPLES as EXAMPLES};
use spend_testkit::outcomes::{api_columns, final_outcomes};

/// Variables a developer's shell might have set that would change what a service does.
const INHERITED: [&str; 13] = [
    "SPEND_DATA_DIR",
    "SPEND_LISTEN",
    "SPEND_PORT",
    "SPEND_STORE_LISTEN",
    "SPEND_REWARDER_LISTEN",
    "SPEND_JWT_SECRET",
    "SPEND_JWT_PUBLIC_KEY",
    "SPEND_JWT_PRIVATE_KEY",
    "SPEND_REWARD_STORE_URL",
    "SPEND_REWARD_STORE_TOKEN",
    "SPEND_CONFIG_DIR",
    "SPEND_S3_ENDPOINT",
    "SPEND_TOPIC",
];

/// The `spend` binary under test, without the developer's `SPEND_*` variables, stdin closed.
pub fn spend() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_spend"));
    for var in INHERITED {
        c.env_remove(var);
    }
    c.stdin(Stdio::null());
    c
}

/// A service process listening on loopback; its stderr appended to `log`; killed on drop.
pub struct Service {
    name: String,
    child: Child,
    pub url: String,
    log: PathBuf,
}

impl Service {
    pub fn start(name: &str, mut command: Command, port: u16, log: PathBuf) -> Service {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = command
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Service {
            name: name.to_owned(),
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `GET /readyz` answers 200; fails, with the log, if the process exits first
    /// or is not ready within 60 s.
    pub async fn wait_ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{} exited with {status} before it was ready:\n{}",
                    self.name,
                    self.log()
                );
            }
            if let Ok(r) = client.get(format!("{}/readyz", self.url)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} never became ready:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL, as a crash would: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends `signal` (`"TERM"` as an orchestrator, `"INT"` as Ctrl-C) and waits for a clean exit.
    pub fn stop(mut self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "{} exited with {status}:\n{}",
                    self.name,
                    self.log()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not stop:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    upload_csv(client, url, bank, csv, file).await
}

/// `POST /v1/batches` with `csv` (named `what` in messages); asserts a 200 with no PAN in it.
pub async fn upload_csv(
    client: &reqwest::Client,
    url: &str,
    bank: &str,
    csv: Vec<u8>,
    what: &str,
) -> Value {
    let r = client
        .post(format!("{url}/v1/batches"))
        .bearer_auth(bank)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK, "{what}");
    let body = r.bytes().await.unwrap();
    assert_no_pan(&format!("the answer to uploading {what}"), &body);
    serde_json::from_slice(&body).unwrap()
}

/// Every id of expected.csv, read back through `GET /v1/transactions/{id}` (waiting up to 90 s
/// for each to appear), equals its expected row; stored PANs are masked.
pub async fn check_outcomes(client: &reqwest::Client, url: &str, admin: &str) {
    // expected.csv's final outcome of every id; a duplicate row keeps the first (REWARDS.md §4).
    let (ids, expected) = final_outcomes(
        &String::from_utf8(read_spec_example("expected.csv")).expect("expected.csv is UTF-8"),
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    for id in &ids {
        let want = &expected[id];
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
        assert_eq!(&api_columns(&got), want, "{id}: {got}");
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
