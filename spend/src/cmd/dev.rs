//! `spend dev`: every service in one process on one port, on the embedded defaults.
//!
//! The Kafka path is the real one — the ingestor's rdkafka producer and the rewarder's consumer
//! group — against a Kafka-protocol broker embedded in the process ([`broker`]: tansu, its log a
//! SlateDB tree under `--data-dir`). Configuration and rewards live in the embedded stores under
//! `--data-dir`. Everything the API acknowledges is on disk before the answer, so a crash loses
//! nothing: on the next start the rewarder resumes from its committed offsets. On Ctrl-C the HTTP
//! server stops taking requests, the producer flushes, and the rewarder commits what it wrote.

mod broker;
mod s3;

pub(crate) use broker::COMPRESSION;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use spend_campaignex::{CampaignexConfig, CampaignexDeps, ConfigStoreBackend};
use spend_domain::config::Config;
use spend_informer::{InformerConfig, InformerDeps, RewardStoreBackend};
use spend_ingestor::{IngestorConfig, IngestorDeps, KafkaSettings, KafkaSink};
use spend_kafka::KafkaArgs;
use spend_rewarder::{RewarderConfig, RewarderDeps, Stats};
use spend_runtime::jwt::{dev_auth, AuthArgs, TokenSpec};
use spend_runtime::{health_routes, with_json_fallbacks, Role};
use spend_store::config_store::{objects_of, ConfigStore};
use spend_store::embedded::EmbeddedConfigStore;
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store::reward_store::RewardStore;
use tokio_util::sync::CancellationToken;

/// The reference configuration (`spec/examples/reference-config.json`), loaded on first start.
/// A copy lives here so the binary needs nothing beside it; a test keeps it equal to the spec's.
pub(crate) const REFERENCE_CONFIG: &str = include_str!("dev/reference-config.json");

const TOPIC: &str = spend_rewarder::DEFAULT_TOPIC;
const DLQ_TOPIC: &str = spend_rewarder::DEFAULT_DLQ_TOPIC;

/// `spend dev`.
#[derive(clap::Args, Debug)]
pub(crate) struct DevArgs {
    /// Where configuration, rewards and the dev JWT secret are kept.
    #[arg(long, env = "SPEND_DATA_DIR", default_value = "./.spend")]
    pub(crate) data_dir: PathBuf,
    /// The port every service is served on.
    #[arg(long, env = "SPEND_PORT", default_value_t = 8080)]
    pub(crate) port: u16,
    /// The address to listen on.
    #[arg(long, env = "SPEND_HOST", default_value = "127.0.0.1")]
    pub(crate) host: IpAddr,
    /// Partitions of the `transactions` topic, when it is created (first start).
    #[arg(long, default_value_t = 4)]
    pub(crate) partitions: i32,
    /// The loopback port of the embedded Kafka broker, for outside Kafka clients; 0: the last
    /// run's port if it is free, otherwise any free port. Written to `<data-dir>/kafka-bootstrap`.
    #[arg(long, env = "SPEND_KAFKA_PORT", default_value_t = 0)]
    pub(crate) kafka_port: u16,
    /// The loopback port of the embedded S3 endpoint (bucket `uploads`, for `POST /v1/batches/s3`);
    /// 0: the last run's port if it is free, otherwise any free port. Written to
    /// `<data-dir>/s3-endpoint`, its keys to `<data-dir>/s3-credentials`.
    #[arg(long, env = "SPEND_S3_PORT", default_value_t = 0)]
    pub(crate) s3_port: u16,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

pub(crate) fn dev(args: DevArgs) -> anyhow::Result<()> {
    crate::telemetry::init(crate::telemetry::Format::Pretty);
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("create the data directory {}", args.data_dir.display()))?;
    // The broker runs on a thread and runtime of its own, so it stops after every client.
    let broker = broker::EmbeddedKafka::start(&args.data_dir, args.kafka_port)?;
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    let result = runtime.block_on(serve(
        &args,
        broker.bootstrap().to_owned(),
        broker.compression(),
    ));
    drop(runtime);
    broker.stop();
    result
}

