//! Kafka for tests: fresh topics created, a topic read back (whole, or until it is quiet), and
//! how far a consumer group has committed — counted from the records, never from the high
//! watermark, which tansu gets wrong.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use spend_kafka::{admin_client, consumer_config, ensure_topic, KafkaArgs, TracingContext};

/// An offset per partition: the offset after the last record of each partition written to, or
/// what a group has committed.
pub type PartitionEnds = BTreeMap<i32, i64>;

/// Creates `topics` with `partitions` partitions each (an existing one is left as it is).
pub async fn create_topics(kafka: &KafkaArgs, topics: &[&str], partitions: i32) {
    let admin = admin_client(kafka).expect("a Kafka admin client");
    for topic in topics {
        ensure_topic(&admin, topic, partitions)
            .await
            .unwrap_or_else(|e| panic!("create topic {topic}: {e}"));
    }
}

/// The payloads of `topic` from the start (in a fresh group, committing nothing), read until at
/// least `at_least` arrived and then nothing more for `quiet`. With a `timeout`, fails when that
/// passes first.
pub async fn read_payloads(
    kafka: &KafkaArgs,
    topic: &str,
    at_least: usize,
    quiet: Duration,
    timeout: Option<Duration>,
) -> Vec<Vec<u8>> {
    let (kafka, topic) = (kafka.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut config = consumer_config(&kafka, &crate::fresh("test-reader"));
        config
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false");
        let consumer: BaseConsumer = config.create().expect("a Kafka consumer");
        consumer.subscribe(&[&topic]).expect("subscribe");
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut out = Vec::new();
        let mut last = Instant::now();
        loop {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    out.push(m.payload().unwrap_or_default().to_vec());
                    last = Instant::now();
                }
                Some(Err(e)) => eprintln!("reading {topic}: {e}"),
                None => {}
            }
            if out.len() >= at_least && last.elapsed() > quiet {
                return out;
            }
            assert!(
                deadline.is_none_or(|d| Instant::now() < d),
                "read {} of at least {at_least} records of {topic}",
                out.len()
            );
        }
    })
    .await
    .expect("the reader")
}

/// One record read back from a topic.
#[derive(Clone, Debug)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    /// Every header name and value, back to back (to scan what was produced byte by byte).
    pub headers: Vec<u8>,
}

/// Reads the topic from the beginning until `expected` records came and then nothing more for
/// 1.5 s; panics after `timeout`. The high watermark is not trusted (tansu's is wrong): records
/// are counted. Blocking.
pub fn consume_all(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", crate::fresh("test"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions = metadata.topics()[0].partitions().len() as i32;
    assert!(partitions > 0, "topic {topic} has no partitions");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let settle = Duration::from_millis(1500);
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut complete_at: Option<Instant> = None;
    loop {
        if let Some(t) = complete_at {
            if t.elapsed() > settle {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {expected} records arrived on {topic}",
            out.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let mut headers = Vec::new();
                if let Some(h) = m.headers() {
                    for header in h.iter() {
                        headers.extend_from_slice(header.key.as_bytes());
                        headers.extend_from_slice(header.value.unwrap_or_default());
                    }
                }
                out.push(Consumed {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().unwrap_or_default().to_vec(),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    headers,
                });
            }
            Some(Err(e)) => panic!("consume {topic}: {e}"),
            None => {}
        }
        if out.len() >= expected && complete_at.is_none() {
            complete_at = Some(Instant::now());
        }
    }
    out
}

/// The offsets `group` has committed on `topic`'s partitions `0..partitions` (a partition with
/// no commit is absent). Blocking.
pub fn committed_offsets(
    kafka: &KafkaArgs,
    group: &str,
    topic: &str,
    partitions: i32,
) -> KafkaResult<PartitionEnds> {
    let consumer: BaseConsumer<TracingContext> =
        consumer_config(kafka, group).create_with_context(TracingContext)?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect())
}

/// Waits until `group` has committed at least `ends` on every partition, checking every 250 ms;
/// `Err` with the last committed offsets when `timeout` passes first.
pub async fn wait_committed(
    kafka: &KafkaArgs,
    group: &str,
    topic: &str,
    ends: &PartitionEnds,
    timeout: Duration,
) -> Result<(), String> {
    let partitions = ends.keys().max().map_or(0, |p| p + 1);
    let deadline = Instant::now() + timeout;
    loop {
        let (kafka_, group_, topic_) = (kafka.clone(), group.to_owned(), topic.to_owned());
        let committed = tokio::task::spawn_blocking(move || {
            committed_offsets(&kafka_, &group_, &topic_, partitions)
        })
        .await
        .map_err(|e| e.to_string())?;
        let last = match committed {
            Ok(c) => {
                if ends
                    .iter()
                    .all(|(p, end)| c.get(p).is_some_and(|o| o >= end))
                {
                    return Ok(());
                }
                format!("{c:?}")
            }
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "group {group} did not commit {ends:?} within {timeout:?}; last: {last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
