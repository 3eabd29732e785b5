//! The remote reward store beyond the scenario suite (which runs every scenario on it): outages,
//! restarts, bad bodies, the body limit, refused tokens and the error mapping — all over real
//! loopback sockets.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use spend_domain::eval::{Outcome, Reward};
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind, Unit,
};
use spend_runtime::jwt::{JwtAuthenticator, JwtMinter, JwtSecret, TokenSpec};
use spend_runtime::{require_role, Role};
use spend_store::remote::{self, paths, RemoteOptions, RemoteRewardStore, MAX_BODY_BYTES};
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store::reward_store::{
    Cursor, CursorError, DateRange, Page, PrefetchedLedger, RewardStore, RewardStoreError,
    StoredMission, StoredOutcome, Summary,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// `router` on a listener until [`Server::stop`].
struct Server {
    url: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    fn start(listener: TcpListener, app: Router) -> anyhow::Result<Self> {
        let url = format!("http://{}", listener.local_addr()?);
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        });
        Ok(Self {
            url,
            shutdown,
            task,
        })
    }

    async fn bind(app: Router) -> anyhow::Result<Self> {
        Self::start(TcpListener::bind("127.0.0.1:0").await?, app)
    }

    /// Stops serving and waits until the router (and the store it holds) is dropped.
    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await??;
        Ok(())
    }
}

fn client(url: &str, options: RemoteOptions) -> anyhow::Result<RemoteRewardStore> {
    Ok(RemoteRewardStore::new(url, "any-token", options)?)
}

fn quick() -> RemoteOptions {
    RemoteOptions {
        timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
    }
}

fn tx(n: u128, card: u128) -> Transaction {
    Transaction {
        id: RecordId(Uuid::from_u128(n)),
        transaction_id: format!("T-{n}"),
        merchant: "Shop".into(),
        mcc: Mcc::new(5999).expect("mcc"),
        currency: CurrencyCode::SGD,
        amount: Amount::new(Decimal::from(10)).expect("amount"),
        transaction_date: NaiveDate::from_ymd_opt(2024, 5, 1).expect("date"),
        card_id: CardId(Uuid::from_u128(card)),
        card_pan: MaskedPan::mask("4111111111111111").expect("pan"),
        card_type: ProgramId::parse("scis_shopping").expect("program"),
        kind: TxKind::Purchase,
    }
}

fn rewarded(t: &Transaction, amount: &str) -> anyhow::Result<StoredOutcome> {
    let outcome = Outcome::Rewarded(Reward {
        reward: Decimal::from_str(amount)?,
        unit: Unit::Points,
        amount_sgd: None,
        base_campaign: None,
        promo_campaign: None,
        remark: "base".into(),
        config_revision: 1,
        reversal_of: None,
    });
    StoredOutcome::new(t, &outcome, Utc::now()).context("a stored outcome")
}

