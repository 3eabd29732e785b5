//! An S3 batch against the real S3-compatible server `.ci/run` starts on loopback (moto) and the
//! real broker: `202`, progress while it runs, `done` with the counts, the rows on the topic.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use serde_json::{json, Value};
use spend_ingestor::{IngestorConfig, S3Settings};
use spend_testkit::env::server_env;
use spend_testkit::fixtures::read_spec_example;
use spend_testkit::fresh;
use spend_testkit::kafka::consume_all;

fn s3_settings(endpoint: &str) -> S3Settings {
    S3Settings {
        endpoint: endpoint.to_owned(),
        region: "us-east-1".into(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
        force_path_style: true,
    }
}

/// A file of `rows` valid rows over 50 cards.
fn big_file(rows: usize) -> Vec<u8> {
    let mut s = String::from(
        "id,transaction_id,merchant,mcc,currency,amount,transaction_date,card_id,card_pan,card_type\n",
    );
    for n in 0..rows {
        s.push_str(&format!(
            "00000000-0000-4000-8000-{n:012x},T{n},Shop,5999,SGD,10.00,2024-05-02,\
             00000000-0000-4000-8000-{:012x},4111117777777772,scis_shopping\n",
            n % 50
        ));
    }
    s.into_bytes()
}

async fn poll_until_finished(ingestor: &Running, batch_id: &str) -> (Vec<Value>, Value) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    loop {
        let (status, state) = ingestor.get(&format!("/v1/batches/{batch_id}")).await;
        assert_eq!(status, 200, "{state}");
        if state["status"] != "running" {
            return (seen, state);
        }
        seen.push(state);
        assert!(Instant::now() < deadline, "the batch did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_object_is_ingested_in_the_background() {
    let (Some(brokers), Some(endpoint)) =
        (server_env("SPEND_TEST_KAFKA"), server_env("SPEND_TEST_S3"))
    else {
        return;
    };
    let client = spend_ingestor::s3::client(&s3_settings(&endpoint)).unwrap();
    let bucket = format!("spend-test-{}", uuid::Uuid::new_v4().simple());
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let examples = read_spec_example("transactions.csv");
    let big = big_file(60_000);
    for (key, body) in [
        ("in/transactions.csv", examples.clone()),
        ("in/big.csv", big.clone()),
    ] {
        client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .content_type("text/csv")
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("put object");
    }

    let topic = fresh("ingest-s3");
    let ingestor = Running::start_with_s3(
        kafka_settings(&brokers, &topic),
        IngestorConfig::default(),
        Some(client.clone()),
    )
    .await;

    // The examples: polled to `done`.
    let (status, started) = ingestor
        .post_json(
            "/v1/batches/s3",
            &json!({"bucket": bucket, "key": "in/transactions.csv"}),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let batch_id = started["batch_id"].as_str().unwrap().to_owned();
    let (_, done) = poll_until_finished(&ingestor, &batch_id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(
        (&done["rows"], &done["accepted"], &done["rejected"]),
        (&json!(43), &json!(43), &json!(0))
    );
    assert_eq!(done["bytes_read"], json!(examples.len()));
    assert_eq!(
        done["source"],
        json!({"type": "s3", "bucket": bucket, "key": "in/transactions.csv"})
    );

    // A bigger object: progress is visible while it runs.
    let (status, started) = ingestor
        .post_json(
            "/v1/batches/s3",
            &json!({"bucket": bucket, "key": "in/big.csv"}),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let big_id = started["batch_id"].as_str().unwrap().to_owned();
    let (progress, done) = poll_until_finished(&ingestor, &big_id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(
        (&done["rows"], &done["accepted"]),
        (&json!(60_000), &json!(60_000))
    );
    assert!(!progress.is_empty(), "the batch was never seen running");
    let mut last = 0;
    for state in &progress {
        let read = state["bytes_read"].as_u64().unwrap();
        assert!(read >= last, "progress went backwards");
        assert!(state["accepted"].as_u64().unwrap() <= state["rows"].as_u64().unwrap());
        last = read;
    }
    assert_eq!(progress[0]["bytes_total"], json!(big.len()));

    // No such object: refused at once.
    let (status, answer) = ingestor
        .post_json(
            "/v1/batches/s3",
            &json!({"bucket": bucket, "key": "in/missing.csv"}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["details"][0]["field"], "key");

    let records = consume_all(&brokers, &topic, 60_043, Duration::from_secs(120));
    assert_eq!(records.len(), 60_043);
    ingestor.stop().await;
}
