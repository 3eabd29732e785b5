//! `spend ingestor`: the ingest service against real Kafka and S3, configured from its arguments.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use spend_ingestor::{IngestorConfig, IngestorDeps, KafkaSink, Limits, S3Settings};
use spend_kafka::KafkaArgs;
use spend_runtime::jwt::AuthArgs;

use super::PublishArgs;
use crate::telemetry;

/// Where S3 batches are read from. Without `--s3-endpoint`, `POST /v1/batches/s3` answers 503.
#[derive(clap::Args, Clone)]
pub(crate) struct S3Args {
    /// S3 endpoint, plain http (MinIO, moto, a TLS-terminating proxy), e.g. `http://127.0.0.1:9000`.
    #[arg(long = "s3-endpoint", env = "SPEND_S3_ENDPOINT")]
    endpoint: Option<String>,
    #[arg(
        long = "s3-region",
        env = "SPEND_S3_REGION",
        default_value = "us-east-1"
    )]
    region: String,
    #[arg(
        long = "s3-access-key-id",
        env = "SPEND_S3_ACCESS_KEY_ID",
        default_value = ""
    )]
    access_key_id: String,
    /// Prefer the environment variable: a flag shows in the process list.
    #[arg(
        long = "s3-secret-access-key",
        env = "SPEND_S3_SECRET_ACCESS_KEY",
        hide_env_values = true,
        default_value = ""
    )]
    secret_access_key: String,
    /// Virtual-hosted-style requests (`bucket.host`) instead of path-style (`host/bucket`).
    #[arg(long = "s3-virtual-hosted", env = "SPEND_S3_VIRTUAL_HOSTED")]
    virtual_hosted: bool,
}

impl std::fmt::Debug for S3Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Args")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("virtual_hosted", &self.virtual_hosted)
            .finish()
    }
}

impl S3Args {
    fn client(&self) -> anyhow::Result<Option<spend_ingestor::s3::Client>> {
        let Some(endpoint) = &self.endpoint else {
            return Ok(None);
        };
        let settings = S3Settings {
            endpoint: endpoint.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            force_path_style: !self.virtual_hosted,
        };
        Ok(Some(spend_ingestor::s3::client(&settings)?))
    }
}

/// The ingest limits.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct LimitArgs {
    /// The largest CSV body or S3 object, in bytes.
    #[arg(long = "max-body-bytes", env = "SPEND_INGEST_MAX_BODY_BYTES", default_value_t = 1 << 30)]
    max_body_bytes: u64,
    /// The most data rows in one batch.
    #[arg(
        long = "max-rows",
        env = "SPEND_INGEST_MAX_ROWS",
        default_value_t = 10_000_000
    )]
    max_rows: u64,
    /// The largest single CSV row, in bytes.
    #[arg(long = "max-row-bytes", env = "SPEND_INGEST_MAX_ROW_BYTES", default_value_t = 64 * 1024)]
    max_row_bytes: usize,
    /// Batches (uploads and S3) ingested at once; one more is answered 429.
    #[arg(
        long = "max-batches",
        env = "SPEND_INGEST_MAX_BATCHES",
        default_value_t = 4
    )]
    max_batches: usize,
    /// How many batches `GET /v1/batches/{id}` remembers.
    #[arg(
        long = "batch-history",
        env = "SPEND_INGEST_BATCH_HISTORY",
        default_value_t = 1000
    )]
    batch_history: usize,
}

/// `spend ingestor`.
#[derive(clap::Args, Debug)]
pub(crate) struct IngestorArgs {
    /// Address to serve on.
    #[arg(long, env = "SPEND_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    publish: PublishArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    s3: S3Args,
    #[command(flatten)]
    auth: AuthArgs,
}

impl IngestorArgs {
    fn config(&self) -> IngestorConfig {
        IngestorConfig {
            limits: Limits {
                max_body_bytes: self.limits.max_body_bytes,
                max_rows: self.limits.max_rows,
                max_row_bytes: self.limits.max_row_bytes,
                max_concurrent_batches: self.limits.max_batches,
                max_inflight_bytes: self.publish.max_inflight_bytes,
                ..Limits::default()
            },
            batch_history: self.limits.batch_history,
            ..IngestorConfig::default()
        }
    }
}

/// Runs the ingestor until Ctrl-C or SIGTERM.
pub(crate) fn ingestor(args: IngestorArgs) -> anyhow::Result<()> {
    telemetry::init(telemetry::Format::Json);
    super::refuse_renamed_variables()?;
    let runtime = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    runtime.block_on(async move {
        let auth = spend_runtime::jwt::from_args(&args.auth).context("bearer token keys")?;
        let config = args.config();
        let settings = args.publish.settings(&args.kafka);
        let sink = KafkaSink::connect(&settings, config.limits.max_inflight_bytes)
            .await
            .context("connect to kafka")?;
        let deps = IngestorDeps {
            auth,
            sink: Arc::new(sink),
            s3: args.s3.client().context("s3 client")?,
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listen on {}", args.listen))?;
        spend_ingestor::run(config, deps, listener, spend_runtime::cancel_on_signal())
            .await
            .context("serve the ingestor")
    })
}
