//! The public HTTP API, as the dashboard calls it: every page's data comes through here, with the
//! signed-in user's token, so the dashboard has no path into the stores of its own.

use std::fmt;

use reqwest::{header, Method, StatusCode};
use serde_json::Value;

/// The API at one base URL (`http://127.0.0.1:8080`), reached over HTTP; in distributed mode a
/// path prefix may go to another base (`/v1/batches` to the ingestor, `/v1/cards` to the informer).
#[derive(Clone, Debug)]
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    /// `(path prefix, base URL)`, first match wins.
    by_prefix: Vec<(&'static str, String)>,
}

/// One answer of the API that was not an error.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) body: Value,
    pub(crate) etag: Option<String>,
}

/// Why a call failed, in the terms a page shows.
#[derive(Debug, Clone)]
pub(crate) struct ApiFailure {
    /// The API's status, or `None` when the API could not be reached at all.
    pub(crate) status: Option<StatusCode>,
    /// The API's `error` sentence, or what went wrong reaching it.
    pub(crate) message: String,
    /// The API's `details`, e.g. one `{field, message}` per invalid field.
    pub(crate) details: Vec<Value>,
}

impl ApiFailure {
    pub(crate) fn is(&self, status: StatusCode) -> bool {
        self.status == Some(status)
    }

    /// `{field, message}` details, as pairs.
    pub(crate) fn field_errors(&self) -> Vec<(String, String)> {
        self.details
            .iter()
            .filter_map(|d| {
                let field = d.get("field")?.as_str()?;
                let message = d.get("message")?.as_str()?;
                Some((field.to_owned(), message.to_owned()))
            })
            .collect()
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub(crate) type ApiResult<T = Answer> = Result<T, ApiFailure>;

impl Api {
    pub(crate) fn new(base: &str, by_prefix: Vec<(&'static str, String)>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let trim = |s: &str| s.trim_end_matches('/').to_owned();
        Api {
            http,
            base: trim(base),
            by_prefix: by_prefix.into_iter().map(|(p, b)| (p, trim(&b))).collect(),
        }
    }

    fn base_for(&self, path: &str) -> &str {
        self.by_prefix
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .map(|(_, base)| base.as_str())
            .unwrap_or(&self.base)
    }

    pub(crate) fn request(
        &self,
        method: Method,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_for(path)))
            .bearer_auth(token)
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> ApiResult {
        self.send(self.request(Method::GET, path, token)).await
    }

    pub(crate) async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> ApiResult {
        let mut req = self.request(method, path, token).json(body);
        if let Some(etag) = if_match {
            req = req.header(header::IF_MATCH, etag);
        }
        self.send(req).await
    }

    pub(crate) async fn delete(&self, path: &str, token: &str, if_match: &str) -> ApiResult {
        let req = self
            .request(Method::DELETE, path, token)
            .header(header::IF_MATCH, if_match);
        self.send(req).await
    }

    /// Sends a request and reads its answer: a JSON body on success (none for 204), the API's
    /// error shape otherwise.
    pub(crate) async fn send(&self, req: reqwest::RequestBuilder) -> ApiResult {
        let resp = req.send().await.map_err(|e| ApiFailure {
            status: None,
            message: format!(
                "the API could not be reached at {} ({e})",
                e.url()
                    .map(|u| u.origin().ascii_serialization())
                    .unwrap_or_default()
            ),
            details: Vec::new(),
        })?;
        let status = resp.status();
        let etag = resp
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.bytes().await.map_err(|e| ApiFailure {
            status: Some(status),
            message: format!("the API's answer broke off ({e})"),
            details: Vec::new(),
        })?;
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status.is_success() {
            return Ok(Answer { body, etag });
        }
        let message = body
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!(
                    "the API answered {} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                )
            });
        let details = body
            .get("details")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Err(ApiFailure {
            status: Some(status),
            message,
            details,
        })
    }
}

/// A path segment, percent-encoded (ids come from users: `../` must stay inside the segment).
pub(crate) fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_go_to_their_service() {
        let api = Api::new(
            "http://a/",
            vec![("/v1/batches", "http://ingestor:1/".into())],
        );
        assert_eq!(api.base_for("/v1/batches/x"), "http://ingestor:1");
        assert_eq!(api.base_for("/v1/campaigns"), "http://a");
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("abc-1_2"), "abc-1_2");
        assert_eq!(seg("../x y"), "..%2Fx%20y");
    }

    #[test]
    fn field_errors_are_read_from_details() {
        let f = ApiFailure {
            status: Some(StatusCode::UNPROCESSABLE_ENTITY),
            message: "invalid campaign".into(),
            details: vec![
                serde_json::json!({"field": "rate", "message": "rate must be a decimal"}),
                serde_json::json!({"resource": "campaigns", "id": "x"}),
            ],
        };
        assert_eq!(
            f.field_errors(),
            vec![("rate".to_owned(), "rate must be a decimal".to_owned())]
        );
    }
}
