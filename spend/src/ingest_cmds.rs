//! `spend ingestor` (the ingest service against real Kafka and S3), `spend upload` (a client that
//! streams a CSV file with a progress bar and prints the batch summary) and `spend bench-ingest`
//! (the ingest throughput benchmark against a bare-producer baseline).
//!
//! Only argument parsing and wiring live here; the service and the baseline producer are
//! `spend-ingestor`'s.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use spend_ingestor::{
    IngestorConfig, IngestorDeps, KafkaSettings, KafkaSink, Limits, S3Settings, TopicSpec,
};
use spend_runtime::jwt::{AuthArgs, JwtMinter, JwtSecret, TokenSpec};
use spend_runtime::kafka::KafkaArgs;
use spend_runtime::Role;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use crate::child::{cpu_time, free_port, ChildService};
use crate::gen::{self, GenArgs};
use crate::telemetry;

/// Where transactions go and how they are produced.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct PublishArgs {
    /// The topic transactions are published to.
    #[arg(
        long = "topic",
        env = "SPEND_INGEST_TOPIC",
        default_value = "transactions"
    )]
    topic: String,
    /// Partitions of the topic when the ingestor creates it (it never changes an existing one).
    #[arg(
        long = "partitions",
        env = "SPEND_INGEST_PARTITIONS",
        default_value_t = 12
    )]
    partitions: i32,
    /// Replication factor of the topic when the ingestor creates it (default: the broker's).
    #[arg(long = "replication", env = "SPEND_INGEST_REPLICATION")]
    replication: Option<i32>,
    /// Do not create the topic at start-up.
    #[arg(long = "no-create-topic", env = "SPEND_INGEST_NO_CREATE_TOPIC")]
    no_create_topic: bool,
    /// How long a record may wait for Kafka's acknowledgement before its request answers 503.
    #[arg(
        long = "delivery-timeout-ms",
        env = "SPEND_INGEST_DELIVERY_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    delivery_timeout_ms: u64,
    /// How long the producer waits to fill a batch.
    #[arg(
        long = "linger-ms",
        env = "SPEND_INGEST_LINGER_MS",
        default_value_t = 5
    )]
    linger_ms: u64,
    /// Producer compression: none, lz4, zstd, snappy or gzip.
    #[arg(
        long = "compression",
        env = "SPEND_INGEST_COMPRESSION",
        default_value = "lz4"
    )]
    compression: String,
    /// Bytes of records sent to Kafka and not yet acknowledged, across all requests.
    #[arg(long = "max-inflight-bytes", env = "SPEND_INGEST_MAX_INFLIGHT_BYTES", default_value_t = 32 << 20)]
    max_inflight_bytes: usize,
}

impl PublishArgs {
    fn settings(&self, kafka: &KafkaArgs) -> KafkaSettings {
        KafkaSettings {
            connection: kafka.clone(),
            topic: self.topic.clone(),
            create_topic: (!self.no_create_topic).then_some(TopicSpec {
                partitions: self.partitions,
                replication: self.replication,
            }),
            delivery_timeout: Duration::from_millis(self.delivery_timeout_ms),
            linger: Duration::from_millis(self.linger_ms),
            compression: self.compression.clone(),
        }
    }
}

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
        let shutdown = CancellationToken::new();
        tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                spend_runtime::shutdown_signal().await;
                shutdown.cancel();
            }
        });
        spend_ingestor::run(config, deps, listener, shutdown)
            .await
            .context("serve the ingestor")
    })
}

