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
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _already_set = match Format::from_env_or(default) {
        Format::Json => builder.json().try_init(),
        Format::Pretty => builder.try_init(),
    };
}
