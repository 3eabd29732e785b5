//! The client half: [`RemoteRewardStore`], a [`RewardStore`] whose every call is one HTTP
//! request to a [`router`](super::router) (served by `spend store`).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE as CONTENT_TYPE_HEADER};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use spend_domain::{CardId, RecordId, Transaction};

use super::wire::{self, HistoryRequest, WireError};
use super::{codes, paths, CONTENT_TYPE, MAX_BODY_BYTES};
use crate::reward_store::{
    check_cursor, Applied, Cursor, CursorError, DateRange, Page, PrefetchedLedger, Result,
    RewardStore, RewardStoreError, StoredMission, StoredOutcome, Summary,
};

/// How much of an error answer is read for its message.
const ERROR_BODY_MAX: usize = 16 * 1024;

/// How a [`RemoteRewardStore`] talks to its server.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    /// The deadline of one call, from connecting to the answer's last byte; past it the call
    /// fails with [`RewardStoreError::Unavailable`] (and may be retried: every call is
    /// idempotent).
    pub timeout: Duration,
    /// The deadline of opening a connection.
    pub connect_timeout: Duration,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// A [`RemoteRewardStore`] that cannot be built: each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("reward store url {url:?} {reason}")]
    Url { url: String, reason: &'static str },
    #[error("the reward store token is empty or holds characters an http header cannot carry")]
    Token,
    #[error("cannot build the http client: {0}")]
    Client(String),
}

/// A [`RewardStore`] on another process, over plain HTTP with a bearer token (see
/// [`crate::remote`]). Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct RemoteRewardStore {
    http: reqwest::Client,
    /// The base URL without a trailing slash.
    base: String,
    authorization: HeaderValue,
    timeout: Duration,
}

