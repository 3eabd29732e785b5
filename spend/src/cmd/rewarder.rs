//! `spend rewarder` (the rewarder against real Kafka, etcd and ScyllaDB, or embedded stores in a
//! data directory), `spend replay-dlq` (dead letters re-published for processing anew) and
//! `spend bench-rewarder` (rewarder throughput against a bare-consumer baseline).
//!
//! Only argument parsing and wiring live here; the service, the replay and the baseline consumer
//! are `spend-rewarder`'s.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use spend_domain::eval::DeadLetterReason;
use spend_kafka::KafkaArgs;
use spend_rewarder::replay::{replay_dead_letters, ReplayConfig};
use spend_rewarder::{RewarderConfig, RewarderDeps, Stats};
use spend_store::config_store::ConfigStore;
use spend_store::embedded::EmbeddedConfigStore;
use spend_store::etcd::{EtcdConfigStore, EtcdOptions};
use spend_store::remote::{RemoteOptions, RemoteRewardStore};
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store::reward_store::RewardStore;
use spend_store::scylla::{
    connect_session, Credentials, ScyllaOptions, ScyllaRewardStore, ScyllaTls,
};

use crate::telemetry;

/// The topics and the group.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct TopicArgs {
    /// The topic transactions are read from.
    #[arg(long = "topic", env = "SPEND_TOPIC", default_value = spend_rewarder::DEFAULT_TOPIC)]
    topic: String,
    /// The dead-letter topic.
    #[arg(long = "dlq-topic", env = "SPEND_DLQ_TOPIC", default_value = spend_rewarder::DEFAULT_DLQ_TOPIC)]
    dlq_topic: String,
    /// Partitions of the topics when they are created at start-up (an existing topic is left
    /// as it is).
    #[arg(long = "partitions", env = "SPEND_PARTITIONS", default_value_t = 12)]
    partitions: i32,
    /// Do not create missing topics at start-up.
    #[arg(long = "no-create-topics", env = "SPEND_NO_CREATE_TOPICS")]
    no_create_topics: bool,
}

/// Where the configuration is read: etcd, or with `--config-dir` the embedded store.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ConfigStoreArgs {
    /// etcd endpoints, comma-separated.
    #[arg(
        long = "etcd-endpoints",
        env = "SPEND_ETCD_ENDPOINTS",
        default_value = "http://127.0.0.1:2379",
        value_delimiter = ','
    )]
    endpoints: Vec<String>,
    /// The key prefix the configuration lives under.
    #[arg(
        long = "etcd-prefix",
        env = "SPEND_ETCD_PREFIX",
        default_value = "/spend/config"
    )]
    prefix: String,
    /// Read the configuration from the embedded store in this directory instead of etcd.
    #[arg(long = "config-dir", env = "SPEND_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
}

impl ConfigStoreArgs {
    pub(crate) async fn store(&self) -> anyhow::Result<Arc<dyn ConfigStore>> {
        if let Some(dir) = &self.config_dir {
            let store = EmbeddedConfigStore::open(dir)
                .with_context(|| format!("open the configuration store in {}", dir.display()))?;
            return Ok(Arc::new(store));
        }
        let store = EtcdConfigStore::connect(&self.endpoints, &self.prefix, EtcdOptions::default())
            .await
            .context("set up the etcd client")?;
        Ok(Arc::new(store))
    }
}

/// Where outcomes are kept: ScyllaDB; or with `--data-dir` the embedded store, opened by this
/// process alone; or with `--reward-store-url` the embedded store `spend store` serves, which
/// several processes share.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct RewardStoreArgs {
    /// ScyllaDB (or Cassandra) nodes, `host:port`, comma-separated.
    #[arg(
        long = "scylla-nodes",
        env = "SPEND_SCYLLA_NODES",
        default_value = "127.0.0.1:9042",
        value_delimiter = ','
    )]
    nodes: Vec<String>,
    #[arg(
        long = "scylla-keyspace",
        env = "SPEND_SCYLLA_KEYSPACE",
        default_value = "spend"
    )]
    keyspace: String,
    /// The local data center (requests stay in it).
    #[arg(long = "scylla-local-dc", env = "SPEND_SCYLLA_LOCAL_DC")]
    local_dc: Option<String>,
    /// User name for the cluster's password authentication (with --scylla-password).
    #[arg(long = "scylla-username", env = "SPEND_SCYLLA_USERNAME")]
    scylla_username: Option<String>,
    /// Its password. Prefer the environment variable: a flag shows in the process list.
    #[arg(
        long = "scylla-password",
        env = "SPEND_SCYLLA_PASSWORD",
        hide_env_values = true
    )]
    scylla_password: Option<Token>,
    /// Connect with TLS, verifying the nodes' certificates (which must name their IP
    /// addresses) against this CA file (PEM); implies --scylla-tls.
    #[arg(
        long = "scylla-tls-ca",
        env = "SPEND_SCYLLA_TLS_CA",
        value_name = "PEM"
    )]
    scylla_tls_ca: Option<PathBuf>,
    /// Connect with TLS, verifying the nodes against the system's trusted CAs.
    #[arg(long = "scylla-tls", env = "SPEND_SCYLLA_TLS")]
    scylla_tls: bool,
    /// Create the keyspace and tables when missing, with this many replicas per data center.
    #[arg(
        long = "scylla-install-schema",
        env = "SPEND_SCYLLA_INSTALL_SCHEMA",
        value_name = "RF"
    )]
    install_schema: Option<u32>,
    /// Write outcomes to the embedded store in this directory instead of ScyllaDB (one process
    /// per directory: to share one, serve it with `spend store` and use --reward-store-url).
    #[arg(long = "data-dir", env = "SPEND_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Use the reward store `spend store` serves at this URL (`http://host:port`, plain HTTP)
    /// instead of ScyllaDB or a local directory.
    #[arg(
        long = "reward-store-url",
        env = "SPEND_REWARD_STORE_URL",
        value_name = "URL"
    )]
    reward_store_url: Option<String>,
    /// The bearer token sent to --reward-store-url, of role `service` (`spend token --role
    /// service`). Prefer the environment variable: a flag shows in the process list.
    #[arg(
        long = "reward-store-token",
        env = "SPEND_REWARD_STORE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    reward_store_token: Option<Token>,
}

