//! A JSON body extractor whose every rejection is an [`ApiError`] with a clear lowercase message,
//! instead of axum's plain-text defaults.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::error::ApiError;

/// `Json<T>` with the API's error shape:
///
/// | problem | status |
/// |---|---|
/// | no `Content-Type` | 415 |
/// | a `Content-Type` other than `application/json` or `application/*+json` | 415 |
/// | a body over the route's `DefaultBodyLimit` | 413 |
/// | empty body, bad JSON syntax, trailing characters (message names line and column) | 400 |
/// | well-formed JSON that does not fit `T` | 422 |
///
/// Services that validate through `spend-domain` extract `ApiJson<serde_json::Value>`, so that only
/// syntax is checked here and the domain names every invalid field.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        check_json_content_type(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::payload_too_large("request body is too large")
                }
                _ => ApiError::bad_request("the request body could not be read")
                    .with_cause(rejection.body_text()),
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON document with the error mapping of [`ApiJson`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body is empty: expected a json document",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        Category::Data => ApiError::unprocessable(
            "invalid request body",
            vec![ApiError::field_detail("body", e.to_string())],
        ),
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request(format!("invalid json: {e}"))
        }
    })
}

/// 415 unless the request declares a JSON body.
pub fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::unsupported_media_type(
            "missing content type: expected application/json",
        ));
    };
    let text = value.to_str().unwrap_or("");
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(format!(
            "unsupported content type {:?}: expected application/json",
            text
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::Value;

    fn headers(ct: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(ct) = ct {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        h
    }

    #[test]
    fn content_types() {
        assert!(check_json_content_type(&headers(Some("application/json"))).is_ok());
        assert!(check_json_content_type(&headers(Some("application/json; charset=utf-8"))).is_ok());
        assert!(check_json_content_type(&headers(Some("Application/JSON"))).is_ok());
        assert!(check_json_content_type(&headers(Some("application/merge-patch+json"))).is_ok());
        let e = check_json_content_type(&headers(Some("text/plain"))).unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(e.error.contains("text/plain"), "{}", e.error);
        let e = check_json_content_type(&headers(None)).unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(e.error.starts_with("missing content type"));
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let e = parse_json::<Value>(b"{\n  \"a\": 1,\n  oops\n}").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.error.contains("line 3 column 3"), "{}", e.error);
        let e = parse_json::<Value>(b"{\"a\": 1} x").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse_json::<Value>(b"  ").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.error.contains("empty"));
    }

    #[test]
    fn data_errors_are_422() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct S {
            a: u32,
        }
        let e = parse_json::<S>(b"{\"a\": \"x\"}").unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
