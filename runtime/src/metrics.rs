//! Metrics on the `prometheus` client: counters and gauges registered by name (and optional
//! constant labels) on a registry, updated through cheap atomic handles, exposed in the Prometheus
//! text format (0.0.4) by `/metrics`.
//!
//! Each crate keeps its named metrics in its own `metrics.rs`, registered on [`global()`] the first
//! time they are used. This module adds what the client leaves to its caller: get-or-create (the
//! same name and labels give the same handle, so a metric is declared where it is used) and one
//! place that refuses a metric declared two ways.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use prometheus::core::Collector;
use prometheus::{IntCounter, IntGauge, Opts, TextEncoder};

/// A monotonically increasing count.
#[derive(Clone, Debug)]
pub struct Counter(IntCounter);

impl Counter {
    pub fn inc(&self) {
        self.0.inc();
    }
    pub fn add(&self, n: u64) {
        self.0.inc_by(n);
    }
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// A counter on no registry (for a test, or a part run without `/metrics`).
impl Default for Counter {
    fn default() -> Self {
        Counter(IntCounter::new("detached", "A counter on no registry.").expect("a valid name"))
    }
}

/// A value that goes up and down.
#[derive(Clone, Debug)]
pub struct Gauge(IntGauge);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.set(v);
    }
    pub fn add(&self, n: i64) {
        self.0.add(n);
    }
    pub fn get(&self) -> i64 {
        self.0.get()
    }
}

/// A gauge on no registry.
impl Default for Gauge {
    fn default() -> Self {
        Gauge(IntGauge::new("detached", "A gauge on no registry.").expect("a valid name"))
    }
}

#[derive(Clone, Debug)]
enum Series {
    Counter(Counter),
    Gauge(Gauge),
}

/// A set of metrics. Cloning shares it.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    registry: prometheus::Registry,
    series: Mutex<HashMap<SeriesKey, Series>>,
}

/// A series' name and its labels, sorted.
type SeriesKey = (String, Vec<(String, String)>);

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

/// The process-wide registry that `/metrics` serves by default.
pub fn global() -> &'static Registry {
    static GLOBAL: OnceLock<Registry> = OnceLock::new();
    GLOBAL.get_or_init(Registry::default)
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter `name` with these labels, registered on first use; the same handle afterwards.
    ///
    /// Panics if `name` or a label is not a valid Prometheus name, or if `name` is already
    /// registered another way (a gauge, another help text or other label names): all programming
    /// errors, caught by the first test that touches the metric.
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        let series = self.series(name, labels, || {
            let counter = IntCounter::with_opts(opts(name, help, labels))
                .unwrap_or_else(|e| panic!("metric {name}: {e}"));
            (Box::new(counter.clone()), Series::Counter(Counter(counter)))
        });
        match series {
            Series::Counter(c) => c,
            Series::Gauge(_) => panic!("metric {name} is registered as a gauge"),
        }
    }

    /// The gauge `name` with these labels, registered on first use; the same handle afterwards.
    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Gauge {
        let series = self.series(name, labels, || {
            let gauge = IntGauge::with_opts(opts(name, help, labels))
                .unwrap_or_else(|e| panic!("metric {name}: {e}"));
            (Box::new(gauge.clone()), Series::Gauge(Gauge(gauge)))
        });
        match series {
            Series::Gauge(g) => g,
            Series::Counter(_) => panic!("metric {name} is registered as a counter"),
        }
    }

    fn series(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        new: impl FnOnce() -> (Box<dyn Collector>, Series),
    ) -> Series {
        let mut key_labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        key_labels.sort();
        let mut series = self.inner.series.lock().unwrap_or_else(|p| p.into_inner());
        series
            .entry((name.to_owned(), key_labels))
            .or_insert_with(|| {
                let (collector, series) = new();
                self.inner
                    .registry
                    .register(collector)
                    .unwrap_or_else(|e| panic!("metric {name} registered twice, differently: {e}"));
                series
            })
            .clone()
    }

    /// The Prometheus text exposition of every registered metric, by name.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.inner.registry.gather())
            .unwrap_or_else(|e| format!("# metrics could not be encoded: {e}\n"))
    }
}

fn opts(name: &str, help: &str, labels: &[(&str, &str)]) -> Opts {
    labels.iter().fold(Opts::new(name, help), |opts, (k, v)| {
        opts.const_label(*k, *v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let r = Registry::new();
        let c = r.counter("spend_things_total", "Things seen.", &[("kind", "a\"b")]);
        c.add(3);
        r.counter("spend_things_total", "Things seen.", &[("kind", "a\"b")])
            .inc();
        r.gauge("spend_level", "A level.", &[]).set(-2);
        let text = r.render();
        assert_eq!(
            text,
            "# HELP spend_level A level.\n# TYPE spend_level gauge\nspend_level -2\n\
             # HELP spend_things_total Things seen.\n# TYPE spend_things_total counter\n\
             spend_things_total{kind=\"a\\\"b\"} 4\n"
        );
    }

    #[test]
    #[should_panic]
    fn refuses_a_bad_name() {
        Registry::new().counter("bad-name", "Bad.", &[]);
    }

    #[test]
    #[should_panic]
    fn refuses_a_counter_that_is_a_gauge() {
        let r = Registry::new();
        r.gauge("spend_level", "A level.", &[]);
        r.counter("spend_level", "A level.", &[]);
    }

    #[test]
    fn one_family_holds_every_label_value() {
        let r = Registry::new();
        r.counter("spend_retries_total", "Retries.", &[("stage", "apply")])
            .inc();
        r.counter("spend_retries_total", "Retries.", &[("stage", "prefetch")])
            .add(2);
        let text = r.render();
        assert_eq!(
            text.matches("# TYPE spend_retries_total counter").count(),
            1
        );
        assert!(
            text.contains("spend_retries_total{stage=\"apply\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("spend_retries_total{stage=\"prefetch\"} 2\n"),
            "{text}"
        );
    }
}
