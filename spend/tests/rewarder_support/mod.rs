//! What the rewarder's crash and scale-out tests share: a `spend gen` file with what `spend eval`
//! says of it, its records encoded for the topic, a fresh topic and group, and the final checks —
//! every id's stored outcome equals eval's, every card's stored count and totals equal eval's
//! (so no reversal is counted twice), every card's state in every mission equals eval's
//! `--missions-out` (so no purchase counts twice or is lost, and no mission pays twice), and
//! every dead letter is on the dead-letter topic.
//!
//! The configuration is the reference one plus `examples/missions/gen-missions.json`: four
//! missions the generated spend completes, expires and claws back.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use spend_domain::config::Config;
use spend_domain::money::fmt2;
use spend_domain::{CardId, RecordId};
use spend_kafka::KafkaArgs;
use spend_rewarder::bench::{encode_csv, produce, EncodedRecords, PartitionEnds};
use spend_schemas::codec;
use spend_store::reward_embedded::EmbeddedRewardStore;
use spend_store::reward_store::{DateRange, RewardStore};
use spend_testkit::fixtures::{GEN_MISSIONS, REFERENCE_CONFIG};
use spend_testkit::fresh;
use spend_testkit::kafka::{committed_offsets, create_topics, read_payloads};
use spend_testkit::outcomes::{final_outcomes, is_reward, stored_columns};

pub const ROWS: u64 = 200_000;

/// The in-process rewarders' logs, for when a test fails: one file per test process.
pub fn init_logs() -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("spend-rewarder-tests-{}.log", std::process::id()));
    if let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .try_init();
    }
    path
}

pub fn spend() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spend"))
}

/// The reference configuration and the generated spend's missions.
pub fn reference_config() -> Config {
    // Each file alone is a fragment (the missions name the reference file's programs), as
    // `spend eval --config A --config B` reads them.
    let read = |path: &str| {
        let text = std::fs::read_to_string(path).unwrap();
        Config::fragment_from_json(
            &serde_json::from_str(&text).unwrap(),
            &mut uuid::Uuid::new_v4,
        )
        .unwrap()
    };
    read(REFERENCE_CONFIG).merge(read(GEN_MISSIONS))
}

/// A generated file, what `spend eval` says of it, and its records encoded for the topic.
pub struct Fixture {
    pub kafka: KafkaArgs,
    pub topic: String,
    pub dlq: String,
    pub group: String,
    pub partitions: i32,
    pub dir: tempfile::TempDir,
    /// The final outcome of every id, in `expected.csv`'s columns.
    pub expected: HashMap<String, Vec<String>>,
    /// The card of every id, mission payouts' included.
    pub cards: HashMap<String, String>,
    /// `spend eval --missions-out`: every card's final state in every mission, by card, then
    /// mission id, in its columns from `status` on.
    pub missions: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    pub records: Arc<EncodedRecords>,
}

impl Fixture {
    pub async fn new(kafka: KafkaArgs, test: &str, partitions: i32, seed: u64) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("transactions.csv");
        let out = spend()
            .args([
                "gen",
                "--rows",
                &ROWS.to_string(),
                "--seed",
                &seed.to_string(),
            ])
            .stdout(std::fs::File::create(&file).unwrap())
            .status()
            .unwrap();
        assert!(out.success(), "spend gen");
        let states = dir.path().join("missions.csv");
        let evaluated = spend()
            .args([
                "eval",
                "--config",
                REFERENCE_CONFIG,
                "--config",
                GEN_MISSIONS,
            ])
            .arg("--missions-out")
            .arg(&states)
            .stdin(std::fs::File::open(&file).unwrap())
            .output()
            .unwrap();
        assert!(evaluated.status.success(), "spend eval");
        let results = std::str::from_utf8(&evaluated.stdout).unwrap();
        let (_, expected) = final_outcomes(results);
        let mut cards = cards_of(&file);
        payout_cards(results, &mut cards);
        let missions = mission_states(&states);
        let records = encode_csv(
            std::fs::File::open(&file).unwrap(),
            chrono::Utc::now().date_naive(),
        )
        .unwrap();
        assert_eq!(records.len() as u64, ROWS, "every generated row is valid");