/// A bearer token: never shown by `Debug`.
#[derive(Clone)]
pub(crate) struct Token(String);

impl std::str::FromStr for Token {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl Token {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl RewardStoreArgs {
    fn scylla_options(&self) -> anyhow::Result<ScyllaOptions> {
        Ok(ScyllaOptions {
            nodes: self.nodes.clone(),
            keyspace: self.keyspace.clone(),
            local_dc: self.local_dc.clone(),
            credentials: match (&self.scylla_username, &self.scylla_password) {
                (Some(username), Some(password)) => Some(Credentials {
                    username: username.clone(),
                    password: password.0.clone(),
                }),
                (None, None) => None,
                _ => anyhow::bail!("--scylla-username and --scylla-password go together"),
            },
            tls: (self.scylla_tls || self.scylla_tls_ca.is_some()).then(|| ScyllaTls {
                ca_file: self.scylla_tls_ca.clone(),
                client_cert: None,
            }),
            ..ScyllaOptions::default()
        })
    }

    pub(crate) async fn store(&self) -> anyhow::Result<Arc<dyn RewardStore>> {
        if let Some(url) = &self.reward_store_url {
            anyhow::ensure!(
                self.data_dir.is_none(),
                "--data-dir (SPEND_DATA_DIR) and --reward-store-url (SPEND_REWARD_STORE_URL) name \
                 two reward stores: give one"
            );
            let token = self.reward_store_token.as_ref().context(
                "--reward-store-url needs --reward-store-token (SPEND_REWARD_STORE_TOKEN): a token \
                 of role service, as `spend token --role service` prints",
            )?;
            let store = RemoteRewardStore::new(url, &token.0, RemoteOptions::default())
                .context("--reward-store-url")?;
            tracing::info!(
                url = store.base_url(),
                "using the reward store served there"
            );
            return Ok(Arc::new(store));
        }
        if let Some(dir) = &self.data_dir {
            let store = EmbeddedRewardStore::open(dir)
                .with_context(|| format!("open the reward store in {}", dir.display()))?;
            return Ok(Arc::new(store));
        }
        let options = self.scylla_options()?;
        if let Some(rf) = self.install_schema {
            let session = connect_session(&options)
                .await
                .context("connect to scylla")?;
            ScyllaRewardStore::install_schema(&session, &options.keyspace, rf)
                .await
                .context("install the scylla schema")?;
        }
        let store = ScyllaRewardStore::connect(&options)
            .await
            .context("connect to scylla")?;
        Ok(Arc::new(store))
    }
}

/// `spend scylla-schema`: installs the reward store's schema once and exits, so that one
/// installer (the chart's Job, the Compose `scylla-schema` service) does it, not every replica at
/// once. Installing twice is harmless; a keyspace with tablets is refused.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ScyllaSchemaArgs {
    #[command(flatten)]
    reward_store: RewardStoreArgs,
    /// Replicas per data center, for a keyspace that does not exist yet.
    #[arg(
        long = "replication-factor",
        env = "SPEND_SCYLLA_REPLICATION_FACTOR",
        default_value_t = 3
    )]
    replication_factor: u32,
}

pub(crate) fn scylla_schema(args: ScyllaSchemaArgs) -> anyhow::Result<()> {
    telemetry::init(telemetry::Format::Json);
    let options = args.reward_store.scylla_options()?;
    let runtime = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    runtime.block_on(async move {
        let session = connect_session(&options)
            .await
            .context("connect to scylla")?;
        ScyllaRewardStore::install_schema(&session, &options.keyspace, args.replication_factor)
            .await
            .context("install the scylla schema")?;
        tracing::info!(keyspace = %options.keyspace, "scylla schema installed");
        Ok(())
    })
}

