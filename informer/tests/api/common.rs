//! What the informer tests share: an informer served on `127.0.0.1:0` through `run()` over an
//! embedded reward store in a temporary directory, JWT keys and tokens, and builders of stored
//! outcomes.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use spend_domain::eval::{DeadLetterReason, Outcome, Reward};
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind, Unit,
};
use spend_informer::{run, InformerConfig, InformerDeps};
use spend_runtime::jwt::{JwtAuthenticator, JwtMinter, JwtSecret, TokenSpec};
use spend_runtime::Role;
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store::reward_store::{RewardStore, StoredOutcome};
use spend_testkit::fixtures::jwt_key;
pub use spend_testkit::http::Answer;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const SECRET: &[u8] = b"informer-test-secret-of-at-least-32-bytes";

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(jwt_key(name)).unwrap()
}

/// HS256 with [`SECRET`] and RS256 with the fixture key pair.
pub fn authenticator() -> JwtAuthenticator {
    JwtAuthenticator::hs256(&JwtSecret::new(SECRET).unwrap())
        .with_rs256_pem(
            &read_fixture("rs256-public.pem"),
            Path::new("rs256-public.pem"),
        )
        .unwrap()
}

pub fn hs256() -> JwtMinter {
    JwtMinter::hs256(&JwtSecret::new(SECRET).unwrap())
}

pub fn rs256() -> JwtMinter {
    JwtMinter::rs256_pem(
        &read_fixture("rs256-private.pem"),
        Path::new("rs256-private.pem"),
    )
    .unwrap()
}

pub fn rs256_other() -> JwtMinter {
    JwtMinter::rs256_pem(
        &read_fixture("rs256-other-private.pem"),
        Path::new("rs256-other-private.pem"),
    )
    .unwrap()
}

pub fn token(role: Role, cards: &[CardId]) -> String {
    hs256()
        .mint(&TokenSpec {
            role,
            cards: cards.iter().map(|c| c.0).collect(),
            subject: Some("test".into()),
            ttl_secs: 3600,
        })
        .unwrap()
}

pub fn admin() -> String {
    token(Role::Admin, &[])
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A running informer. Dropping it cancels the server.
pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    pub store: Arc<EmbeddedRewardStore>,
    _dir: tempfile::TempDir,
    shutdown: CancellationToken,
    task: Option<JoinHandle<spend_informer::Result<()>>>,
}

impl Server {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedRewardStore::open(dir.path()).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let deps = InformerDeps {
            store: store.clone(),
            auth: Arc::new(authenticator()),
        };
        let task = tokio::spawn(run(
            InformerConfig::default(),
            deps,
            listener,
            shutdown.clone(),
        ));
        Self {
            base,
            http: reqwest::Client::new(),
            store,
            _dir: dir,
            shutdown,
            task: Some(task),
        }
    }

    pub async fn apply(&self, outcomes: Vec<StoredOutcome>) {
        for chunk in outcomes.chunks(2000) {
            self.store.apply(chunk).await.unwrap();
        }
    }

    /// `GET path_and_query` with `token` as bearer, if any.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Answer::read(req.send().await.unwrap()).await
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

pub fn card(n: u128) -> CardId {
    CardId(Uuid::from_u128(
        0x5eed_0000_0000_4000_8000_0000_0000_0000 | n,
    ))
}

/// The test PAN of card `n`, before masking (it must never be served).
pub fn full_pan(n: u128) -> String {
    format!("4111{:012}", 1_000_000 + n)
}

pub fn transaction(id: RecordId, card_n: u128, day: NaiveDate, amount: &str) -> Transaction {
    Transaction {
        id,
        transaction_id: format!("bank-ref-{}", id.0.simple()),
        merchant: "Café Lumière".into(),
        mcc: Mcc::new(5411).unwrap(),
        currency: CurrencyCode::parse("SGD").unwrap(),
        amount: Amount::new(dec(amount)).unwrap(),
        transaction_date: day,
        card_id: card(card_n),
        card_pan: MaskedPan::mask(&full_pan(card_n)).unwrap(),
        card_type: ProgramId::parse("scis_shopping").unwrap(),
        kind: TxKind::Purchase,
    }
}

pub fn processed_at() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_720_000_000_123).unwrap()
}

pub fn reward(reward: &str, unit: Unit, amount_sgd: Option<&str>) -> Reward {
    Reward {
        reward: dec(reward),
        unit,
        amount_sgd: amount_sgd.map(dec),
        base_campaign: Some(Uuid::from_u128(0xba5e)),
        promo_campaign: None,
        remark: "Online spend 10 pts/SGD".into(),
        config_revision: 17,
        reversal_of: None,
    }
}

pub fn rewarded(tx: &Transaction, r: Reward) -> StoredOutcome {
    StoredOutcome::new(tx, &Outcome::Rewarded(r), processed_at()).unwrap()
}

pub fn dead_letter(tx: &Transaction, reason: DeadLetterReason) -> StoredOutcome {
    StoredOutcome::new(tx, &Outcome::DeadLetter(reason), processed_at()).unwrap()
}

/// A deterministic stream of 128-bit ids (splitmix-style), so that id order is unrelated to
/// insertion or date order.
pub struct Ids(u64);

impl Ids {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn record(&mut self) -> RecordId {
        let hi = u128::from(self.next_u64());
        let lo = u128::from(self.next_u64());
        RecordId(Uuid::from_u128(hi << 64 | lo))
    }
}

/// `?key=value&…`, percent-encoding the values.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (k, v) in pairs {
        s.push(if s.is_empty() { '?' } else { '&' });
        s.push_str(k);
        s.push('=');
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                s.push(char::from(b));
            } else {
                s.push_str(&format!("%{b:02X}"));
            }
        }
    }
    s
}

pub fn json_claims(extra: Value) -> Value {
    let mut c = json!({"role": "admin", "exp": now_secs() + 600, "sub": "test"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}
