//! The OpenAPI document is well-formed OpenAPI 3.1 and describes exactly the routes served.

use std::collections::BTreeSet;

use spend_campaignex::openapi::document;
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
    let (store, _dir) = crate::common::embedded();
    let s = crate::common::Server::start(store).await;
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