async fn serve(args: &DevArgs, bootstrap: String, compression: &'static str) -> anyhow::Result<()> {
    let config_store: Arc<dyn ConfigStore> = Arc::new(
        EmbeddedConfigStore::open(&args.data_dir.join("config"))
            .context("open the embedded configuration store")?,
    );
    load_reference_config_once(config_store.as_ref()).await?;
    let reward_store: Arc<dyn RewardStore> = Arc::new(
        EmbeddedRewardStore::open(&args.data_dir).context("open the embedded reward store")?,
    );
    let (auth, minter) = dev_auth(&args.auth, &args.data_dir).context("set up auth")?;

    let shutdown = CancellationToken::new();
    let kafka = KafkaArgs::new(bootstrap.clone()).with_default_client_id("spend-dev");
    broker::ensure_topics(&kafka, &[(TOPIC, args.partitions.max(1)), (DLQ_TOPIC, 1)]).await?;

    // The rewarder: its own token, cancelled once the ingestor has stopped.
    let rewarder_stop = CancellationToken::new();
    let stats = Stats::default();
    let rewarder = tokio::spawn(spend_rewarder::consume(
        dev_rewarder_config(&kafka),
        RewarderDeps {
            config_store: config_store.clone(),
            reward_store: reward_store.clone(),
            stats: stats.clone(),
        },
        rewarder_stop.clone(),
    ));

    let s3 = s3::EmbeddedS3::start(&args.data_dir, args.host, args.s3_port, shutdown.clone())
        .await
        .context("start the embedded S3 endpoint")?;
    let ingest_config = IngestorConfig::default();
    let mut settings = KafkaSettings::new(bootstrap.clone(), TOPIC);
    settings.connection = kafka.clone();
    settings.compression = compression.into();
    let sink = KafkaSink::connect(&settings, ingest_config.limits.max_inflight_bytes)
        .await
        .context("create the Kafka producer")?;
    let ingestor = spend_ingestor::Ingestor::new(
        &ingest_config,
        IngestorDeps {
            auth: auth.clone(),
            sink: Arc::new(sink),
            s3: Some(spend_ingestor::s3::client(&s3.settings)?),
        },
        shutdown.clone(),
    );

    let readiness = ingestor
        .readiness()
        .with(Arc::new(ConfigStoreBackend::new(config_store.clone())))
        .with(Arc::new(RewardStoreBackend::new(reward_store.clone())))
        .with(Arc::new(spend_rewarder::RewarderBackend::new(
            stats.clone(),
        )));
    let app = ingestor
        .router()
        .merge(spend_informer::router(
            &InformerConfig::default(),
            InformerDeps {
                store: reward_store.clone(),
                auth: auth.clone(),
            },
        ))
        .merge(spend_campaignex::router(
            &CampaignexConfig::default(),
            CampaignexDeps {
                store: config_store.clone(),
                auth: auth.clone(),
            },
        ))
        .merge(health_routes(Arc::new(readiness)))
        .merge(docs_routes());
    let app = with_json_fallbacks(app).layer(spend_runtime::trace_layer());

    let addr = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen on {addr}"))?;
    let addr = listener
        .local_addr()
        .context("read the listening address")?;
    let mint = |role: Role, subject: &str| {
        minter.mint(&TokenSpec {
            role,
            cards: Vec::new(),
            subject: Some(subject.into()),
            ttl_secs: 30 * 24 * 3600,
        })
    };
    let admin = mint(Role::Admin, "spend-dev-admin").context("mint the admin token")?;
    let bank = mint(Role::Bank, "spend-dev-bank").context("mint the bank token")?;
    write_token(&args.data_dir.join("admin-token"), &admin)?;
    write_token(&args.data_dir.join("bank-token"), &bank)?;
    // The dashboard (spend-web) calls this same server's public API over loopback, with the
    // signed-in user's token; the one-time link signs in with the admin and bank tokens.
    let web = spend_web::WebConfig::new(format!("http://{}", loopback(addr)));
    let sign_in = web.sign_in_links.issue(&[&admin, &bank]);
    let app = app.merge(spend_web::router(web));
    println!("spend dev is serving every service on http://{addr}");
    println!("  data directory: {}", args.data_dir.display());
    println!(
        "  Kafka:          {bootstrap} (topics {TOPIC}, {DLQ_TOPIC}; also in {}/{})",
        args.data_dir.display(),
        broker::BOOTSTRAP_FILE
    );
    println!(
        "  S3:             {} (bucket {}; keys in {}/{})",
        s3.settings.endpoint,
        s3::BUCKET,
        args.data_dir.display(),
        s3::CREDENTIALS_FILE
    );
    println!("  API docs:       http://{addr}/docs");
    println!("  dashboard:      http://{addr}/");
    println!("  sign-in link:   http://{addr}/ui/signin/{sign_in} (works once)");
    println!(
        "  tokens (30 days): {0}/admin-token (configuration, lookups), {0}/bank-token (uploads)",
        args.data_dir.display()
    );
    println!("admin token:");
    println!("{admin}");

    let stop_signal = shutdown.clone();
    tokio::spawn(async move {
        spend_runtime::shutdown_signal().await;
        tracing::info!("shutting down: no new requests");
        stop_signal.cancel();
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await
        .context("serve HTTP");
    shutdown.cancel();
    ingestor.close().await;
    if let Ok(Err(e)) = s3.server.await {
        tracing::error!(error = %e, "the embedded s3 endpoint failed");
    }

    // Everything accepted is in the broker's log on disk; what the rewarder has not written yet
    // is rewarded on the next start, from the offsets it committed.
    rewarder_stop.cancel();
    match rewarder.await {
        Ok(Ok(())) => {}
        // With its causes: a Kafka setup error keeps librdkafka's as its source.
        Ok(Err(e)) => {
            tracing::error!(error = %format!("{:#}", anyhow::Error::new(e)), "the rewarder failed")
        }
        Err(e) => tracing::error!(error = %e, "the rewarder task panicked"),
    }
    tracing::info!(records = stats.records(), "stopped");
    served
}

/// The rewarder's settings in `spend dev`: batches of at most 2,048 records cut after 5 ms, not
/// 8,192 after 50 ms, so a single transaction posted by hand is rewarded within milliseconds; and
/// every partition taken by assignment (`spend dev` is the topic's only rewarder), with offsets
/// committed to the group as always. A group member would, after a crash, wait for the dead
/// process's session to time out — and tansu 0.6's coordinator sometimes never hands a crashed
/// member's partitions over (seen here: the new member got none, for good).
fn dev_rewarder_config(kafka: &KafkaArgs) -> RewarderConfig {
    let mut config = RewarderConfig::new(kafka.clone());
    config.batch_max_records = 2048;
    config.batch_max_wait = Duration::from_millis(5);
    config.assign_all_partitions = true;
    config
}

/// Loads the reference configuration into an empty store (revision 0): first start only.
async fn load_reference_config_once(store: &dyn ConfigStore) -> anyhow::Result<()> {
    let snapshot = store.snapshot().await.context("read the configuration")?;
    if snapshot.revision > 0 {
        return Ok(());
    }
    let value: Value = serde_json::from_str(REFERENCE_CONFIG).context("reference configuration")?;
    let config = Config::from_json(&value, &mut uuid::Uuid::new_v4)
        .map_err(|e| anyhow::anyhow!("the reference configuration is invalid: {e}"))?;
    let revision = store
        .replace_all(objects_of(&config))
        .await
        .context("load the reference configuration")?;
    tracing::info!(revision, "loaded the reference configuration");
    Ok(())
}

/// `addr` as a loopback client reaches it: an unspecified listen address (`0.0.0.0`) becomes
/// `127.0.0.1` (or `::1`).
fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

fn write_token(path: &Path, token: &str) -> anyhow::Result<()> {
    std::fs::write(path, format!("{token}\n"))
        .with_context(|| format!("write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restrict {}", path.display()))?;
    }
    Ok(())
}

/// `/docs`: Swagger UI (vendored from npm `swagger-ui-dist`, so it works offline) over the
/// OpenAPI documents of the three HTTP services.
fn docs_routes() -> Router {
    const BUNDLE: &str = include_str!("dev/swagger/swagger-ui-bundle.js");
    const CSS: &str = include_str!("dev/swagger/swagger-ui.css");
    Router::new()
        .route("/docs", get(|| async { Html(DOCS_PAGE) }))
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async {
                (
                    [(http::header::CONTENT_TYPE, "application/javascript")],
                    BUNDLE,
                )
                    .into_response()
            }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async { ([(http::header::CONTENT_TYPE, "text/css")], CSS).into_response() }),
        )
}

const DOCS_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>spend API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      dom_id: "#swagger-ui",
      urls: [
        { url: "/v1/openapi/ingestor.json", name: "ingestor" },
        { url: "/v1/openapi/informer.json", name: "informer" },
        { url: "/v1/openapi/campaignex.json", name: "campaignex" }
      ],
      "urls.primaryName": "ingestor",
      layout: "BaseLayout"
    });
  </script>
</body>
</html>
"##;

#[cfg(test)]
mod tests {
    #[test]
    fn the_reference_config_copy_is_the_spec_file() {
        let spec = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/spec/examples/reference-config.json"
        );
        let spec = std::fs::read_to_string(spec).expect("spec/examples beside the project");
        assert_eq!(super::REFERENCE_CONFIG, spec);
    }
}
