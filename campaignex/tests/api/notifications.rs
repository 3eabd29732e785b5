//! `GET|PUT /v1/me/notifications`: a cardholder's notification settings, through real tokens,
//! on every store backend (embedded always, etcd when `SPEND_TEST_ETCD` names one): defaults,
//! who "me" is, every refusal in the API's error shape, persistence across a restart, and that
//! the settings never show up in the configuration.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{Answer, Server};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use spend_campaignex::CampaignexConfig;
use spend_runtime::jwt::{JwtAuthenticator, JwtMinter, JwtSecret, TokenSpec};
use spend_runtime::Role;
use spend_store::config_store::ConfigStore;
use spend_store::embedded::EmbeddedConfigStore;
use spend_store::etcd::{EtcdConfigStore, EtcdOptions};
use uuid::Uuid;

const PATH: &str = "/v1/me/notifications";
const CARD_A: &str = "00000000-0000-4000-8000-0000000000a1";
const CARD_B: &str = "00000000-0000-4000-8000-0000000000a2";

fn secret() -> JwtSecret {
    JwtSecret::new(*b"notifications-test-secret-32-bytes!").unwrap()
}

fn token(role: Role, subject: Option<&str>, cards: &[&str]) -> String {
    JwtMinter::hs256(&secret())
        .mint(&TokenSpec {
            role,
            cards: cards.iter().map(|c| Uuid::parse_str(c).unwrap()).collect(),
            subject: subject.map(str::to_owned),
            ttl_secs: 600,
        })
        .unwrap()
}

fn customer(subject: &str) -> String {
    token(Role::Customer, Some(subject), &[CARD_A])
}

async fn start(store: Arc<dyn ConfigStore>) -> Server {
    Server::start_with_auth(
        CampaignexConfig::default(),
        store,
        Arc::new(JwtAuthenticator::hs256(&secret())),
    )
    .await
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

async fn get(s: &Server, t: &str) -> Answer {
    s.send("GET", PATH, None, &[("authorization", &bearer(t))])
        .await
}

async fn put(s: &Server, t: &str, body: &str) -> Answer {
    s.send("PUT", PATH, Some(body), &[("authorization", &bearer(t))])
        .await
}

fn assert_status(a: &Answer, status: u16) {
    assert_eq!(a.status, status, "{a:?}");
}

macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _dir) = crate::common::embedded();
                    let server = super::start(store.clone()).await;
                    super::$name(&server, store.as_ref()).await;
                    server.stop().await;
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(store) = crate::common::etcd().await else { return };
                    let server = super::start(store.clone()).await;
                    super::$name(&server, store.as_ref()).await;
                    server.stop().await;
                    super::clean(&store).await;
                }
            )*
        }
    };
}

on_every_store!(
    defaults_then_what_was_saved,
    me_is_the_subject_or_else_the_cards,
    settings_are_not_configuration,
    invalid_settings_name_each_field,
    refusals_have_the_error_shape,
);

/// Removes what a test left under its prefix in the shared etcd.
async fn clean(store: &EtcdConfigStore) {
    store.replace_all(Vec::new()).await.unwrap();
    let url = std::env::var("SPEND_TEST_ETCD").unwrap();
    let mut client = etcd_client::Client::connect([url], None).await.unwrap();
    let options = etcd_client::DeleteOptions::new().with_prefix();
    let prefix = format!("{}-customers/", store.prefix());
    client.delete(prefix, Some(options)).await.unwrap();
}

