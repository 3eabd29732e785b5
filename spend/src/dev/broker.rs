//! `spend dev`'s Kafka: the tansu broker (`tansu-broker`), embedded in the process and speaking
//! the Kafka protocol on a loopback port, with its log in a libSQL (SQLite) file under the data
//! directory.
//!
//! Why this and not librdkafka's mock cluster: the mock cluster keeps its log in memory (a crash
//! lost every accepted row not yet rewarded) and only the last 5 MiB of each partition. tansu's
//! libSQL engine commits every produce request in a SQLite transaction (WAL, `synchronous =
//! normal`) before it answers, so a row the ingestor acknowledged survives a SIGKILL of the
//! process, and consumer-group offsets are kept in the same file. Records are never deleted: the
//! topics are created without a `delete` cleanup policy (what a newcomer's laptop holds is small;
//! `rm -r <data-dir>/kafka` starts over).
//!
//! The broker runs on a thread of its own with its own runtime, so it outlives every client in
//! the main runtime and stops after them.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use spend_runtime::kafka::{admin_client, ensure_topic, KafkaArgs};
use tansu_broker::broker::Broker;
use tansu_broker::coordinator::group::administrator::Controller;
use tansu_storage::StorageContainer;
use url::Url;

/// The file (under the data directory) that holds the broker's bootstrap address for outside
/// clients (`kcat -b $(cat .spend/kafka-bootstrap)`).
pub(crate) const BOOTSTRAP_FILE: &str = "kafka-bootstrap";

/// The cluster id the embedded broker registers under; part of the identity of its log file.
const CLUSTER_ID: &str = "spend-dev";

/// A running embedded broker.
pub(crate) struct EmbeddedKafka {
    bootstrap: String,
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
        let storage = storage_url(&log_dir.join("log.db"))?;
        let port = choose_port(data_dir, port)?;
        let address = format!("tcp://127.0.0.1:{port}");
        let listener = Url::parse(&address).context("the broker's listener address")?;

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
                    let broker =
                        Broker::<Controller<StorageContainer>, StorageContainer>::builder()
                            .node_id(tansu_broker::NODE_ID)
                            .cluster_id(CLUSTER_ID)
                            .incarnation_id(uuid::Uuid::new_v4())
                            .advertised_listener(listener.clone())
                            .storage(storage)
                            .listener(listener)
                            .schema_registry(None)
                            .silent(true)
                            .build()
                            .await;
                    let mut broker = match broker {
                        Ok(broker) => broker,
                        Err(e) => {
                            let _ =
                                ready_tx.send(Err(anyhow::anyhow!("open the broker's log: {e:?}")));
                            return;
                        }
                    };
                    let serve = broker.serve(tokio::time::Instant::now());
                    tokio::pin!(serve);
                    let _ = ready_tx.send(Ok(()));
                    tokio::select! {
                        served = &mut serve => {
                            if let Err(e) = served {
                                tracing::error!(error = ?e, "the embedded Kafka broker stopped");
                            }
                        }
                        _ = stop_rx => {}
                    }
                });
                // Dropping the runtime ends every connection task; SQLite's WAL keeps every
                // committed produce and offset commit.
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
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `host:port` for Kafka clients.
    pub(crate) fn bootstrap(&self) -> &str {
        &self.bootstrap
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

/// The libSQL engine resolves a `sqlite:` URL's path against the working directory (even one
/// that starts with `/`), so the log file is named relative to it.
fn storage_url(file: &Path) -> anyhow::Result<Url> {
    let cwd = std::env::current_dir().context("read the working directory")?;
    let absolute = if file.is_absolute() {
        file.to_path_buf()
    } else {
        cwd.join(file)
    };
    let mut relative = PathBuf::new();
    for component in cwd.components() {
        if matches!(component, Component::Normal(_)) {
            relative.push("..");
        }
    }
    for component in absolute.components() {
        match component {
            Component::RootDir | Component::Prefix(_) => {}
            other => relative.push(other),
        }
    }
    let text = relative
        .to_str()
        .context("the data directory's path is not UTF-8")?;
    if text.contains(['%', '?', '#']) {
        bail!("the data directory's path may not contain '%', '?' or '#' (the broker names its log file by URL)");
    }
    let url = Url::parse(&format!("sqlite:{text}")).context("the broker's storage URL")?;
    if url.path() != text {
        bail!("the data directory's path {text:?} cannot be named in the broker's storage URL");
    }
    Ok(url)
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

    #[test]
    fn the_storage_url_names_the_file_from_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        let url = storage_url(Path::new("/tmp/some dir/kafka/log.db")).unwrap();
        assert_eq!(url.scheme(), "sqlite");
        let resolved = cwd.join(url.path());
        assert_eq!(
            std::fs::canonicalize(
                resolved
                    .parent()
                    .unwrap()
                    .parent()
                    .unwrap()
                    .parent()
                    .unwrap()
            )
            .unwrap(),
            std::fs::canonicalize("/tmp").unwrap()
        );
        assert!(url.path().ends_with("tmp/some dir/kafka/log.db"));
    }

    #[test]
    fn a_path_the_url_cannot_carry_is_refused_clearly() {
        let err = storage_url(Path::new("/tmp/50%/log.db")).unwrap_err();
        assert!(err.to_string().contains("may not contain"), "{err}");
    }
}
