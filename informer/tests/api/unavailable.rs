//! A reward store that is down or too slow makes every read a 503 (never a 500), and `/readyz`
//! says so.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use spend_domain::{CardId, RecordId, Transaction};
use spend_informer::{run, InformerConfig, InformerDeps};
use spend_store::reward_store::{
    Applied, Cursor, DateRange, Page, PrefetchedLedger, Result, RewardStore, RewardStoreError,
    StoredMission, StoredOutcome, Summary,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Down, or answering after `delay`.
struct BadStore {
    delay: Option<Duration>,
}

impl BadStore {
    async fn fail<T>(&self) -> Result<T> {
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        Err(RewardStoreError::Unavailable("connection refused".into()))
    }
}

#[async_trait::async_trait]
impl RewardStore for BadStore {
    async fn apply(&self, _batch: &[StoredOutcome]) -> Result<Applied> {
        self.fail().await
    }
    async fn prefetch(&self, _txs: &[Transaction]) -> Result<PrefetchedLedger> {
        self.fail().await
    }
    async fn get(&self, _id: RecordId) -> Result<Option<StoredOutcome>> {
        self.fail().await
    }
    async fn history(
        &self,
        _card: CardId,
        _range: DateRange,
        _limit: u32,
        _after: Option<Cursor>,
    ) -> Result<Page> {
        self.fail().await
    }
    async fn summary(&self, _card: CardId, _range: DateRange) -> Result<Summary> {
        self.fail().await
    }
    async fn missions(&self, _cards: &[CardId]) -> Result<Vec<StoredMission>> {
        self.fail().await
    }
    async fn ping(&self) -> Result<()> {
        self.fail().await
    }
}

async fn check(delay: Option<Duration>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let config = InformerConfig {
        store_timeout: Duration::from_millis(200),
    };
    let deps = InformerDeps {
        store: Arc::new(BadStore { delay }),
        auth: Arc::new(authenticator()),
    };
    let task = tokio::spawn(run(config, deps, listener, shutdown.clone()));
    let http = reqwest::Client::new();
    let c = card(1);
    for path in [
        format!("/v1/cards/{c}/rewards"),
        format!("/v1/cards/{c}/summary?from=2024-01-01"),
        format!("/v1/cards/{c}/missions"),
        format!("/v1/transactions/{}", c.0),
    ] {
        let res = http
            .get(format!("{base}{path}"))
            .bearer_auth(admin())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 503, "{path}");
        assert_eq!(res.headers()["retry-after"], "1");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "reward store unavailable");
        assert!(!body.to_string().contains("connection refused"));
    }
    let res = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 503);
    shutdown.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_store_that_is_down_is_503() {
    check(None).await;
}

#[tokio::test]
async fn a_store_past_its_deadline_is_503() {
    check(Some(Duration::from_secs(5))).await;
}
