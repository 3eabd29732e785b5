//! The commands that run spend: `spend dev` and each service, and the tools around them (`eval`,
//! `gen`, `upload`, `token`, `replay-dlq`, `scylla-schema`). One module a command, except where
//! commands share their flags: `ingest` (the ingestor, `upload`), `rewarder` (the rewarder,
//! `replay-dlq`, `scylla-schema`, and the store flags every service reads), `services`
//! (informer, campaignex). Only argument parsing and wiring live here; the services are their
//! crates'. The benchmarks are in [`crate::bench`].

pub(crate) mod dev;
pub(crate) mod eval;
pub(crate) mod gen;
pub(crate) mod ingest;
pub(crate) mod rewarder;
pub(crate) mod services;
pub(crate) mod store;
pub(crate) mod token;
pub(crate) mod web;
