//! A [`RewardStore`](crate::reward_store::RewardStore) served over HTTP, and its client.
//!
//! **Why it exists.** The embedded store ([`crate::reward_embedded`]) is a fjall database, and
//! fjall admits one process per directory (its lock file). A deployment without ScyllaDB that
//! still runs the rewarders and the informer as separate processes needs one process to own the
//! directory and the others to reach it: `spend store` serves `spend_store_server::router` over an embedded store,
//! and the rewarders (writers, possibly several) and the informer (reader) use
//! [`RemoteRewardStore`] in its place. The store's rules (first reward wins, a reversal counts
//! once) are the embedded store's own, enforced where the data is; every call stays idempotent,
//! so a caller retries [`RewardStoreError::Unavailable`](crate::reward_store::RewardStoreError)
//! as it does with any backend.
//!
//! **Transport.** Plain HTTP/1.1 — no TLS is compiled in, so it belongs on a private network or
//! loopback — with a bearer token on every call. This crate does no auth: the binary wraps
//! the router in `spend_runtime::require_role(auth, Role::Service)`, and the client sends the
//! token it is given.
//!
//! **Routes** (request and answer bodies `application/octet-stream`):
//!
//! | route | request | answer (200) |
//! |---|---|---|
//! | `POST /v1/store/apply` | outcomes (version 2: with their mission writes) | `written` u64 · `unchanged` u64 |
//! | `POST /v1/store/prefetch` | transactions | ledger |
//! | `POST /v1/store/get` | record id (16) | `0` (none) or `1` · outcome |
//! | `POST /v1/store/history` | card id (16) · range · limit u32 · cursor | outcomes · cursor |
//! | `POST /v1/store/summary` | card id (16) · range | count u64 · n u8 · n × (unit u8 · total) |
//! | `POST /v1/store/missions` | u32 n · n × card id (16) | u32 n · n × mission state |
//! | `GET /v1/store/ping` | — | 204 when the store answers |
//!
//! `spend_store_server::openapi_router` serves their OpenAPI document at [`paths::OPENAPI`],
//! without auth: it describes the API, not the rewards.
//!
//! Every body starts with the wire format version, `1` — except an apply request whose outcomes
//! carry mission writes (or a payout row), which is version `2`: after each outcome, a u32
//! count of its mission writes, each a *mission state*, then `0`, or `1` and its payout row as
//! an outcome. A *mission state* is a u32 length and the store's mission codec
//! (`reward_store::encode_mission`, every field re-validated when read). A batch without them
//! is version 1, so a client of this build talks to an older server until missions are
//! configured; from then on the older server refuses the body, which the client retries: deploy
//! `spend store` first. Integers are big-endian; decimals are
//! `rust_decimal`'s exact 16-byte form (never a float); units are 1 points, 2 miles,
//! 3 cashback. An *outcome* is a u32 length and the embedded store's compact record (the
//! codec of `reward_store`, every field re-validated when read); *outcomes* are a u32 count and
//! that many outcomes; *transactions* are outcomes whose transaction part is the point (each
//! travels as a dead letter; status and time are ignored). A *range* is a flags byte (1 from,
//! 2 to) and each date present as an i32 of days from 0001-01-01. A *cursor* is a u16 length
//! (0: none) and the cursor's usual opaque text. A *ledger* is a u32 count of priors (id 16 ·
//! 1 rewarded or 2 dead letter) and a u32 count of originals (id 16 · card id 16 · reward ·
//! amount · currency 3 ASCII · unit u8 · reversed total).
//!
//! **Errors** are JSON in the shape every service answers with (`spend_runtime::ApiError`:
//! `{"error": "<sentence>", "details": [{"code": …}]}`), the code saying what the client should
//! do:
//!
//! | status | code | cause | client sees |
//! |---|---|---|---|
//! | 400 | `bad_body` | a body that does not decode (the sentence says why) | `Unavailable` |
//! | 400 | `invalid_cursor` | a cursor of another card or unreadable (`reason`) | `InvalidCursor` |
//! | 401, 403 | — | no, bad or non-`service` token (the auth layer) | `Unavailable` ¹ |
//! | 413 | `too_large` | a body over [`MAX_BODY_BYTES`] | `Unavailable` |
//! | 415 | `bad_body` | a content type other than `application/octet-stream` | `Unavailable` |
//! | 503 | `unavailable` | the store behind the server is unavailable | `Unavailable` |
//! | 500 | `corrupt` | the store's data cannot be read back (the only 500) | `Corrupt` |
//!
//! ¹ Its message says the token was refused, and the server's reason.
//!
//! Connection failures, time-outs and any other status are `Unavailable`, which callers retry.
//! A refused body is too: it means a client and a server of different wire versions (mid
//! upgrade), where retrying loses nothing and the log says why. An answer that does not decode
//! is `Corrupt`, as is the server's own `corrupt`, so a rewarder stops loudly rather than
//! writing on top of bad data.

mod client;
pub mod wire;

pub use client::{RemoteError, RemoteOptions, RemoteRewardStore};

/// The largest request body the server reads (and answer the client reads); past it, 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The routes, relative to the server's base URL.
pub mod paths {
    pub const APPLY: &str = "/v1/store/apply";
    pub const PREFETCH: &str = "/v1/store/prefetch";
    pub const GET: &str = "/v1/store/get";
    pub const HISTORY: &str = "/v1/store/history";
    pub const SUMMARY: &str = "/v1/store/summary";
    pub const MISSIONS: &str = "/v1/store/missions";
    pub const PING: &str = "/v1/store/ping";
    /// The OpenAPI document of these routes (served by `spend_store_server::openapi_router`, not `router`).
    pub const OPENAPI: &str = "/v1/openapi/store.json";
}

/// The content type of every request and answer body.
pub const CONTENT_TYPE: &str = "application/octet-stream";

/// The `code` of each error answer (in its `details`).
pub use crate::api_error::codes;
