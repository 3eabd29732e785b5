//! `spend eval` timed over the benchmark's file: the engine alone, the yardstick for the pipeline.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};

use super::EvalRate;

/// `spend eval` over `csv` with the reference configuration (what `spend dev` loads) and
/// `missions`, as a child process whose output is discarded: the engine's own speed on this
/// file, on this machine, now.
pub(super) fn eval_rate(
    dir: &Path,
    csv: &Path,
    missions: Option<&[serde_json::Value]>,
) -> anyhow::Result<EvalRate> {
    let config = dir.join("reference-config.json");
    std::fs::write(&config, crate::cmd::dev::REFERENCE_CONFIG)
        .context("write the configuration")?;
    let mut configs = vec![config];
    if let Some(missions) = missions {
        let path = dir.join("missions.json");
        let doc = serde_json::json!({ "missions": missions });
        std::fs::write(&path, doc.to_string()).context("write the missions")?;
        configs.push(path);
    }
    eprintln!("timing spend eval over the same file");
    let rows = std::fs::read(csv)
        .context("read the CSV file")?
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        .saturating_sub(1);
    let start = Instant::now();
    let mut child = Command::new(std::env::current_exe().context("find the spend executable")?)
        .arg("eval")
        .args(
            configs
                .iter()
                .flat_map(|c| [Path::new("--config"), c.as_path()]),
        )
        .stdin(File::open(csv).context("open the CSV file")?)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start spend eval")?;
    let mut peak_rss = 0;
    let status = loop {
        if let Some(status) = child.try_wait().context("wait for spend eval")? {
            break status;
        }
        peak_rss = peak_rss.max(crate::child::peak_rss(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    ensure!(status.success(), "spend eval failed: {status}");
    Ok(EvalRate {
        rows_per_sec: rows as f64 / elapsed.as_secs_f64(),
        elapsed,
        peak_rss,
    })
}
