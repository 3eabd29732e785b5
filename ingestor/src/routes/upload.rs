//! `POST /v1/batches`: a CSV file as the request body, streamed through the batch loop chunk by
//! chunk, answered once every accepted row is durably in Kafka.

use std::sync::Arc;

use axum::body::{Body, BodyDataStream};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use spend_runtime::ApiError;

use super::{batch_answer, AppState};
use crate::batch::{BatchRun, ChunkSource};
use crate::registry::{BatchSource, BatchState};

pub(crate) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_csv_content_type(&headers)?;
    let length = content_length(&headers)?;
    let limit = state.shared().limits.max_body_bytes;
    if let Some(length) = length.filter(|&n| n > limit) {
        // Refused before a byte is read: nothing was published.
        return Err(ApiError::payload_too_large(format!(
            "the file is {length} bytes; the limit is {limit} bytes"
        )));
    }
    let _slot = state.batch_slot()?;
    let shared = state.shared();
    let batch = Arc::new(BatchState::new(
        BatchSource::Upload,
        shared.publisher.tracker(),
        length,
    ));
    shared.registry.insert(batch.clone());
    let mut source = Upload(body.into_data_stream());
    // An upload is not interrupted by shutdown: the server lets the request finish.
    let never = tokio_util::sync::CancellationToken::new();
    let end = BatchRun::new(
        shared.publisher.clone(),
        batch.clone(),
        state.batch_limits(),
    )
    .run(&mut source, &never)
    .await;
    Ok(batch_answer(&batch, end))
}

struct Upload(BodyDataStream);

impl ChunkSource for Upload {
    async fn next_chunk(&mut self) -> Option<Result<Bytes, String>> {
        self.0
            .next()
            .await
            .map(|r| r.map_err(|e| format!("the upload broke off: {e}")))
    }
}

/// 415 unless the body is declared `text/csv` (parameters such as `charset` allowed).
fn check_csv_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::unsupported_media_type(
            "missing content type: expected text/csv",
        ));
    };
    let text = value.to_str().unwrap_or("");
    let essence = text.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("text/csv") {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(format!(
            "unsupported content type {text:?}: expected text/csv"
        )))
    }
}

/// The declared body length, if any; 400 if malformed.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    headers
        .get(header::CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("malformed content-length header"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(ct: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        h
    }

    #[test]
    fn only_csv_is_accepted() {
        assert!(check_csv_content_type(&headers("text/csv")).is_ok());
        assert!(check_csv_content_type(&headers("Text/CSV; charset=utf-8")).is_ok());
        let e = check_csv_content_type(&headers("application/json")).unwrap_err();
        assert_eq!(e.status, 415);
        assert!(e.error.contains("application/json"), "{}", e.error);
        assert_eq!(
            check_csv_content_type(&HeaderMap::new())
                .unwrap_err()
                .status,
            415
        );
    }
}