fn unavailable<T: std::fmt::Debug>(r: Result<T, RewardStoreError>) -> String {
    match r {
        Err(RewardStoreError::Unavailable(message)) => message,
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_is_unavailable_without_a_hang() -> anyhow::Result<()> {
    // Nothing listens on the port any more: refused at once.
    let port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    let store = client(&format!("http://127.0.0.1:{port}"), quick())?;
    let started = Instant::now();
    let message = unavailable(store.get(RecordId(Uuid::from_u128(1))).await);
    assert!(message.contains("cannot connect"), "{message}");
    assert!(unavailable(store.ping().await).contains("cannot connect"));

    // Something accepts connections but never answers: the timeout ends the call.
    let silent = TcpListener::bind("127.0.0.1:0").await?;
    let store = client(&format!("http://{}", silent.local_addr()?), quick())?;
    let message = unavailable(store.summary(CardId(Uuid::nil()), DateRange::ALL).await);
    assert!(message.contains("no answer"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_serves_the_same_data_to_the_same_client() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let open = || -> anyhow::Result<Router> {
        Ok(spend_store_server::router(Arc::new(
            EmbeddedRewardStore::open(dir.path())?,
        )))
    };
    let server = Server::bind(open()?).await?;
    let addr = server.url.clone();
    let store = client(&addr, quick())?;
    let t = tx(1, 100);
    let outcome = rewarded(&t, "5.00")?;
    assert_eq!(
        store.apply(std::slice::from_ref(&outcome)).await?.written,
        1
    );
    server.stop().await?;

    unavailable(store.get(t.id).await);

    // The same port and the same directory, as a restarted `spend store`.
    let listener = TcpListener::bind(addr.trim_start_matches("http://")).await?;
    let server = Server::start(listener, open()?)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let found = loop {
        match store.get(t.id).await {
            Ok(found) => break found,
            Err(RewardStoreError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    assert_eq!(found.as_ref(), Some(&outcome));
    // Once-only holds across the restart.
    let again = store.apply(&[outcome]).await?;
    assert_eq!((again.written, again.unchanged), (0, 1));
    server.stop().await
}

/// Raw bodies, each with what the 400's sentence must say.
fn bad_bodies() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let card = [7u8; 16];
    let mut history = vec![1];
    history.extend_from_slice(&card);
    history.push(0);
    history.extend_from_slice(&10u32.to_be_bytes());
    history.extend_from_slice(&0u16.to_be_bytes());
    let mut out = Vec::new();
    for path in [
        paths::APPLY,
        paths::PREFETCH,
        paths::GET,
        paths::HISTORY,
        paths::SUMMARY,
        paths::MISSIONS,
    ] {
        out.push((path, vec![], "empty body"));
        out.push((path, vec![9, 1, 2, 3], "version 9"));
        out.push((path, b"\x01garbage!".repeat(3), "bad request body"));
    }
    // Counts that promise more than the body holds, and a record cut short.
    out.push((paths::APPLY, vec![1, 0xff, 0xff, 0xff, 0xff], "too short"));
    out.push((
        paths::PREFETCH,
        vec![1, 0, 0, 0, 1, 0, 0, 0, 200, 1],
        "too short",
    ));
    out.push((paths::APPLY, vec![1, 0, 0, 0], "truncated"));
    // A whole id but one byte, and one byte too many.
    out.push((paths::GET, [&[1u8][..], &[0; 15]].concat(), "truncated"));
    out.push((paths::GET, [&[1u8][..], &[0; 17]].concat(), "trailing"));
    // A history request without its cursor length; with unknown range flags.
    out.push((
        paths::HISTORY,
        history[..history.len() - 2].to_vec(),
        "truncated",
    ));
    let mut flags = history.clone();
    flags[17] = 0x80;
    out.push((paths::HISTORY, flags, "flags"));
    out.push((paths::SUMMARY, [&[1u8][..], &card].concat(), "truncated"));
    // Two cards announced, one sent; an apply of a version this build does not know; a
    // version-2 apply whose outcome lacks its count of mission writes.
    out.push((
        paths::MISSIONS,
        [&[1u8, 0, 0, 0, 2][..], &card].concat(),
        "too short",
    ));
    out.push((paths::APPLY, vec![3, 0, 0, 0, 0], "version 3"));
    out.push((paths::APPLY, vec![2, 0, 0, 0, 1], "too short"));
    out
}

async fn post(http: &reqwest::Client, url: &str, body: Vec<u8>) -> anyhow::Result<(u16, Value)> {
    let response = http
        .post(url)
        .header("content-type", remote::CONTENT_TYPE)
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let json = serde_json::from_slice(&response.bytes().await?).unwrap_or(Value::Null);
    Ok((status, json))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_400s_that_say_why_and_the_server_carries_on() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::bind(spend_store_server::router(Arc::new(
        EmbeddedRewardStore::open(dir.path())?,
    )))
    .await?;
    let http = reqwest::Client::new();
    for (path, body, says) in bad_bodies() {
        let (status, json) = post(&http, &format!("{}{path}", server.url), body.clone()).await?;
        let error = json["error"].as_str().unwrap_or_default();
        assert_eq!(status, 400, "{path} {body:?}: {json}");
        assert!(
            error.contains(says),
            "{path} {body:?}: {error:?} lacks {says:?}"
        );
        assert_eq!(json["details"][0]["code"], "bad_body", "{json}");
    }

    // A cursor that is not one is its own kind of 400.
    let mut history = vec![1];
    history.extend_from_slice(&[7u8; 16]);
    history.push(0);
    history.extend_from_slice(&10u32.to_be_bytes());
    history.extend_from_slice(&4u16.to_be_bytes());
    history.extend_from_slice(b"nope");
    let (status, json) = post(&http, &format!("{}{}", server.url, paths::HISTORY), history).await?;
    assert_eq!(status, 400);
    assert_eq!(json["error"], "cursor is malformed");
    assert_eq!(json["details"][0]["code"], "invalid_cursor");

    // Not the wire format's content type: 415.
    let response = http
        .post(format!("{}{}", server.url, paths::GET))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 415);

    // Still serving, and still right.
    let store = client(&server.url, quick())?;
    store.ping().await?;
    let t = tx(2, 200);
    store.apply(&[rewarded(&t, "1.10")?]).await?;
    let summary = store.summary(t.card_id, DateRange::ALL).await?;
    assert_eq!(summary.count, 1);
    assert_eq!(
        summary.totals,
        vec![(Unit::Points, Decimal::from_str("1.10")?)]
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_413() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::bind(spend_store_server::router(Arc::new(
        EmbeddedRewardStore::open(dir.path())?,
    )))
    .await?;
    let http = reqwest::Client::new();
    let url = format!("{}{}", server.url, paths::APPLY);
    let (status, json) = post(&http, &url, vec![1; MAX_BODY_BYTES + 1]).await?;
    assert_eq!(status, 413, "{json}");
    assert_eq!(json["details"][0]["code"], "too_large");
    let (status, _) = post(&http, &url, vec![1, 0, 0, 0, 0]).await?;
    assert_eq!(status, 200);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_unavailable_and_says_so() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let secret = JwtSecret::new(b"a-test-secret-of-at-least-32-bytes!!".to_vec())?;
    let auth = Arc::new(JwtAuthenticator::hs256(&secret));
    let app = spend_store_server::router(Arc::new(EmbeddedRewardStore::open(dir.path())?))
        .route_layer(require_role(auth, Role::Service));
    let server = Server::bind(app).await?;
    let mint = |secret: &JwtSecret, role| -> anyhow::Result<String> {
        Ok(JwtMinter::hs256(secret).mint(&TokenSpec {
            role,
            cards: vec![],
            subject: Some("test".into()),
            ttl_secs: 60,
        })?)
    };
    let with = |token: &str| RemoteRewardStore::new(&server.url, token, quick());

    with(&mint(&secret, Role::Service)?)?.ping().await?;

    let other = JwtSecret::new(b"another-secret-of-at-least-32-bytes!".to_vec())?;
    let message = unavailable(with(&mint(&other, Role::Service)?)?.ping().await);
    assert!(message.contains("refused the token"), "{message}");
    assert!(
        message.contains("401") && message.contains("bad signature"),
        "{message}"
    );

    let bank = with(&mint(&secret, Role::Bank)?)?;
    let message = unavailable(bank.get(RecordId(Uuid::nil())).await);
    assert!(message.contains("refused the token"), "{message}");
    assert!(
        message.contains("403") && message.contains("needs role service"),
        "{message}"
    );
    server.stop().await
}

/// A store failing in one way, to see each failure cross the wire as itself.
struct Failing(fn() -> RewardStoreError);

#[async_trait::async_trait]
impl RewardStore for Failing {
    async fn apply(
        &self,
        _: &[StoredOutcome],
    ) -> Result<spend_store::reward_store::Applied, RewardStoreError> {
        Err((self.0)())
    }
    async fn prefetch(&self, _: &[Transaction]) -> Result<PrefetchedLedger, RewardStoreError> {
        Err((self.0)())
    }
    async fn get(&self, _: RecordId) -> Result<Option<StoredOutcome>, RewardStoreError> {
        Err((self.0)())
    }
    async fn history(
        &self,
        _: CardId,
        _: DateRange,
        _: u32,
        _: Option<Cursor>,
    ) -> Result<Page, RewardStoreError> {
        Err((self.0)())
    }
    async fn summary(&self, _: CardId, _: DateRange) -> Result<Summary, RewardStoreError> {
        Err((self.0)())
    }
    async fn missions(&self, _: &[CardId]) -> Result<Vec<StoredMission>, RewardStoreError> {
        Err((self.0)())
    }
    async fn ping(&self) -> Result<(), RewardStoreError> {
        Err((self.0)())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_errors_cross_the_wire_as_themselves() -> anyhow::Result<()> {
    let card = CardId(Uuid::nil());
    for (make, check) in [
        (
            (|| RewardStoreError::Unavailable("disk gone".into())) as fn() -> RewardStoreError,
            (|e: &RewardStoreError| match e {
                // The cause stays in the server's log.
                RewardStoreError::Unavailable(m) => m.contains("503") && !m.contains("disk gone"),
                _ => false,
            }) as fn(&RewardStoreError) -> bool,
        ),
        (
            || RewardStoreError::Corrupt("bad bytes".into()),
            |e| matches!(e, RewardStoreError::Corrupt(m) if !m.contains("bad bytes")),
        ),
        (
            || RewardStoreError::InvalidCursor(CursorError::UnsupportedVersion(9)),
            |e| {
                matches!(
                    e,
                    RewardStoreError::InvalidCursor(CursorError::UnsupportedVersion(9))
                )
            },
        ),
    ] {
        let server = Server::bind(spend_store_server::router(Arc::new(Failing(make)))).await?;
        let store = client(&server.url, quick())?;
        let results = [
            store.apply(&[rewarded(&tx(1, 0), "1.00")?]).await.err(),
            store.prefetch(&[tx(1, 0)]).await.err(),
            store.get(RecordId(Uuid::nil())).await.err(),
            store.history(card, DateRange::ALL, 5, None).await.err(),
            store.summary(card, DateRange::ALL).await.err(),
            store.missions(&[card]).await.err(),
        ];
        for e in results {
            let e = e.context("an error")?;
            assert!(check(&e), "{e:?}");
        }
        server.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_does_not_decode_is_corrupt() -> anyhow::Result<()> {
    let garbage = || async { ([("content-type", remote::CONTENT_TYPE)], vec![1u8, 7, 7, 7]) };
    let app = Router::new()
        .route(paths::GET, axum::routing::post(garbage))
        .route(paths::SUMMARY, axum::routing::post(garbage))
        .route(paths::MISSIONS, axum::routing::post(garbage));
    let server = Server::bind(app).await?;
    let store = client(&server.url, quick())?;
    for e in [
        store.get(RecordId(Uuid::nil())).await.err(),
        store
            .summary(CardId(Uuid::nil()), DateRange::ALL)
            .await
            .err(),
        store.missions(&[CardId(Uuid::nil())]).await.err(),
    ] {
        assert!(
            matches!(&e, Some(RewardStoreError::Corrupt(m)) if m.contains("does not decode")),
            "{e:?}"
        );
    }
    // A route the server does not have (a wrong base url): unavailable, naming the status.
    let message = unavailable(store.ping().await);
    assert!(message.contains("404"), "{message}");
    server.stop().await
}

#[test]
fn only_plain_http_urls_and_header_safe_tokens_are_accepted() {
    let ok = |url: &str, token: &str| RemoteRewardStore::new(url, token, RemoteOptions::default());
    assert!(ok("http://store:9097", "t").is_ok());
    assert_eq!(
        ok("http://store:9097/", "t").unwrap().base_url(),
        "http://store:9097"
    );
    assert!(ok("https://store:9097", "t")
        .unwrap_err()
        .to_string()
        .contains("no tls"));
    assert!(ok("store:9097", "t").is_err());
    assert!(ok("http://u:p@store:9097", "t").is_err());
    assert!(ok("http://store:9097", "").is_err());
    assert!(ok("http://store:9097", "a\nb").is_err());
    let debug = format!("{:?}", ok("http://store:9097", "secret-token").unwrap());
    assert!(!debug.contains("secret-token"), "{debug}");
}