impl fmt::Debug for RemoteRewardStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteRewardStore")
            .field("base", &self.base)
            .field("token", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RemoteRewardStore {
    /// A client of the store served at `base_url` (`http://host:port`, optionally with a path
    /// prefix), sending `bearer_token` (a `service` token) with every call. Only `http://` is
    /// accepted: no TLS is compiled in. Proxy variables of the environment are ignored. Nothing
    /// is connected until the first call.
    pub fn new(
        base_url: &str,
        bearer_token: &str,
        options: RemoteOptions,
    ) -> std::result::Result<Self, RemoteError> {
        let refuse = |reason| RemoteError::Url {
            url: base_url.to_owned(),
            reason,
        };
        let url = Url::parse(base_url).map_err(|_| refuse("is not a url"))?;
        if url.scheme() != "http" {
            return Err(refuse("must start with http:// (no tls is compiled in)"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(refuse("has no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(refuse("must not have a query or a fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("must not carry credentials (pass a token)"));
        }
        let token = bearer_token.trim();
        if token.is_empty() {
            return Err(RemoteError::Token);
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| RemoteError::Token)?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .no_proxy()
            .build()
            .map_err(|e| RemoteError::Client(e.to_string()))?;
        Ok(Self {
            http,
            base: url.as_str().trim_end_matches('/').to_owned(),
            authorization,
            timeout: options.timeout,
        })
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// One call: `body` is POSTed (`None`: a GET); the answer's body when it is a success.
    async fn call(&self, path: &'static str, body: Option<Vec<u8>>) -> Result<Vec<u8>> {
        let url = format!("{}{path}", self.base);
        let request = match body {
            Some(body) => self
                .http
                .post(&url)
                .header(CONTENT_TYPE_HEADER, CONTENT_TYPE)
                .body(body),
            None => self.http.get(&url),
        };
        let response = request
            .header(AUTHORIZATION, self.authorization.clone())
            .send()
            .await
            .map_err(|e| self.transport(path, &e))?;
        let status = response.status();
        if status.is_success() {
            return match read_body(response, MAX_BODY_BYTES).await {
                Ok((body, false)) => Ok(body),
                Ok((_, true)) => Err(RewardStoreError::Corrupt(format!(
                    "reward store at {}: the answer to {path} is over {MAX_BODY_BYTES} bytes",
                    self.base
                ))),
                Err(e) => Err(self.transport(path, &e)),
            };
        }
        let body = match read_body(response, ERROR_BODY_MAX).await {
            Ok((body, _)) => body,
            Err(_) => Vec::new(),
        };
        Err(self.refusal(path, status, &body))
    }

    fn transport(&self, path: &str, e: &reqwest::Error) -> RewardStoreError {
        let base = &self.base;
        RewardStoreError::Unavailable(if e.is_timeout() {
            format!(
                "reward store at {base}: no answer to {path} within {:?}",
                self.timeout
            )
        } else if e.is_connect() {
            format!("reward store at {base}: cannot connect: {}", chain(e))
        } else {
            format!("reward store at {base}: {path} failed: {}", chain(e))
        })
    }

    /// The error an unsuccessful answer stands for.
    fn refusal(&self, path: &str, status: StatusCode, body: &[u8]) -> RewardStoreError {
        let base = &self.base;
        let answer = ErrorAnswer::read(body);
        let message = &answer.message;
        match (status, answer.code.as_deref()) {
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => RewardStoreError::Unavailable(
                format!("reward store at {base} refused the token ({status}): {message}"),
            ),
            (StatusCode::BAD_REQUEST, Some(codes::INVALID_CURSOR)) => {
                RewardStoreError::InvalidCursor(answer.cursor_error())
            }
            (StatusCode::INTERNAL_SERVER_ERROR, Some(codes::CORRUPT)) => RewardStoreError::Corrupt(
                format!("the reward store at {base} reports it (the detail is in its log)"),
            ),
            _ => RewardStoreError::Unavailable(format!(
                "reward store at {base} answered {path} with {status}: {message}"
            )),
        }
    }

    fn undecodable(&self, path: &str, e: WireError) -> RewardStoreError {
        RewardStoreError::Corrupt(format!(
            "reward store at {}: the answer to {path} does not decode: {e}",
            self.base
        ))
    }
}

/// Up to `limit` bytes of the body, and whether there was more.
async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> std::result::Result<(Vec<u8>, bool), reqwest::Error> {
    let capacity = response
        .content_length()
        .map_or(0, |n| usize::try_from(n).unwrap_or(limit).min(limit));
    let mut body = Vec::with_capacity(capacity);
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            let room = limit - body.len();
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let line = s.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = s.source();
    }
    text
}

/// What an error answer says: `{"error": "...", "details": [{"code": ..}]}`, or whatever text a
/// proxy in between answered with.
struct ErrorAnswer {
    message: String,
    code: Option<String>,
    detail: Value,
}

impl ErrorAnswer {
    fn read(body: &[u8]) -> Self {
        let Ok(json) = serde_json::from_slice::<Value>(body) else {
            let text = String::from_utf8_lossy(body);
            let text: String = text.trim().chars().take(200).collect();
            return Self {
                message: if text.is_empty() {
                    "no message".into()
                } else {
                    text
                },
                code: None,
                detail: Value::Null,
            };
        };
        let detail = json["details"][0].clone();
        Self {
            message: json["error"].as_str().unwrap_or("no message").to_owned(),
            code: detail["code"].as_str().map(str::to_owned),
            detail,
        }
    }

    fn cursor_error(&self) -> CursorError {
        match self.detail["reason"].as_str() {
            Some("other_card") => CursorError::OtherCard,
            Some("unsupported_version") => self.detail["version"]
                .as_u64()
                .and_then(|v| u8::try_from(v).ok())
                .map_or(CursorError::Malformed, CursorError::UnsupportedVersion),
            _ => CursorError::Malformed,
        }
    }
}

#[async_trait]
impl RewardStore for RemoteRewardStore {
    async fn apply(&self, batch: &[StoredOutcome]) -> Result<Applied> {
        if batch.is_empty() {
            return Ok(Applied::default());
        }
        let answer = self
            .call(paths::APPLY, Some(wire::encode_apply(batch)))
            .await?;
        wire::decode_applied(&answer).map_err(|e| self.undecodable(paths::APPLY, e))
    }

    async fn prefetch(&self, txs: &[Transaction]) -> Result<PrefetchedLedger> {
        if txs.is_empty() {
            return Ok(PrefetchedLedger::new());
        }
        let answer = self
            .call(paths::PREFETCH, Some(wire::encode_prefetch(txs)))
            .await?;
        wire::decode_ledger(&answer).map_err(|e| self.undecodable(paths::PREFETCH, e))
    }

    async fn get(&self, id: RecordId) -> Result<Option<StoredOutcome>> {
        let answer = self.call(paths::GET, Some(wire::encode_id(id))).await?;
        let found = wire::decode_found(&answer).map_err(|e| self.undecodable(paths::GET, e))?;
        match found {
            Some(o) if o.id() != id => Err(self.undecodable(
                paths::GET,
                WireError::new(format!("asked for {id}, got {}", o.id())),
            )),
            found => Ok(found),
        }
    }

    async fn history(
        &self,
        card: CardId,
        range: DateRange,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<Page> {
        check_cursor(card, after.as_ref())?;
        let request = HistoryRequest {
            card,
            range,
            limit,
            cursor: after.as_ref().map(Cursor::encode),
        };
        let answer = self
            .call(paths::HISTORY, Some(wire::encode_history(&request)))
            .await?;
        let page =
            wire::decode_page(&answer, card).map_err(|e| self.undecodable(paths::HISTORY, e))?;
        if let Some(other) = page.items.iter().find(|o| o.card_id() != card) {
            return Err(self.undecodable(
                paths::HISTORY,
                WireError::new(format!(
                    "an item of card {} in card {card}",
                    other.card_id()
                )),
            ));
        }
        Ok(page)
    }

    async fn summary(&self, card: CardId, range: DateRange) -> Result<Summary> {
        let answer = self
            .call(
                paths::SUMMARY,
                Some(wire::encode_summary_request(card, range)),
            )
            .await?;
        wire::decode_summary(&answer).map_err(|e| self.undecodable(paths::SUMMARY, e))
    }

    async fn missions(&self, cards: &[CardId]) -> Result<Vec<StoredMission>> {
        if cards.is_empty() {
            return Ok(Vec::new());
        }
        let answer = self
            .call(paths::MISSIONS, Some(wire::encode_cards(cards)))
            .await?;
        let missions =
            wire::decode_missions(&answer).map_err(|e| self.undecodable(paths::MISSIONS, e))?;
        // Only the cards asked about, by card then mission id, each state once.
        let asked: std::collections::HashSet<CardId> = cards.iter().copied().collect();
        let mut previous: Option<(CardId, uuid::Uuid)> = None;
        for m in &missions {
            let key = (m.card_id, m.mission_id);
            if !asked.contains(&m.card_id) || previous.is_some_and(|p| p >= key) {
                return Err(self.undecodable(
                    paths::MISSIONS,
                    WireError::new(format!(
                        "card {}'s state in mission {} is not one asked for, in order",
                        m.card_id, m.mission_id
                    )),
                ));
            }
            previous = Some(key);
        }
        Ok(missions)
    }

    async fn ping(&self) -> Result<()> {
        self.call(paths::PING, None).await.map(drop)
    }
}
