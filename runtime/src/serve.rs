//! Serving one service on its own listener: what every service's `run` does the same way.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use http::StatusCode;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::classify::{ServerErrorsFailureClass, SharedClassifier};
use tower_http::trace::{
    DefaultMakeSpan, DefaultOnBodyChunk, DefaultOnEos, DefaultOnRequest, DefaultOnResponse,
    OnFailure, TraceLayer,
};
use tracing::Span;

use crate::{health_routes, with_json_fallbacks, Readiness};

/// The request tracing every service's router is wrapped in: see [`trace_layer`].
pub type HttpTrace = TraceLayer<
    SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    DefaultMakeSpan,
    DefaultOnRequest,
    DefaultOnResponse,
    DefaultOnBodyChunk,
    DefaultOnEos,
    LogFailures,
>;

/// tower-http's tracing for HTTP, with failures logged by [`LogFailures`].
pub fn trace_layer() -> HttpTrace {
    TraceLayer::new_for_http().on_failure(LogFailures)
}

/// Logs a failed response as an error, except a 503. A 503 is an answer given on purpose and
/// logged where it is decided: `/readyz` warns of each backend that is not ready (a starting
/// service answers it many times before it is ready, and each would otherwise be an error line
/// on a new user's first screen), and an [`ApiError`](crate::ApiError) logs its cause.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogFailures;

impl OnFailure<ServerErrorsFailureClass> for LogFailures {
    fn on_failure(&mut self, class: ServerErrorsFailureClass, latency: Duration, _: &Span) {
        let latency_ms = latency.as_millis();
        match class {
            ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE) => {
                tracing::debug!(classification = %class, latency_ms, "response failed");
            }
            _ => tracing::error!(classification = %class, latency_ms, "response failed"),
        }
    }
}

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
    let app = with_json_fallbacks(routes.merge(health_routes(readiness))).layer(trace_layer());
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

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What a `fmt` subscriber writes, kept.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Kept {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn logged(class: ServerErrorsFailureClass) -> String {
        let kept = Kept::default();
        let writer = kept.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            LogFailures.on_failure(class, Duration::from_millis(3), &Span::none())
        });
        let bytes = kept.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_503_is_not_an_error_line_and_every_other_failure_is() {
        let unavailable = logged(ServerErrorsFailureClass::StatusCode(
            StatusCode::SERVICE_UNAVAILABLE,
        ));
        assert!(
            unavailable.contains("DEBUG") && !unavailable.contains("ERROR"),
            "{unavailable}"
        );
        let internal = logged(ServerErrorsFailureClass::StatusCode(
            StatusCode::INTERNAL_SERVER_ERROR,
        ));
        assert!(
            internal.contains("ERROR") && internal.contains("500"),
            "{internal}"
        );
        let broken = logged(ServerErrorsFailureClass::Error("connection reset".into()));
        assert!(
            broken.contains("ERROR") && broken.contains("connection reset"),
            "{broken}"
        );
    }
}
