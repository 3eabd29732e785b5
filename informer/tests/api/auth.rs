//! Auth on every informer route, over real HTTP with real JWTs (HS256 and RS256): no token,
//! malformed, bad signature, expired, not yet valid, unknown role → 401; wrong role or another
//! customer's card → 403; a customer's own card and an admin → 200.

use crate::common::*;
use serde_json::json;
use spend_domain::eval::DeadLetterReason;
use spend_domain::Unit;
use spend_runtime::jwt::{JwtMinter, JwtSecret, TokenSpec};
use spend_runtime::Role;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// Roles admin, customer (own cards).
    Card,
    /// Role admin.
    Record,
}

struct Fixture {
    server: Server,
    routes: Vec<(String, Kind)>,
}

async fn fixture() -> Fixture {
    let server = Server::start().await;
    let mut ids = Ids::new(5);
    let tx = transaction(ids.record(), 1, date("2024-05-01"), "10.00");
    let dl = transaction(ids.record(), 1, date("2024-05-02"), "10.00");
    server
        .apply(vec![
            rewarded(&tx, reward("100.00", Unit::Points, Some("10.00"))),
            dead_letter(&dl, DeadLetterReason::NoFxRate),
        ])
        .await;
    let c = card(1);
    let routes = vec![
        (format!("/v1/cards/{c}/rewards"), Kind::Card),
        (
            format!("/v1/cards/{c}/rewards?from=2024-01-01&to=2024-12-31&limit=5"),
            Kind::Card,
        ),
        (format!("/v1/cards/{c}/summary"), Kind::Card),
        (format!("/v1/transactions/{}", tx.id), Kind::Record),
        (format!("/v1/transactions/{}", dl.id), Kind::Record),
    ];
    Fixture { server, routes }
}

fn customer(cards: &[u128]) -> String {
    token(
        Role::Customer,
        &cards.iter().map(|&n| card(n)).collect::<Vec<_>>(),
    )
}

fn spec(role: Role, cards: &[u128]) -> TokenSpec {
    TokenSpec {
        role,
        cards: cards.iter().map(|&n| card(n).0).collect(),
        subject: None,
        ttl_secs: 600,
    }
}

#[tokio::test]
async fn refusals_are_401_on_every_route() {
    let f = fixture().await;
    let now = now_secs();
    let other_secret = JwtMinter::hs256(&JwtSecret::new(vec![b'x'; 40]).unwrap());
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, "missing bearer token"),
        ("garbage", Some("garbage".into()), "malformed token"),
        ("three dots", Some("a.b.c".into()), "malformed token"),
        (
            "hs256 other secret",
            Some(other_secret.mint(&spec(Role::Admin, &[])).unwrap()),
            "bad signature",
        ),
        (
            "rs256 other key",
            Some(rs256_other().mint(&spec(Role::Admin, &[])).unwrap()),
            "bad signature",
        ),
        (
            "expired",
            Some(
                hs256()
                    .mint_claims(&json_claims(json!({"exp": now - 3600})))
                    .unwrap(),
            ),
            "token expired",
        ),
        (
            "expired rs256",
            Some(
                rs256()
                    .mint_claims(&json_claims(json!({"exp": now - 3600, "iat": now - 7200})))
                    .unwrap(),
            ),
            "token expired",
        ),
        (
            "not yet valid",
            Some(
                hs256()
                    .mint_claims(&json_claims(json!({"nbf": now + 3600, "exp": now + 7200})))
                    .unwrap(),
            ),
            "token not yet valid",
        ),
        (
            "no expiry",
            Some(
                hs256()
                    .mint_claims(&json!({"role": "admin", "sub": "x"}))
                    .unwrap(),
            ),
            "token has no expiry",
        ),
        (
            "unknown role",
            Some(
                hs256()
                    .mint_claims(&json_claims(json!({"role": "superuser"})))
                    .unwrap(),
            ),
            "unknown role",
        ),
    ];
    for (route, _) in &f.routes {
        for (name, token, message) in &cases {
            let a = f.server.get(route, token.as_deref()).await;
            assert_eq!((a.status, a.error()), (401, *message), "{name} on {route}");
            if let Some(t) = token {
                assert!(!a.text.contains(t.as_str()), "the token was echoed");
            }
        }
    }
    f.server.stop().await;
}

#[tokio::test]
async fn roles_and_cards_on_every_route() {
    let f = fixture().await;
    let admin = admin();
    let bank = token(Role::Bank, &[]);
    let own = customer(&[9, 1]);
    let others = customer(&[2, 3]);
    let no_cards = customer(&[]);
    let rs_admin = rs256().mint(&spec(Role::Admin, &[])).unwrap();
    let rs_own = rs256().mint(&spec(Role::Customer, &[1])).unwrap();
    let c1 = card(1);
    for (route, kind) in &f.routes {
        let expect: Vec<(&str, &String, u16, String)> = match kind {
            Kind::Card => vec![
                ("admin", &admin, 200, String::new()),
                ("rs256 admin", &rs_admin, 200, String::new()),
                ("customer, own card", &own, 200, String::new()),
                ("rs256 customer, own card", &rs_own, 200, String::new()),
                (
                    "bank",
                    &bank,
                    403,
                    "this route needs role admin or customer; the token has role bank".into(),
                ),
                (
                    "customer, other cards",
                    &others,
                    403,
                    format!("this token may not read card {c1}"),
                ),
                (
                    "customer, no cards",
                    &no_cards,
                    403,
                    format!("this token may not read card {c1}"),
                ),
            ],
            Kind::Record => vec![
                ("admin", &admin, 200, String::new()),
                ("rs256 admin", &rs_admin, 200, String::new()),
                (
                    "bank",
                    &bank,
                    403,
                    "this route needs role admin; the token has role bank".into(),
                ),
                (
                    "customer, own card",
                    &own,
                    403,
                    "this route needs role admin; the token has role customer".into(),
                ),
            ],
        };
        for (name, token, status, message) in expect {
            let a = f.server.get(route, Some(token)).await;
            assert_eq!(a.status, status, "{name} on {route}: {a:?}");
            if status == 200 {
                assert!(a.body.is_object(), "{a:?}");
            } else {
                assert_eq!(a.error(), message, "{name} on {route}");
            }
        }
    }
    // The card check happens before the query is looked at: a customer learns nothing about
    // another card from a 400.
    let a = f
        .server
        .get(
            &format!("/v1/cards/{}/rewards?limit=0", card(2)),
            Some(&own),
        )
        .await;
    assert_eq!(a.status, 403);
    // The card's own customer reading its history sees it.
    let a = f
        .server
        .get(&format!("/v1/cards/{c1}/rewards"), Some(&own))
        .await;
    assert_eq!(a.body["items"].as_array().unwrap().len(), 1);
    f.server.stop().await;
}

#[tokio::test]
async fn meta_routes_need_no_token() {
    let f = fixture().await;
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/openapi/informer.json",
    ] {
        let a = f.server.get(path, None).await;
        assert_eq!(a.status, 200, "{path}: {a:?}");
    }
    let a = f.server.get("/v1/nothing", Some(&admin())).await;
    assert_eq!(a.status, 404);
    a.error();
    let a = f.server.get(&f.routes[0].0, Some(&admin())).await;
    assert_eq!(a.status, 200);
    let metrics = f.server.get("/metrics", None).await.text;
    assert!(metrics.contains("spend_informer_reads_total"), "{metrics}");
    f.server.stop().await;
}
