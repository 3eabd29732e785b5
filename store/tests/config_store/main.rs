//! The `ConfigStore` suite: one set of scenarios run on every backend, plus what only one
//! backend can show (the embedded store's durability, etcd going down and coming back).

mod embedded;
mod etcd_outages;
mod flaky;
mod scenarios;
mod support;
