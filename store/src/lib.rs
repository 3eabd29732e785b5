//! `spend-store`: where configuration and rewards are kept.
//!
//! Owns the [`ConfigStore`](config_store::ConfigStore) contract with its etcd and embedded (redb)
//! implementations and the self-healing watch, and the [`RewardStore`](reward_store::RewardStore)
//! with its ScyllaDB and embedded (fjall) implementations and its HTTP client and wire format
//! ([`remote`]: one process owns an embedded store, others reach it; the server is the
//! `spend-store-server` crate), each contract with one
//! scenario suite run on every backend. It never decides what a campaign or a reward means: that is
//! `spend-domain`'s; it enforces only what storage must: first reward wins, a reversal counts once.
//! What each store error means to a caller, retryable or not and as an HTTP answer, is said once
//! ([`api_error`]). The `/readyz` backends of both stores are here too ([`readiness`]), so every service reports them alike.

pub mod api_error;
pub mod bloom;
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
