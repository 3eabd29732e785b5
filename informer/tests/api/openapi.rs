//! The OpenAPI document is well-formed OpenAPI 3.1 and describes exactly the routes served.

use std::collections::BTreeSet;

use crate::common::*;

use spend_informer::openapi::document;
use spend_testkit::openapi::{
    assert_parses_as_openapi_3_1, assert_references_resolve_and_operation_ids_are_unique,
    operations,
};

#[test]
fn parses_as_openapi() {
    let doc = document();
    assert_parses_as_openapi_3_1(&doc);
}

#[test]
fn every_reference_resolves_and_operation_ids_are_unique() {
    let doc = document();
    assert_references_resolve_and_operation_ids_are_unique(&doc);
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
