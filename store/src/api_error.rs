//! What a store error means to a caller, said once: whether trying again may help
//! ([`RewardStoreError::is_retryable`], [`StoreError::is_retryable`]), how it answers over HTTP
//! (`From<…> for ApiError`, the one mapping informer, campaignex and `spend store` use), and the
//! deadline an API handler gives a store call ([`within`]).
//!
//! The answers (API.md, Conventions): a store that is down or slow is a 503 naming the store;
//! data that cannot be read back is a 500 whose detail goes to the log only; what the client sent
//! wrong (a cursor of another card, a write the store refuses) is a 400 or 422 naming it. Each
//! answer's `details` carry a machine-readable `code` ([`codes`]), which the remote reward store's
//! client reads back into the same error.

use std::future::Future;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use spend_runtime::ApiError;

use crate::config_store::StoreError;
use crate::reward_store::{CursorError, RewardStoreError};

/// The `code` of each error answer, in its `details`.
pub mod codes {
    /// A request body that does not decode (`spend store` only).
    pub const BAD_BODY: &str = "bad_body";
    pub const INVALID_CURSOR: &str = "invalid_cursor";
    /// A request body over the limit (`spend store` only).
    pub const TOO_LARGE: &str = "too_large";
    pub const UNAVAILABLE: &str = "unavailable";
    pub const CORRUPT: &str = "corrupt";
}

/// `details` holding one `{"code": …}`.
pub fn code(code: &str) -> Vec<Value> {
    vec![json!({ "code": code })]
}

impl RewardStoreError {
    /// Whether the same call may succeed later: the backend was down or slow (every write is
    /// idempotent, so a write is retried too). Corrupt data and a refused cursor stay as they are.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RewardStoreError::Unavailable(_))
    }
}

impl StoreError {
    /// Whether the same call may succeed later: the backend was down or slow. A failed
    /// precondition, a compacted revision, a rejected write or corrupt data stay as they are.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// An error a store call answers when the caller's deadline passes first.
pub trait DeadlinePassed {
    fn deadline_passed(deadline: Duration) -> Self;
}

impl DeadlinePassed for RewardStoreError {
    fn deadline_passed(deadline: Duration) -> Self {
        RewardStoreError::Unavailable(format!("no answer within {deadline:?}"))
    }
}

impl DeadlinePassed for StoreError {
    fn deadline_passed(deadline: Duration) -> Self {
        StoreError::Unavailable(format!("no answer within {deadline:?}"))
    }
}

/// One store call within `deadline`; past it the store counts as unavailable (a 503, retryable).
pub async fn within<T, E: DeadlinePassed>(
    deadline: Duration,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    match tokio::time::timeout(deadline, call).await {
        Ok(result) => result,
        Err(_) => Err(E::deadline_passed(deadline)),
    }
}

/// A refused history cursor: a 400 saying why, with the reason in `details`.
pub fn cursor_error(e: CursorError) -> ApiError {
    let mut detail = json!({ "code": codes::INVALID_CURSOR });
    match e {
        CursorError::Malformed => detail["reason"] = json!("malformed"),
        CursorError::OtherCard => detail["reason"] = json!("other_card"),
        CursorError::UnsupportedVersion(v) => {
            detail["reason"] = json!("unsupported_version");
            detail["version"] = json!(v);
        }
    }
    ApiError::bad_request(e.to_string()).with_details(vec![detail])
}

impl From<RewardStoreError> for ApiError {
    fn from(e: RewardStoreError) -> Self {
        match e {
            RewardStoreError::Unavailable(_) => {
                ApiError::unavailable("reward store unavailable", &e)
                    .with_details(code(codes::UNAVAILABLE))
            }
            // Never the client's doing. The detail goes to the log.
            RewardStoreError::Corrupt(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "reward store data is corrupt",
            )
            .with_cause(&e)
            .with_details(code(codes::CORRUPT)),
            RewardStoreError::InvalidCursor(c) => cursor_error(c),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => {
                ApiError::unavailable("configuration store unavailable", e)
            }
            StoreError::Rejected(ref why) => ApiError::unprocessable(
                "the configuration store refused the write",
                vec![ApiError::field_detail("", why.clone())],
            ),
            // None comes from what a client sent: a precondition the handler did not expect (a
            // handler that expects one answers it itself), a compaction (no handler watches), or
            // data that cannot be read back.
            StoreError::PreconditionFailed(_)
            | StoreError::Compacted(_)
            | StoreError::Corrupt(_) => ApiError::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_store::Precondition;

    #[test]
    fn only_an_unavailable_store_is_retried() {
        assert!(RewardStoreError::Unavailable("down".into()).is_retryable());
        assert!(!RewardStoreError::Corrupt("bad row".into()).is_retryable());
        assert!(!RewardStoreError::InvalidCursor(CursorError::OtherCard).is_retryable());
        assert!(StoreError::Unavailable("down".into()).is_retryable());
        assert!(!StoreError::Rejected("too many".into()).is_retryable());
        assert!(!StoreError::Compacted(3).is_retryable());
        assert!(!StoreError::PreconditionFailed(Precondition::Absent(
            crate::config_store::Resource::Program,
            "p".into()
        ))
        .is_retryable());
    }

    #[test]
    fn each_error_answers_with_its_status_and_code() {
        let unavailable = ApiError::from(RewardStoreError::Unavailable("10.0.0.7 refused".into()));
        assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            unavailable.body(),
            json!({"error": "reward store unavailable", "details": [{"code": "unavailable"}]})
        );
        assert!(unavailable.cause().unwrap().contains("10.0.0.7"));

        let corrupt = ApiError::from(RewardStoreError::Corrupt("row 9".into()));
        assert_eq!(corrupt.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!corrupt.body().to_string().contains("row 9"));

        let cursor = ApiError::from(RewardStoreError::InvalidCursor(
            CursorError::UnsupportedVersion(7),
        ));
        assert_eq!(cursor.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            cursor.details,
            [json!({"code": "invalid_cursor", "reason": "unsupported_version", "version": 7})]
        );

        let config = ApiError::from(StoreError::Unavailable("etcd down".into()));
        assert_eq!(
            config.body(),
            json!({"error": "configuration store unavailable", "details": []})
        );
        let rejected = ApiError::from(StoreError::Rejected("too many objects".into()));
        assert_eq!(rejected.status, StatusCode::UNPROCESSABLE_ENTITY);
        let compacted = ApiError::from(StoreError::Compacted(3));
        assert_eq!(compacted.status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn a_call_past_its_deadline_is_unavailable() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, RewardStoreError>(1)
        };
        let e = within(Duration::from_millis(20), slow).await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
        assert_eq!(
            e.to_string(),
            "reward store unavailable: no answer within 20ms"
        );
        let fast = async { Ok::<_, StoreError>(1) };
        assert_eq!(within(Duration::from_secs(2), fast).await.unwrap(), 1);
    }
}
