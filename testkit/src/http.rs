//! An HTTP answer read whole: status, headers, text, and the body as JSON.

use reqwest::header::HeaderMap;
use serde_json::Value;

/// One answer. `body` is the text as JSON; `Null` when the body is empty, the text as a JSON
/// string when it is not JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Answer {
    /// Reads `res` whole.
    pub async fn read(res: reqwest::Response) -> Answer {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("the answer's body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
        };
        Answer {
            status,
            headers,
            text,
            body,
        }
    }

    /// The `ETag` header.
    pub fn etag(&self) -> String {
        self.headers
            .get("etag")
            .unwrap_or_else(|| panic!("no etag in {self:?}"))
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// The error sentence, after checking the body has the API's error shape (`error`, one
    /// lowercase sentence, and `details`).
    pub fn error(&self) -> &str {
        let error = self.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {self:?}"));
        assert!(self.body["details"].is_array(), "no details: {self:?}");
        assert!(
            !error.is_empty() && !error.starts_with(|c: char| c.is_uppercase()),
            "not one lowercase sentence: {error:?}"
        );
        error
    }

    /// The `field` of every detail.
    pub fn fields(&self) -> Vec<String> {
        self.body["details"]
            .as_array()
            .unwrap_or_else(|| panic!("no details: {self:?}"))
            .iter()
            .map(|d| d["field"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

/// Status and body of `res` (see [`Answer`]).
pub async fn answer(res: reqwest::Response) -> (u16, Value) {
    let a = Answer::read(res).await;
    (a.status, a.body)
}
