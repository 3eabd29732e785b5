//! `spend bench-ingest`: the ingest throughput benchmark, the ingestor (in a child process, fed
//! over HTTP) against a bare producer of the same settings, on the same broker.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::ProgressBar;
use serde_json::Value;
use spend_ingestor::{KafkaSettings, TopicSpec};
use spend_kafka::KafkaArgs;
use spend_runtime::jwt::{JwtMinter, JwtSecret, TokenSpec};
use spend_runtime::Role;

use crate::child::{cpu_time, free_port, ChildService};
use crate::cmd::gen::{self, GenArgs};
use crate::cmd::ingest::{upload_file, PublishArgs};
use crate::telemetry;

/// `spend bench-ingest`.
#[derive(clap::Args, Debug)]
pub(crate) struct BenchIngestArgs {
    /// Rows of the `spend gen` file.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Cards of the `spend gen` file.
    #[arg(long, default_value_t = 3000)]
    cards: u32,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Keep the generated file here (reused if it exists); default: a temporary file.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Rounds of (raw, ingest), each on fresh topics; the report gives each and their medians
    /// (other load on the machine moves single runs a lot).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[command(flatten)]
    kafka: KafkaArgs,
    /// Producer settings, as `spend ingestor` takes them (the topics are the benchmark's own).
    #[command(flatten)]
    publish: PublishArgs,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs the ingestor benchmark: the same generated rows through HTTP into the ingestor, and
/// through a bare producer of the same settings, on the same broker, round after round; prints the
/// rates, their ratio and the ingestor's peak memory.
pub(crate) fn bench_ingest(args: BenchIngestArgs) -> anyhow::Result<()> {
    telemetry::init(telemetry::Format::Pretty);
    let temp_dir = std::env::temp_dir().join(format!("spend-bench-{}", std::process::id()));
    std::fs::create_dir_all(&temp_dir)?;
    let result = bench_in(&args, &temp_dir);
    let _ = std::fs::remove_dir_all(&temp_dir);
    let (file_bytes, rounds) = result?;
    print_report(&args, file_bytes, &rounds)
}

fn bench_in(args: &BenchIngestArgs, temp_dir: &Path) -> anyhow::Result<(u64, Vec<Round>)> {
    let file = args
        .file
        .clone()
        .unwrap_or_else(|| temp_dir.join("transactions.csv"));
    if !file.exists() {
        eprintln!("generating {} rows into {}", args.rows, file.display());
        let gen_args = GenArgs {
            rows: args.rows,
            cards: args.cards,
            seed: args.seed,
        };
        let mut out = File::create(&file).with_context(|| format!("create {}", file.display()))?;
        gen::run(&gen_args, &mut out)?;
    }
    let file_bytes = std::fs::metadata(&file)?.len();
    let runtime = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    let rounds = runtime.block_on(bench(args, &file, temp_dir))?;
    Ok((file_bytes, rounds))
}

/// One round: the raw baseline, then the ingestor, on fresh topics.
struct Round {
    rows: u64,
    ingest: Duration,
    ingest_cpu: Option<Duration>,
    raw: spend_ingestor::bench::RawReport,
    raw_cpu: Option<Duration>,
    peak_rss: Option<u64>,
}

impl Round {
    fn ingest_rate(&self) -> f64 {
        self.rows as f64 / self.ingest.as_secs_f64().max(1e-9)
    }

