//! `spend bench-informer`: the read API under load. Fills an embedded reward store with synthetic
//! rewarded outcomes (once per data directory), serves the informer on loopback with JWT auth as
//! `spend dev` does, and drives it with `oha` at a fixed rate: history pages, summaries, and a mix
//! of both, each for `--duration-secs`. Prints throughput and latency percentiles, with the load
//! average around each run (the machine is shared; the numbers mean little without it).
//!
//! Only wiring lives here: the store is `spend-store`'s, the service `spend-informer`'s.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use spend_domain::eval::{Outcome, Reward};
use spend_domain::{
    Amount, CardId, CurrencyCode, MaskedPan, Mcc, ProgramId, RecordId, Transaction, TxKind, Unit,
};
use spend_informer::{InformerConfig, InformerDeps};
use spend_runtime::jwt::{dev_auth, AuthArgs, TokenSpec};
use spend_runtime::Role;
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store::reward_store::{RewardStore, StoredOutcome};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Benchmarks the informer: history pages and summaries over loopback, at a fixed rate.
#[derive(clap::Args, Debug)]
pub(crate) struct BenchInformerArgs {
    /// Where the store is kept; it is filled on the first run and reused afterwards.
    #[arg(long, default_value = "./.spend-bench-informer", value_name = "DIR")]
    data_dir: PathBuf,
    /// Rewarded outcomes to store.
    #[arg(long, default_value_t = 1_000_000)]
    outcomes: u64,
    /// Cards they are spread over: a power of ten (so `oha` can draw card ids from a pattern).
    #[arg(long, default_value_t = 10_000)]
    cards: u64,
    /// Requests per second `oha` sends, per scenario.
    #[arg(long, default_value_t = 6_000)]
    rate: u32,
    /// Seconds each scenario runs.
    #[arg(long = "duration-secs", default_value_t = 30)]
    duration_secs: u64,
    /// Concurrent connections `oha` opens.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Which runs, in order: `mixed` (history and summary, half each), `history`, `summary`.
    #[arg(long, value_delimiter = ',', default_value = "mixed,history,summary")]
    scenarios: Vec<String>,
    /// `limit` of the history pages (default: none, i.e. the API's default of 50).
    #[arg(long)]
    limit: Option<u32>,
    /// Tokio worker threads of the server (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// The `oha` executable.
    #[arg(long, default_value = "oha")]
    oha: String,
    /// Fill and serve, print the URL and an admin token, and wait for Ctrl-C (to drive the
    /// informer with another tool, e.g. `wrk`).
    #[arg(long)]
    serve_only: bool,
}

/// What the first run stored, so later runs on the same directory reuse it.
const MARKER: &str = "bench-informer.json";

/// 30 months of transaction dates.
const FIRST_DAY: (i32, u32, u32) = (2022, 1, 1);
const DAYS: u64 = 912;

pub(crate) fn run(args: BenchInformerArgs) -> anyhow::Result<()> {
    let digits = card_digits(args.cards)?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.workers {
        builder.worker_threads(n);
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    runtime.block_on(bench(args, digits))
}

/// `cards` = 10^digits.
fn card_digits(cards: u64) -> anyhow::Result<u32> {
    let digits = cards.checked_ilog10().unwrap_or(0);
    if cards == 0 || 10u64.pow(digits) != cards || digits > 12 {
        bail!("--cards must be a power of ten from 1 to 10^12, not {cards}");
    }
    Ok(digits)
}

fn card_id(k: u64) -> CardId {
    // The card's index in decimal digits (valid hex), so a regex can draw existing ids.
    CardId(Uuid::from_u128(
        0x4000_8000_0000_0000_0000 | u128::from(to_bcd(k)),
    ))
}

/// `k`'s decimal digits as hex nibbles: 1234 → 0x1234.
fn to_bcd(mut k: u64) -> u64 {
    let mut out = 0u64;
    let mut shift = 0;
    while k > 0 {
        out |= (k % 10) << shift;
        k /= 10;
        shift += 4;
    }
    out
}

/// A splitmix64 step: cheap, deterministic, well spread.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const MERCHANTS: [(&str, u16); 6] = [
    ("FairPrice Online", 5411),
    ("Grab Singapore", 4121),
    ("Shopee SG", 5999),
    ("Marina Bay Sands Hotel", 7011),
    ("Uniqlo ION Orchard", 5691),
    ("Kopitiam", 5814),
];

