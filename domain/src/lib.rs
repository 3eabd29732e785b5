//! `spend-domain`: what a transaction, a configuration and a reward *are*.
//!
//! Owns transaction parsing and validation (REWARDS.md §1), the strict CSV framing, money and
//! rounding, the configuration model and its validation (§2), compiling a configuration into an
//! immutable [`RuleSet`](rules::RuleSet), and evaluating purchases, reversals and the once-only rule
//! (§3, §4, §6), and what a transaction does to its card's missions (`mission`, docs/missions.md).
//!
//! It must never do I/O, spawn, or know about tokio, Kafka or a database: everything here is a pure
//! function of its inputs, so it can be tested exhaustively. What the pipeline already knows about a
//! record id (its prior outcome, a reversal's original) reaches evaluation through the
//! [`Ledger`](ledger::Ledger) trait, which the stores implement.

pub mod config;
pub mod csv;
pub mod eval;
pub mod ledger;
pub mod mission;
pub mod money;
pub mod pan;
pub mod rules;
pub mod transaction;
pub mod types;

pub use types::*;
