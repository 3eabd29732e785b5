//! campaignex's named metrics, on the process-wide registry that `/metrics` serves.

use spend_runtime::metrics::global;
use spend_store::config_store::{CustomerSetting, Resource};

/// A configuration write that reached the store and succeeded.
pub(crate) fn write_succeeded(resource: Option<Resource>, op: &'static str) {
    let resource = resource.map_or("config", Resource::as_str);
    global()
        .counter(
            "spend_campaignex_writes_total",
            "Configuration writes stored, by resource and operation.",
            &[("resource", resource), ("op", op)],
        )
        .inc();
}

/// A request answered 503 because the configuration store did not answer.
pub(crate) fn store_unavailable() {
    global()
        .counter(
            "spend_campaignex_store_unavailable_total",
            "Requests answered 503 because the configuration store was unavailable.",
            &[],
        )
        .inc();
}

/// A customer's setting (e.g. notification preferences) stored.
pub(crate) fn customer_setting_written(kind: CustomerSetting) {
    global()
        .counter(
            "spend_campaignex_customer_setting_writes_total",
            "Customer settings stored, by kind.",
            &[("kind", kind.as_str())],
        )
        .inc();
}
