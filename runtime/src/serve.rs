//! Serving one service on its own listener: what every service's `run` does the same way.

use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{health_routes, with_json_fallbacks, Readiness};

/// Serves `routes` with `/healthz`, `/readyz` (from `readiness`) and `/metrics`, the JSON 404/405
/// fallbacks and request tracing, on `listener` until `shutdown` is cancelled; then lets the
/// requests in flight finish and returns.
pub async fn serve(
    service: &str,
    routes: Router,
    readiness: Arc<dyn Readiness>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = with_json_fallbacks(routes.merge(health_routes(readiness)))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, service, "listening");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// [`serve`] with no routes of its own: `/healthz`, `/readyz` and `/metrics` only (the rewarder,
/// which has no API).
pub async fn serve_health(
    service: &str,
    readiness: Arc<dyn Readiness>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve(service, Router::new(), readiness, listener, shutdown).await
}
