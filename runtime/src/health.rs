//! `GET /healthz`, `GET /readyz` and `GET /metrics`: every service serves them, without auth.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::error::ApiError;
use crate::metrics::{self, Registry};

/// A backend that did not answer a readiness check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotReady {
    /// What the operator calls it, e.g. `configuration store`.
    pub backend: String,
    /// Why; logged, not sent to the client.
    pub reason: String,
}

/// Whether a service's backends answer.
#[async_trait::async_trait]
pub trait Readiness: Send + Sync + 'static {
    /// `Ok` when every backend answers; otherwise each one that did not.
    async fn check(&self) -> Result<(), Vec<NotReady>>;
}

/// One backend a service needs, as seen by [`Backends`].
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    fn name(&self) -> &str;
    /// A cheap round trip; `Err` says why it failed.
    async fn ping(&self) -> Result<(), String>;
}

/// Readiness of a list of backends, pinged concurrently, each within a timeout.
#[derive(Clone)]
pub struct Backends {
    backends: Vec<Arc<dyn Backend>>,
    timeout: Duration,
}

impl Backends {
    pub fn new(timeout: Duration) -> Self {
        Self {
            backends: Vec::new(),
            timeout,
        }
    }

    pub fn with(mut self, backend: Arc<dyn Backend>) -> Self {
        self.backends.push(backend);
        self
    }
}

#[async_trait::async_trait]
impl Readiness for Backends {
    async fn check(&self) -> Result<(), Vec<NotReady>> {
        let pings = self.backends.iter().map(|b| async move {
            let outcome = match tokio::time::timeout(self.timeout, b.ping()).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {:?}", self.timeout)),
            };
            outcome.err().map(|reason| NotReady {
                backend: b.name().to_owned(),
                reason,
            })
        });
        let failed: Vec<NotReady> = futures::future::join_all(pings)
            .await
            .into_iter()
            .flatten()
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed)
        }
    }
}

/// A service with no backends.
#[derive(Clone, Copy, Debug, Default)]
pub struct AlwaysReady;

#[async_trait::async_trait]
impl Readiness for AlwaysReady {
    async fn check(&self) -> Result<(), Vec<NotReady>> {
        Ok(())
    }
}

#[derive(Clone)]
struct HealthState {
    readiness: Arc<dyn Readiness>,
    registry: Registry,
}

/// `/healthz`, `/readyz` and `/metrics`, serving the [`metrics::global`] registry.
pub fn health_routes(readiness: Arc<dyn Readiness>) -> Router {
    health_routes_with_registry(readiness, metrics::global().clone())
}

/// [`health_routes`] serving a given registry.
pub fn health_routes_with_registry(readiness: Arc<dyn Readiness>, registry: Registry) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(HealthState {
            readiness,
            registry,
        })
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<HealthState>) -> Response {
    match state.readiness.check().await {
        Ok(()) => "ok".into_response(),
        Err(failed) => {
            for f in &failed {
                tracing::warn!(backend = %f.backend, reason = %f.reason, "backend not ready");
            }
            let names: Vec<&str> = failed.iter().map(|f| f.backend.as_str()).collect();
            let error = if names.len() == 1 {
                format!("backend not ready: {}", names[0])
            } else {
                format!("backends not ready: {}", names.join(", "))
            };
            let details = names.iter().map(|n| json!({"backend": n})).collect();
            // Built by hand rather than through `ApiError::unavailable`, which would log an error
            // for every probe: a backend being down is already logged above as a warning.
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(
                    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error)
                        .with_details(details)
                        .body(),
                ),
            )
                .into_response()
        }
    }
}

async fn metrics_text(State(state): State<HealthState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.registry.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    struct Fake(&'static str, bool);

    #[async_trait::async_trait]
    impl Backend for Fake {
        fn name(&self) -> &str {
            self.0
        }
        async fn ping(&self) -> Result<(), String> {
            if self.1 {
                Ok(())
            } else {
                Err("connection refused".into())
            }
        }
    }

    struct Hangs;

    #[async_trait::async_trait]
    impl Backend for Hangs {
        fn name(&self) -> &str {
            "slow"
        }
        async fn ping(&self) -> Result<(), String> {
            std::future::pending().await
        }
    }

    async fn get(router: Router, path: &str) -> (StatusCode, String) {
        let res = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn healthz_and_ready() {
        let ready = Backends::new(Duration::from_secs(1)).with(Arc::new(Fake("etcd", true)));
        let r = health_routes_with_registry(Arc::new(ready), Registry::new());
        assert_eq!(
            get(r.clone(), "/healthz").await,
            (StatusCode::OK, "ok".into())
        );
        assert_eq!(get(r, "/readyz").await, (StatusCode::OK, "ok".into()));
    }

    #[tokio::test]
    async fn readyz_names_the_failing_backends() {
        let ready = Backends::new(Duration::from_millis(50))
            .with(Arc::new(Fake("etcd", false)))
            .with(Arc::new(Fake("kafka", true)))
            .with(Arc::new(Hangs));
        let r = health_routes_with_registry(Arc::new(ready), Registry::new());
        let (status, body) = get(r, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            json!({"error": "backends not ready: etcd, slow",
                   "details": [{"backend": "etcd"}, {"backend": "slow"}]})
        );
    }

    #[tokio::test]
    async fn metrics_are_prometheus_text() {
        let registry = Registry::new();
        registry
            .counter("spend_test_total", "A test counter.", &[])
            .inc();
        let r = health_routes_with_registry(Arc::new(AlwaysReady), registry);
        let (status, body) = get(r, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("spend_test_total 1\n"), "{body}");
    }
}
