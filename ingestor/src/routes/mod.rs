//! The route table and what every handler shares.

mod batches;
pub(crate) mod schemas;
#[cfg(test)]
mod tests;
mod transactions;
mod upload;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use spend_runtime::{require_role, ApiError, Authenticator, Role};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::batch::BatchLimits;
use crate::publish::Publisher;
use crate::registry::{failure_json, BatchRegistry, BatchState, Failure, FailureKind};
use crate::{openapi, Limits};

/// Where the OpenAPI document of these routes is served.
pub(crate) const OPENAPI_PATH: &str = "/v1/openapi/ingestor.json";
/// Where the Avro writer schemas are listed, and each one served.
pub(crate) const SCHEMAS_PATH: &str = "/v1/schemas";
pub(crate) const SCHEMA_PATH: &str = "/v1/schemas/{name}";

/// Everything the handlers share; cloning shares it.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

pub(crate) struct Shared {
    pub(crate) publisher: Publisher,
    pub(crate) registry: BatchRegistry,
    pub(crate) limits: Limits,
    /// One permit per running batch (uploads and S3 alike).
    pub(crate) batch_slots: Arc<Semaphore>,
    pub(crate) s3: Option<aws_sdk_s3::Client>,
    /// S3 batches run here, in the background.
    pub(crate) tasks: TaskTracker,
    /// Cancelled at shutdown: background batches stop reading.
    pub(crate) shutdown: CancellationToken,
}

impl AppState {
    pub(crate) fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.0
    }

    fn batch_limits(&self) -> BatchLimits {
        let l = &self.0.limits;
        BatchLimits {
            max_bytes: l.max_body_bytes,
            max_rows: l.max_rows,
            max_row_bytes: l.max_row_bytes,
        }
    }

    /// A slot for one more batch, or 429.
    fn batch_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.0.batch_slots.clone().try_acquire_owned().map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "{} batches are being ingested already, the limit: try again when one is done",
                    self.0.limits.max_concurrent_batches
                ),
            )
        })
    }
}

pub(crate) fn router(state: AppState, auth: Arc<dyn Authenticator>) -> Router {
    let transaction_limit = state.shared().limits.max_transaction_bytes;
    Router::new()
        .route(
            "/v1/transactions",
            post(transactions::post).layer(DefaultBodyLimit::max(transaction_limit)),
        )
        .route("/v1/batches", post(upload::post))
        .route("/v1/batches/s3", post(batches::post_s3))
        .route("/v1/batches/{batch_id}", get(batches::get_status))
        .route_layer(require_role(auth, Role::Bank))
        .with_state(state)
        // The document describes the API, not the data: it needs no role.
        .route(OPENAPI_PATH, get(|| async { Json(openapi::document()) }))
        // So are the Avro writer schemas: the shape of the topics' records, not their content.
        .route(SCHEMAS_PATH, get(schemas::list))
        .route(SCHEMA_PATH, get(schemas::get))
}

/// The answer for a batch that ended: 200 with the summary, or the failure's status with the
/// batch's state (counts, errors, where it stopped) as the one detail. Even a 5xx carries it: the
/// client must know what was stored; the cause of a Kafka failure goes to the log only.
pub(crate) fn batch_answer(
    batch: &BatchState,
    end: Result<(), Failure>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let failure = match end {
        Ok(()) => return (StatusCode::OK, Json(batch.summary())).into_response(),
        Err(f) => f,
    };
    let (status, error) = match failure.kind {
        FailureKind::File => (
            StatusCode::UNPROCESSABLE_ENTITY,
            match failure.line {
                Some(line) => format!("the file is refused from line {line}: {}", failure.message),
                None => format!("the file is refused: {}", failure.message),
            },
        ),
        FailureKind::TooLarge | FailureKind::TooManyRows => {
            (StatusCode::PAYLOAD_TOO_LARGE, failure.message.clone())
        }
        FailureKind::Read => (StatusCode::BAD_REQUEST, failure.message.clone()),
        FailureKind::Unavailable | FailureKind::Interrupted => {
            (StatusCode::SERVICE_UNAVAILABLE, failure.message.clone())
        }
    };
    let mut detail = batch.summary();
    detail["status"] = json!("failed");
    detail["failure"] = failure_json(&failure);
    ApiError::new(status, error)
        .with_details(vec![detail])
        .into_response()
}
