//! What the benchmark asks the running `spend dev` over HTTP: outcome lookups and `/metrics`.

use anyhow::{bail, Context};
use futures::StreamExt;

/// Looks every id up (32 at a time); answers how many were not found.
pub(super) async fn lookup_all(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    ids: &[String],
) -> anyhow::Result<usize> {
    let results: Vec<anyhow::Result<bool>> = futures::stream::iter(ids)
        .map(|id| async move {
            let response = client
                .get(format!("{url}/v1/transactions/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .context("look an id up")?;
            match response.status().as_u16() {
                200 => Ok(true),
                404 => Ok(false),
                s => bail!("GET /v1/transactions/{id} answered {s}"),
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut missing = 0;
    for r in results {
        if !r? {
            missing += 1;
        }
    }
    Ok(missing)
}

/// The sum of `spend_rewarder_records_total` over its outcomes.
pub(super) async fn records_written(client: &reqwest::Client, url: &str) -> anyhow::Result<u64> {
    metric(client, url, "spend_rewarder_records_total").await
}

/// The sum of every series of the counter or gauge `name` on `/metrics` (0 when absent).
pub(super) async fn metric(client: &reqwest::Client, url: &str, name: &str) -> anyhow::Result<u64> {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .context("read /metrics")?
        .text()
        .await
        .context("read /metrics")?;
    Ok(text
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum())
}
