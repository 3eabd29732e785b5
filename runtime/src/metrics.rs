//! A minimal metrics registry with Prometheus text exposition (format 0.0.4).
//!
//! Counters and gauges are registered by name (and optional constant labels) and updated through
//! cheap atomic handles. Each crate keeps its named metrics in its own `metrics.rs`, registered on
//! [`global()`] the first time they are used.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// A monotonically increasing count.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Clone, Debug, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Clone, Debug)]
enum Series {
    Counter(Counter),
    Gauge(Gauge),
}

#[derive(Debug)]
struct Family {
    help: String,
    kind: &'static str,
    /// Rendered label set (`{a="b"}` or empty) → series.
    series: BTreeMap<String, Series>,
}

/// A set of metric families. Cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    families: Arc<Mutex<BTreeMap<String, Family>>>,
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
    /// Panics if `name` is not a valid metric name or is already a gauge: both are programming
    /// errors, caught by the first test that touches the metric.
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        match self.series(name, help, "counter", labels, || {
            Series::Counter(Counter::default())
        }) {
            Series::Counter(c) => c,
            Series::Gauge(_) => panic!("metric {name} is registered as a gauge"),
        }
    }

    /// The gauge `name` with these labels, registered on first use; the same handle afterwards.
    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Gauge {
        match self.series(name, help, "gauge", labels, || {
            Series::Gauge(Gauge::default())
        }) {
            Series::Gauge(g) => g,
            Series::Counter(_) => panic!("metric {name} is registered as a counter"),
        }
    }

    fn series(
        &self,
        name: &str,
        help: &str,
        kind: &'static str,
        labels: &[(&str, &str)],
        new: impl FnOnce() -> Series,
    ) -> Series {
        assert!(valid_name(name), "invalid metric name {name:?}");
        for (label, _) in labels {
            assert!(valid_name(label), "invalid label name {label:?}");
        }
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let family = families.entry(name.to_owned()).or_insert_with(|| Family {
            help: help.to_owned(),
            kind,
            series: BTreeMap::new(),
        });
        assert_eq!(
            family.kind, kind,
            "metric {name} registered twice with different types"
        );
        family
            .series
            .entry(render_labels(labels))
            .or_insert_with(new)
            .clone()
    }

    /// The Prometheus text exposition of every registered metric.
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, family) in families.iter() {
            let help = family.help.replace('\\', "\\\\").replace('\n', "\\n");
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {}", family.kind);
            for (labels, series) in &family.series {
                let value = match series {
                    Series::Counter(c) => c.get().to_string(),
                    Series::Gauge(g) => g.get().to_string(),
                };
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        }
        out
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut sorted: Vec<_> = labels.to_vec();
    sorted.sort();
    let body: Vec<String> = sorted
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", body.join(","))
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
        Registry::new().counter("bad-name", "", &[]);
    }
}
