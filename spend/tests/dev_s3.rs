//! `spend dev`'s embedded S3 endpoint as a user tries it: the endpoint and keys read from the data
//! directory, `examples/transactions.csv` put into the bucket `uploads` with an ordinary S3 client
//! (`aws-sdk-s3`, configured the way the AWS CLI is: endpoint URL, static keys, path-style), then
//! `POST /v1/batches/s3` naming it, and every id's outcome read back and compared with
//! `expected.csv`. The uploaded file itself holds PANs (it is the bank's file); nothing else under
//! the data directory, no answer and no log line may.

mod e2e_support;

use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use e2e_support::{assert_no_pan, check_outcomes, load_example_campaigns, spend, Service};
use serde_json::{json, Value};
use spend_testkit::fixtures::SPEC_EXAMPLES as EXAMPLES;
use spend_testkit::net::free_port;

fn read(data_dir: &Path, name: &str) -> String {
    std::fs::read_to_string(data_dir.join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .trim()
        .to_owned()
}

fn s3_client(endpoint: &str, key: &str, secret: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_put_in_the_embedded_s3_is_ingested_and_rewarded() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let log = root.path().join("dev.log");
    let client = reqwest::Client::new();
    let port = free_port();
    let mut c = spend();
    c.args(["dev", "--port", &port.to_string(), "--data-dir"])
        .arg(&data)
        .env(
            "RUST_LOG",
            "debug,h2=info,hyper=info,fjall=info,lsm_tree=info",
        );
    let mut dev = Service::start("spend dev", c, port, log.clone());
    dev.wait_ready(&client).await;

    let endpoint = read(&data, "s3-endpoint");
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let credentials = read(&data, "s3-credentials");
    let (key, secret) = credentials.split_once(':').expect("KEY:SECRET");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("s3-credentials"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the keys are readable by their owner only");
    }

    // The bucket is there, and a wrong secret is refused.
    let s3 = s3_client(&endpoint, key, secret);
    let buckets = s3.list_buckets().send().await.unwrap();
    let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["uploads"]);
    let wrong = s3_client(&endpoint, key, "not-the-secret-of-this-endpoint-000000000");
    assert!(wrong.list_buckets().send().await.is_err());

    let csv = std::fs::read(format!("{EXAMPLES}/transactions.csv")).unwrap();
    s3.put_object()
        .bucket("uploads")
        .key("2024/05/transactions.csv")
        .body(ByteStream::from(csv))
        .send()
        .await
        .unwrap();

    let admin = read(&data, "admin-token");
    let bank = read(&data, "bank-token");
    load_example_campaigns(&client, &dev.url, &admin).await;
    let r = client
        .post(format!("{}/v1/batches/s3", dev.url))
        .bearer_auth(&bank)
        .json(&json!({"bucket": "uploads", "key": "2024/05/transactions.csv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    let batch: Value = r.json().await.unwrap();
    let batch_id = batch["batch_id"].as_str().unwrap().to_owned();

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let r = client
            .get(format!("{}/v1/batches/{batch_id}", dev.url))
            .bearer_auth(&bank)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        let body = r.bytes().await.unwrap();
        assert_no_pan("a batch status", &body);
        let status: Value = serde_json::from_slice(&body).unwrap();
        if status["status"] != "running" {
            break status;
        }
        assert!(Instant::now() < deadline, "the batch is still running");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["status"], "done", "{status}");
    assert_eq!(status["rows"], 43);
    assert_eq!(status["accepted"], 43);
    assert_eq!(status["rejected"], 0);

    // Rewarded exactly as the examples say.
    check_outcomes(&client, &dev.url, &admin).await;

    // A missing object is the client's mistake, not a server failure.
    let r = client
        .post(format!("{}/v1/batches/s3", dev.url))
        .bearer_auth(&bank)
        .json(&json!({"bucket": "uploads", "key": "no/such.csv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);

    dev.stop("INT");
    let log = std::fs::read(&log).unwrap();
    assert_no_pan("the dev log", &log);
}
