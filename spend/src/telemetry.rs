//! Telemetry, set up once, in the binary: `tracing` to stderr, filtered by `RUST_LOG` (default
//! `info`). Services log JSON lines in production (`SPEND_LOG_FORMAT=json`, the default of the
//! service commands when stderr is not a terminal); `spend dev` logs readable lines.

use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Format {
    Pretty,
    Json,
}

impl Format {
    /// `SPEND_LOG_FORMAT` (`json` or `pretty`) if set, otherwise `default`.
    pub(crate) fn from_env_or(default: Format) -> Format {
        match std::env::var("SPEND_LOG_FORMAT").as_deref() {
            Ok("json") => Format::Json,
            Ok("pretty") | Ok("text") => Format::Pretty,
            _ => default,
        }
    }
}

/// Installs the global subscriber; a second call keeps the first one.
pub(crate) fn init(default: Format) {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_new(quiet_broker(&directives))
        .unwrap_or_else(|_| EnvFilter::new(quiet_broker("info")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _already_set = match Format::from_env_or(default) {
        Format::Json => builder.json().try_init(),
        Format::Pretty => builder.try_init(),
    };
}

/// The embedded broker's crates (tansu, in `spend dev`) log every request and every record at
/// info and debug: they are held at `warn` unless `directives` name them.
fn quiet_broker(directives: &str) -> String {
    if directives.contains("tansu") {
        return directives.to_owned();
    }
    let mut out = directives.to_owned();
    for krate in [
        "tansu_broker",
        "tansu_storage",
        "tansu_service",
        "tansu_sans_io",
        "tansu_schema",
        "tansu_auth",
        "tansu_model",
        "slatedb",
    ] {
        out.push_str(&format!(",{krate}=warn"));
    }
    // SlateDB-engine notes that say "not implemented" of options spend never sets, once a
    // start: noise to a newcomer reading `spend dev`'s output.
    out.push_str(",tansu_storage::slate=error");
    out
}

#[cfg(test)]
mod tests {
    use super::quiet_broker;

    #[test]
    fn the_broker_is_quiet_unless_named() {
        assert!(quiet_broker("debug").contains("tansu_sans_io=warn"));
        assert_eq!(
            quiet_broker("debug,tansu_broker=debug"),
            "debug,tansu_broker=debug"
        );
    }
}
