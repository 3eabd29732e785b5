//! The checks every OpenAPI document of the workspace passes (campaignex, informer, the remote
//! store): it parses as OpenAPI 3.1, every reference resolves, operation ids are unique and every
//! operation has responses; and its operations, to compare with the routes served.

use std::collections::BTreeSet;

use serde_json::Value;

/// The HTTP methods an operation may have.
pub const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// `(method, path)` of every operation in the document.
pub fn operations(doc: &Value) -> BTreeSet<(String, String)> {
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

/// The document parses as utoipa's OpenAPI model with every path, and says `openapi: 3.1.0`;
/// returns the parsed model.
pub fn assert_parses_as_openapi_3_1(doc: &Value) -> utoipa::openapi::OpenApi {
    let parsed: utoipa::openapi::OpenApi =
        serde_json::from_value(doc.clone()).expect("a well-formed OpenAPI document");
    assert_eq!(
        parsed.paths.paths.len(),
        doc["paths"].as_object().unwrap().len()
    );
    assert_eq!(doc["openapi"], "3.1.0");
    parsed
}

/// There are references and every one resolves in the document; every operation has a unique
/// `operationId` and at least one response.
pub fn assert_references_resolve_and_operation_ids_are_unique(doc: &Value) {
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
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
