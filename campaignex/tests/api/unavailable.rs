//! A configuration store that does not answer: every configuration route answers
//! `503 {"error": "configuration store unavailable"}`, `/readyz` names the store, `/healthz` stays
//! 200.

use std::sync::Arc;
use std::time::Duration;

use crate::common::Server;
use futures::stream::BoxStream;
use serde_json::{json, Value};
use spend_campaignex::CampaignexConfig;
use spend_store::config_store::{
    ConfigStore, Event, Precondition, Resource, Result, Snapshot, StoreError, Versioned,
};
use spend_store::etcd::{EtcdConfigStore, EtcdOptions};

/// Refuses every call as a store whose backend is down does.
struct Down;

fn down<T>() -> Result<T> {
    Err(StoreError::Unavailable("connection refused".into()))
}

#[async_trait::async_trait]
impl ConfigStore for Down {
    async fn get(&self, _: Resource, _: &str) -> Result<Option<Versioned>> {
        down()
    }
    async fn list(&self, _: Resource) -> Result<Vec<Versioned>> {
        down()
    }
    async fn snapshot(&self) -> Result<Snapshot> {
        down()
    }
    async fn put(&self, _: Resource, _: &str, _: Value, _: &[Precondition]) -> Result<i64> {
        down()
    }
    async fn delete(&self, _: Resource, _: &str, _: &[Precondition]) -> Result<i64> {
        down()
    }
    async fn replace_all(&self, _: Vec<(Resource, String, Value)>) -> Result<i64> {
        down()
    }
    async fn watch(&self, _: i64) -> Result<BoxStream<'static, Result<Event>>> {
        down()
    }
}

/// Never answers at all.
struct Hangs;

async fn hang<T>() -> Result<T> {
    std::future::pending().await
}

#[async_trait::async_trait]
impl ConfigStore for Hangs {
    async fn get(&self, _: Resource, _: &str) -> Result<Option<Versioned>> {
        hang().await
    }
    async fn list(&self, _: Resource) -> Result<Vec<Versioned>> {
        hang().await
    }
    async fn snapshot(&self) -> Result<Snapshot> {
        hang().await
    }
    async fn put(&self, _: Resource, _: &str, _: Value, _: &[Precondition]) -> Result<i64> {
        hang().await
    }
    async fn delete(&self, _: Resource, _: &str, _: &[Precondition]) -> Result<i64> {
        hang().await
    }
    async fn replace_all(&self, _: Vec<(Resource, String, Value)>) -> Result<i64> {
        hang().await
    }
    async fn watch(&self, _: i64) -> Result<BoxStream<'static, Result<Event>>> {
        hang().await
    }
}

/// Every configuration route, with a body that would be valid.
async fn every_route_is_503(s: &Server) {
    let program = json!({"id": "p1", "name": "P", "unit": "miles"}).to_string();
    let campaign = json!({"name": "c", "program": "p1", "kind": "base", "priority": 1,
        "conditions": [], "rate": "1"})
    .to_string();
    let campaign_path = "/v1/campaigns/00000000-0000-4000-8000-000000000001";
    let config = crate::common::reference_config().to_string();
    let routes: Vec<(&str, &str, Option<&str>)> = vec![
        ("GET", "/v1/programs", None),
        ("POST", "/v1/programs", Some(&program)),
        ("GET", "/v1/programs/p1", None),
        ("PUT", "/v1/programs/p1", Some(&program)),
        ("DELETE", "/v1/programs/p1", None),
        ("GET", "/v1/fx-rates/USD", None),
        ("POST", "/v1/campaigns", Some(&campaign)),
        ("PUT", campaign_path, Some(&campaign)),
        ("DELETE", campaign_path, None),
        ("GET", "/v1/exclusions", None),
        ("GET", "/v1/config", None),
        ("PUT", "/v1/config", Some(&config)),
    ];
    for (method, path, body) in routes {
        let a = s.send(method, path, body, &[]).await;
        assert_eq!(a.status, 503, "{method} {path}: {a:?}");
        assert_eq!(
            a.body,
            json!({"error": "configuration store unavailable", "details": []}),
            "{method} {path}"
        );
    }
    // Also with If-Match lists, which read before they write.
    let a = s
        .send(
            "PUT",
            "/v1/programs/p1",
            Some(&program),
            &[("if-match", "\"1\", \"2\"")],
        )
        .await;
    assert_eq!(a.status, 503, "{a:?}");

    assert_eq!(s.get("/healthz").await.status, 200);
    let ready = s.get("/readyz").await;
    assert_eq!(ready.status, 503, "{ready:?}");
    assert_eq!(
        ready.body,
        json!({"error": "backend not ready: configuration store",
            "details": [{"backend": "configuration store"}]})
    );
}

fn quick() -> CampaignexConfig {
    CampaignexConfig {
        store_timeout: Duration::from_millis(300),
        ..CampaignexConfig::default()
    }
}

#[tokio::test]
async fn a_store_that_refuses() {
    let s = Server::start_with(quick(), Arc::new(Down)).await;
    every_route_is_503(&s).await;
    s.stop().await;
}

#[tokio::test]
async fn a_store_that_never_answers() {
    let s = Server::start_with(quick(), Arc::new(Hangs)).await;
    every_route_is_503(&s).await;
    s.stop().await;
}

#[tokio::test]
async fn etcd_on_a_dead_port() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = EtcdOptions {
        request_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(200),
        ..EtcdOptions::default()
    };
    let store = EtcdConfigStore::connect(
        &[format!("http://127.0.0.1:{port}")],
        "/spend-test/dead",
        options,
    )
    .await
    .expect("setting up a client makes no request");
    let s = Server::start_with(CampaignexConfig::default(), Arc::new(store)).await;
    every_route_is_503(&s).await;
    s.stop().await;
}
