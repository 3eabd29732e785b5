//! `spend store` as an operator runs it: a process serving one data directory's reward store to
//! `service` tokens only, with health, readiness and a clean stop on SIGTERM; and `spend
//! informer --reward-store-url` reading through it.

mod e2e_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;

use chrono::{NaiveDate, Utc};
use e2e_support::Service;
use rust_decimal::Decimal;
use spend_domain::eval::{Outcome, Reward};
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind, Unit,
};
use spend_runtime::jwt::{JwtMinter, JwtSecret, TokenSpec};
use spend_runtime::Role;
use spend_store::remote::{paths, RemoteOptions, RemoteRewardStore, CONTENT_TYPE};
use spend_store::reward_store::{RewardStore, RewardStoreError, StoredOutcome};
use spend_testkit::net::free_port;
use uuid::Uuid;

const SECRET: &str = "store-cmd-test-secret-of-32-bytes-at-least";

fn spend() -> Command {
    let mut c = e2e_support::spend();
    c.env("RUST_LOG", "info");
    c
}

fn start_store(data: &Path, port: u16, log: PathBuf) -> Service {
    let mut c = spend();
    c.args(["store", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data)
        .env("SPEND_JWT_SECRET", SECRET);
    Service::start("spend store", c, port, log)
}

fn mint(role: Role) -> String {
    let secret = JwtSecret::new(SECRET.as_bytes().to_vec()).unwrap();
    JwtMinter::hs256(&secret)
        .mint(&TokenSpec {
            role,
            cards: vec![],
            subject: Some("store-cmd-test".into()),
            ttl_secs: 600,
        })
        .unwrap()
}

/// A `service` token as an operator makes one: `spend token --role service`.
fn service_token() -> String {
    let out = spend()
        .args(["token", "--role", "service", "--jwt-secret", SECRET])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn outcome(n: u128) -> StoredOutcome {
    let tx = Transaction {
        id: RecordId(Uuid::from_u128(n)),
        transaction_id: format!("T-{n}"),
        merchant: "Shop".into(),
        mcc: Mcc::new(5999).unwrap(),
        currency: CurrencyCode::SGD,
        amount: Amount::new(Decimal::from(20)).unwrap(),
        transaction_date: NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
        card_id: CardId(Uuid::from_u128(77)),
        card_pan: MaskedPan::mask("4111111111111111").unwrap(),
        card_type: ProgramId::parse("scis_shopping").unwrap(),
        kind: TxKind::Purchase,
    };
    let reward = Outcome::Rewarded(Reward {
        reward: Decimal::from_str("2.00").unwrap(),
        unit: Unit::Points,
        amount_sgd: None,
        base_campaign: None,
        promo_campaign: None,
        remark: "base".into(),
        config_revision: 1,
        reversal_of: None,
    });
    StoredOutcome::new(&tx, &reward, Utc::now()).unwrap()
}

fn failure(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_store_serves_service_tokens_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let mut store = start_store(&data, port, dir.path().join("store.log"));
    let http = reqwest::Client::new();
    store.wait_ready(&http).await;
    let health = http
        .get(format!("{}/healthz", store.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    // The OpenAPI document describes the API, not the rewards: no token needed.
    let openapi = http
        .get(format!("{}{}", store.url, paths::OPENAPI))
        .send()
        .await
        .unwrap();
    assert_eq!(openapi.status().as_u16(), 200);
    let openapi: serde_json::Value = openapi.json().await.unwrap();
    assert_eq!(openapi, spend_store_server::openapi::document());

    let get = |token: Option<String>| {
        let mut body = vec![1u8];
        body.extend_from_slice(&[0; 16]);
        let mut req = http
            .post(format!("{}{}", store.url, paths::GET))
            .header("content-type", CONTENT_TYPE)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        }
    };
    let (status, body) = get(None).await;
    assert_eq!(status, 401);
    assert!(String::from_utf8_lossy(&body).contains("\"error\""));
    let (status, body) = get(Some(mint(Role::Bank))).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("needs role service"));
    let token = service_token();
    assert_eq!(get(Some(token.clone())).await, (200, vec![1, 0]));

    // The client a rewarder or an informer uses.
    let client = RemoteRewardStore::new(&store.url, &token, RemoteOptions::default()).unwrap();
    let o = outcome(1);
    assert_eq!(
        client
            .apply(std::slice::from_ref(&o))
            .await
            .unwrap()
            .written,
        1
    );
    assert_eq!(client.get(o.id()).await.unwrap(), Some(o.clone()));
    let refused = RemoteRewardStore::new(&store.url, &mint(Role::Admin), RemoteOptions::default())
        .unwrap()
        .ping()
        .await;
    let refused = match refused {
        Err(RewardStoreError::Unavailable(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(refused.contains("refused the token"), "{refused}");

    // The directory is this process's alone.
    let second_port = free_port();
    let out = spend()
        .args(["store", "--listen", &format!("127.0.0.1:{second_port}")])
        .arg("--data-dir")
        .arg(&data)
        .env("SPEND_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(failure(&out).contains("open in another store or process"));

    store.stop("TERM");
    // What was written is there after a restart.
    let mut store = start_store(&data, port, dir.path().join("store2.log"));
    store.wait_ready(&http).await;
    assert_eq!(client.get(o.id()).await.unwrap(), Some(o));
    store.stop("TERM");
}

#[test]
fn spend_store_refuses_to_start_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = spend()
        .args(["store", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(failure(&out).contains("no token key is configured"));
    assert!(!dir.path().join("rewards").exists(), "nothing opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_informer_reads_through_spend_store() {
    let dir = tempfile::tempdir().unwrap();
    let store_port = free_port();
    let mut store = start_store(
        &dir.path().join("data"),
        store_port,
        dir.path().join("store.log"),
    );
    let http = reqwest::Client::new();
    store.wait_ready(&http).await;

    let informer_port = free_port();
    let mut c = spend();
    c.args([
        "informer",
        "--listen",
        &format!("127.0.0.1:{informer_port}"),
    ])
    .args(["--reward-store-url", &store.url])
    .env("SPEND_REWARD_STORE_TOKEN", service_token())
    .env("SPEND_JWT_SECRET", SECRET);
    let mut informer = Service::start(
        "spend informer",
        c,
        informer_port,
        dir.path().join("informer.log"),
    );
    informer.wait_ready(&http).await;

    let writer =
        RemoteRewardStore::new(&store.url, &service_token(), RemoteOptions::default()).unwrap();
    let o = outcome(2);
    writer.apply(std::slice::from_ref(&o)).await.unwrap();
    let r = http
        .get(format!("{}/v1/transactions/{}", informer.url, o.id()))
        .bearer_auth(mint(Role::Admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let json: serde_json::Value = r.json().await.unwrap();
    assert_eq!(json["reward"], "2.00", "{json}");

    // The store gone: the informer says so on /readyz, and recovers when it is back.
    store.stop("TERM");
    let r = http
        .get(format!("{}/readyz", informer.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let mut store = start_store(
        &dir.path().join("data"),
        store_port,
        dir.path().join("store2.log"),
    );
    store.wait_ready(&http).await;
    informer.wait_ready(&http).await;

    informer.stop("TERM");
    store.stop("TERM");
}

#[test]
fn reward_store_url_misconfigurations_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let informer = |extra: &[&str]| {
        let out = spend()
            .args([
                "informer",
                "--listen",
                "127.0.0.1:0",
                "--jwt-secret",
                SECRET,
            ])
            .args(["--reward-store-url", "http://127.0.0.1:9"])
            .args(extra)
            .output()
            .unwrap();
        failure(&out)
    };
    let data = dir.path().to_str().unwrap();
    let both = informer(&["--reward-store-token", "t", "--data-dir", data]);
    assert!(both.contains("two reward stores"), "{both}");
    let no_token = informer(&[]);
    assert!(
        no_token.contains("needs --reward-store-token"),
        "{no_token}"
    );
    let https = spend()
        .args([
            "informer",
            "--listen",
            "127.0.0.1:0",
            "--jwt-secret",
            SECRET,
        ])
        .args(["--reward-store-url", "https://store:9097"])
        .args(["--reward-store-token", "t"])
        .output()
        .unwrap();
    assert!(failure(&https).contains("no tls"));
}
