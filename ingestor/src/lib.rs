//! `spend-ingestor`: card transactions in, Avro records on Kafka out (API.md, Ingest).
//!
//! Owns the ingest routes — `POST /v1/transactions`, `POST /v1/batches` (a CSV body, streamed),
//! `POST /v1/batches/s3` and `GET /v1/batches/{batch_id}` — the streaming batch loop behind them,
//! reading CSV objects from S3, and publishing: an idempotent `acks=all` Kafka producer, records
//! keyed by card id, and the accounting that answers a request only once Kafka acknowledged every
//! row it counts as accepted.
//!
//! It must never compute rewards or read the configuration, never hold a whole file in memory or
//! spawn a task per row, and never let a full PAN out: validation (`spend-domain`) masks it before
//! a record exists, and no error, log line or answer repeats a field's value.

mod batch;
pub mod bench;
pub mod kafka;
mod metrics;
pub mod openapi;
pub mod publish;
mod record;
pub mod registry;
mod routes;
pub mod s3;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use spend_runtime::{Authenticator, Backend, Backends};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use kafka::{KafkaSettings, KafkaSink, TopicSpec};
pub use publish::{Publisher, Sink};
pub use s3::S3Settings;

use crate::registry::BatchRegistry;
use crate::routes::{AppState, Shared};

/// The limits every request runs under. All bounded; memory does not grow with file size.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The largest CSV body or S3 object, in bytes (413 above it).
    pub max_body_bytes: u64,
    /// The most data rows in one batch (413 at the next row; rows before it stand).
    pub max_rows: u64,
    /// The largest single CSV row, in bytes (the file is refused from that row on).
    pub max_row_bytes: usize,
    /// The largest `POST /v1/transactions` body, in bytes.
    pub max_transaction_bytes: usize,
    /// Batches (uploads and S3) ingested at once; one more is answered 429.
    pub max_concurrent_batches: usize,
    /// Bytes of records enqueued to Kafka and not yet acknowledged, across all requests.
    pub max_inflight_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 30,
            max_rows: 10_000_000,
            max_row_bytes: spend_domain::csv::DEFAULT_MAX_ROW_BYTES,
            max_transaction_bytes: 64 * 1024,
            max_concurrent_batches: 4,
            max_inflight_bytes: 32 << 20,
        }
    }
}

/// How the ingestor behaves. The binary fills it from flags and `SPEND_*` variables.
#[derive(Clone, Debug)]
pub struct IngestorConfig {
    pub limits: Limits,
    /// How many batches `GET /v1/batches/{batch_id}` remembers (the oldest finished are forgotten).
    pub batch_history: usize,
    /// How long shutdown waits for background batches and unacknowledged records.
    pub shutdown_grace: Duration,
    /// The deadline of a readiness check of each backend.
    pub readiness_timeout: Duration,
}

impl Default for IngestorConfig {
    fn default() -> Self {
        IngestorConfig {
            limits: Limits::default(),
            batch_history: 1000,
            shutdown_grace: Duration::from_secs(30),
            readiness_timeout: Duration::from_secs(5),
        }
    }
}

/// What the ingestor needs from outside.
#[derive(Clone)]
pub struct IngestorDeps {
    pub auth: Arc<dyn Authenticator>,
    /// Where records go: a [`KafkaSink`].
    pub sink: Arc<dyn Sink>,
    /// For `POST /v1/batches/s3`; without it that route answers 503.
    pub s3: Option<aws_sdk_s3::Client>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the http server failed: {0}")]
    Serve(#[source] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One ingestor: its routes, its background S3 batches and its publisher. [`run`] serves one;
/// `spend dev` builds one to merge its [`Ingestor::router`] with the other services' routes, then
/// calls [`Ingestor::close`] after the server stopped.
pub struct Ingestor {
    state: AppState,
    auth: Arc<dyn Authenticator>,
    readiness: Backends,
    grace: Duration,
}

impl Ingestor {
    /// Background batches stop reading when `shutdown` is cancelled.
    pub fn new(config: &IngestorConfig, deps: IngestorDeps, shutdown: CancellationToken) -> Self {
        let limits = config.limits.clone();
        let readiness =
            Backends::new(config.readiness_timeout).with(Arc::new(SinkBackend(deps.sink.clone())));
        let state = AppState::new(Shared {
            publisher: Publisher::new(deps.sink, limits.max_inflight_bytes),
            registry: BatchRegistry::new(config.batch_history),
            batch_slots: Arc::new(Semaphore::new(limits.max_concurrent_batches.max(1))),
            limits,
            s3: deps.s3,
            tasks: TaskTracker::new(),
            shutdown,
        });
        Ingestor {
            state,
            auth: deps.auth,
            readiness,
            grace: config.shutdown_grace,
        }
    }

    /// The ingest routes and the OpenAPI document, without `/healthz` & co. and without fallbacks.
    pub fn router(&self) -> Router {
        routes::router(self.state.clone(), self.auth.clone())
    }

    /// Readiness of the ingestor's backends (Kafka). S3 is not part of it: without S3 only S3
    /// batches fail, each with its own answer.
    pub fn readiness(&self) -> Backends {
        self.readiness.clone()
    }

    /// After the server stopped: waits (up to the grace period) for background batches, which stop
    /// reading once the shutdown token is cancelled, and for the producer to flush.
    pub async fn close(&self) {
        let shared = self.state.shared();
        shared.tasks.close();
        if tokio::time::timeout(self.grace, shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background batches still running at the end of the grace period");
        }
        shared.publisher.sink().flush(self.grace).await;
    }
}

/// The ingest routes alone (see [`Ingestor::router`]). Background batches stop reading when
/// `shutdown` is cancelled; nothing waits for them (use [`Ingestor`] for that).
pub fn router(config: &IngestorConfig, deps: IngestorDeps, shutdown: CancellationToken) -> Router {
    Ingestor::new(config, deps, shutdown).router()
}

/// Serves the ingestor on `listener` until `shutdown` is cancelled, lets the requests in flight
/// finish, stops background batches, flushes the producer and returns.
pub async fn run(
    config: IngestorConfig,
    deps: IngestorDeps,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<()> {
    let ingestor = Ingestor::new(&config, deps, shutdown.clone());
    let served = spend_runtime::serve(
        "ingestor",
        ingestor.router(),
        Arc::new(ingestor.readiness()),
        listener,
        shutdown,
    )
    .await
    .map_err(Error::Serve);
    ingestor.close().await;
    served
}

/// A [`Sink`] as a readiness backend.
struct SinkBackend(Arc<dyn Sink>);

#[async_trait::async_trait]
impl Backend for SinkBackend {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn ping(&self) -> Result<(), String> {
        self.0.ping().await
    }
}