/// The `i`-th synthetic outcome: card `i % cards`, a date in the 30 months, a purchase rewarded
/// in points (4 in 5) or cashback.
fn outcome(
    i: u64,
    cards: u64,
    first: NaiveDate,
    at: DateTime<Utc>,
) -> anyhow::Result<StoredOutcome> {
    let h = mix(i);
    let id = RecordId(Uuid::from_u64_pair(mix(h), h));
    let card = i % cards;
    let cents = 100 + mix(h ^ 1) % 50_000;
    let amount = Decimal::new(cents as i64, 2);
    let (merchant, mcc) = MERCHANTS[(h % MERCHANTS.len() as u64) as usize];
    let cashback = h.is_multiple_of(5);
    let pan = format!("4111{:012}", card);
    let tx = Transaction {
        id,
        transaction_id: format!("ref-{i}"),
        merchant: merchant.to_owned(),
        mcc: Mcc::new(mcc).context("mcc")?,
        currency: CurrencyCode::SGD,
        amount: Amount::new(amount).context("amount")?,
        transaction_date: first + chrono::Days::new(mix(h ^ 2) % DAYS),
        card_id: card_id(card),
        card_pan: MaskedPan::mask(&pan).context("pan")?,
        card_type: ProgramId::parse(if cashback {
            "scis_freedom"
        } else {
            "scis_shopping"
        })
        .context("program")?,
        kind: TxKind::Purchase,
    };
    let reward = Reward {
        reward: if cashback {
            spend_domain::money::round2(amount * Decimal::new(5, 3))
        } else {
            spend_domain::money::round2(amount * Decimal::TEN)
        },
        unit: if cashback {
            Unit::Cashback
        } else {
            Unit::Points
        },
        amount_sgd: Some(amount),
        base_campaign: Some(Uuid::from_u128(0xba5e)),
        promo_campaign: None,
        remark: "Online spend 10 pts/SGD".into(),
        config_revision: 1,
        reversal_of: None,
    };
    StoredOutcome::new(&tx, &Outcome::Rewarded(reward), at).context("a rewarded outcome")
}

