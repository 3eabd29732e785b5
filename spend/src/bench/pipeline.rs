//! `spend bench-pipeline`: the whole product end to end, as a user runs it.
//!
//! Writes a `spend gen` file, starts `spend dev` as a child process on a fresh data directory,
//! uploads the file over HTTP (`POST /v1/batches`, streamed, with the bank token) and measures the
//! time until every outcome is queryable. "Queryable" is checked, not assumed: the rewarder's
//! `spend_rewarder_records_total` (records written to the store) must reach the number of rows
//! the upload accepted, and then `GET /v1/transactions/{id}` must answer 200 for the last row of
//! every card. A card's records are one partition's, in file order, and the rewarder writes a
//! partition's batches in order, so the last row of a card being stored means every earlier row
//! of that card is too; `--verify-all` also asks for every id, untimed.
//!
//! Reports rows/s end to end, the upload's own rate, and the peak resident memory (`VmHWM`) and
//! CPU time of the `spend dev` process, with the load average around the run: on a shared
//! machine the figures mean little without it. In the same run it times `spend eval` (the same
//! engine, no servers) over the same file and prints the ratio, and it breaks the CPU time of
//! `spend dev` down by thread kind, which is by stage: `embedded-kafka` is the broker,
//! `rdk:*` librdkafka's clients, `tokio-runtime-w` the HTTP services and the rewarder's tasks,
//! `rewarder-poll` the consumer's poll loop, and so on.
//!
//! `--missions N` runs the pipeline a second time in the same run, on a fresh store, with N
//! active missions created through `POST /v1/missions` before the upload (the missions a
//! programme would run: see [`missions`]), and prints what they cost: the ratio of the two
//! end-to-end rates, and of `spend eval` with and without them.

mod eval_rate;
mod ids;
mod missions;
mod queries;
mod report;
mod transport;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use indicatif::ProgressBar;

use self::eval_rate::eval_rate;
use self::ids::{all_ids, last_id_of_each_card};
use self::queries::{lookup_all, metric, records_written};
use self::report::report;
use crate::child::{free_port, ChildService};
use crate::cmd::gen::{self, GenArgs};
use crate::cmd::ingest::upload_file;

/// Benchmarks the pipeline: rows uploaded to `spend dev` until every outcome is queryable.
#[derive(clap::Args, Debug)]
pub(crate) struct BenchPipelineArgs {
    /// Rows in the generated file.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Distinct cards in the generated file.
    #[arg(long, default_value_t = 3000)]
    cards: u32,
    /// Seed of the generated file.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Partitions of `spend dev`'s in-process topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// A directory for the file, the store and the log; it must be empty or absent (default: a
    /// new one under the system's temporary directory, removed afterwards).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Keep the data directory afterwards.
    #[arg(long)]
    keep: bool,
    /// After the timed run, also look up every accepted id (untimed).
    #[arg(long)]
    verify_all: bool,
    /// Give up when the outcomes are not all queryable after this many seconds.
    #[arg(long = "timeout-secs", default_value_t = 900)]
    timeout_secs: u64,
    /// Also run the pipeline with this many active missions (0: only without).
    #[arg(long, default_value_t = 0)]
    missions: usize,
}

