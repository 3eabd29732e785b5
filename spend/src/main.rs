//! `spend`: the one binary. Every service, `spend dev`, and the tool commands. It holds no logic of
//! its own: it parses the command line, sets up telemetry and calls into the crates.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod eval;
mod gen;

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
    /// Runs a transactions CSV (stdin) through validation and the reward engine, no servers needed;
    /// writes one result row per input row (also the campaign simulator).
    Eval(eval::EvalArgs),
    /// Writes a realistic synthetic transactions CSV to stdout; the same file for the same seed.
    Gen(gen::GenArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
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
