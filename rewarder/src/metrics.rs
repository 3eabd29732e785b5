//! The rewarder's named metrics, on the process-wide registry that `/metrics` serves.
//!
//! | metric | kind | meaning |
//! |---|---|---|
//! | `spend_rewarder_records_total{outcome}` | counter | records written, by `rewarded`, `dead_letter` (undecodable included) or `duplicate` |
//! | `spend_rewarder_dead_letters_total{reason}` | counter | dead letters by reason (`undecodable` included) |
//! | `spend_rewarder_batch_duration_microseconds_{bucket,sum,count}` | counters | from a batch's first record taken off the queue to its offsets being committable; `bucket{le}` is cumulative, a Prometheus histogram |
//! | `spend_rewarder_consumer_lag_records` | gauge | records fetched from the broker and not yet written: see below |
//! | `spend_rewarder_rule_set_revision` | gauge | the configuration revision of the rule set in use |
//! | `spend_rewarder_assigned_partitions` | gauge | partitions this process owns |
//! | `spend_rewarder_retries_total{stage}` | counter | backend failures retried, by `prefetch`, `apply`, `dead_letter` |
//! | `spend_rewarder_commit_failures_total` | counter | offset commits the broker refused (retried with the next commit) |
//! | `spend_rewarder_mission_payouts_total` | counter | mission rewards and clawbacks written (docs/missions.md) |
//! | `spend_rewarder_mission_cards_read_total` | counter | cards whose mission states were read from the store, not held ([`crate::mission_cache`]) |
//! | `spend_rewarder_revoked_records_total` | counter | records dropped unprocessed because their partition was revoked (its new owner reads them) |
//!
//! **Consumer lag** here is what this process can know for certain: for each partition it owns,
//! the offset after the last record it fetched minus the offset it has written up to. It is not
//! the backlog on the broker: that needs the partition's high watermark, which tansu reports
//! wrongly (the base offset of the last batch + 1), so it is never computed here. On real Kafka
//! the backlog per group is the broker's own figure (`kafka-consumer-groups`, or KEDA's Kafka
//! scaler reading committed offsets against log end offsets), which is what the chart scales on.

use std::sync::OnceLock;
use std::time::Duration;

use spend_domain::eval::DeadLetterReason;
use spend_runtime::metrics::{global, Counter, Gauge};

/// Upper bounds of the batch duration buckets, in microseconds.
const BUCKETS_US: [u64; 12] = [
    1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

pub(crate) struct Metrics {
    pub(crate) rewarded: Counter,
    pub(crate) dead_letter: Counter,
    pub(crate) duplicate: Counter,
    dead_letters: [(DeadLetterReason, Counter); 5],
    batch_buckets: Vec<(u64, Counter)>,
    batch_inf: Counter,
    batch_sum_us: Counter,
    batch_count: Counter,
    pub(crate) lag: Gauge,
    pub(crate) revision: Gauge,
    pub(crate) assigned: Gauge,
    pub(crate) retry_prefetch: Counter,
    pub(crate) retry_apply: Counter,
    pub(crate) retry_dead_letter: Counter,
    pub(crate) commit_failures: Counter,
    pub(crate) revoked_records: Counter,
    pub(crate) mission_payouts: Counter,
    pub(crate) mission_cards_read: Counter,
}

pub(crate) fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let r = global();
        let records = |outcome: &str| {
            r.counter(
                "spend_rewarder_records_total",
                "Records written by the rewarder, by outcome.",
                &[("outcome", outcome)],
            )
        };
        let reason = |reason: DeadLetterReason| {
            (
                reason,
                r.counter(
                    "spend_rewarder_dead_letters_total",
                    "Records dead-lettered by the rewarder, by reason.",
                    &[("reason", reason.as_str())],
                ),
            )
        };
        let bucket = |le: &str| {
            r.counter(
                "spend_rewarder_batch_duration_microseconds_bucket",
                "Batches that took at most `le` microseconds from dequeue to written (cumulative).",
                &[("le", le)],
            )
        };
        let retry = |stage: &str| {
            r.counter(
                "spend_rewarder_retries_total",
                "Backend failures the rewarder retried, by stage.",
                &[("stage", stage)],
            )
        };
        Metrics {
            rewarded: records("rewarded"),
            dead_letter: records("dead_letter"),
            duplicate: records("duplicate"),
            dead_letters: [
                reason(DeadLetterReason::UnknownProgram),
                reason(DeadLetterReason::NoFxRate),
                reason(DeadLetterReason::OriginalNotFound),
                reason(DeadLetterReason::CurrencyMismatch),
                reason(DeadLetterReason::Undecodable),
            ],
            batch_buckets: BUCKETS_US
                .iter()
                .map(|&us| (us, bucket(&us.to_string())))
                .collect(),
            batch_inf: bucket("+Inf"),
            batch_sum_us: r.counter(
                "spend_rewarder_batch_duration_microseconds_sum",
                "Total microseconds batches took from dequeue to written.",
                &[],
            ),
            batch_count: r.counter(
                "spend_rewarder_batch_duration_microseconds_count",
                "Batches written.",
                &[],
            ),
            lag: r.gauge(
                "spend_rewarder_consumer_lag_records",
                "Records fetched by this process and not yet written (not the broker-side backlog).",
                &[],
            ),
            revision: r.gauge(
                "spend_rewarder_rule_set_revision",
                "Configuration revision of the rule set in use.",
                &[],
            ),
            assigned: r.gauge(
                "spend_rewarder_assigned_partitions",
                "Partitions this process owns.",
                &[],
            ),
            retry_prefetch: retry("prefetch"),
            retry_apply: retry("apply"),
            retry_dead_letter: retry("dead_letter"),
            commit_failures: r.counter(
                "spend_rewarder_commit_failures_total",
                "Offset commits the broker refused.",
                &[],
            ),
            revoked_records: r.counter(
                "spend_rewarder_revoked_records_total",
                "Records dropped unprocessed because their partition was revoked.",
                &[],
            ),
            mission_payouts: r.counter(
                "spend_rewarder_mission_payouts_total",
                "Mission rewards and clawbacks written.",
                &[],
            ),
            mission_cards_read: r.counter(
                "spend_rewarder_mission_cards_read_total",
                "Cards whose mission states were read from the reward store (the others were held).",
                &[],
            ),
        }
    })
}

impl Metrics {
    pub(crate) fn dead_lettered(&self, reason: DeadLetterReason) {
        self.dead_letter.inc();
        if let Some((_, c)) = self.dead_letters.iter().find(|(r, _)| *r == reason) {
            c.inc();
        }
    }

    pub(crate) fn batch_took(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        for (le, c) in &self.batch_buckets {
            if us <= *le {
                c.inc();
            }
        }
        self.batch_inf.inc();
        self.batch_sum_us.add(us);
        self.batch_count.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_durations_fill_cumulative_buckets() {
        let m = metrics();
        let before: Vec<u64> = m.batch_buckets.iter().map(|(_, c)| c.get()).collect();
        let inf = m.batch_inf.get();
        m.batch_took(Duration::from_millis(7));
        let after: Vec<u64> = m.batch_buckets.iter().map(|(_, c)| c.get()).collect();
        // 7 ms is above the 1 ms and 5 ms bounds and within every other one. Other tests may
        // record batches meanwhile, so only growth is checked.
        assert!(after[2..].iter().zip(&before[2..]).all(|(a, b)| a > b));
        assert!(m.batch_inf.get() > inf);
        let text = global().render();
        assert!(text.contains("spend_rewarder_batch_duration_microseconds_bucket{le=\"+Inf\"}"));
    }
}
