//! What the workspace's tests share, once: the test servers found through `SPEND_TEST_*` (a skip
//! when one is missing, a failure under CI: [`env`]), free loopback ports ([`net`]), the paths of
//! the fixtures ([`fixtures`]), fresh names ([`fresh`]), outcomes in `expected.csv`'s columns
//! ([`outcomes`]), and behind features: an HTTP answer read whole (`http`), the checks every
//! OpenAPI document passes (`openapi`), a private etcd process (`etcd`), a stored outcome's
//! columns (`store`), topics created, read back and committed on (`kafka`).
//!
//! A dev-dependency only (`[dev-dependencies] spend-testkit.workspace = true`); it depends on no
//! crate's test code, so a crate it depends on may still use it in its own tests.

pub mod env;
pub mod fixtures;
pub mod net;
pub mod outcomes;

#[cfg(feature = "etcd")]
pub mod etcd;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "openapi")]
pub mod openapi;

/// `{prefix}-{a fresh uuid}`: a topic, group or key prefix no other test (or run) uses.
pub fn fresh(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}
