//! `spend dev`: every service in one process on one port, on the embedded defaults.
//!
//! The Kafka path is the real one — the ingestor's rdkafka producer and the rewarder's consumer
//! group — against librdkafka's in-process mock cluster. Configuration and rewards live in the
//! embedded stores under `--data-dir`, so rewards survive a restart. On Ctrl-C the HTTP server stops
//! taking requests, the producer flushes, and the rewarder drains everything accepted before the
//! process exits (the mock cluster keeps nothing across a restart, so nothing may be left on it).

mod backlog;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use spend_campaignex::{CampaignexConfig, CampaignexDeps, ConfigStoreBackend};
use spend_domain::config::Config;
use spend_informer::{InformerConfig, InformerDeps, RewardStoreBackend};
use spend_ingestor::{IngestorConfig, IngestorDeps, KafkaSettings, KafkaSink};
use spend_rewarder::{RewarderConfig, RewarderDeps, Stats};
use spend_runtime::jwt::{dev_auth, AuthArgs, TokenSpec};
use spend_runtime::kafka::{consumer_config, KafkaArgs};
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
    /// Partitions of the in-process `transactions` topic.
    #[arg(long, default_value_t = 4)]
    pub(crate) partitions: i32,
    /// How long Ctrl-C waits for the rewarder to reward everything accepted.
    #[arg(long, default_value = "60", value_parser = parse_secs)]
    pub(crate) drain_timeout: Duration,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    s.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("{s:?} is not a whole number of seconds"))
}

pub(crate) fn dev(args: DevArgs) -> anyhow::Result<()> {
    crate::telemetry::init(crate::telemetry::Format::Pretty);
    // The mock cluster is not `Send`: it lives on a thread of its own for the whole run.
    let broker = EmbeddedBroker::start(args.partitions)?;
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    let result = runtime.block_on(serve(&args, broker.bootstrap.clone()));
    // Every client is gone by now; the broker can stop.
    drop(runtime);
    broker.stop();
    result
}

async fn serve(args: &DevArgs, bootstrap: String) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("create the data directory {}", args.data_dir.display()))?;
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

    // The rewarder: its own token, cancelled only once everything accepted is rewarded.
    let rewarder_stop = CancellationToken::new();
    let stats = Stats::default();
    let rewarder = tokio::spawn(spend_rewarder::run(
        dev_rewarder_config(&kafka),
        RewarderDeps {
            config_store: config_store.clone(),
            reward_store: reward_store.clone(),
            stats: stats.clone(),
        },
        rewarder_stop.clone(),
    ));

    let ingest_config = IngestorConfig::default();
    let mut settings = KafkaSettings::new(bootstrap.clone(), TOPIC);
    settings.connection = kafka.clone();
    let sink = KafkaSink::connect(&settings, ingest_config.limits.max_inflight_bytes)
        .await
        .context("create the Kafka producer")?;
    let ingestor = spend_ingestor::Ingestor::new(
        &ingest_config,
        IngestorDeps {
            auth: auth.clone(),
            sink: Arc::new(backlog::BacklogGate::new(sink, stats.clone())),
            s3: None,
        },
        shutdown.clone(),
    );

    let readiness = ingestor
        .readiness()
        .with(Arc::new(ConfigStoreBackend::new(config_store.clone())))
        .with(Arc::new(RewardStoreBackend::new(reward_store.clone())));
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
    let app = with_json_fallbacks(app).layer(tower_http::trace::TraceLayer::new_for_http());

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
    println!("spend dev is serving every service on http://{addr}");
    println!("  data directory: {}", args.data_dir.display());
    println!("  API docs:       http://{addr}/docs");
    println!(
        "  tokens (30 days): {0}/admin-token (configuration, lookups), {0}/bank-token (uploads)",
        args.data_dir.display()
    );
    println!("admin token:");
    println!("{admin}");

    let stop_signal = shutdown.clone();
    tokio::spawn(async move {
        spend_runtime::shutdown_signal().await;
        tracing::info!("shutting down: no new requests; draining what was accepted");
        stop_signal.cancel();
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await
        .context("serve HTTP");
    shutdown.cancel();
    ingestor.close().await;

    // Everything accepted is on the in-process broker; reward all of it before leaving.
    let drained = drain(&kafka, args.drain_timeout, &rewarder).await;
    rewarder_stop.cancel();
    match rewarder.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "the rewarder failed"),
        Err(e) => tracing::error!(error = %e, "the rewarder task panicked"),
    }
    tracing::info!(records = stats.records(), "stopped");
    served?;
    drained
}

