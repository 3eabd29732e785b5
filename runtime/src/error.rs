//! The one error shape every service answers with (API.md, Conventions):
//! `{"error": "<one lowercase sentence>", "details": [...]}`.

use std::fmt;

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// An HTTP error answer. Build it with the constructors, which pick the status for each kind.
///
/// For a 5xx the client sees only `error` (a generic sentence chosen by the service, such as
/// `configuration store unavailable`); the `cause` is logged with `tracing::error!` and never sent.
#[derive(Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub details: Vec<Value>,
    cause: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            details: Vec::new(),
            cause: None,
        }
    }

    pub fn with_details(mut self, details: Vec<Value>) -> Self {
        self.details = details;
        self
    }

    /// Attaches what really went wrong, for the log only.
    pub fn with_cause(mut self, cause: impl fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }

    /// 400: the request is malformed (bad JSON, a malformed header).
    pub fn bad_request(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error)
    }

    /// 401: no token, or a token that is not valid.
    pub fn unauthorized(error: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, error)
    }

    /// 403: a valid token whose role may not use this route.
    pub fn forbidden(error: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, error)
    }

    pub fn not_found(error: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error)
    }

    pub fn conflict(error: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, error)
    }

    /// 412: an `If-Match` that no longer holds.
    pub fn precondition_failed(error: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, error)
    }

    pub fn payload_too_large(error: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, error)
    }

    pub fn unsupported_media_type(error: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, error)
    }

    /// 422: well-formed but invalid content; `details` name the fields.
    pub fn unprocessable(error: impl Into<String>, details: Vec<Value>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, error).with_details(details)
    }

    /// 503: a backend is down. `error` is what the client reads; `cause` goes to the log.
    pub fn unavailable(error: impl Into<String>, cause: impl fmt::Display) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, error).with_cause(cause)
    }

    /// 500: a bug. The client gets a generic sentence; `cause` goes to the log.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").with_cause(cause)
    }

    /// One `{"field", "message"}` detail, the shape 422 answers use.
    pub fn field_detail(field: impl Into<String>, message: impl Into<String>) -> Value {
        json!({"field": field.into(), "message": message.into()})
    }

    /// The JSON body this error answers with.
    pub fn body(&self) -> Value {
        json!({"error": self.error, "details": self.details})
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.status.as_u16())
            .field("error", &self.error)
            .field("details", &self.details)
            .field("cause", &self.cause)
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.error)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(
                status = self.status.as_u16(),
                error = %self.error,
                cause = self.cause.as_deref().unwrap_or(""),
                "request failed"
            );
        }
        let mut response = (self.status, Json(self.body())).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // A hint for clients and load balancers; the backend may be back soon.
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

/// The router fallback: 404 in the JSON error shape.
pub async fn not_found_fallback(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

/// The method fallback: 405 in the JSON error shape.
pub async fn method_not_allowed_fallback(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on {}", uri.path()),
    )
}

/// Gives a fully assembled router the JSON 404 and 405 answers. Call it once, on the router that is
/// served (after every `merge`): axum refuses to merge two routers that both have a fallback, and the
/// 405 answer only applies to routes that already exist.
pub fn with_json_fallbacks(router: axum::Router) -> axum::Router {
    router
        .method_not_allowed_fallback(method_not_allowed_fallback)
        .fallback(not_found_fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_error_and_details() {
        let e = ApiError::unprocessable(
            "invalid campaign",
            vec![ApiError::field_detail("rate", "must be a decimal")],
        );
        assert_eq!(
            e.body(),
            json!({"error": "invalid campaign", "details": [{"field": "rate", "message": "must be a decimal"}]})
        );
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn internal_never_shows_its_cause() {
        let e = ApiError::internal("secret connection string");
        assert_eq!(e.body(), json!({"error": "internal error", "details": []}));
        assert_eq!(e.cause(), Some("secret connection string"));
    }
}
