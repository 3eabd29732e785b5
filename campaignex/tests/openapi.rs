//! The OpenAPI document is well-formed OpenAPI 3.1 and describes exactly the routes served.

mod common;

use std::collections::BTreeSet;

use serde_json::Value;
use spend_campaignex::openapi::document;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// `(method, path)` of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if item.get(m).is_some() {
                out.insert((m.to_owned(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn parses_as_openapi() {
    let doc = document();
    let parsed: utoipa::openapi::OpenApi =
        serde_json::from_value(doc.clone()).expect("a well-formed OpenAPI document");
    assert_eq!(
        parsed.paths.paths.len(),
        doc["paths"].as_object().unwrap().len()
    );
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn every_reference_resolves_and_operation_ids_are_unique() {
    let doc = document();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r.strip_prefix('#').expect("local reference");
        assert!(doc.pointer(pointer).is_some(), "dangling {r}");
    }
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "{id} twice ({m} {path})");
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
            }
        }
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn documents_exactly_the_route_table() {
    let mut expected = BTreeSet::new();
    for res in [
        "programs",
        "fx-rates",
        "campaigns",
        "exclusions",
        "missions",
    ] {
        for m in ["get", "post"] {
            expected.insert((m.to_owned(), format!("/v1/{res}")));
        }
        for m in ["get", "put", "delete"] {
            expected.insert((m.to_owned(), format!("/v1/{res}/{{id}}")));
        }
    }
    for (m, p) in [
        ("get", "/v1/config"),
        ("put", "/v1/config"),
        ("get", "/v1/me/notifications"),
        ("put", "/v1/me/notifications"),
        ("get", "/v1/openapi/campaignex.json"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
    ] {
        expected.insert((m.to_owned(), p.to_owned()));
    }
    assert_eq!(operations(&document()), expected);
}

/// Every documented operation is routed: none answers "no route" (404 from the fallback) or 405.
#[tokio::test]
async fn every_documented_operation_is_served() {
    let (store, _dir) = common::embedded();
    let s = common::Server::start(store).await;
    for (method, path) in operations(&document()) {
        let path = path.replace("{id}", "x");
        let body = matches!(method.as_str(), "post" | "put").then_some("{}");
        let a = s.send(&method.to_uppercase(), &path, body, &[]).await;
        assert_ne!(a.status, 405, "{method} {path}");
        let no_route = a.body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("no route"));
        assert!(!no_route, "{method} {path}: {a:?}");
    }
    s.stop().await;
}
