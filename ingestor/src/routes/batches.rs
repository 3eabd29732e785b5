//! `POST /v1/batches/s3` (ingest a CSV object in the background) and `GET /v1/batches/{batch_id}`
//! (any batch's progress and outcome, uploads included).

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use spend_runtime::{ApiError, ApiJson};

use super::AppState;
use crate::batch::BatchRun;
use crate::registry::{BatchSource, BatchState};
use crate::s3::{self, ObjectReader, S3Error};

pub(crate) async fn post_s3(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let (bucket, key) = bucket_and_key(&body)?;
    let shared = state.shared();
    let Some(client) = shared.s3.clone() else {
        return Err(ApiError::unavailable(
            "s3 batches are not available: this ingestor has no s3 endpoint configured",
            "no s3 settings",
        ));
    };
    let object = s3::head(&client, &bucket, &key)
        .await
        .map_err(|e| object_error(e, &bucket, &key))?;
    let limit = shared.limits.max_body_bytes;
    if object.size > limit {
        return Err(ApiError::payload_too_large(format!(
            "the object is {} bytes; the limit is {limit} bytes",
            object.size
        )));
    }
    let slot = state.batch_slot()?;
    let batch = Arc::new(BatchState::new(
        BatchSource::S3 { bucket, key },
        shared.publisher.tracker(),
        Some(object.size),
    ));
    shared.registry.insert(batch.clone());
    let run = BatchRun::new(
        shared.publisher.clone(),
        batch.clone(),
        state.batch_limits(),
    );
    let cancel = shared.shutdown.clone();
    shared.tasks.spawn(async move {
        let mut reader = ObjectReader::new(client, object);
        // The outcome is in the batch state, for `GET /v1/batches/{batch_id}`.
        let _ = run.run(&mut reader, &cancel).await;
        drop(slot);
    });
    let id = batch.id.to_string();
    let mut response = (StatusCode::ACCEPTED, Json(json!({"batch_id": id}))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/batches/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The longest object key S3 accepts, in bytes of UTF-8.
pub(crate) const MAX_KEY_BYTES: usize = 1024;

/// S3's bucket naming rules (general purpose buckets): 3 to 63 characters of `a-z`, `0-9`, `.`
/// and `-`, beginning and ending with a letter or digit.
pub(crate) fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-';
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=63).contains(&b.len())
        && b.iter().all(inner)
        && b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
}

fn bucket_and_key(body: &Value) -> Result<(String, String), ApiError> {
    let Some(object) = body.as_object() else {
        return Err(ApiError::unprocessable(
            "invalid request body",
            vec![ApiError::field_detail(
                "body",
                "must be an object with bucket and key",
            )],
        ));
    };
    let mut details = Vec::new();
    let mut text = |name: &str| match object.get(name).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => {
            details.push(ApiError::field_detail(
                name,
                format!("{name} must be a non-empty string"),
            ));
            String::new()
        }
    };
    let bucket = text("bucket");
    let key = text("key");
    // A name S3 itself would refuse is the client's mistake: say so here, rather than pass on a
    // request that S3 answers with an error the ingestor can only call "unavailable".
    if !bucket.is_empty() && !valid_bucket_name(&bucket) {
        details.push(ApiError::field_detail(
            "bucket",
            "bucket must be an s3 bucket name: 3 to 63 of a-z, 0-9, '.' and '-', \
             starting and ending with a letter or digit",
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        details.push(ApiError::field_detail(
            "key",
            format!("key must be at most {MAX_KEY_BYTES} bytes"),
        ));
    }
    for name in object
        .keys()
        .filter(|k| !matches!(k.as_str(), "bucket" | "key"))
    {
        let shown: String = name.chars().take(32).collect();
        details.push(ApiError::field_detail(shown, "unknown field"));
    }
    if details.is_empty() {
        Ok((bucket, key))
    } else {
        Err(ApiError::unprocessable("invalid request body", details))
    }
}

fn object_error(e: S3Error, bucket: &str, key: &str) -> ApiError {
    match e {
        S3Error::NotFound => ApiError::unprocessable(
            "the object cannot be read",
            vec![ApiError::field_detail(
                "key",
                format!("no object {key:?} in bucket {bucket:?}"),
            )],
        ),
        S3Error::Denied => ApiError::unprocessable(
            "the object cannot be read",
            vec![ApiError::field_detail(
                "key",
                "the ingestor's credentials may not read this object",
            )],
        ),
        S3Error::Changed | S3Error::Unavailable(_) => ApiError::unavailable("s3 unavailable", e),
    }
}

pub(crate) async fn get_status(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(batch_id) = path.map_err(|e| {
        ApiError::bad_request(format!("invalid path: {}", e.body_text().to_lowercase()))
    })?;
    let Some(id) = spend_domain::parse_uuid_strict(&batch_id) else {
        return Err(ApiError::bad_request("batch_id must be a uuid"));
    };
    match state.shared().registry.get(&id) {
        Some(batch) => Ok(Json(batch.status_json())),
        None => Err(ApiError::not_found(format!(
            "no batch {}: unknown, or forgotten (batches are kept in memory, the most recent only)",
            id.hyphenated()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::valid_bucket_name;

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for ok in ["uploads", "abc", "bank-1.files", &"a".repeat(63)] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "Uploads",
            "a b",
            "-abc",
            "abc.",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}
