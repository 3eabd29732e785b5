//! `spend-store`: where configuration and rewards are kept.
//!
//! Owns the [`ConfigStore`](config_store::ConfigStore) contract with its etcd and embedded (redb)
//! implementations and the self-healing watch, and the [`RewardStore`](reward_store::RewardStore)
//! with its ScyllaDB and embedded (fjall) implementations and its HTTP server and client
//! ([`remote`]: one process owns an embedded store, others reach it), each contract with one
//! scenario suite run on every backend. It never decides what a campaign or a reward means: that is
//! `spend-domain`'s; it enforces only what storage must: first reward wins, a reversal counts once.
//! It never authenticates: whoever serves [`remote::router`] wraps it in its auth layer. The
//! `/readyz` backends of both stores are here too ([`readiness`]), so every service reports them alike.

mod checks;
pub mod config_store;
pub mod embedded;
pub mod etcd;
pub mod readiness;
pub mod remote;
pub mod reward_embedded;
pub mod reward_store;
pub mod scylla;
pub mod watch;
