//! The missions `spend bench-pipeline --missions N` runs with: N missions spread over the four
//! programs `spend gen` writes, with windows from a week to a quarter, amount and count targets,
//! and each of the condition kinds a programme uses (all spend, a category by MCC range, foreign
//! spend, a minimum amount) — so every purchase is evaluated against several missions and most
//! cards open windows, complete, expire and are clawed back.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use serde_json::{json, Value};

const PROGRAMS: [&str; 4] = [
    "scis_shopping",
    "scis_freedom",
    "scis_premiummiles",
    "scis_platinummiles",
];

/// `n` missions, the same for the same `n`.
pub(super) fn generate(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let conditions = match i % 4 {
                0 => json!([]),
                1 => json!([{"field": "mcc", "op": "in", "value": [[5811, 5814], [5411, 5499]]}]),
                2 => json!([{"field": "foreign", "op": "eq", "value": true}]),
                _ => json!([{"field": "amount_sgd", "op": "gte", "value": "50"}]),
            };
            let target = if i % 2 == 0 {
                json!({"amount_sgd": format!("{}", 200 + 150 * (i % 5))})
            } else {
                json!({"count": 3 + i % 4})
            };
            json!({
                "id": format!("00000000-0000-4000-9000-0000000b{i:04x}"),
                "name": format!("Benchmark mission {i}"),
                "program": PROGRAMS[i % PROGRAMS.len()],
                "start_date": "2023-01-01",
                "end_date": null,
                "window_days": 7 + (i * 13) % 84,
                "target": target,
                "conditions": conditions,
                "reward": format!("{}", 10 + 5 * i),
            })
        })
        .collect()
}

/// Creates `missions` through the API, then waits until the rewarder runs the revision that has
/// them all (`spend_rewarder_rule_set_revision`).
pub(super) async fn create(
    client: &reqwest::Client,
    url: &str,
    admin: &str,
    missions: &[Value],
) -> anyhow::Result<()> {
    for m in missions {
        let r = client
            .post(format!("{url}/v1/missions"))
            .bearer_auth(admin)
            .json(m)
            .send()
            .await
            .context("create a mission")?;
        let status = r.status();
        ensure!(
            status.as_u16() == 201,
            "POST /v1/missions answered {status}: {}",
            r.text().await.unwrap_or_default()
        );
    }
    let config: Value = client
        .get(format!("{url}/v1/config"))
        .bearer_auth(admin)
        .send()
        .await
        .context("read the configuration")?
        .json()
        .await
        .context("read the configuration")?;
    let revision = config["revision"]
        .as_u64()
        .context("the configuration has no revision")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while super::metric(client, url, "spend_rewarder_rule_set_revision").await? < revision {
        ensure!(
            Instant::now() < deadline,
            "the rewarder did not take revision {revision} in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("{} missions active at revision {revision}", missions.len());
    Ok(())
}
