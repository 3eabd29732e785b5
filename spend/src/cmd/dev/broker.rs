//! `spend dev`'s Kafka: the tansu broker (`tansu-broker`), embedded in the process and speaking
//! the Kafka protocol on a loopback port, with its log under the data directory ([`log`]).
//!
//! Why this and not librdkafka's mock cluster: the mock cluster keeps its log in memory (a crash
//! lost every accepted row not yet rewarded) and only the last 5 MiB of each partition. tansu
//! answers a produce only once its log holds the batch on disk, so a row the ingestor
//! acknowledged survives a SIGKILL of the process, and consumer-group offsets are kept in the same
//! log. Records are never deleted: the topics are created without a `delete` cleanup policy (what
//! a newcomer's laptop holds is small; `rm -r <data-dir>/kafka` starts over).
//!
//! The broker runs on a thread of its own with its own runtime, so it outlives every client in
//! the main runtime and stops after them.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rama::Service;
use spend_kafka::{admin_client, ensure_topic, KafkaArgs};
use tansu_broker::coordinator::group::administrator::Controller;
use tansu_storage::{BrokerRegistrationRequest, Storage};
use url::Url;

mod log;
mod serial;
mod time_index;

/// The file (under the data directory) that holds the broker's bootstrap address for outside
/// clients (`kcat -b $(cat .spend/kafka-bootstrap)`).
pub(crate) const BOOTSTRAP_FILE: &str = "kafka-bootstrap";

/// The compression `spend dev`'s producers use with the SlateDB log. tansu keeps each batch
/// whole, as the producer sent it, in the write-ahead log, the memtable and the SSTs, and hands
/// it back whole to consumers; an lz4 batch of transactions is about a third of the bytes, so the
/// broker copies, writes and compacts a third as much. `spend bench-pipeline --rows 1000000`:
/// the bare transport 172K -> 247K rows/s, the broker's CPU 3.0 -> 1.4 µs per row.
pub(crate) const COMPRESSION: &str = "lz4";

/// The cluster id the embedded broker registers under; part of the identity of its log file.
const CLUSTER_ID: &str = "spend-dev";

