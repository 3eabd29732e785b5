//! `spend-runtime`: the plumbing every service shares.
//!
//! Owns `/healthz`, `/readyz` and `/metrics` ([`health`]), the metrics registry ([`metrics`]), the
//! API's JSON error shape and its 404/405 fallbacks ([`error`]), the JSON body extractor that answers
//! in that shape ([`json`]), the auth hook every route goes through ([`auth`]) with its JWT
//! implementation, token minting and the dev secret ([`jwt`]), serving a service with all of that
//! ([`serve`]), and waiting for a shutdown signal ([`shutdown`]). Kafka is not here: it is
//! `spend-kafka`'s, so the services that never speak Kafka do not link librdkafka.
//!
//! It must never hold service logic: nothing here knows what a transaction, a campaign or a reward
//! is, and no service type or route lives here.

pub mod auth;
pub mod error;
pub mod health;
pub mod json;
pub mod jwt;
pub mod metrics;
pub mod openapi;
pub mod serve;
pub mod shutdown;

pub use auth::{require_any_role, require_role, Authenticator, NoAuth, Principal, Role};
pub use error::{with_json_fallbacks, ApiError};
pub use health::{health_routes, AlwaysReady, Backend, Backends, NotReady, Readiness};
pub use json::ApiJson;
pub use serve::{serve, serve_health, trace_layer};
pub use shutdown::{cancel_on_signal, shutdown_signal};
