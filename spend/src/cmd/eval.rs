//! `spend eval`: the rows of a CSV file, in file order, through the same validation and reward
//! engine the pipeline uses. Also the campaign simulator.
//!
//! It streams: rows are read, evaluated and written one at a time, and what it must remember of
//! every id (for duplicates and reversals) sits in a [`SpillLedger`], whose memory is bounded by
//! `--ledger-memory`, not by the file.

mod ledger;

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use spend_domain::config::Config;
use spend_domain::csv::CsvReader;
use spend_domain::eval::Outcome;
use spend_domain::money::fmt2;
use spend_domain::rules::RuleSet;
use spend_domain::transaction::parse_transaction;

use ledger::SpillLedger;

/// Runs the rows on stdin through validation and the reward engine; writes one result row each.
#[derive(clap::Args, Debug)]
pub(crate) struct EvalArgs {
    /// A configuration file shaped like `examples/reference-config.json`; repeat to merge several
    /// (their lists are concatenated).
    #[arg(long = "config", required = true, value_name = "FILE")]
    pub(crate) configs: Vec<PathBuf>,
    /// Also write every card's final state in every mission to FILE as CSV (docs/missions.md).
    #[arg(long = "missions-out", value_name = "FILE")]
    pub(crate) missions_out: Option<PathBuf>,
    /// Ids remembered in memory (for duplicates and reversals); beyond that the older ones move to
    /// sorted temporary files in $TMPDIR, so memory stays bounded however long the input is.
    #[arg(long = "ledger-memory", value_name = "IDS", default_value_t = ledger::DEFAULT_BUDGET,
          value_parser = parse_budget)]
    pub(crate) ledger_memory: usize,
}

fn parse_budget(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}` is not a whole number of ids of at least 1")),
    }
}

/// The configuration revision `eval` records: there is no store, so there is no revision.
const EVAL_REVISION: i64 = 0;

pub(crate) fn load_configs(paths: &[PathBuf]) -> anyhow::Result<Config> {
    let mut merged: Option<Config> = None;
    for path in paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read configuration {}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        let mut next_id = uuid::Uuid::new_v4;
        let config = Config::fragment_from_json(&value, &mut next_id).map_err(|e| {
            anyhow::anyhow!("{} is not a valid configuration:\n{}", path.display(), e)
        })?;
        merged = Some(match merged {
            None => config,
            Some(m) => m.merge(config),
        });
    }
    merged.context("no configuration given")
}

pub(crate) fn run(args: &EvalArgs, input: impl Read, out: impl Write) -> anyhow::Result<()> {
    let config = load_configs(&args.configs)?;
    let rules = RuleSet::compile(&config, EVAL_REVISION)
        .map_err(|e| anyhow::anyhow!("the merged configuration is not valid:\n{e}"))?;
    let today = chrono::Utc::now().date_naive();

    let with_missions = rules.has_missions();
    let mut ledger = SpillLedger::new(args.ledger_memory);
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(out);
    w.write_record([
        "id",
        "status",
        "reward",
        "unit",
        "amount_sgd",
        "base_campaign",
        "promo_campaign",
        "remark",
    ])?;

    for row in CsvReader::new(input) {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                w.flush()?;
                bail!("input refused at {e}");
            }
        };
        let raw = match row.raw {
            Ok(raw) => raw,
            Err(rejection) => {
                write_rejected(&mut w, &rejection)?;
                continue;
            }
        };
        let tx = match parse_transaction(&raw, today) {
            Ok(tx) => tx,
            Err(rejection) => {
                write_rejected(&mut w, &rejection)?;
                continue;
            }
        };
        let outcome = rules.evaluate(&tx, &ledger);
        let effects = if with_missions {
            rules.mission_effects(&tx, &outcome, &ledger)
        } else {
            Vec::new()
        };
        // A lookup that failed answered "unknown"; the row's result is not written on it.
        ledger.check().map_err(ledger_error)?;
        ledger.record(&tx, &outcome).map_err(ledger_error)?;
        let id = tx.id.to_string();
        match &outcome {
            Outcome::Rewarded(r) => {
                let base = r.base_campaign.map(|u| u.hyphenated().to_string());
                let promo = r.promo_campaign.map(|u| u.hyphenated().to_string());
                let amount_sgd = r.amount_sgd.map(fmt2);
                w.write_record([
                    id.as_str(),
                    "rewarded",
                    &fmt2(r.reward),
                    r.unit.as_str(),
                    amount_sgd.as_deref().unwrap_or(""),
                    base.as_deref().unwrap_or(""),
                    promo.as_deref().unwrap_or(""),
                    &r.remark,
                ])?;
            }
            Outcome::DeadLetter(reason) => {
                w.write_record([&id, "dead_letter", "", "", "", "", "", reason.as_str()])?;
            }
            Outcome::Duplicate => {
                w.write_record([&id, "duplicate", "", "", "", "", "", ""])?;
            }
        }
        // A mission payout is a row of its own, right after the record that caused it.
        for p in effects.iter().filter_map(|e| e.payout.as_ref()) {
            w.write_record([
                p.id.to_string().as_str(),
                p.kind.as_str(),
                &fmt2(p.reward),
                p.unit.as_str(),
                "",
                "",
                "",
                &p.remark,
            ])?;
        }
        ledger.record_missions(effects);
    }
    w.flush()?;
    if let Some(path) = &args.missions_out {
        write_mission_states(path, &ledger, today)?;
    }
    Ok(())
}

/// Every card's state in every mission, by card then mission id, with its status as of `today`.
fn write_mission_states(
    path: &std::path::Path,
    ledger: &SpillLedger,
    today: chrono::NaiveDate,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(std::io::BufWriter::new(file));
    w.write_record(MISSION_COLUMNS)?;
    let mut states: Vec<_> = ledger.mission_states().collect();
    states.sort_by_key(|(card, mission, _)| (*card, *mission));
    for (card, mission, s) in states {
        let completed_at = s.paid.map(|p| p.completed_at.to_string());
        w.write_record([
            card.to_string().as_str(),
            &mission.hyphenated().to_string(),
            s.status(today).as_str(),
            &fmt2(s.progress_amount_sgd),
            &s.progress_count.to_string(),
            &s.window_start.to_string(),
            &s.window_end.to_string(),
            &s.completions.to_string(),
            completed_at.as_deref().unwrap_or(""),
        ])?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The columns of `--missions-out`.
const MISSION_COLUMNS: [&str; 9] = [
    "card_id",
    "mission_id",
    "status",
    "progress_amount_sgd",
    "progress_count",
    "window_start",
    "window_end",
    "completions",
    "completed_at",
];

fn ledger_error(e: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!("the ledger's temporary files failed: {e}")
}

fn write_rejected<W: Write>(
    w: &mut csv::Writer<W>,
    rejection: &spend_domain::transaction::Rejection,
) -> anyhow::Result<()> {
    w.write_record([
        rejection.raw_id.as_str(),
        "rejected",
        "",
        "",
        "",
        "",
        "",
        &rejection.remark(),
    ])?;
    Ok(())
}
