//! Every answer of the ingest routes through `Router::oneshot` and a memory sink: no I/O.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use spend_runtime::{with_json_fallbacks, NoAuth, Role};
use spend_schemas::codec;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::publish::memory::MemorySink;
use crate::{IngestorConfig, IngestorDeps, Limits};

const HEADER: &str =
    "id,transaction_id,merchant,mcc,currency,amount,transaction_date,card_id,card_pan,card_type\n";
const ROW: &str = "00000000-0000-4000-8000-000000000701,T1,Shop,5999,SGD,10.00,2024-05-02,\
                   00000000-0000-4000-8000-0000000000a1,4111117777777772,scis_shopping\n";

fn app_with(sink: Arc<MemorySink>, limits: Limits, role: Role) -> Router {
    let config = IngestorConfig {
        limits,
        ..IngestorConfig::default()
    };
    let deps = IngestorDeps {
        auth: Arc::new(NoAuth::as_role(role)),
        sink,
        s3: None,
    };
    with_json_fallbacks(crate::router(&config, deps, CancellationToken::new()))
}

fn app(sink: Arc<MemorySink>) -> Router {
    app_with(sink, Limits::default(), Role::Bank)
}

async fn send(app: Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, value)
}

fn csv(body: impl Into<Body>) -> Request<Body> {
    Request::post("/v1/batches")
        .header(header::CONTENT_TYPE, "text/csv")
        .body(body.into())
        .unwrap()
}

