//! `GET /v1/schemas` and `GET /v1/schemas/{name}`: the Avro writer schemas of what the pipeline
//! writes, for consumers of the topics that are not this code base (a Python or Java consumer,
//! a schema registry import).
//!
//! Every Kafka record is Avro single-object encoded: `C3 01`, the writer schema's CRC-64-AVRO
//! fingerprint (8 bytes, little-endian), then the Avro binary body. A consumer keeps the schemas
//! listed here by fingerprint and decodes each record with the one its header names.
//!
//! No token is needed: like the OpenAPI documents these describe the data's shape, not any data.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use spend_runtime::ApiError;
use spend_schemas::codec::HEADER_LEN;
use spend_schemas::{codec, Codec};

/// One published schema: its name in the route, the topic it is written to (by default), and how
/// a record is keyed there.
pub(crate) struct Published {
    pub(crate) name: &'static str,
    pub(crate) topic: Option<&'static str>,
    pub(crate) key: Option<&'static str>,
    pub(crate) description: &'static str,
}

/// What `GET /v1/schemas` lists, in this order.
pub(crate) const PUBLISHED: [Published; 3] = [
    Published {
        name: "transaction",
        topic: Some("transactions"),
        key: Some("card_id: the card's UUID as its 36-character lower-case text"),
        description: "A validated transaction, PAN masked, as the ingestor publishes it.",
    },
    Published {
        name: "dead_letter",
        topic: Some("transactions.dlq"),
        key: Some("card_id: the card's UUID as its 36-character lower-case text"),
        description: "A transaction the rewarder could not reward, with the reason.",
    },
    Published {
        name: "outcome",
        topic: None,
        key: None,
        description: "A record's outcome as the reward store keeps it (not on a topic).",
    },
];

/// Serializing an Avro schema to JSON cannot fail; a `null` would show it did.
fn to_json<S: serde::Serialize>(schema: &S) -> Value {
    serde_json::to_value(schema).unwrap_or(Value::Null)
}

/// The writer schema of `name` (self-contained: shared named types inlined) and the fingerprints
/// its reader decodes, its own first.
fn writer(codec: &Codec, name: &str) -> Option<(Value, Vec<u64>)> {
    match name {
        "transaction" => Some((
            to_json(codec.transaction().schema()),
            codec.transaction().known_fingerprints().collect(),
        )),
        "dead_letter" => Some((
            to_json(codec.dead_letter().schema()),
            codec.dead_letter().known_fingerprints().collect(),
        )),
        "outcome" => Some((
            to_json(codec.outcome().schema()),
            codec.outcome().known_fingerprints().collect(),
        )),
        _ => None,
    }
}

/// A fingerprint as the Avro specification writes it: its 8 bytes little-endian (as in every
/// record's header, and as fastavro's `fingerprint` and Java's `SchemaNormalization` print them),
/// in lower-case hex.
pub(crate) fn hex_fingerprint(fingerprint: u64) -> String {
    fingerprint
        .to_le_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The 10 bytes a record written with this fingerprint starts with, in hex.
pub(crate) fn hex_header(fingerprint: u64) -> String {
    let marker: String = spend_schemas::codec::MARKER
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let header = format!("{marker}{}", hex_fingerprint(fingerprint));
    debug_assert_eq!(header.len(), 2 * HEADER_LEN);
    header
}

/// `GET /v1/schemas`.
pub(crate) async fn list() -> Json<Value> {
    let codec = codec();
    let schemas: Vec<Value> = PUBLISHED
        .iter()
        .filter_map(|p| {
            let (_, fingerprints) = writer(codec, p.name)?;
            let current = *fingerprints.first()?;
            Some(json!({
                "name": p.name,
                "topic": p.topic,
                "key": p.key,
                "description": p.description,
                "url": format!("/v1/schemas/{}", p.name),
                "fingerprint": hex_fingerprint(current),
                "header": hex_header(current),
                "readable_fingerprints": fingerprints.iter().map(|f| hex_fingerprint(*f)).collect::<Vec<_>>(),
            }))
        })
        .collect();
    Json(json!({
        "encoding": "avro single-object: C3 01, the writer schema's CRC-64-AVRO fingerprint \
            (8 bytes, little-endian), the Avro binary body",
        "schemas": schemas,
    }))
}

/// `GET /v1/schemas/{name}`: the schema itself, as an Avro tool reads it.
pub(crate) async fn get(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (schema, fingerprints) = writer(codec(), &name).ok_or_else(|| {
        ApiError::not_found("no such schema: one of transaction, dead_letter, outcome")
    })?;
    let fingerprint = fingerprints.first().copied().unwrap_or_default();
    Ok((
        [(
            header::HeaderName::from_static("x-avro-fingerprint"),
            hex_fingerprint(fingerprint),
        )],
        Json(schema),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;
    use crate::routes::{SCHEMAS_PATH, SCHEMA_PATH};

    fn app() -> Router {
        Router::new()
            .route(SCHEMAS_PATH, get(list))
            .route(SCHEMA_PATH, get(super::get))
    }

    async fn fetch(path: &str) -> (StatusCode, Option<String>, Value) {
        let res = app()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let fingerprint = res
            .headers()
            .get("x-avro-fingerprint")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, fingerprint, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn every_writer_schema_is_listed_and_served_with_its_fingerprint() {
        let (status, _, index) = fetch("/v1/schemas").await;
        assert_eq!(status, StatusCode::OK);
        let listed = index["schemas"].as_array().unwrap();
        assert_eq!(listed.len(), PUBLISHED.len());
        let codec = codec();
        for (entry, fingerprint, schema) in [
            (
                &listed[0],
                codec.transaction().fingerprint(),
                codec.transaction().schema(),
            ),
            (
                &listed[1],
                codec.dead_letter().fingerprint(),
                codec.dead_letter().schema(),
            ),
            (
                &listed[2],
                codec.outcome().fingerprint(),
                codec.outcome().schema(),
            ),
        ] {
            assert_eq!(entry["fingerprint"], hex_fingerprint(fingerprint));
            let header = hex_header(fingerprint);
            assert!(header.starts_with("c301"), "{header}");
            assert_eq!(entry["header"], header);
            let url = entry["url"].as_str().unwrap();
            let (status, served_fingerprint, served) = fetch(url).await;
            assert_eq!(status, StatusCode::OK, "{url}");
            assert_eq!(served_fingerprint, Some(hex_fingerprint(fingerprint)));
            assert_eq!(served, serde_json::to_value(schema).unwrap(), "{url}");
        }
        assert_eq!(listed[0]["topic"], "transactions");
        assert_eq!(listed[1]["topic"], "transactions.dlq");
        assert_eq!(listed[2]["topic"], Value::Null);
    }

    #[test]
    fn a_header_is_the_marker_and_the_little_endian_fingerprint() {
        assert_eq!(hex_header(0x0102_0304_0506_0708), "c3010807060504030201");
        assert_eq!(hex_fingerprint(0xff), "ff00000000000000");
        // The transaction schema's, as fastavro computes it from the composed schema.
        assert_eq!(
            hex_fingerprint(codec().transaction().fingerprint()),
            "ff0049f91daca50f"
        );
    }

    #[tokio::test]
    async fn an_unknown_schema_is_404() {
        let (status, _, body) = fetch("/v1/schemas/payment").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body["error"]
            .as_str()
            .unwrap()
            .starts_with("no such schema"));
    }
}
