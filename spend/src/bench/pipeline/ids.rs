//! The ids the benchmark looks up, read from the generated file.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::Context;
use spend_domain::csv::CsvReader;

/// The last id of every card, in file order (one per card).
pub(super) fn last_id_of_each_card(csv: &Path) -> anyhow::Result<Vec<String>> {
    let mut last: HashMap<String, String> = HashMap::new();
    for_each_row(csv, |card, id| {
        last.insert(card, id);
    })?;
    Ok(last.into_values().collect())
}

pub(super) fn all_ids(csv: &Path) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for_each_row(csv, |_, id| ids.push(id))?;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

fn for_each_row(csv: &Path, mut f: impl FnMut(String, String)) -> anyhow::Result<()> {
    let file = File::open(csv).context("open the CSV file")?;
    for row in CsvReader::new(BufReader::new(file)) {
        let row = row.map_err(|e| anyhow::anyhow!("the generated file: {e}"))?;
        let raw = row
            .raw
            .map_err(|_| anyhow::anyhow!("the generated file: line {} is malformed", row.line))?;
        f(raw.card_id, raw.id);
    }
    Ok(())
}