/// A running embedded broker.
pub(crate) struct EmbeddedKafka {
    bootstrap: String,
    compression: &'static str,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedKafka {
    /// Opens (or creates) the broker's log under `data_dir/kafka`, serves it on `127.0.0.1:port`
    /// (`port` 0: the port of the last run if it is free, otherwise any free port), and waits
    /// until the broker answers.
    pub(crate) fn start(data_dir: &Path, port: u16) -> anyhow::Result<Self> {
        let log_dir = data_dir.join("kafka");
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("create the broker's directory {}", log_dir.display()))?;
        let log = log::Log::choose(&log_dir)?;
        let compression = match log {
            log::Log::Slate(_) => COMPRESSION,
            log::Log::Sqlite(_) => "none",
        };
        let port = choose_port(data_dir, port)?;
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .with_context(|| format!("listen for Kafka clients on 127.0.0.1:{port}"))?;
        listener
            .set_nonblocking(true)
            .context("make the broker's listener non-blocking")?;
        let advertised =
            Url::parse(&format!("tcp://127.0.0.1:{port}")).context("the broker's address")?;

        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("embedded-kafka".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("embedded-kafka")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ =
                            ready_tx
                                .send(Err(anyhow::Error::new(e)
                                    .context("start the broker's async runtime")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => {
                            let _ = ready_tx.send(Err(anyhow::Error::new(e)
                                .context("hand the broker's listener to its runtime")));
                            return;
                        }
                    };
                    let opened = log.open(CLUSTER_ID, advertised).await;
                    let storage = match opened {
                        Ok(storage) => storage,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    match &storage {
                        log::Opened::Slate { storage, .. } => {
                            serve(storage.clone(), listener, ready_tx, stop_rx).await
                        }
                        log::Opened::Sqlite(storage) => {
                            serve(storage.clone(), listener, ready_tx, stop_rx).await
                        }
                    }
                    storage.close().await;
                });
                // Dropping the runtime ends every connection task; the log already holds every
                // acknowledged produce and offset commit.
                drop(runtime);
            })
            .context("start the broker thread")?;
        ready_rx
            .recv()
            .context("the broker thread ended before it started")??;

        let bootstrap = format!("127.0.0.1:{port}");
        wait_until_serving(&bootstrap, Duration::from_secs(30))?;
        let file = data_dir.join(BOOTSTRAP_FILE);
        std::fs::write(&file, format!("{bootstrap}\n"))
            .with_context(|| format!("write {}", file.display()))?;
        Ok(EmbeddedKafka {
            bootstrap,
            compression,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `host:port` for Kafka clients.
    pub(crate) fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The compression its producers should use: [`COMPRESSION`] for the SlateDB log, none for
    /// an earlier spend's SQLite log (which unpacks every batch to store each record as a row, so
    /// a compressed batch costs a decompression there and saves nothing).
    pub(crate) fn compression(&self) -> &'static str {
        self.compression
    }

    /// Stops the broker once every client is gone.
    pub(crate) fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EmbeddedKafka {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Registers the broker with its log and answers Kafka clients on `listener` until `stop`: the
/// accept loop of tansu's `Broker::listen`, with tansu's own service stack per connection, minus
/// its terminal spinners (a `Broker` built around a storage it did not open cannot be made
/// silent).
async fn serve<S: Storage>(
    storage: S,
    listener: tokio::net::TcpListener,
    ready: std::sync::mpsc::Sender<anyhow::Result<()>>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let registered = storage
        .register_broker(BrokerRegistrationRequest {
            broker_id: tansu_broker::NODE_ID,
            cluster_id: CLUSTER_ID.to_owned(),
            incarnation_id: uuid::Uuid::new_v4(),
            rack: None,
        })
        .await;
    if let Err(e) = registered {
        let _ = ready.send(Err(anyhow::anyhow!(
            "register the broker with its log: {e:?}"
        )));
        return;
    }
    let groups = match Controller::with_storage(storage.clone()) {
        Ok(groups) => groups,
        Err(e) => {
            let _ = ready.send(Err(anyhow::anyhow!("start the group coordinator: {e:?}")));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut connections = tokio::task::JoinSet::new();
    let mut maintenance = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "the embedded Kafka broker could not accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = match tansu_broker::service::services(
                    CLUSTER_ID,
                    groups.clone(),
                    storage.clone(),
                    None,
                ) {
                    Ok(service) => service,
                    Err(e) => {
                        tracing::error!(error = ?e, "the embedded Kafka broker could not serve a connection");
                        continue;
                    }
                };
                connections.spawn(async move {
                    match service.serve(rama::Context::default(), stream).await {
                        Err(tansu_broker::Error::Io(ref io))
                            if matches!(
                                io.kind(),
                                std::io::ErrorKind::UnexpectedEof
                                    | std::io::ErrorKind::BrokenPipe
                                    | std::io::ErrorKind::ConnectionReset
                            ) => {}
                        Err(e) => tracing::debug!(%peer, error = ?e, "a Kafka connection ended"),
                        Ok(_) => {}
                    }
                });
            }
            _ = maintenance.tick() => {
                if let Err(e) = storage.maintain(std::time::SystemTime::now()).await {
                    tracing::debug!(error = ?e, "the embedded Kafka broker's maintenance");
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = &mut stop => break,
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// Creates each topic that does not exist yet (`(name, partitions)`). A topic kept from an earlier
/// run keeps its partitions: the log is the one the records were acknowledged into.
pub(crate) async fn ensure_topics(kafka: &KafkaArgs, topics: &[(&str, i32)]) -> anyhow::Result<()> {
    let admin = admin_client(kafka).context("create the Kafka admin client")?;
    let metadata = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .context("read the broker's topics")?;
    let existing: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
    for (name, partitions) in topics {
        if existing.contains(name) {
            continue;
        }
        ensure_topic(&admin, name, *partitions)
            .await
            .with_context(|| format!("create topic {name}"))?;
    }
    Ok(())
}

/// `port` if not 0; else the port the last run wrote to the bootstrap file, if it is free now;
/// else any free loopback port.
fn choose_port(data_dir: &Path, port: u16) -> anyhow::Result<u16> {
    if port != 0 {
        return Ok(port);
    }
    let previous = std::fs::read_to_string(data_dir.join(BOOTSTRAP_FILE))
        .ok()
        .and_then(|text| text.trim().rsplit_once(':')?.1.parse::<u16>().ok());
    if let Some(previous) = previous {
        if TcpListener::bind((Ipv4Addr::LOCALHOST, previous)).is_ok() {
            return Ok(previous);
        }
    }
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("find a free port for the broker")?;
    Ok(listener.local_addr().context("read the free port")?.port())
}

fn wait_until_serving(bootstrap: &str, timeout: Duration) -> anyhow::Result<()> {
    let address: SocketAddr = bootstrap.parse().context("the broker's address")?;
    let deadline = Instant::now() + timeout;
    loop {
        if std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the embedded Kafka broker did not listen on {bootstrap} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::{Message, Offset, TopicPartitionList};
    use spend_kafka::client_config;

    const TOPIC: &str = "kept";

    async fn produce(kafka: &KafkaArgs, payload: &str) {
        let producer: FutureProducer = client_config(kafka)
            .set("enable.idempotence", "true")
            .create()
            .unwrap();
        producer
            .send(
                FutureRecord::to(TOPIC).key("card").payload(payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("the broker acknowledges the record");
    }

    /// Every payload of the topic, from the start.
    fn read_all(kafka: &KafkaArgs) -> Vec<String> {
        let consumer: BaseConsumer = client_config(kafka)
            .set("group.id", "broker-test")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(TOPIC, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&assignment).unwrap();
        let mut payloads = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while payloads.len() < 2 && Instant::now() < deadline {
            if let Some(message) = consumer.poll(Duration::from_millis(200)) {
                let message = message.expect("a record");
                payloads.push(String::from_utf8_lossy(message.payload().unwrap()).into_owned());
            }
        }
        payloads
    }

    /// A record acknowledged before a stop is read after the next start.
    async fn survives_a_restart(data_dir: &Path) {
        let broker = EmbeddedKafka::start(data_dir, 0).unwrap();
        let kafka = KafkaArgs::new(broker.bootstrap());
        ensure_topics(&kafka, &[(TOPIC, 1)]).await.unwrap();
        produce(&kafka, "before").await;
        broker.stop();

        let broker = EmbeddedKafka::start(data_dir, 0).unwrap();
        let kafka = KafkaArgs::new(broker.bootstrap());
        produce(&kafka, "after").await;
        let read = tokio::task::spawn_blocking(move || read_all(&kafka))
            .await
            .unwrap();
        assert_eq!(read, ["before", "after"]);
        broker.stop();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_new_data_directory_keeps_its_records_in_slatedb() {
        let dir = tempfile::tempdir().unwrap();
        survives_a_restart(dir.path()).await;
        assert!(dir.path().join("kafka/slate").is_dir());
        assert!(!dir.path().join("kafka/log.db").exists());
        let bootstrap = std::fs::read_to_string(dir.path().join(BOOTSTRAP_FILE)).unwrap();
        assert!(bootstrap.starts_with("127.0.0.1:"), "{bootstrap}");
    }

    /// A partition that has taken many batches keeps a short time index, and the index still
    /// starts a new consumer at the first record and never seeks past a record by time.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_partitions_time_index_stays_short_and_never_skips_a_record() {
        const BATCHES: i64 = 300;
        let dir = tempfile::tempdir().unwrap();
        let broker = EmbeddedKafka::start(dir.path(), 0).unwrap();
        let kafka = KafkaArgs::new(broker.bootstrap());
        ensure_topics(&kafka, &[(TOPIC, 1)]).await.unwrap();
        let producer: FutureProducer = client_config(&kafka)
            .set("enable.idempotence", "true")
            .set("linger.ms", "0")
            .create()
            .unwrap();
        // One record per batch (each send is awaited), at times 10 ms apart.
        let time = |i: i64| 1_700_000_000_000 + 10 * i;
        for i in 0..BATCHES {
            producer
                .send(
                    FutureRecord::to(TOPIC)
                        .key("card")
                        .payload(&i.to_string())
                        .timestamp(time(i)),
                    Duration::from_secs(10),
                )
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
        drop(producer);

        let reader = kafka.clone();
        let (first, from_time) = tokio::task::spawn_blocking(move || {
            // A new group with no committed offset starts at `Earliest`.
            let consumer: BaseConsumer = client_config(&reader)
                .set("group.id", "time-index-test")
                .set("auto.offset.reset", "earliest")
                .set("enable.auto.commit", "false")
                .create()
                .unwrap();
            consumer.subscribe(&[TOPIC]).unwrap();
            let mut first = None;
            let deadline = Instant::now() + Duration::from_secs(30);
            while first.is_none() && Instant::now() < deadline {
                if let Some(message) = consumer.poll(Duration::from_millis(200)) {
                    first = Some(message.unwrap().offset());
                }
            }
            // The offset for a time between two batches: at most the exact one.
            let mut wanted = TopicPartitionList::new();
            wanted
                .add_partition_offset(TOPIC, 0, Offset::Offset(time(200) - 5))
                .unwrap();
            let found = consumer
                .offsets_for_times(wanted, Duration::from_secs(10))
                .unwrap();
            let from_time = found.elements()[0].offset();
            (first, from_time)
        })
        .await
        .unwrap();
        assert_eq!(first, Some(0), "a new consumer starts at the first record");
        match from_time {
            Offset::Offset(offset) => assert!(
                (0..=200).contains(&offset),
                "the offset for the time of batch 200 is {offset}, past the batch"
            ),
            other => panic!("no offset for a time inside the log: {other:?}"),
        }
        broker.stop();

        let db = log::open_slate(&dir.path().join("kafka/slate"))
            .await
            .unwrap();
        let (start, end) = time_index::watermark_range();
        let mut iter = db.scan(start..end).await.unwrap();
        let mut seen = 0;
        while let Some(kv) = iter.next().await.unwrap() {
            let watermark: time_index::Watermark = postcard::from_bytes(&kv.value).unwrap();
            let Some(index) = watermark.timestamps else {
                continue;
            };
            if watermark.high == Some(BATCHES) {
                seen += 1;
                assert!(
                    index.len() <= time_index::MAX_ENTRIES + time_index::TRIM_EVERY as usize,
                    "{} entries for {BATCHES} batches",
                    index.len()
                );
                assert_eq!(index.first_key_value(), Some((&time(0), &0)));
                assert_eq!(
                    index.last_key_value().map(|(t, _)| *t),
                    Some(time(BATCHES - 1))
                );
            }
        }
        assert_eq!(
            seen, 1,
            "the topic's one partition has a watermark of {BATCHES}"
        );
        db.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_earlier_spends_sqlite_log_is_served_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("kafka")).unwrap();
        // An empty file is an empty SQLite database: the log of an earlier spend.
        std::fs::write(dir.path().join("kafka/log.db"), b"").unwrap();
        survives_a_restart(dir.path()).await;
        assert!(!dir.path().join("kafka/slate").exists());
        assert!(
            std::fs::metadata(dir.path().join("kafka/log.db"))
                .unwrap()
                .len()
                > 0
        );
    }
}