        let fx = Fixture {
            kafka,
            topic: fresh(&format!("rw-{test}")),
            dlq: fresh(&format!("rw-{test}-dlq")),
            group: fresh(&format!("rw-{test}-group")),
            partitions,
            dir,
            expected,
            cards,
            missions,
            records: Arc::new(records),
        };
        create_topics(&fx.kafka, &[&fx.topic, &fx.dlq], partitions).await;
        fx
    }

    /// Produces `range` of the records, at most `per_second` a second, in the background.
    pub fn publish(
        &self,
        range: std::ops::Range<usize>,
        per_second: Option<u64>,
    ) -> tokio::task::JoinHandle<PartitionEnds> {
        let (kafka, topic, records) =
            (self.kafka.clone(), self.topic.clone(), self.records.clone());
        tokio::task::spawn_blocking(move || {
            produce(&kafka, &topic, &records, range, per_second).unwrap()
        })
    }

    /// Records the group has committed past, over all partitions.
    pub async fn committed(&self) -> i64 {
        let (kafka, group, topic) = (self.kafka.clone(), self.group.clone(), self.topic.clone());
        let partitions = self.partitions;
        tokio::task::spawn_blocking(move || committed_offsets(&kafka, &group, &topic, partitions))
            .await
            .unwrap()
            .map(|c| c.values().sum())
            .unwrap_or(0)
    }

    /// Waits until the group has committed more than `before`; the new total.
    pub async fn progress_past(&self, before: i64, timeout: Duration) -> i64 {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.committed().await;
            if now > before {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "no progress past {before} in {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Adds the card of every mission payout of a results CSV: the card of the record whose row it
/// follows.
fn payout_cards(results: &str, cards: &mut HashMap<String, String>) {
    let mut last_card: Option<String> = None;
    for line in csv::Reader::from_reader(results.as_bytes()).records() {
        let line = line.unwrap();
        match &line[1] {
            "mission" | "mission_clawback" => {
                let card = last_card.clone().expect("a payout follows its record");
                cards.insert(line[0].to_owned(), card);
            }
            _ => last_card = cards.get(&line[0].to_lowercase()).cloned(),
        }
    }
}

/// `--missions-out` by card, then mission id.
fn mission_states(path: &Path) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for row in csv::Reader::from_path(path).unwrap().records() {
        let row: Vec<String> = row.unwrap().iter().map(str::to_owned).collect();
        out.entry(row[0].clone())
            .or_default()
            .insert(row[1].clone(), row[2..].to_vec());
    }
    out
}

pub fn cards_of(file: &Path) -> HashMap<String, String> {
    let mut cards = HashMap::new();
    for row in csv::Reader::from_path(file).unwrap().records() {
        let row = row.unwrap();
        cards.insert(row[0].to_lowercase(), row[7].to_lowercase());
    }
    cards
}

/// Every id's stored outcome is eval's; every card's stored count and totals are eval's.
pub async fn check_store(fx: &Fixture, store: &EmbeddedRewardStore) {
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    for (id, want) in &fx.expected {
        match store.get(RecordId(id.parse().unwrap())).await.unwrap() {
            None => missing.push(id.clone()),
            Some(o) if &stored_columns(&o) != want => {
                wrong.push(format!("{id}: {:?} != {want:?}", stored_columns(&o)))
            }
            Some(_) => {}
        }
    }
    assert!(
        missing.is_empty(),
        "{} ids lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(
        wrong.is_empty(),
        "{} outcomes differ from eval, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );

    let mut per_card: BTreeMap<&str, (u64, BTreeMap<String, Decimal>)> = BTreeMap::new();
    for (id, c) in &fx.expected {
        if !is_reward(&c[0]) {
            continue;
        }
        let entry = per_card.entry(fx.cards[id].as_str()).or_default();
        entry.0 += 1;
        *entry.1.entry(c[2].clone()).or_default() += c[1].parse::<Decimal>().unwrap();
    }
    for (card, (count, totals)) in &per_card {
        let summary = store
            .summary(CardId(card.parse().unwrap()), DateRange::ALL)
            .await
            .unwrap();
        let stored: BTreeMap<String, Decimal> = summary
            .totals
            .iter()
            .map(|(u, t)| (u.as_str().to_owned(), *t))
            .collect();
        let totals: BTreeMap<String, Decimal> = totals
            .iter()
            .map(|(u, t)| (u.clone(), spend_domain::money::round2(*t)))
            .collect();
        assert_eq!((summary.count, &stored), (*count, &totals), "card {card}");
    }
    let today = chrono::Utc::now().date_naive();
    let mut states = 0;
    for (card, want) in &fx.missions {
        let stored = store
            .missions(&[CardId(card.parse().unwrap())])
            .await
            .unwrap();
        let got: BTreeMap<String, Vec<String>> = stored
            .iter()
            .map(|m| {
                let s = &m.state;
                (
                    m.mission_id.to_string(),
                    vec![
                        s.status(today).as_str().to_owned(),
                        fmt2(s.progress_amount_sgd),
                        s.progress_count.to_string(),
                        s.window_start.to_string(),
                        s.window_end.to_string(),
                        s.completions.to_string(),
                        s.paid
                            .map(|p| p.completed_at.to_string())
                            .unwrap_or_default(),
                    ],
                )
            })
            .collect();
        assert_eq!(&got, want, "card {card}'s missions");
        states += want.len();
    }
    let payouts = fx
        .expected
        .values()
        .filter(|c| c[0].starts_with("mission"))
        .count();
    assert!(payouts > 0, "the generated spend pays no mission");
    eprintln!(
        "checked {} ids ({payouts} mission payouts), {} cards and {states} mission states \
         against spend eval",
        fx.expected.len(),
        per_card.len()
    );
}

/// Every id whose final outcome is a dead letter is on the dead-letter topic with its reason.
pub async fn check_dead_letter_topic(fx: &Fixture) {
    let want: HashSet<(String, String)> = fx
        .expected
        .iter()
        .filter(|(_, c)| c[0] == "dead_letter")
        .map(|(id, c)| (id.clone(), c[6].clone()))
        .collect();
    // Read until nothing more came for 5 s.
    let payloads = read_payloads(&fx.kafka, &fx.dlq, 0, Duration::from_secs(5), None).await;
    let seen: HashSet<(String, String)> = payloads
        .iter()
        .map(|p| {
            let letter = codec().decode_dead_letter(p).unwrap();
            let reason: spend_domain::eval::DeadLetterReason = letter.reason.into();
            let tx = letter.transaction.expect("generated records decode");
            (tx.id, reason.as_str().to_owned())
        })
        .collect();
    let lost: Vec<_> = want.difference(&seen).collect();
    assert!(
        lost.is_empty(),
        "{} dead letters missing from the topic: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    eprintln!("{} dead letters on the topic", want.len());
}