fn json_post(path: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn transaction() -> Value {
    json!({"id": "00000000-0000-4000-8000-0000000007AA", "transaction_id": "T1", "merchant": "Shop",
        "mcc": 5999, "currency": "SGD", "amount": "10.00", "transaction_date": "2024-05-02",
        "card_id": "00000000-0000-4000-8000-0000000000a1", "card_pan": "4111 1177 7777 7772",
        "card_type": "scis_shopping"})
}

#[tokio::test]
async fn a_csv_upload_answers_its_summary() {
    let sink = Arc::new(MemorySink::default());
    let body = format!("{HEADER}{ROW}{}", ROW.replace("5999", "0"));
    let (status, v) = send(app(sink.clone()), csv(body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["rows"].as_u64(),
            v["accepted"].as_u64(),
            v["rejected"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(
        v["errors"],
        json!([{"line": 3, "id": "00000000-0000-4000-8000-000000000701",
        "fields": ["mcc"], "messages": ["mcc must be an integer from 1 to 9999"]}])
    );
    assert_eq!(sink.stored().len(), 1);
    assert!(uuid::Uuid::parse_str(v["batch_id"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn an_upload_is_visible_by_its_batch_id() {
    let sink = Arc::new(MemorySink::default());
    let app = app(sink);
    let (_, v) = send(app.clone(), csv(format!("{HEADER}{ROW}"))).await;
    let id = v["batch_id"].as_str().unwrap();
    let get = Request::get(format!("/v1/batches/{id}"))
        .body(Body::empty())
        .unwrap();
    let (status, s) = send(app.clone(), get).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (s["status"].as_str(), s["accepted"].as_u64()),
        (Some("done"), Some(1))
    );
    assert_eq!(s["source"], json!({"type": "upload"}));

    let unknown = Request::get("/v1/batches/00000000-0000-4000-8000-000000000000")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app.clone(), unknown).await.0, StatusCode::NOT_FOUND);
    let bad = Request::get("/v1/batches/nope")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app, bad).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let req = Request::post("/v1/batches")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!("{HEADER}{ROW}")))
        .unwrap();
    let (status, v) = send(app(Arc::new(MemorySink::default())), req).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(v["error"].as_str().unwrap().contains("text/csv"));
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_before_reading() {
    let sink = Arc::new(MemorySink::default());
    let req = Request::post("/v1/batches")
        .header(header::CONTENT_TYPE, "text/csv")
        .header(header::CONTENT_LENGTH, "2147483648")
        .body(Body::from(format!("{HEADER}{ROW}")))
        .unwrap();
    let (status, v) = send(app(sink.clone()), req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(sink.stored().is_empty());
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_with_what_was_stored() {
    let sink = Arc::new(MemorySink::default());
    let limits = Limits {
        max_body_bytes: 4096,
        ..Limits::default()
    };
    let body: String = std::iter::once(HEADER.to_owned())
        .chain(std::iter::repeat_n(ROW.to_owned(), 100))
        .collect();
    // A stream has no declared length: the limit is found by counting.
    let chunks: Vec<Result<String, std::io::Error>> = body
        .as_bytes()
        .chunks(1000)
        .map(|c| Ok(String::from_utf8(c.to_vec()).unwrap()))
        .collect();
    let (status, v) = send(
        app_with(sink.clone(), limits, Role::Bank),
        csv(Body::from_stream(futures::stream::iter(chunks))),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    let detail = &v["details"][0];
    assert_eq!(detail["failure"]["reason"], "too_large");
    assert_eq!(
        detail["accepted"].as_u64(),
        Some(sink.stored().len() as u64)
    );
}

#[tokio::test]
async fn a_bad_header_is_422_at_line_1() {
    let sink = Arc::new(MemorySink::default());
    let body = format!("{},extra\n{ROW}", HEADER.trim_end());
    let (status, v) = send(app(sink.clone()), csv(body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("the file is refused from line 1: header must be"),
        "{v}"
    );
    assert_eq!(v["details"][0]["failure"]["line"], 1);
    assert_eq!(v["details"][0]["accepted"], 0);
    assert!(sink.stored().is_empty());
}

#[tokio::test]
async fn a_kafka_failure_is_503_counting_only_what_is_stored() {
    let sink = Arc::new(MemorySink::default());
    *sink.fail_after.lock().unwrap() = Some(2);
    let body: String = std::iter::once(HEADER.to_owned())
        .chain(std::iter::repeat_n(ROW.to_owned(), 5))
        .collect();
    let (status, v) = send(app(sink.clone()), csv(body)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    let detail = &v["details"][0];
    assert_eq!(detail["accepted"], 2);
    assert_eq!(detail["failure"]["reason"], "kafka_unavailable");
    assert_eq!(detail["failure"]["line"], 4);
    assert!(
        !v.to_string().contains("broker down"),
        "the cause stays in the log: {v}"
    );
}

#[tokio::test]
async fn one_transaction_is_202_once_stored() {
    let sink = Arc::new(MemorySink::default());
    let (status, v) = send(
        app(sink.clone()),
        json_post("/v1/transactions", transaction()),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    assert_eq!(
        v,
        json!({"id": "00000000-0000-4000-8000-0000000007aa", "status": "accepted"})
    );
    let stored = sink.stored();
    let record = codec().decode_transaction(&stored[0].payload).unwrap();
    assert_eq!(record.card_pan, "411111******7772");
    assert_eq!(stored[0].key, b"00000000-0000-4000-8000-0000000000a1");
    assert_eq!((record.batch_id, record.line), (None, None));
}

#[tokio::test]
async fn an_invalid_transaction_is_422_naming_each_field() {
    let mut tx = transaction();
    tx["mcc"] = json!(0);
    tx["card_pan"] = json!("4111117777777773");
    let (status, v) = send(
        app(Arc::new(MemorySink::default())),
        json_post("/v1/transactions", tx),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = v["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["mcc", "card_pan"]);
    assert!(!v.to_string().contains("4111117777777773"));
}

#[tokio::test]
async fn a_transaction_kafka_did_not_take_is_503() {
    let sink = Arc::new(MemorySink::default());
    *sink.fail_after.lock().unwrap() = Some(0);
    let (status, v) = send(app(sink), json_post("/v1/transactions", transaction())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
}

#[tokio::test]
async fn s3_needs_a_bucket_a_key_and_an_s3() {
    let app = app(Arc::new(MemorySink::default()));
    let (status, v) = send(
        app.clone(),
        json_post("/v1/batches/s3", json!({"bucket": "", "x": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = v["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["bucket", "key", "x"]);
    // A name S3 would refuse is the client's mistake, not S3 being down.
    let (status, v) = send(
        app.clone(),
        json_post("/v1/batches/s3", json!({"bucket": "B", "key": "k"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["details"][0]["field"], "bucket");
    let (status, _) = send(
        app,
        json_post("/v1/batches/s3", json!({"bucket": "bucket-b", "key": "k"})),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn only_the_bank_role_may_ingest() {
    let app = app_with(
        Arc::new(MemorySink::default()),
        Limits::default(),
        Role::Customer,
    );
    let (status, _) = send(app.clone(), csv(format!("{HEADER}{ROW}"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let doc = Request::get(super::OPENAPI_PATH)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app, doc).await.0, StatusCode::OK);
}

#[tokio::test]
async fn too_many_batches_at_once_is_429() {
    let sink = Arc::new(MemorySink::default());
    let limits = Limits {
        max_concurrent_batches: 1,
        ..Limits::default()
    };
    let app = app_with(sink, limits, Role::Bank);
    // The first upload's body never ends, so it holds the only slot.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(1);
    tx.send(Ok(HEADER.to_owned())).await.unwrap();
    let first = tokio::spawn(send(
        app.clone(),
        csv(Body::from_stream(tokio_stream_from(rx))),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (status, v) = send(app, csv(format!("{HEADER}{ROW}"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{v}");
    drop(tx);
    assert_eq!(first.await.unwrap().0, StatusCode::OK);
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<String, std::io::Error>>,
) -> impl futures::Stream<Item = Result<String, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[test]
fn every_route_is_documented() {
    let doc = crate::openapi::document();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/transactions", "post"),
        ("/v1/batches", "post"),
        ("/v1/batches/s3", "post"),
        ("/v1/batches/{batch_id}", "get"),
        (super::OPENAPI_PATH, "get"),
        (super::SCHEMAS_PATH, "get"),
        (super::SCHEMA_PATH, "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path}"
        );
    }
    assert_eq!(paths.len(), 10);
}