async fn defaults_then_what_was_saved(s: &Server, _: &dyn ConfigStore) {
    let me = customer("c-1");
    let a = get(s, &me).await;
    assert_status(&a, 200);
    assert_eq!(a.body, json!({"email": false, "digest": "weekly"}));

    let a = put(s, &me, r#"{"email": true, "digest": "daily"}"#).await;
    assert_status(&a, 200);
    assert_eq!(a.body, json!({"email": true, "digest": "daily"}));
    assert_eq!(
        get(s, &me).await.body,
        json!({"email": true, "digest": "daily"})
    );

    // A replacement, not a merge; and the choice of digest is kept while email is off.
    let a = put(s, &me, r#"{"digest": "monthly", "email": false}"#).await;
    assert_status(&a, 200);
    assert_eq!(
        get(s, &me).await.body,
        json!({"email": false, "digest": "monthly"})
    );
    // Someone else still has the defaults.
    assert_eq!(
        get(s, &customer("c-2")).await.body,
        json!({"email": false, "digest": "weekly"})
    );
}

async fn me_is_the_subject_or_else_the_cards(s: &Server, _: &dyn ConfigStore) {
    // Two tokens of one subject share settings, whatever cards they list.
    let first = token(Role::Customer, Some("c-9"), &[CARD_A]);
    let later = token(Role::Customer, Some("c-9"), &[CARD_A, CARD_B]);
    assert_status(
        &put(s, &first, r#"{"email": true, "digest": "off"}"#).await,
        200,
    );
    assert_eq!(
        get(s, &later).await.body,
        json!({"email": true, "digest": "off"})
    );

    // Without a subject, the set of cards is the customer: order and case do not matter.
    let ab = token(Role::Customer, None, &[CARD_A, CARD_B]);
    let ba = token(Role::Customer, None, &[CARD_B, &CARD_A.to_uppercase()]);
    let a_only = token(Role::Customer, None, &[CARD_A]);
    assert_status(
        &put(s, &ab, r#"{"email": true, "digest": "monthly"}"#).await,
        200,
    );
    assert_eq!(
        get(s, &ba).await.body,
        json!({"email": true, "digest": "monthly"})
    );
    assert_eq!(
        get(s, &a_only).await.body,
        json!({"email": false, "digest": "weekly"})
    );
    // ... and is not the customer whose subject happens to hold the same words.
    assert_eq!(
        get(s, &customer(&format!("cards:{CARD_A},{CARD_B}")))
            .await
            .body,
        json!({"email": false, "digest": "weekly"})
    );
}

async fn settings_are_not_configuration(s: &Server, store: &dyn ConfigStore) {
    let before = store.snapshot().await.unwrap();
    assert_status(
        &put(
            s,
            &customer("c-3"),
            r#"{"email": true, "digest": "weekly"}"#,
        )
        .await,
        200,
    );
    let after = store.snapshot().await.unwrap();
    assert_eq!(before.objects, after.objects);
    // The embedded store's revision is the configuration's own; etcd's is global, so only the
    // objects are compared there.
    let config = s
        .send(
            "GET",
            "/v1/config",
            None,
            &[("authorization", &bearer(&admin()))],
        )
        .await;
    assert_status(&config, 200);
    let text = config.body.to_string();
    assert!(!text.contains("digest") && !text.contains("c-3"), "{text}");
}

fn admin() -> String {
    token(Role::Admin, Some("ops"), &[])
}

async fn invalid_settings_name_each_field(s: &Server, _: &dyn ConfigStore) {
    let me = customer("c-4");
    let cases: [(&str, &[&str]); 7] = [
        (r#"{"email": "yes", "digest": "daily"}"#, &["email"]),
        (r#"{"email": true, "digest": "hourly"}"#, &["digest"]),
        (r#"{"email": true, "digest": "Daily"}"#, &["digest"]),
        (r#"{"email": true}"#, &["digest"]),
        (r#"{"email": null, "digest": 7}"#, &["email", "digest"]),
        (
            r#"{"email": true, "digest": "daily", "sms": true}"#,
            &["sms"],
        ),
        (r#"["email"]"#, &[""]),
    ];
    for (body, fields) in cases {
        let a = put(s, &me, body).await;
        assert_status(&a, 422);
        assert_eq!(a.error(), "invalid notification settings", "{body}");
        assert_eq!(a.fields(), fields.to_vec(), "{body}");
    }
    // Nothing was stored by any of them.
    assert_eq!(
        get(s, &me).await.body,
        json!({"email": false, "digest": "weekly"})
    );
}

async fn refusals_have_the_error_shape(s: &Server, _: &dyn ConfigStore) {
    let body = r#"{"email": true, "digest": "daily"}"#;
    // 401: no token, a bad one.
    for auth in [None, Some("Bearer not.a.token")] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        for (method, b) in [("GET", None), ("PUT", Some(body))] {
            let a = s.send(method, PATH, b, &headers).await;
            assert_status(&a, 401);
            a.error();
        }
    }
    // 403: not a customer, or a customer token that names nobody.
    for t in [
        admin(),
        token(Role::Bank, Some("bank"), &[]),
        token(Role::Customer, None, &[]),
    ] {
        for (method, b) in [("GET", None), ("PUT", Some(body))] {
            let a = s
                .send(method, PATH, b, &[("authorization", &bearer(&t))])
                .await;
            assert_status(&a, 403);
            a.error();
        }
    }
    let a = get(s, &token(Role::Customer, None, &[])).await;
    assert!(a.error().contains("names no customer"), "{a:?}");

    let me = customer("c-5");
    // 400: malformed or empty JSON.
    for bad in ["{\"email\": true,", "", "{} x"] {
        let a = put(s, &me, bad).await;
        assert_status(&a, 400);
        a.error();
    }
    // 415: not JSON, or no content type at all.
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = s
            .http
            .put(format!("{}{PATH}", s.base))
            .header(AUTHORIZATION, bearer(&me))
            .body(body);
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 415);
        let v: Value = res.json().await.unwrap();
        assert!(v["error"].as_str().unwrap().contains("content type"), "{v}");
        assert!(v["details"].is_array());
    }
    // Other methods are not routed.
    let a = s
        .send("DELETE", PATH, None, &[("authorization", &bearer(&me))])
        .await;
    assert_status(&a, 405);
    // None of it stored anything.
    assert_eq!(
        get(s, &me).await.body,
        json!({"email": false, "digest": "weekly"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_survive_a_restart_of_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let me = customer("c-6");
    {
        let store = Arc::new(EmbeddedConfigStore::open(dir.path()).unwrap());
        let s = start(store).await;
        assert_status(
            &put(&s, &me, r#"{"email": true, "digest": "monthly"}"#).await,
            200,
        );
        s.stop().await;
    }
    // Every handle goes with the server, so the file can be opened again, as by the next `spend
    // dev`. The last connection task may drop its router (and the store in it) a moment after
    // the server has returned: that moment is waited for, briefly.
    let mut tries = 0;
    let store = loop {
        match EmbeddedConfigStore::open(dir.path()) {
            Ok(store) => break Arc::new(store),
            Err(e) if tries < 100 && e.to_string().contains("already open") => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("cannot open the store again: {e}"),
        }
    };
    let s = start(store).await;
    assert_eq!(
        get(&s, &me).await.body,
        json!({"email": true, "digest": "monthly"})
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_survive_a_new_etcd_client() {
    let Some(store) = crate::common::etcd().await else {
        return;
    };
    let me = customer("c-7");
    let s = start(store.clone()).await;
    assert_status(
        &put(&s, &me, r#"{"email": true, "digest": "daily"}"#).await,
        200,
    );
    s.stop().await;
    let url = std::env::var("SPEND_TEST_ETCD").unwrap();
    let again = EtcdConfigStore::connect(&[url], store.prefix(), EtcdOptions::default())
        .await
        .unwrap();
    let s = start(Arc::new(again)).await;
    assert_eq!(
        get(&s, &me).await.body,
        json!({"email": true, "digest": "daily"})
    );
    s.stop().await;
    clean(&store).await;
}

#[tokio::test]
async fn an_unreachable_store_is_503() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = EtcdOptions {
        request_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(200),
        ..EtcdOptions::default()
    };
    let store = EtcdConfigStore::connect(
        &[format!("http://127.0.0.1:{port}")],
        "/spend-test/dead",
        options,
    )
    .await
    .unwrap();
    let s = start(Arc::new(store)).await;
    let me = customer("c-8");
    for a in [
        get(&s, &me).await,
        put(&s, &me, r#"{"email": true, "digest": "daily"}"#).await,
    ] {
        assert_status(&a, 503);
        assert_eq!(
            a.body,
            json!({"error": "configuration store unavailable", "details": []})
        );
    }
    s.stop().await;
}