/// `spend upload`.
#[derive(clap::Args, Debug)]
pub(crate) struct UploadArgs {
    /// The transactions CSV file.
    file: PathBuf,
    /// The ingestor's base URL.
    #[arg(long, env = "SPEND_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A bearer token with role `bank`.
    #[arg(long, env = "SPEND_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the answer as JSON instead of a summary.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// The HTTP status and JSON answer of an upload.
pub(crate) struct Uploaded {
    pub(crate) status: u16,
    pub(crate) answer: Value,
}

/// Streams `file` to `POST {url}/v1/batches`, showing bytes and rows sent on `progress`.
pub(crate) async fn upload_file(
    url: &str,
    token: Option<&str>,
    file: &Path,
    progress: ProgressBar,
) -> anyhow::Result<Uploaded> {
    let input = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("open {}", file.display()))?;
    let size = input.metadata().await?.len();
    progress.set_length(size);
    let counter = progress.clone();
    let mut lines = 0u64;
    let chunks = futures::stream::unfold(Some(input), |input| async move {
        let mut input = input?;
        let mut buf = vec![0u8; 256 * 1024];
        match input.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(input)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let body = reqwest::Body::wrap_stream(futures::StreamExt::map(chunks, move |chunk| {
        if let Ok(bytes) = &chunk {
            lines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            counter.inc(bytes.len() as u64);
            counter.set_message(format!("{} rows sent", lines.saturating_sub(1)));
        }
        chunk
    }));
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/batches", url.trim_end_matches('/')))
        .header("content-type", "text/csv")
        .header("content-length", size)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("upload to {url}"))?;
    progress.set_message("waiting for kafka's acknowledgements");
    let status = response.status().as_u16();
    let text = response.text().await.context("read the answer")?;
    progress.finish_and_clear();
    let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Uploaded { status, answer })
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Uploads a CSV file and prints the batch summary; fails unless the answer is 200.
pub(crate) fn upload(args: UploadArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    let uploaded = runtime.block_on(upload_file(
        &args.url,
        args.token.as_deref(),
        &args.file,
        progress_bar(args.quiet),
    ))?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    if args.json {
        writeln!(out, "{}", uploaded.answer)?;
    } else {
        print_answer(&mut out, &uploaded)?;
    }
    out.flush()?;
    if uploaded.status == 200 {
        Ok(())
    } else {
        Err(anyhow!("the upload was refused: HTTP {}", uploaded.status))
    }
}

fn print_answer(out: &mut impl Write, uploaded: &Uploaded) -> std::io::Result<()> {
    let a = &uploaded.answer;
    // A failed batch carries its state as the one detail.
    let batch = if uploaded.status == 200 {
        a
    } else {
        writeln!(
            out,
            "HTTP {}: {}",
            uploaded.status,
            a["error"].as_str().unwrap_or("(no error message)")
        )?;
        &a["details"][0]
    };
    if batch.get("batch_id").is_none() {
        return Ok(());
    }
    writeln!(
        out,
        "batch {}: {} rows, {} accepted, {} rejected",
        batch["batch_id"].as_str().unwrap_or("?"),
        batch["rows"],
        batch["accepted"],
        batch["rejected"]
    )?;
    let errors = batch["errors"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !errors.is_empty() {
        let shown = if batch["rejected"].as_u64() > Some(errors.len() as u64) {
            format!(" (the first {})", errors.len())
        } else {
            String::new()
        };
        writeln!(out, "rejected rows{shown}:")?;
        for e in errors {
            let fields: Vec<&str> = e["fields"]
                .as_array()
                .map(|f| f.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            writeln!(
                out,
                "  line {:>8}  {:<36}  {}",
                e["line"].as_u64().unwrap_or(0),
                e["id"].as_str().unwrap_or(""),
                fields.join(", ")
            )?;
        }
    }
    Ok(())
}

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

    #[test]
    fn a_summary_lists_the_rejected_rows() {
        let uploaded = Uploaded {
            status: 200,
            answer: serde_json::json!({"batch_id": "b", "rows": 3, "accepted": 1, "rejected": 2,
                "errors": [{"line": 3, "id": "x", "fields": ["mcc", "amount"]}]}),
        };
        let mut out = Vec::new();
        print_answer(&mut out, &uploaded).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("batch b: 3 rows, 1 accepted, 2 rejected\n"),
            "{text}"
        );
        assert!(text.contains("rejected rows (the first 1):"), "{text}");
        assert!(text.contains("line        3  x"), "{text}");
        assert!(text.trim_end().ends_with("mcc, amount"), "{text}");

        let failed = Uploaded {
            status: 422,
            answer: serde_json::json!({"error": "the file is refused from line 1: header",
                "details": [{"batch_id": "b", "rows": 0, "accepted": 0, "rejected": 0, "errors": []}]}),
        };
        let mut out = Vec::new();
        print_answer(&mut out, &failed).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP 422: the file is refused from line 1"),
            "{text}"
        );
        assert!(text.contains("batch b: 0 rows"), "{text}");
    }
}
