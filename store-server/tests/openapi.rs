//! The remote store's OpenAPI document is well-formed OpenAPI 3.1 and describes exactly the routes
//! `spend store` serves, the document itself without a token.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;
use spend_runtime::jwt::{JwtAuthenticator, JwtSecret};
use spend_runtime::{require_role, AlwaysReady, Role};
use spend_store::remote::{paths, CONTENT_TYPE};
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store_server::openapi::document;
use spend_testkit::openapi::{
    assert_parses_as_openapi_3_1, assert_references_resolve_and_operation_ids_are_unique,
    operations,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[test]
fn parses_as_openapi() {
    let doc = document();
    let parsed = assert_parses_as_openapi_3_1(&doc);
    assert_eq!(doc["info"]["title"], "spend store");
    // The binary body schema is one utoipa's 3.1 model understands, not an ignored keyword.
    let reparsed = serde_json::to_value(&parsed).unwrap();
    assert_eq!(
        reparsed["components"]["schemas"]["WireBody"]["contentEncoding"],
        "binary"
    );
}

#[test]
fn every_reference_resolves_and_operation_ids_are_unique() {
    let doc = document();
    assert_references_resolve_and_operation_ids_are_unique(&doc);
}

fn served_routes() -> BTreeSet<(String, String)> {
    let mut expected = BTreeSet::new();
    for p in [
        paths::APPLY,
        paths::PREFETCH,
        paths::GET,
        paths::HISTORY,
        paths::SUMMARY,
        paths::MISSIONS,
    ] {
        expected.insert(("post".to_owned(), p.to_owned()));
    }
    for p in [
        paths::PING,
        paths::OPENAPI,
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        expected.insert(("get".to_owned(), p.to_owned()));
    }
    expected
}

#[test]
fn documents_exactly_the_route_table() {
    assert_eq!(operations(&document()), served_routes());
    assert_eq!(paths::OPENAPI, "/v1/openapi/store.json");
}

#[test]
fn store_routes_take_a_token_and_meta_routes_none() {
    let doc = document();
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let public = op
            .get("security")
            .is_some_and(|s| s == &serde_json::json!([]));
        assert_eq!(public, !path.starts_with("/v1/store/"), "{method} {path}");
        if method == "post" {
            let body = &op["requestBody"]["content"][CONTENT_TYPE];
            assert!(body.get("schema").is_some(), "{path}");
            assert!(op["responses"]["200"]["content"][CONTENT_TYPE].is_object());
            for status in ["400", "401", "403", "413", "415", "500", "503"] {
                let schema = &op["responses"][status]["content"]["application/json"]["schema"];
                assert_eq!(
                    schema["$ref"], "#/components/schemas/Error",
                    "{path} {status}"
                );
            }
        }
    }
}

/// Every documented operation is routed as `spend store` assembles the app: the store routes
/// answer 401 without a token (so they exist, behind the auth layer), the others answer.
#[tokio::test]
async fn every_documented_operation_is_served() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let secret = JwtSecret::new(b"a-test-secret-of-at-least-32-bytes!!".to_vec())?;
    let routes = spend_store_server::router(Arc::new(EmbeddedRewardStore::open(dir.path())?))
        .route_layer(require_role(
            Arc::new(JwtAuthenticator::hs256(&secret)),
            Role::Service,
        ))
        .merge(spend_store_server::openapi_router());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(spend_runtime::serve(
        "store",
        routes,
        Arc::new(AlwaysReady),
        listener,
        shutdown.clone(),
    ));
    let http = reqwest::Client::new();

    let doc = http.get(format!("{url}{}", paths::OPENAPI)).send().await?;
    assert_eq!(doc.status().as_u16(), 200);
    assert!(doc.headers()["content-type"]
        .to_str()?
        .starts_with("application/json"));
    assert_eq!(doc.json::<Value>().await?, document());

    for (method, path) in operations(&document()) {
        let req = match method.as_str() {
            "post" => http
                .post(format!("{url}{path}"))
                .header("content-type", CONTENT_TYPE)
                .body(vec![1u8]),
            _ => http.get(format!("{url}{path}")),
        };
        let status = req.send().await?.status().as_u16();
        let expected = if path.starts_with("/v1/store/") {
            401
        } else {
            200
        };
        assert_eq!(status, expected, "{method} {path}");
    }
    shutdown.cancel();
    server.await??;
    Ok(())
}
