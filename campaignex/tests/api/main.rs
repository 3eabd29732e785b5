//! campaignex's tests, one binary (one link): the configuration API served through `run()` on
//! the embedded store and on etcd, with its auth, its races, its outages and its OpenAPI document.

#[macro_use]
mod common;

mod api;
mod delete_race;
mod missions;
mod notifications;
mod openapi;
mod unavailable;
