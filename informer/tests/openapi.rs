//! The OpenAPI document is well-formed OpenAPI 3.1 and describes exactly the routes served.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;
use spend_informer::openapi::document;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

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

#[test]
fn documents_exactly_the_route_table() {
    let expected: BTreeSet<(String, String)> = [
        "/v1/cards/{card_id}/rewards",
        "/v1/cards/{card_id}/summary",
        "/v1/cards/{card_id}/missions",
        "/v1/transactions/{id}",
        "/v1/openapi/informer.json",
        "/healthz",
        "/readyz",
        "/metrics",
    ]
    .iter()
    .map(|p| ("get".to_owned(), (*p).to_owned()))
    .collect();
    assert_eq!(operations(&document()), expected);
}

#[test]
fn the_reward_schema_lists_api_md_fields_and_the_mission() {
    let doc = document();
    let required: Vec<&str> = doc["components"]["schemas"]["Reward"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        required.join(", "),
        "id, transaction_id, card_id, card_pan, program, unit, merchant, mcc, currency, amount, \
         amount_sgd, transaction_date, type, original_id, reward, base_campaign, promo_campaign, \
         remark, config_revision, processed_at, mission_id"
    );
}

/// Every documented path is served (an unknown id may be 404, but never "no route").
#[tokio::test]
async fn every_documented_route_is_served() {
    let server = Server::start().await;
    let served = server.get("/v1/openapi/informer.json", None).await;
    assert_eq!(served.body, document());
    for (_, path) in operations(&document()) {
        let concrete = path
            .replace("{card_id}", &card(1).to_string())
            .replace("{id}", &Ids::new(1).record().to_string());
        let a = server.get(&concrete, Some(&admin())).await;
        assert!(
            a.status == 200 || (a.status == 404 && !a.error().starts_with("no route")),
            "{path}: {a:?}"
        );
    }
    server.stop().await;
}