    fn ratio(&self) -> f64 {
        self.ingest_rate() / self.raw.rows_per_second()
    }
}

async fn bench(args: &BenchIngestArgs, file: &Path, temp_dir: &Path) -> anyhow::Result<Vec<Round>> {
    eprintln!("encoding the valid rows for the raw producer (not timed)");
    let encoded = Arc::new(
        tokio::task::spawn_blocking({
            let file = file.to_owned();
            move || spend_ingestor::bench::encode_file(&file)
        })
        .await??,
    );
    let settings = args.publish.settings(&args.kafka);
    let mut rounds = Vec::new();
    for round in 1..=args.rounds.max(1) {
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let ingest_topic = format!("bench-ingest-{}", &run_id[..8]);
        let raw_topic = format!("bench-raw-{}", &run_id[..8]);
        let spec = TopicSpec {
            partitions: args.publish.partitions,
            replication: args.publish.replication,
        };
        for topic in [&ingest_topic, &raw_topic] {
            spend_ingestor::kafka::ensure_topic(&settings, topic, spec)
                .await
                .with_context(|| format!("create topic {topic}"))?;
        }
        let result = bench_round(
            args,
            &settings,
            &encoded,
            file,
            temp_dir,
            &raw_topic,
            &ingest_topic,
        )
        .await;
        // Memory storage (tansu) keeps every record until its topic is deleted.
        if let Err(e) =
            spend_ingestor::bench::delete_topics(&settings, &[&raw_topic, &ingest_topic]).await
        {
            eprintln!("warning: the benchmark topics were not deleted: {e}");
        }
        let r = result?;
        eprintln!(
            "round {round}: ingest {:.0} rows/s, raw {:.0} rows/s, ratio {:.2}",
            r.ingest_rate(),
            r.raw.rows_per_second(),
            r.ratio()
        );
        rounds.push(r);
    }
    Ok(rounds)
}

async fn bench_round(
    args: &BenchIngestArgs,
    settings: &KafkaSettings,
    encoded: &Arc<spend_ingestor::bench::EncodedRows>,
    file: &Path,
    temp_dir: &Path,
    raw_topic: &str,
    ingest_topic: &str,
) -> anyhow::Result<Round> {
    // The baseline first, so that it never runs on a broker the ingestor has warmed up.
    let me = std::process::id().to_string();
    let cpu_before = cpu_time(&me);
    let raw = tokio::task::spawn_blocking({
        let settings = settings.clone();
        let encoded = encoded.clone();
        let topic = raw_topic.to_owned();
        let max_inflight = args.publish.max_inflight_bytes;
        move || spend_ingestor::bench::raw_produce(&settings, &topic, &encoded, max_inflight)
    })
    .await??;
    let raw_cpu = cpu_time(&me)
        .zip(cpu_before)
        .map(|(a, b)| a.saturating_sub(b));
    if raw.failed > 0 {
        bail!("the raw producer failed {} records", raw.failed);
    }

    // The ingestor in a process of its own, so that its memory and CPU are measured alone.
    let secret = format!(
        "bench-{}-{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let port = free_port()?;
    let log = File::create(temp_dir.join("ingestor.log"))?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("ingestor")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--kafka-brokers", &args.kafka.brokers])
        .args(["--topic", ingest_topic, "--no-create-topic"])
        .args(["--linger-ms", &args.publish.linger_ms.to_string()])
        .args(["--compression", &args.publish.compression])
        .args([
            "--delivery-timeout-ms",
            &args.publish.delivery_timeout_ms.to_string(),
        ])
        .args([
            "--max-inflight-bytes",
            &args.publish.max_inflight_bytes.to_string(),
        ])
        .env("SPEND_JWT_SECRET", &secret)
        .env_remove("SPEND_JWT_PUBLIC_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    for (k, v) in &args.kafka.properties {
        command.args(["--kafka-property", &format!("{k}={v}")]);
    }
    let mut child = ChildService::spawn("spend ingestor", &mut command, port)?;
    if let Err(e) = child.wait_ready(Duration::from_secs(30)).await {
        let log = std::fs::read_to_string(temp_dir.join("ingestor.log")).unwrap_or_default();
        bail!("{e}; its log:\n{log}");
    }
    let minter = JwtMinter::hs256(&JwtSecret::new(secret.into_bytes())?);
    let token = minter.mint(&TokenSpec {
        role: Role::Bank,
        cards: Vec::new(),
        subject: Some("bench-ingest".into()),
        ttl_secs: 3600,
    })?;

    let cpu_before = child.cpu_time();
    let started = Instant::now();
    let uploaded = upload_file(&child.url, Some(&token), file, ProgressBar::hidden()).await?;
    let ingest = started.elapsed();
    let ingest_cpu = child
        .cpu_time()
        .zip(cpu_before)
        .map(|(a, b)| a.saturating_sub(b));
    let peak_rss = child.peak_rss();
    child.stop("TERM", Duration::from_secs(10))?;
    if uploaded.status != 200 {
        bail!(
            "the upload failed: HTTP {}: {}",
            uploaded.status,
            uploaded.answer
        );
    }
    let accepted = uploaded.answer["accepted"].as_u64().unwrap_or(0);
    if accepted != raw.records {
        bail!(
            "the ingestor accepted {accepted} rows, the raw producer produced {}",
            raw.records
        );
    }
    Ok(Round {
        rows: accepted,
        ingest,
        ingest_cpu,
        raw,
        raw_cpu,
        peak_rss,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn print_report(args: &BenchIngestArgs, file_bytes: u64, rounds: &[Round]) -> anyhow::Result<()> {
    let ingest = median(rounds.iter().map(Round::ingest_rate).collect());
    let raw = median(rounds.iter().map(|r| r.raw.rows_per_second()).collect());
    let ratio = median(rounds.iter().map(Round::ratio).collect());
    let peak_rss = rounds.iter().filter_map(|r| r.peak_rss).max();
    let rows = rounds.first().map_or(0, |r| r.rows);
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let mut out = std::io::stdout().lock();
    if args.json {
        let per_round: Vec<Value> = rounds
            .iter()
            .map(|r| {
                serde_json::json!({
                    "ingest_rows_per_second": r.ingest_rate(),
                    "ingest_seconds": r.ingest.as_secs_f64(),
                    "ingestor_cpu_seconds": secs(r.ingest_cpu),
                    "raw_rows_per_second": r.raw.rows_per_second(),
                    "raw_seconds": r.raw.elapsed.as_secs_f64(),
                    "raw_cpu_seconds": secs(r.raw_cpu),
                    "ratio": r.ratio(),
                    "ingestor_peak_rss_bytes": r.peak_rss,
                })
            })
            .collect();
        let report = serde_json::json!({
            "rows": rows,
            "file_bytes": file_bytes,
            "partitions": args.publish.partitions,
            "linger_ms": args.publish.linger_ms,
            "compression": args.publish.compression,
            "median_ingest_rows_per_second": ingest,
            "median_raw_rows_per_second": raw,
            "median_ratio": ratio,
            "ingestor_peak_rss_bytes": peak_rss,
            "rounds": per_round,
        });
        writeln!(out, "{report}")?;
        return Ok(());
    }
    writeln!(
        out,
        "bench-ingest: {} rows ({:.1} MiB CSV), {} partitions, linger {} ms, compression {}, {} rounds",
        rows,
        mib(file_bytes),
        args.publish.partitions,
        args.publish.linger_ms,
        args.publish.compression,
        rounds.len()
    )?;
    writeln!(
        out,
        "  round  ingest rows/s (s, ingestor cpu s)   raw rows/s (s, cpu s)        ratio"
    )?;
    for (i, r) in rounds.iter().enumerate() {
        writeln!(
            out,
            "  {:>5}  {:>9.0} ({:5.2} s, {:5.2} cpu)   {:>9.0} ({:5.2} s, {:5.2} cpu)   {:.2}",
            i + 1,
            r.ingest_rate(),
            r.ingest.as_secs_f64(),
            secs(r.ingest_cpu).unwrap_or(f64::NAN),
            r.raw.rows_per_second(),
            r.raw.elapsed.as_secs_f64(),
            secs(r.raw_cpu).unwrap_or(f64::NAN),
            r.ratio()
        )?;
    }
    writeln!(
        out,
        "  median ingest (HTTP -> ingestor -> kafka): {ingest:>9.0} rows/s"
    )?;
    writeln!(
        out,
        "  median raw (bare rdkafka producer):        {raw:>9.0} rows/s"
    )?;
    writeln!(
        out,
        "  median ratio ingest / raw:                 {ratio:>9.2}"
    )?;
    match peak_rss {
        Some(rss) => writeln!(
            out,
            "  ingestor peak RSS (VmHWM):                 {:>9.1} MiB",
            mib(rss)
        )?,
        None => writeln!(out, "  ingestor peak RSS: unknown (no /proc)")?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_rounds() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
    }
}