pub(crate) fn run(args: BenchPipelineArgs) -> anyhow::Result<()> {
    let (dir, remove_after) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("spend-bench-pipeline-{}", std::process::id())),
            !args.keep,
        ),
    };
    if dir.exists()
        && dir
            .read_dir()
            .with_context(|| format!("read {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty: the benchmark needs a fresh store",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let result = bench(&args, &dir);
    if remove_after {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn bench(args: &BenchPipelineArgs, dir: &Path) -> anyhow::Result<()> {
    let csv = dir.join("transactions.csv");
    eprintln!(
        "generating {} rows over {} cards (seed {})",
        args.rows, args.cards, args.seed
    );
    let mut out = BufWriter::new(File::create(&csv).context("create the CSV file")?);
    gen::run(
        &GenArgs {
            rows: args.rows,
            cards: args.cards,
            seed: args.seed,
        },
        &mut out,
    )
    .context("generate the CSV file")?;
    drop(out);
    let file_bytes = std::fs::metadata(&csv).map(|m| m.len()).unwrap_or(0);
    let last_of_card = last_id_of_each_card(&csv)?;

    let eval = eval_rate(dir, &csv, None)?;
    let base = run_once(args, dir, "store", &csv, &last_of_card, &[])?;
    let end_to_end = report(args, file_bytes, &last_of_card, &base, &eval);
    if args.missions == 0 {
        return Ok(());
    }
    let missions = missions::generate(args.missions);
    let eval_with = eval_rate(dir, &csv, Some(&missions))?;
    let with = run_once(args, dir, "store-missions", &csv, &last_of_card, &missions)?;
    println!();
    println!("with {} active missions:", args.missions);
    let with_end_to_end = report(args, file_bytes, &last_of_card, &with, &eval_with);
    println!();
    println!(
        "missions cost      end to end {:.0} → {:.0} rows/s: {:.2} of the rate without ({:+.1} %)",
        end_to_end,
        with_end_to_end,
        with_end_to_end / end_to_end,
        (with_end_to_end / end_to_end - 1.0) * 100.0
    );
    println!(
        "                   spend eval {:.0} → {:.0} rows/s: {:.2} of the rate without",
        eval.rows_per_sec,
        eval_with.rows_per_sec,
        eval_with.rows_per_sec / eval.rows_per_sec
    );
    println!(
        "                   {} mission payouts written; {} cards' states read from the store",
        with.mission_payouts, with.mission_cards_read
    );
    Ok(())
}

/// One `spend dev` on a fresh store under `dir/name`, `missions` created, the file uploaded and
/// measured until every outcome is queryable; stopped with SIGINT.
fn run_once(
    args: &BenchPipelineArgs,
    dir: &Path,
    name: &str,
    csv: &Path,
    last_of_card: &[String],
    missions: &[serde_json::Value],
) -> anyhow::Result<Measured> {
    let port = free_port()?;
    let store_dir = dir.join(name);
    let log_path = dir.join(format!("{name}.log"));
    let log = File::create(&log_path).context("create the log file")?;
    eprintln!("starting spend dev (log: {})", log_path.display());
    let mut dev = ChildService::spawn(
        "spend dev",
        Command::new(std::env::current_exe().context("find the spend executable")?)
            .arg("dev")
            .arg("--data-dir")
            .arg(&store_dir)
            .args(["--port", &port.to_string()])
            .args(["--partitions", &args.partitions.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("share the log file")?)
            .stderr(log),
        port,
    )?;

    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    let measured = runtime.block_on(measure(
        args,
        &store_dir,
        csv,
        last_of_card,
        missions,
        &mut dev,
    ));
    // SIGINT, as Ctrl-C: spend dev stops the way a user stops it.
    let stopped = dev.stop("INT", Duration::from_secs(120));
    let m = measured?;
    stopped?;
    Ok(m)
}

struct Measured {
    accepted: u64,
    uploaded: Duration,
    written: Duration,
    queryable: Duration,
    peak_rss: u64,
    cpu: Duration,
    cpu_by_thread: Vec<(String, Duration)>,
    load_before: String,
    load_after: String,
    verified: Option<usize>,
    mission_payouts: u64,
    mission_cards_read: u64,
    /// The bare transport through the same broker, measured after the pipeline (base run only).
    transport: Option<transport::Transport>,
}

async fn measure(
    args: &BenchPipelineArgs,
    store_dir: &Path,
    csv: &Path,
    last_of_card: &[String],
    missions: &[serde_json::Value],
    dev: &mut ChildService,
) -> anyhow::Result<Measured> {
    dev.wait_ready(Duration::from_secs(120)).await?;
    let url = dev.url.clone();
    let url = url.as_str();
    let client = reqwest::Client::new();
    let bank = read_token(&store_dir.join("bank-token"))?;
    let admin = read_token(&store_dir.join("admin-token"))?;
    if !missions.is_empty() {
        missions::create(&client, url, &admin, missions).await?;
    }
    let load_before = load_average();

    let start = Instant::now();
    let uploaded = upload_file(url, Some(&bank), csv, ProgressBar::hidden()).await?;
    let summary = uploaded.answer;
    ensure!(
        uploaded.status == 200,
        "the upload answered {}: {summary}",
        uploaded.status
    );
    let uploaded = start.elapsed();
    let accepted = summary["accepted"]
        .as_u64()
        .context("upload answer without accepted")?;
    let rejected = summary["rejected"].as_u64().unwrap_or(0);
    ensure!(
        rejected == 0,
        "the upload rejected {rejected} rows of a generated file: {summary}"
    );

    let deadline = start + Duration::from_secs(args.timeout_secs);
    loop {
        let written = records_written(&client, url).await?;
        if written >= accepted {
            break;
        }
        dev.check_alive()?;
        ensure!(
            Instant::now() < deadline,
            "after {} s only {written} of {accepted} records are written",
            args.timeout_secs
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let written = start.elapsed();
    loop {
        let missing = lookup_all(&client, url, &admin, last_of_card).await?;
        if missing == 0 {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "after {} s {missing} cards' last outcomes are still not queryable",
            args.timeout_secs
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let queryable = start.elapsed();
    let load_after = load_average();
    let peak_rss = dev
        .peak_rss()
        .context("read the peak memory of spend dev")?;
    let cpu = dev.cpu_time().context("read the CPU time of spend dev")?;
    let cpu_by_thread = dev.cpu_by_thread();
    let mission_payouts = metric(&client, url, "spend_rewarder_mission_payouts_total").await?;
    let mission_cards_read =
        metric(&client, url, "spend_rewarder_mission_cards_read_total").await?;

    let transport = if missions.is_empty() {
        eprintln!("measuring the bare transport through the same broker");
        Some(transport::measure(store_dir, csv, args.partitions, dev).await?)
    } else {
        None
    };

    let verified = if args.verify_all {
        eprintln!("looking up every id");
        let ids = all_ids(csv)?;
        let missing = lookup_all(&client, url, &admin, &ids).await?;
        ensure!(missing == 0, "{missing} ids are not queryable");
        Some(ids.len())
    } else {
        None
    };
    Ok(Measured {
        accepted,
        uploaded,
        written,
        queryable,
        peak_rss,
        cpu,
        cpu_by_thread,
        load_before,
        load_after,
        verified,
        mission_payouts,
        mission_cards_read,
        transport,
    })
}

struct EvalRate {
    rows_per_sec: f64,
    elapsed: Duration,
    peak_rss: u64,
}

fn read_token(path: &Path) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(path)
        .with_context(|| format!("read {}", path.display()))?
        .trim()
        .to_owned())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
