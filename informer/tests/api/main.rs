//! The informer's tests, one binary (one link): an informer served through `run()` on an embedded
//! reward store, read as a cardholder, the bank and an admin.

mod common;

mod auth;
mod history;
mod openapi;
mod paging;
mod unavailable;
