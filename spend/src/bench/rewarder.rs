//! `spend bench-rewarder`: rewarder throughput. A `spend gen` file is encoded and produced to a
//! fresh topic (not timed); then a bare consumer with the rewarder's exact consumer settings reads
//! it (the raw-consume baseline), and a rewarder with fresh embedded stores consumes, evaluates
//! and writes it. Both rates are counted from the first record to the last, so the group join is
//! not part of either.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use spend_kafka::{admin_client, ensure_topic, KafkaArgs};
use spend_rewarder::bench::{encode_csv, produce, raw_consume};
use spend_rewarder::rules::config_objects;
use spend_rewarder::{RewarderConfig, RewarderDeps, Stats};
use spend_store::config_store::ConfigStore;
use spend_store::embedded::EmbeddedConfigStore;
use spend_store::remote::{RemoteOptions, RemoteRewardStore};
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store::reward_store::RewardStore;
use tokio_util::sync::CancellationToken;

use crate::child::cpu_time;
use crate::cmd::gen::{self, GenArgs};

/// `spend bench-rewarder`.
#[derive(clap::Args, Debug)]
pub(crate) struct BenchRewarderArgs {
    /// Records on the topic (a `spend gen` file of this many rows).
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Distinct cards in the generated file.
    #[arg(long, default_value_t = 3000)]
    cards: u32,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Partitions of the benchmark's fresh topic.
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// The configuration loaded into the embedded configuration store (repeat to merge).
    #[arg(
        long = "config",
        value_name = "FILE",
        default_value = "../shared/spec/examples/reference-config.json"
    )]
    configs: Vec<PathBuf>,
    /// Where the embedded stores go (default: a fresh directory under the system's temp
    /// directory, removed at the end).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long = "batch-records", default_value_t = 8192)]
    batch_records: usize,
    #[arg(long = "batch-wait-ms", default_value_t = 50)]
    batch_wait_ms: u64,
    /// Skip the raw-consume baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Write to the reward store `spend store` serves at this URL instead of a fresh embedded
    /// store in this process (serve a fresh directory: ids already stored count as re-sends).
    #[arg(long = "reward-store-url", value_name = "URL")]
    reward_store_url: Option<String>,
    /// The `service` token for --reward-store-url.
    #[arg(
        long = "reward-store-token",
        env = "SPEND_REWARD_STORE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    reward_store_token: Option<crate::cmd::rewarder::Token>,
    #[command(flatten)]
    kafka: KafkaArgs,
}

