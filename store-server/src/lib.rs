//! `spend-store-server`: the server half of the reward store served over HTTP. [`router`] serves
//! any [`RewardStore`](spend_store::reward_store::RewardStore) on the routes of
//! [`spend_store::remote::paths`], and [`openapi_router`] their OpenAPI document
//! ([`openapi::document`]).
//!
//! The wire format, the routes' contract and the client (`RemoteRewardStore`) are
//! [`spend_store::remote`]'s; how each store error answers is [`spend_store::api_error`]'s. This
//! crate is the HTTP side only, so `spend-store` stays storage: the binary's `spend store` wraps
//! [`router`] in its auth layer (role `service`) and serves it.

pub mod openapi;
mod server;

pub use server::{openapi_router, router};
