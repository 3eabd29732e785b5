//! The benchmarks, each a command of its own that reports ratios against a baseline measured in the
//! same run (these machines are shared and noisy): `bench-ingest` (HTTP into Kafka, against a bare
//! producer), `bench-rewarder` (against a bare consumer), `bench-informer` (the read API under
//! oha) and `bench-pipeline` (end to end through `spend dev`, against `spend eval`).

pub(crate) mod informer;
pub(crate) mod ingest;
pub(crate) mod pipeline;
pub(crate) mod rewarder;
