//! `spend-kafka`: the Kafka client settings every Kafka-speaking service shares: the [`KafkaArgs`] flag group, the base
//! [`ClientConfig`] built from it ([`client_config`], [`consumer_config`]), topic creation
//! ([`ensure_topic`]) and librdkafka's logs routed to `tracing` ([`TracingContext`]).
//!
//! What a producer or a consumer does with the connection (idempotence, batching, commits) is the
//! service's own business; this crate only knows how to reach the brokers.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};

/// The session timeout a consumer group member uses unless told otherwise. Against tansu a
/// longer one makes every join wait for it (about 23 s at librdkafka's default 45 s); against
/// Kafka 6 s is an ordinary value.
pub const DEFAULT_SESSION_TIMEOUT_MS: u32 = 6000;

/// How a service reaches Kafka: flattened into each service's command line.
#[derive(clap::Args, Clone)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, `host:port[,host:port...]`.
    #[arg(
        long = "kafka-brokers",
        env = "SPEND_KAFKA_BROKERS",
        default_value = "127.0.0.1:9092",
        value_name = "HOSTS"
    )]
    pub brokers: String,
    /// `client.id` the brokers see (default: the service's name).
    #[arg(
        long = "kafka-client-id",
        env = "SPEND_KAFKA_CLIENT_ID",
        value_name = "ID"
    )]
    pub client_id: Option<String>,
    /// `security.protocol`: `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`. librdkafka is
    /// built with OpenSSL (`rdkafka` feature `ssl`), so all four work; `tests/kafka_tls.rs`
    /// checks a verified TLS session.
    #[arg(
        long = "kafka-security-protocol",
        env = "SPEND_KAFKA_SECURITY_PROTOCOL",
        default_value = "plaintext",
        value_name = "PROTOCOL"
    )]
    pub security_protocol: String,
    /// `sasl.mechanism`: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (`GSSAPI` is not built in).
    #[arg(
        long = "kafka-sasl-mechanism",
        env = "SPEND_KAFKA_SASL_MECHANISM",
        value_name = "MECHANISM"
    )]
    pub sasl_mechanism: Option<String>,
    #[arg(
        long = "kafka-sasl-username",
        env = "SPEND_KAFKA_SASL_USERNAME",
        value_name = "USER"
    )]
    pub sasl_username: Option<String>,
    /// Never printed (not in `--help`, not in `Debug`).
    #[arg(
        long = "kafka-sasl-password",
        env = "SPEND_KAFKA_SASL_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub sasl_password: Option<String>,
    /// `ssl.ca.location`: the CA certificate(s) that sign the brokers' certificates.
    #[arg(
        long = "kafka-ssl-ca-location",
        env = "SPEND_KAFKA_SSL_CA_LOCATION",
        value_name = "FILE"
    )]
    pub ssl_ca_location: Option<PathBuf>,
    /// A consumer group member's `session.timeout.ms`.
    #[arg(
        long = "kafka-session-timeout-ms",
        env = "SPEND_KAFKA_SESSION_TIMEOUT_MS",
        default_value_t = DEFAULT_SESSION_TIMEOUT_MS,
        value_name = "MS"
    )]
    pub session_timeout_ms: u32,
    /// Any other librdkafka property, `key=value`; repeatable; applied last, so it wins.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
}

impl KafkaArgs {
    /// The defaults, for `brokers`: what the flags give when only `--kafka-brokers` is set.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaArgs {
            brokers: brokers.into(),
            client_id: None,
            security_protocol: "plaintext".into(),
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
            session_timeout_ms: DEFAULT_SESSION_TIMEOUT_MS,
            properties: Vec::new(),
        }
    }

    /// With `client.id` set, unless one was given.
    pub fn with_default_client_id(mut self, client_id: &str) -> Self {
        if self.client_id.is_none() {
            self.client_id = Some(client_id.to_owned());
        }
        self
    }
}

/// Property values under these key fragments are secrets.
const SECRET_KEYS: [&str; 4] = ["password", "secret", "key", "token"];

fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| key.contains(s))
}

impl fmt::Debug for KafkaArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let properties: Vec<(&str, &str)> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("KafkaArgs")
            .field("brokers", &self.brokers)
            .field("client_id", &self.client_id)
            .field("security_protocol", &self.security_protocol)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field(
                "sasl_password",
                &self.sasl_password.as_ref().map(|_| "<redacted>"),
            )
            .field("ssl_ca_location", &self.ssl_ca_location)
            .field("session_timeout_ms", &self.session_timeout_ms)
            .field("properties", &properties)
            .finish()
    }
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err("expected KEY=VALUE".into()),
    }
}

/// What every client of the brokers shares: bootstrap servers, `client.id` (`spend` unless
/// given), security settings, warning-level logs, and the extra properties last.
pub fn client_config(args: &KafkaArgs) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.brokers)
        .set("client.id", args.client_id.as_deref().unwrap_or("spend"))
        .set("security.protocol", &args.security_protocol)
        .set_log_level(RDKafkaLogLevel::Warning);
    if let Some(m) = &args.sasl_mechanism {
        config.set("sasl.mechanism", m);
    }
    if let Some(u) = &args.sasl_username {
        config.set("sasl.username", u);
    }
    if let Some(p) = &args.sasl_password {
        config.set("sasl.password", p);
    }
    if let Some(ca) = &args.ssl_ca_location {
        config.set("ssl.ca.location", ca.to_string_lossy());
    }
    for (k, v) in &args.properties {
        config.set(k, v);
    }
    config
}

