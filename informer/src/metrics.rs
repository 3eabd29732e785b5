//! The informer's named metrics, on the process-wide registry that `/metrics` serves.
//!
//! Handles are looked up once and kept: a registry lookup takes a lock, a handle is one atomic.

use std::sync::OnceLock;

use spend_runtime::metrics::{global, Counter};

/// The routes counted apart.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Route {
    History,
    Summary,
    Record,
    Missions,
}

impl Route {
    fn as_str(self) -> &'static str {
        match self {
            Route::History => "history",
            Route::Summary => "summary",
            Route::Record => "record",
            Route::Missions => "missions",
        }
    }
}

/// A read answered from the store (any status the store's answer led to).
pub(crate) fn served(route: Route) {
    static COUNTERS: OnceLock<[Counter; 4]> = OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        [
            Route::History,
            Route::Summary,
            Route::Record,
            Route::Missions,
        ]
        .map(|r| {
            global().counter(
                "spend_informer_reads_total",
                "Reads answered from the reward store, by route.",
                &[("route", r.as_str())],
            )
        })
    });
    counters[route as usize].inc();
}

/// Outcomes sent in history pages.
pub(crate) fn items_served(n: usize) {
    static COUNTER: OnceLock<Counter> = OnceLock::new();
    COUNTER
        .get_or_init(|| {
            global().counter(
                "spend_informer_history_items_total",
                "Outcomes sent in history pages.",
                &[],
            )
        })
        .add(n as u64);
}

/// A request answered 503 because the reward store did not answer.
pub(crate) fn store_unavailable() {
    static COUNTER: OnceLock<Counter> = OnceLock::new();
    COUNTER
        .get_or_init(|| {
            global().counter(
                "spend_informer_store_unavailable_total",
                "Requests answered 503 because the reward store was unavailable.",
                &[],
            )
        })
        .inc();
}
