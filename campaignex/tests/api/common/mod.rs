//! What the service tests share: a campaignex served on `127.0.0.1:0` through `run()`, a small
//! HTTP client, and the stores to run against.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;
use spend_campaignex::{run, CampaignexConfig, CampaignexDeps};
use spend_runtime::{Authenticator, NoAuth};
use spend_store::config_store::ConfigStore;
use spend_store::embedded::EmbeddedConfigStore;
use spend_store::etcd::{EtcdConfigStore, EtcdOptions};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use spend_testkit::http::Answer;

/// A running campaignex. Dropping it cancels the server.
pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    task: Option<JoinHandle<spend_campaignex::Result<()>>>,
}

impl Server {
    pub async fn start(store: Arc<dyn ConfigStore>) -> Self {
        Self::start_with(CampaignexConfig::default(), store).await
    }

    pub async fn start_with(config: CampaignexConfig, store: Arc<dyn ConfigStore>) -> Self {
        Self::start_with_auth(config, store, Arc::new(NoAuth::admin())).await
    }

    /// With a real authenticator (tokens decide the caller and its role).
    pub async fn start_with_auth(
        config: CampaignexConfig,
        store: Arc<dyn ConfigStore>,
        auth: Arc<dyn Authenticator>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let deps = CampaignexDeps { store, auth };
        let task = tokio::spawn(run(config, deps, listener, shutdown.clone()));
        Self {
            base,
            http: reqwest::Client::new(),
            shutdown,
            task: Some(task),
        }
    }

    /// Cancels the server and waits for `run` to return.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    /// Sends a request; `body` is sent as-is with `Content-Type: application/json` when given.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(b.to_owned());
        }
        for (k, v) in headers {
            req = req.header(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Answer::read(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send("POST", path, Some(&body.to_string()), &[]).await
    }

    pub async fn put(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
        self.send("PUT", path, Some(&body.to_string()), headers)
            .await
    }

    pub async fn delete(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send("DELETE", path, None, headers).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// An embedded store in a fresh directory (kept as long as the `TempDir`).
pub fn embedded() -> (Arc<dyn ConfigStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedConfigStore::open(dir.path()).unwrap();
    (Arc::new(store), dir)
}

/// An etcd store under a fresh random prefix of `SPEND_TEST_ETCD`, or `None` (after saying so)
/// when it is not set. Under CI a missing `SPEND_TEST_ETCD` fails the test.
pub async fn etcd() -> Option<Arc<EtcdConfigStore>> {
    let endpoints = spend_testkit::etcd::shared_endpoints()?;
    let prefix = format!("/spend-test/campaignex/{}", uuid::Uuid::new_v4());
    let store = EtcdConfigStore::connect(&endpoints, &prefix, EtcdOptions::default())
        .await
        .expect("cannot set up the etcd client");
    Some(Arc::new(store))
}

/// `examples/reference-config.json`.
pub fn reference_config() -> Value {
    let text = std::fs::read_to_string(spend_testkit::fixtures::REFERENCE_CONFIG).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs each scenario once per backend: `on_every_store!(a, b)` makes `embedded::a`, `etcd::a`, …
/// from the module's `async fn a(&Server)`; the etcd ones then call the module's `clean(store)`.
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _dir) = crate::common::embedded();
                    let server = crate::common::Server::start(store).await;
                    super::$name(&server).await;
                    server.stop().await;
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(store) = crate::common::etcd().await else { return };
                    let server = crate::common::Server::start(store.clone()).await;
                    super::$name(&server).await;
                    server.stop().await;
                    super::clean(store.as_ref()).await;
                }
            )*
        }
    };
}