/// Generates and publishes the records (not timed), then times the bare consumer and the
/// rewarder over the same topic.
pub(crate) fn bench_rewarder(args: BenchRewarderArgs) -> anyhow::Result<()> {
    crate::telemetry::init(crate::telemetry::Format::Pretty);
    let config = crate::cmd::eval::load_configs(&args.configs)?;
    let runtime = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    let fresh_dir = args.data_dir.is_none();
    let dir = args.data_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "spend-bench-rewarder-{}",
            uuid::Uuid::new_v4().simple()
        ))
    });
    let result = runtime.block_on(bench(&args, &config, &dir));
    if fresh_dir {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn bench(
    args: &BenchRewarderArgs,
    config: &spend_domain::config::Config,
    dir: &Path,
) -> anyhow::Result<()> {
    // The file, encoded as the ingestor publishes it.
    let started = Instant::now();
    let mut csv = Vec::new();
    gen::run(
        &GenArgs {
            rows: args.records,
            cards: args.cards,
            seed: args.seed,
        },
        &mut csv,
    )?;
    let records = encode_csv(csv.as_slice(), chrono::Utc::now().date_naive())
        .map_err(|e| anyhow::anyhow!("the generated file: {e}"))?;
    drop(csv);
    let n = records.len() as u64;
    println!(
        "records          {n} ({} rejected), generated and encoded in {:.1} s",
        records.rejected,
        started.elapsed().as_secs_f64()
    );

    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let topic = format!("bench-rewarder-{suffix}");
    let dlq = format!("bench-rewarder-{suffix}.dlq");
    let admin = admin_client(&args.kafka).context("kafka admin client")?;
    for t in [&topic, &dlq] {
        ensure_topic(&admin, t, args.partitions)
            .await
            .with_context(|| format!("create topic {t}"))?;
    }
    let started = Instant::now();
    let records = Arc::new(records);
    let ends = {
        let (kafka, topic, records) = (args.kafka.clone(), topic.clone(), records.clone());
        tokio::task::spawn_blocking(move || {
            produce(&kafka, &topic, &records, 0..records.len(), None)
        })
        .await?
        .map_err(|e| anyhow::anyhow!("produce: {e}"))?
    };
    let produced = started.elapsed();
    println!(
        "produced         {n} to {topic} ({} partitions) in {:.1} s: {:.0} records/s (not timed below)",
        ends.len(),
        produced.as_secs_f64(),
        n as f64 / produced.as_secs_f64()
    );

    let mut settings = RewarderConfig::new(args.kafka.clone());
    settings.topic = topic.clone();
    settings.dlq_topic = dlq;
    settings.batch_max_records = args.batch_records.max(1);
    settings.batch_max_wait = Duration::from_millis(args.batch_wait_ms);
    settings.queue_records = settings.batch_max_records.saturating_mul(4).max(1024);

    let mut raw_rate = None;
    if !args.no_baseline {
        let mut baseline = settings.clone();
        baseline.group_id = format!("bench-raw-{suffix}");
        let raw = tokio::task::spawn_blocking(move || {
            raw_consume(&baseline, n, Duration::from_secs(600))
        })
        .await?
        .map_err(|e| anyhow::anyhow!("raw consume: {e}"))?;
        let rate = raw.records as f64 / raw.reading.as_secs_f64();
        raw_rate = Some(rate);
        println!(
            "raw consume      {} records ({:.0} MB) in {:.2} s: {rate:.0} records/s (group join {:.1} s, not counted)",
            raw.records,
            raw.bytes as f64 / 1e6,
            raw.reading.as_secs_f64(),
            raw.until_first.as_secs_f64()
        );
    }

    let config_store = Arc::new(
        EmbeddedConfigStore::open(&dir.join("config")).context("open the configuration store")?,
    );
    config_store
        .replace_all(config_objects(config))
        .await
        .context("load the configuration")?;
    let reward_store: Arc<dyn RewardStore> = match &args.reward_store_url {
        Some(url) => {
            let token = args.reward_store_token.as_ref().context(
                "--reward-store-url needs --reward-store-token (SPEND_REWARD_STORE_TOKEN)",
            )?;
            Arc::new(
                RemoteRewardStore::new(url, token.as_str(), RemoteOptions::default())
                    .context("--reward-store-url")?,
            )
        }
        None => Arc::new(
            EmbeddedRewardStore::open(&dir.join("rewards")).context("open the reward store")?,
        ),
    };
    let stats = Stats::default();
    settings.group_id = format!("bench-rewarder-{suffix}");
    let deps = RewarderDeps {
        config_store,
        reward_store,
        stats: stats.clone(),
    };
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let cpu_before = cpu_time("self");
    let task = tokio::spawn(spend_rewarder::consume(settings, deps, shutdown.clone()));
    while stats.records() < n {
        if task.is_finished() {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            shutdown.cancel();
            bail!(
                "the rewarder wrote {} of {n} records in 30 minutes",
                stats.records()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = started.elapsed();
    let cpu = cpu_time("self")
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    shutdown.cancel();
    task.await?.context("the rewarder failed")?;
    let written = stats.records();
    if written < n {
        bail!("the rewarder stopped after {written} of {n} records");
    }
    let (first, last) = stats.busy_window().context("the rewarder wrote nothing")?;
    let busy = last - first;
    let rate = written as f64 / busy.as_secs_f64();
    println!(
        "rewarder         {written} records decoded, evaluated and written in {:.2} s: {rate:.0} records/s ({} batches; start-up and group join {:.1} s, not counted)",
        busy.as_secs_f64(),
        stats.batches(),
        (total.saturating_sub(busy)).as_secs_f64()
    );
    if let Some(cpu) = cpu {
        println!(
            "  process CPU    {:.1} s over the run ({:.1} µs a record; the broker's not included)",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / written as f64
        );
    }
    let t = stats.stage_times();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  stage totals   decode {:.0} ms, wait for store {:.0} ms, prefetch {:.0} ms, evaluate {:.0} ms | apply {:.0} ms, dead letters {:.0} ms",
        ms(t.decode),
        ms(t.wait_store),
        ms(t.prefetch),
        ms(t.evaluate),
        ms(t.apply),
        ms(t.dead_letters)
    );
    if let Some(raw) = raw_rate {
        println!("rewarder / raw   {:.0} %", 100.0 * rate / raw);
    }
    Ok(())
}