/// [`client_config`] for a member of consumer group `group_id`: its session timeout and a
/// heartbeat a third of it. Offsets, assignment strategy and fetch sizes are the caller's.
pub fn consumer_config(args: &KafkaArgs, group_id: &str) -> ClientConfig {
    let mut config = client_config(args);
    let session = args.session_timeout_ms.max(1);
    config
        .set("group.id", group_id)
        .set("session.timeout.ms", session.to_string())
        .set("heartbeat.interval.ms", (session / 3).max(1).to_string());
    // The extra properties win over the defaults set here too.
    for (k, v) in &args.properties {
        config.set(k, v);
    }
    config
}

/// An admin client on these settings.
pub fn admin_client(args: &KafkaArgs) -> KafkaResult<AdminClient<TracingContext>> {
    client_config(args).create_with_context(TracingContext)
}

/// Creates `name` with `partitions` partitions unless it exists; `true` if this call created it.
/// Replication is the broker's default. A topic that exists is left as it is (its partition
/// count is not checked: tansu cannot add partitions anyway). Brokers without automatic topic
/// creation (tansu) need this before anything is produced or consumed.
pub async fn ensure_topic<C: ClientContext + 'static>(
    admin: &AdminClient<C>,
    name: &str,
    partitions: i32,
) -> KafkaResult<bool> {
    ensure_topic_replicated(admin, name, partitions, None).await
}

/// [`ensure_topic`] with an explicit replication factor (`None`: the broker's default).
pub async fn ensure_topic_replicated<C: ClientContext + 'static>(
    admin: &AdminClient<C>,
    name: &str,
    partitions: i32,
    replication: Option<i32>,
) -> KafkaResult<bool> {
    let new = NewTopic::new(
        name,
        partitions,
        TopicReplication::Fixed(replication.unwrap_or(-1)),
    );
    let options = AdminOptions::new()
        .request_timeout(Some(Duration::from_secs(10)))
        .operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics([&new], &options).await?;
    let mut created = false;
    for result in results {
        match result {
            Ok(_) => {
                tracing::info!(topic = name, partitions, "kafka topic created");
                created = true;
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::debug!(topic = name, "kafka topic exists");
            }
            Err((_, code)) => return Err(KafkaError::AdminOp(code)),
        }
    }
    Ok(created)
}

/// Routes librdkafka's log lines and client errors to `tracing`. Usable as a plain consumer's
/// context too.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingContext;

/// Logs one librdkafka log line at the matching `tracing` level.
pub fn log_to_tracing(level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::error!(facility, "librdkafka: {message}"),
        RDKafkaLogLevel::Warning => tracing::warn!(facility, "librdkafka: {message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(facility, "librdkafka: {message}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(facility, "librdkafka: {message}"),
    }
}

impl ClientContext for TracingContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_to_tracing(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka client error");
    }
}

impl ConsumerContext for TracingContext {}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        kafka: KafkaArgs,
    }

    #[test]
    fn flags_become_client_properties() {
        let cli = Cli::try_parse_from([
            "x",
            "--kafka-brokers",
            "a:1,b:2",
            "--kafka-sasl-password",
            "hunter2",
            "--kafka-property",
            "fetch.wait.max.ms=50",
            "--kafka-property",
            "ssl.key.password=also-secret",
        ])
        .unwrap();
        let config = consumer_config(&cli.kafka, "g");
        assert_eq!(config.get("bootstrap.servers"), Some("a:1,b:2"));
        assert_eq!(config.get("group.id"), Some("g"));
        assert_eq!(config.get("session.timeout.ms"), Some("6000"));
        assert_eq!(config.get("heartbeat.interval.ms"), Some("2000"));
        assert_eq!(config.get("fetch.wait.max.ms"), Some("50"));
        assert_eq!(config.get("client.id"), Some("spend"));
        let shown = format!("{:?}", cli.kafka);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("also-secret"), "{shown}");
        assert!(shown.contains("fetch.wait.max.ms"), "{shown}");
    }

    #[test]
    fn a_property_without_a_value_is_refused() {
        assert!(Cli::try_parse_from(["x", "--kafka-property", "novalue"]).is_err());
        assert!(Cli::try_parse_from(["x", "--kafka-property", "=v"]).is_err());
    }

    #[test]
    fn the_default_client_id_does_not_override_a_given_one() {
        let mut args = KafkaArgs::new("h:1");
        args = args.with_default_client_id("spend-rewarder");
        assert_eq!(
            client_config(&args).get("client.id"),
            Some("spend-rewarder")
        );
        args.client_id = Some("mine".into());
        let args = args.with_default_client_id("spend-rewarder");
        assert_eq!(client_config(&args).get("client.id"), Some("mine"));
    }
}