/// How records are batched.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct BatchArgs {
    /// The most records in one batch.
    #[arg(
        long = "batch-records",
        env = "SPEND_REWARDER_BATCH_RECORDS",
        default_value_t = 8192
    )]
    batch_records: usize,
    /// How long a batch waits for more records after its first, in milliseconds.
    #[arg(
        long = "batch-wait-ms",
        env = "SPEND_REWARDER_BATCH_WAIT_MS",
        default_value_t = 50
    )]
    batch_wait_ms: u64,
    /// The consumer group.
    #[arg(
        long = "group",
        env = "SPEND_REWARDER_GROUP",
        default_value = spend_rewarder::DEFAULT_GROUP
    )]
    group: String,
}

fn rewarder_config(kafka: &KafkaArgs, topics: &TopicArgs, batch: &BatchArgs) -> RewarderConfig {
    let mut config = RewarderConfig::new(kafka.clone());
    config.topic = topics.topic.clone();
    config.dlq_topic = topics.dlq_topic.clone();
    config.group_id = batch.group.clone();
    config.create_topics = (!topics.no_create_topics).then_some(topics.partitions);
    config.batch_max_records = batch.batch_records.max(1);
    config.batch_max_wait = Duration::from_millis(batch.batch_wait_ms);
    config.queue_records = config.batch_max_records.saturating_mul(4).max(1024);
    config
}

/// `spend rewarder`.
#[derive(clap::Args, Debug)]
pub(crate) struct RewarderArgs {
    /// Address to serve `/healthz`, `/readyz` and `/metrics` on (the rewarder has no API).
    #[arg(long, env = "SPEND_REWARDER_LISTEN", default_value = "0.0.0.0:9091")]
    listen: SocketAddr,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    topics: TopicArgs,
    #[command(flatten)]
    batch: BatchArgs,
    #[command(flatten)]
    config_store: ConfigStoreArgs,
    #[command(flatten)]
    reward_store: RewardStoreArgs,
}

/// Runs the rewarder until Ctrl-C or SIGTERM, then drains.
pub(crate) fn rewarder(args: RewarderArgs) -> anyhow::Result<()> {
    telemetry::init(telemetry::Format::Json);
    let runtime = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    runtime.block_on(async move {
        let config = rewarder_config(&args.kafka, &args.topics, &args.batch);
        let deps = RewarderDeps {
            config_store: args.config_store.store().await?,
            reward_store: args.reward_store.store().await?,
            stats: Stats::default(),
        };
        let shutdown = spend_runtime::cancel_on_signal();
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listen on {}", args.listen))?;
        spend_rewarder::run(config, deps, listener, shutdown)
            .await
            .context("the rewarder failed")
    })
}

/// `spend replay-dlq`.
#[derive(clap::Args, Debug)]
pub(crate) struct ReplayDlqArgs {
    /// Replay only dead letters with this reason (repeatable): unknown_program, no_fx_rate,
    /// original_not_found, currency_mismatch. Default: all.
    #[arg(long = "reason", value_name = "REASON", value_parser = parse_reason)]
    reasons: Vec<DeadLetterReason>,
    /// The replay's consumer group (its committed offsets are what was already replayed).
    /// Default: named after the reasons, so each filter replays each dead letter once.
    #[arg(long = "replay-group", env = "SPEND_REPLAY_GROUP")]
    group: Option<String>,
    /// Stop once no dead letter has arrived for this many milliseconds.
    #[arg(long = "idle-ms", default_value_t = 3000)]
    idle_ms: u64,
    /// Count what would be replayed; publish and commit nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    topics: TopicArgs,
}

fn parse_reason(s: &str) -> Result<DeadLetterReason, String> {
    match DeadLetterReason::parse(s) {
        Some(DeadLetterReason::Undecodable) => {
            Err("undecodable dead letters have no transaction to replay".into())
        }
        Some(r) => Ok(r),
        None => Err(
            "expected unknown_program, no_fx_rate, original_not_found or currency_mismatch".into(),
        ),
    }
}

/// Re-publishes dead letters to the transactions topic and prints what it did.
pub(crate) fn replay_dlq(args: ReplayDlqArgs) -> anyhow::Result<()> {
    telemetry::init(telemetry::Format::Pretty);
    let mut rewarder = RewarderConfig::new(args.kafka.clone());
    rewarder.topic = args.topics.topic.clone();
    rewarder.dlq_topic = args.topics.dlq_topic.clone();
    let config = ReplayConfig {
        rewarder,
        reasons: args.reasons.clone(),
        group: args.group.clone(),
        idle: Duration::from_millis(args.idle_ms),
        dry_run: args.dry_run,
    };
    let report = replay_dead_letters(&config).context("replay dead letters")?;
    let verb = if args.dry_run {
        "would replay"
    } else {
        "replayed"
    };
    println!("{:<22}{}", "group", report.group);
    println!("{:<22}{}", "read", report.read);
    println!("{verb:<22}{}", report.replayed_total());
    for (reason, n) in &report.replayed {
        println!("  {reason:<20}{n}");
    }
    println!("{:<22}{}", "other reasons", report.skipped);
    println!(
        "{:<22}{} (not replayable)",
        "undecodable", report.not_replayable
    );
    if report.malformed > 0 {
        println!("{:<22}{}", "not dead letters", report.malformed);
    }
    Ok(())
}
