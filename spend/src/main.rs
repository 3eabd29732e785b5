//! `spend`: the one binary. Every service, `spend dev`, and the tool commands. It holds no logic of
//! its own: it parses the command line, sets up telemetry and calls into the crates.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod child;
mod cmd;
mod telemetry;

use cmd::{dev, eval, gen, ingest, rewarder, services, store, token, web};

/// mimalloc: the ingest and reward paths allocate many small strings per row; measured at
/// 3.2-3.7 s of ingestor CPU per million rows against ~4.5 s with the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "spend",
    version,
    about = "Spend processing for card-linked loyalty"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Every service in one process on one port, on embedded defaults (no servers needed); prints
    /// the URL and an admin token.
    Dev(dev::DevArgs),
    /// Runs a transactions CSV (stdin) through validation and the reward engine, no servers needed;
    /// writes one result row per input row (also the campaign simulator).
    Eval(eval::EvalArgs),
    /// Writes a realistic synthetic transactions CSV to stdout; the same file for the same seed.
    Gen(gen::GenArgs),
    /// Runs the ingestor service against real Kafka (and S3), configured by flags and `SPEND_*`.
    Ingestor(ingest::IngestorArgs),
    /// Uploads a transactions CSV to an ingestor with a progress bar; prints the batch summary.
    Upload(ingest::UploadArgs),
    /// Ingest throughput: a `spend gen` file through HTTP into Kafka, against a bare producer.
    BenchIngest(bench::ingest::BenchIngestArgs),
    /// Runs the rewards read API against ScyllaDB (or an embedded store), configured by flags
    /// and `SPEND_*`.
    Informer(services::InformerArgs),
    /// Runs the configuration API against etcd (or an embedded store), configured by flags and
    /// `SPEND_*`.
    Campaignex(services::CampaignexArgs),
    /// Serves the embedded reward store of one data directory over HTTP, so that separate
    /// rewarder and informer processes share it (`--reward-store-url`).
    Store(store::StoreArgs),
    /// Prints a bearer token that services started with the same key configuration accept.
    Token(token::TokenArgs),
    /// Read-API load test: fills an embedded store, serves the informer on loopback, drives it
    /// with oha.
    BenchInformer(bench::informer::BenchInformerArgs),
    /// Runs the rewarder against real Kafka, etcd and ScyllaDB (or embedded stores in a data
    /// directory), configured by flags and `SPEND_*`.
    Rewarder(rewarder::RewarderArgs),
    /// Re-publishes dead letters (all, or by reason) to the transactions topic for processing anew.
    ReplayDlq(rewarder::ReplayDlqArgs),
    /// Rewarder throughput: generated records already on a topic, consumed, evaluated and written
    /// to the embedded store, against a bare consumer of the same settings.
    BenchRewarder(bench::rewarder::BenchRewarderArgs),
    /// Installs the reward store's ScyllaDB schema (keyspace without tablets, tables) and exits:
    /// run once per deployment (the Helm chart's Job), not by every replica.
    ScyllaSchema(rewarder::ScyllaSchemaArgs),
    /// The web dashboard in front of the public API (distributed mode; `spend dev` serves it too).
    Web(web::WebArgs),
    /// End-to-end throughput: a `spend gen` file uploaded to `spend dev` (a child process) until
    /// every outcome is queryable; reports rows/s and peak memory.
    BenchPipeline(bench::pipeline::BenchPipelineArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev(args) => dev::dev(args),
        Command::Eval(args) => {
            let stdin = std::io::stdin().lock();
            let stdout = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            eval::run(&args, stdin, stdout)
        }
        Command::Gen(args) => {
            let mut stdout = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            gen::run(&args, &mut stdout)
                .and_then(|()| stdout.flush())
                .map_err(anyhow::Error::from)
        }
        Command::Ingestor(args) => ingest::ingestor(args),
        Command::Upload(args) => ingest::upload(args),
        Command::BenchIngest(args) => bench::ingest::bench_ingest(args),
        Command::Informer(args) => services::informer(args),
        Command::Campaignex(args) => services::campaignex(args),
        Command::Store(args) => store::run(args),
        Command::Token(args) => token::run(&args, &mut std::io::stdout().lock()),
        Command::BenchInformer(args) => bench::informer::run(args),
        Command::Rewarder(args) => rewarder::rewarder(args),
        Command::ReplayDlq(args) => rewarder::replay_dlq(args),
        Command::BenchRewarder(args) => bench::rewarder::bench_rewarder(args),
        Command::ScyllaSchema(args) => rewarder::scylla_schema(args),
        Command::BenchPipeline(args) => bench::pipeline::run(args),
        Command::Web(args) => web::web(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`spend gen | head`) is not an error worth a message.
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
