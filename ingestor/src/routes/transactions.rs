//! `POST /v1/transactions`: one transaction as JSON, answered once it is durably in Kafka.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};
use spend_domain::transaction::parse_json_transaction;
use spend_runtime::{ApiError, ApiJson};
use spend_schemas::{codec, TransactionRecord};

use super::AppState;
use crate::metrics;

pub(crate) async fn post(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = Utc::now();
    let tx = parse_json_transaction(&body, now.date_naive()).map_err(|rejection| {
        metrics::rows_rejected(1);
        let details = rejection
            .fields
            .iter()
            .map(|e| ApiError::field_detail(e.field.as_str(), e.message.clone()))
            .collect();
        ApiError::unprocessable("invalid transaction", details)
    })?;
    let record = TransactionRecord::from_transaction(&tx, now.timestamp_millis(), None, None);
    let payload = codec().encode_transaction(&record);
    let publisher = &state.shared().publisher;
    let tracker = publisher.tracker();
    let published = publisher
        .publish(&tracker, record.card_id.as_bytes(), &payload, 0)
        .await;
    tracker.drained().await;
    if let Err(e) = published {
        return Err(not_stored(e));
    }
    if tracker.failed() > 0 {
        return Err(not_stored(tracker.first_error().unwrap_or_default()));
    }
    metrics::rows_accepted(1);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": record.id, "status": "accepted"})),
    ))
}

fn not_stored(cause: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(
        "kafka did not acknowledge the transaction: send it again (its id makes a re-send safe)",
        cause,
    )
}