/// The rewarder's settings in `spend dev`: batches of at most 2,048 records cut after 5 ms, not
/// 8,192 after 50 ms. The backlog gate ([`backlog`]) keeps ~20,000 records between the ingestor
/// and the rewarder, and the ingestor waits on the rewarder's progress: smaller, sooner batches
/// hand the gate room back sooner (measured with `spend bench-pipeline`, 1M rows: 68–72k rows/s
/// end to end, against 60–64k with 2,048 after 50 ms and 66k with 8,192 after 50 ms), and a
/// single transaction is rewarded within milliseconds.
fn dev_rewarder_config(kafka: &KafkaArgs) -> RewarderConfig {
    let mut config = RewarderConfig::new(kafka.clone());
    config.batch_max_records = 2048;
    config.batch_max_wait = Duration::from_millis(5);
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

/// Waits until the rewarders' group has committed every offset of `transactions` up to its end
/// (the mock cluster's watermarks are exact), or the timeout passes.
async fn drain(
    kafka: &KafkaArgs,
    timeout: Duration,
    rewarder: &tokio::task::JoinHandle<spend_rewarder::Result<()>>,
) -> anyhow::Result<()> {
    let kafka = kafka.clone();
    let deadline = Instant::now() + timeout;
    loop {
        if rewarder.is_finished() {
            bail!("the rewarder stopped before everything accepted was rewarded");
        }
        let k = kafka.clone();
        let left = tokio::task::spawn_blocking(move || records_left(&k))
            .await
            .context("drain check")??;
        if left == 0 {
            tracing::info!("drained: every accepted record is rewarded");
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{left} accepted records were not rewarded within {timeout:?}; they are lost with the in-process broker");
        }
        tracing::info!(left, "draining");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn records_left(kafka: &KafkaArgs) -> anyhow::Result<i64> {
    let consumer: BaseConsumer = consumer_config(kafka, spend_rewarder::DEFAULT_GROUP)
        .create()
        .context("create the drain check consumer")?;
    let timeout = Duration::from_secs(5);
    let metadata = consumer
        .fetch_metadata(Some(TOPIC), timeout)
        .context("read the topic metadata")?;
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for topic in metadata.topics() {
        for p in topic.partitions() {
            let (_, high) = consumer
                .fetch_watermarks(TOPIC, p.id(), timeout)
                .context("read the watermarks")?;
            tpl.add_partition(TOPIC, p.id());
            ends.push((p.id(), high));
        }
    }
    let committed = consumer
        .committed_offsets(tpl, timeout)
        .context("read the committed offsets")?;
    let mut left = 0;
    for (partition, high) in ends {
        let done = match committed
            .find_partition(TOPIC, partition)
            .map(|e| e.offset())
        {
            Some(Offset::Offset(o)) => o,
            _ => 0,
        };
        left += (high - done).max(0);
    }
    Ok(left)
}

/// The in-process Kafka: librdkafka's mock cluster, on a thread of its own (it is not `Send`).
struct EmbeddedBroker {
    bootstrap: String,
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl EmbeddedBroker {
    fn start(partitions: i32) -> anyhow::Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<String>>();
        let (stop, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("embedded-kafka".into())
            .spawn(move || {
                let started = (|| -> anyhow::Result<MockCluster<'static, _>> {
                    let cluster = MockCluster::new(1).context("start the in-process broker")?;
                    for (topic, n) in [(TOPIC, partitions), (DLQ_TOPIC, 1)] {
                        cluster
                            .create_topic(topic, n, 1)
                            .with_context(|| format!("create topic {topic}"))?;
                    }
                    Ok(cluster)
                })();
                match started {
                    Ok(cluster) => {
                        let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                        let _ = stop_rx.recv();
                        drop(cluster);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .context("start the broker thread")?;
        let bootstrap = ready_rx
            .recv()
            .context("the broker thread ended before it started")??;
        Ok(EmbeddedBroker {
            bootstrap,
            stop,
            thread,
        })
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
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