async fn fill(
    store: &EmbeddedRewardStore,
    dir: &Path,
    outcomes: u64,
    cards: u64,
) -> anyhow::Result<()> {
    let marker = dir.join(MARKER);
    let wanted = serde_json::json!({"outcomes": outcomes, "cards": cards});
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let stored: Value = serde_json::from_str(&text).context("read the bench marker")?;
        if stored == wanted {
            eprintln!(
                "store: reusing {outcomes} outcomes over {cards} cards in {}",
                dir.display()
            );
            return Ok(());
        }
        bail!(
            "{} holds another data set ({stored}); use another --data-dir",
            dir.display()
        );
    }
    let first = NaiveDate::from_ymd_opt(FIRST_DAY.0, FIRST_DAY.1, FIRST_DAY.2).context("date")?;
    let at = Utc::now();
    let started = Instant::now();
    let mut i = 0;
    while i < outcomes {
        let end = (i + 10_000).min(outcomes);
        let batch = (i..end)
            .map(|n| outcome(n, cards, first, at))
            .collect::<anyhow::Result<Vec<_>>>()?;
        store.apply(&batch).await.context("store a batch")?;
        i = end;
        if i % 100_000 == 0 || i == outcomes {
            eprintln!(
                "store: {i}/{outcomes} outcomes ({:.0}/s)",
                i as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    std::fs::write(&marker, wanted.to_string()).context("write the bench marker")?;
    Ok(())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

async fn bench(args: BenchInformerArgs, digits: u32) -> anyhow::Result<()> {
    let store = EmbeddedRewardStore::open(&args.data_dir).context("open the reward store")?;
    fill(&store, &args.data_dir, args.outcomes, args.cards).await?;

    let (auth, minter) = dev_auth(&AuthArgs::default(), &args.data_dir).context("jwt secret")?;
    let token = minter.mint(&TokenSpec {
        role: Role::Admin,
        cards: Vec::new(),
        subject: Some("bench-informer".into()),
        ttl_secs: 24 * 3600,
    })?;
    let store: Arc<dyn RewardStore> = Arc::new(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("listen on loopback")?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(spend_informer::run(
        InformerConfig::default(),
        InformerDeps { store, auth },
        listener,
        shutdown.clone(),
    ));
    let base = format!("http://{addr}");
    let card_pattern = format!(
        "00000000-0000-4000-8000-{}[0-9]{{{digits}}}",
        "0".repeat(12 - digits as usize)
    );
    let history_query = args
        .limit
        .map(|l| format!("\\?limit={l}"))
        .unwrap_or_default();

    if args.serve_only {
        println!("informer: {base}");
        println!("token: {token}");
        println!("e.g. {base}/v1/cards/{}/rewards", card_id(args.cards / 2));
        tokio::signal::ctrl_c().await?;
        shutdown.cancel();
        return server.await?.map_err(anyhow::Error::from);
    }

    let mut report = Vec::new();
    for scenario in &args.scenarios {
        let route = match scenario.as_str() {
            "history" => format!("rewards{history_query}"),
            "summary" => "summary".to_owned(),
            "mixed" if history_query.is_empty() => "(rewards|summary)".to_owned(),
            "mixed" => format!("(rewards{history_query}|summary)"),
            other => bail!("unknown scenario {other:?}: mixed, history or summary"),
        };
        let url = format!("{base}/v1/cards/{card_pattern}/{route}");
        let before = load_average();
        eprintln!(
            "oha: {scenario} at {} req/s for {} s (load average {before})",
            args.rate, args.duration_secs
        );
        let output = Command::new(&args.oha)
            .args([
                "--no-tui",
                "--output-format",
                "json",
                "--latency-correction",
            ])
            .args(["-z", &format!("{}s", args.duration_secs)])
            .args(["-q", &args.rate.to_string()])
            .args(["-c", &args.connections.to_string()])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["--rand-regex-url", &url])
            .output()
            .with_context(|| format!("run {} (cargo install oha --locked)", args.oha))?;
        if !output.status.success() {
            bail!(
                "oha failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let result: Value =
            serde_json::from_slice(&output.stdout).context("read oha's json output")?;
        let after = load_average();
        report.push(summarise(scenario, &result, &before, &after));
    }
    shutdown.cancel();
    server.await??;

    println!(
        "informer bench: {} outcomes over {} cards, page limit {}, {} req/s offered, {} s each, \
         {} connections",
        args.outcomes,
        args.cards,
        args.limit
            .map_or("50 (default)".to_owned(), |l| l.to_string()),
        args.rate,
        args.duration_secs,
        args.connections
    );
    for line in report {
        println!("{line}");
    }
    Ok(())
}

fn summarise(scenario: &str, r: &Value, before: &str, after: &str) -> String {
    let ms = |key: &str| r["latencyPercentiles"][key].as_f64().unwrap_or(f64::NAN) * 1000.0;
    let statuses = r["statusCodeDistribution"].to_string();
    let errors = r["errorDistribution"].to_string();
    format!(
        "{scenario:>8}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms; \
         statuses {statuses}; errors {errors}; load average {before} → {after}",
        r["summary"]["requestsPerSec"].as_f64().unwrap_or(f64::NAN),
        ms("p50"),
        ms("p99"),
        ms("p99.9"),
        r["summary"]["slowest"].as_f64().unwrap_or(f64::NAN) * 1000.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_ids_match_the_pattern() {
        assert_eq!(to_bcd(1234), 0x1234);
        assert_eq!(
            card_id(42).to_string(),
            "00000000-0000-4000-8000-000000000042"
        );
        assert_eq!(
            card_id(9999).to_string(),
            "00000000-0000-4000-8000-000000009999"
        );
        assert_eq!(card_digits(10_000).unwrap(), 4);
        assert!(card_digits(12_000).is_err());
        assert!(card_digits(0).is_err());
    }

    #[test]
    fn outcomes_are_deterministic_and_spread() {
        let first = NaiveDate::from_ymd_opt(2022, 1, 1).unwrap();
        let at = Utc::now();
        let a = outcome(7, 100, first, at).unwrap();
        let b = outcome(7, 100, first, at).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.card_id(), card_id(7));
        assert_ne!(outcome(8, 100, first, at).unwrap().id(), a.id());
        assert!(!a.tx.card_pan.as_str().contains("4111000000000007"));
    }
}
