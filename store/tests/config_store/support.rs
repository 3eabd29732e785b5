//! Backends for the scenario suite: the embedded store in a temp dir, the shared etcd named by
//! `SPEND_TEST_ETCD` (each test under its own prefix), and private etcd processes that a test
//! may kill and restart.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use futures::StreamExt;
use serde_json::{json, Value};
use spend_store::config_store::{ConfigStore, Event, Resource, Snapshot};
use spend_store::embedded::EmbeddedConfigStore;
use spend_store::etcd::{EtcdConfigStore, EtcdOptions};
use tempfile::TempDir;

/// One store under test.
pub(crate) struct Backend {
    pub(crate) store: Arc<dyn ConfigStore>,
    /// Nothing but this test writes to the backend, so its revisions are exactly the test's
    /// writes. (A shared etcd's revision also moves with other tests' writes.)
    pub(crate) exclusive: bool,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(#[allow(dead_code)] TempDir),
    Prefix {
        endpoints: Vec<String>,
        prefix: String,
    },
}

impl Backend {
    pub(crate) fn embedded() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let store = EmbeddedConfigStore::open(dir.path())?;
        Ok(Self {
            store: Arc::new(store),
            exclusive: true,
            cleanup: Cleanup::Dir(dir),
        })
    }

    /// The shared etcd under a fresh prefix; `None` (after saying so) when `SPEND_TEST_ETCD` is
    /// not set outside CI. Under CI a missing etcd fails the test.
    pub(crate) async fn shared_etcd() -> anyhow::Result<Option<Self>> {
        let Some(endpoints) = shared_etcd_endpoints() else {
            return Ok(None);
        };
        let prefix = unique_prefix();
        let store = EtcdConfigStore::connect(&endpoints, &prefix, EtcdOptions::default()).await?;
        Ok(Some(Self {
            store: Arc::new(store),
            exclusive: false,
            cleanup: Cleanup::Prefix { endpoints, prefix },
        }))
    }

    /// Removes what the test left in a shared etcd.
    pub(crate) async fn cleanup(self) {
        if let Cleanup::Prefix { endpoints, prefix } = &self.cleanup {
            let deleted = async {
                let mut client = etcd_client::Client::connect(endpoints, None).await?;
                let options = etcd_client::DeleteOptions::new().with_prefix();
                client.delete(format!("{prefix}/"), Some(options)).await?;
                anyhow::Ok(())
            };
            if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(5), deleted).await {
                say(&format!("could not clean up {prefix}: {e}"));
            }
        }
    }
}

/// A prefix no other test uses.
pub(crate) fn unique_prefix() -> String {
    format!("/spend-test/{}/config", uuid::Uuid::new_v4())
}

fn running_under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Written past the test harness's capture, so a skip is seen even when the test passes.
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

fn shared_etcd_endpoints() -> Option<Vec<String>> {
    match std::env::var("SPEND_TEST_ETCD") {
        Ok(v) if !v.trim().is_empty() => Some(v.split(',').map(|e| e.trim().to_owned()).collect()),
        _ => {
            assert!(
                !running_under_ci(),
                "SPEND_TEST_ETCD is not set, but CI is: the etcd scenarios must run under CI \
                 (.ci/run starts etcd and sets SPEND_TEST_ETCD=http://127.0.0.1:2379)"
            );
            say("skipped: SPEND_TEST_ETCD not set");
            None
        }
    }
}

/// An etcd server of the test's own, on free loopback ports and a temp data dir, that the test
/// may kill and restart on the same ports and data.
pub(crate) struct EtcdProcess {
    bin: PathBuf,
    dir: TempDir,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

impl EtcdProcess {
    /// Starts one; `None` (after saying so) when there is no etcd binary outside CI.
    pub(crate) async fn start() -> anyhow::Result<Option<Self>> {
        let Some(mut etcd) = Self::prepare()? else {
            return Ok(None);
        };
        etcd.restart().await?;
        Ok(Some(etcd))
    }

    /// Picks its ports and data dir without starting it yet ([`Self::restart`] starts it).
    pub(crate) fn prepare() -> anyhow::Result<Option<Self>> {
        let Some(bin) = etcd_binary() else {
            assert!(
                !running_under_ci(),
                "no etcd binary, but CI is set: install Debian etcd-server or set SPEND_TEST_ETCD_BIN"
            );
            say("skipped: no etcd binary (set SPEND_TEST_ETCD_BIN or put etcd on PATH)");
            return Ok(None);
        };
        Ok(Some(Self {
            bin,
            dir: tempfile::tempdir()?,
            client_port: free_port()?,
            peer_port: free_port()?,
            child: None,
        }))
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    pub(crate) fn endpoints(&self) -> Vec<String> {
        vec![self.endpoint()]
    }

    /// `kill -9`, and waits for the process to be gone.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts it on the same ports and data dir, and waits until it answers.
    pub(crate) async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))?;
        let child = Command::new(&self.bin)
            .args(["--name", "test"])
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &self.endpoint()])
            .args(["--advertise-client-urls", &self.endpoint()])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("test={peer}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let answered = tokio::time::timeout(Duration::from_secs(1), async {
                let mut client = etcd_client::Client::connect([self.endpoint()], None).await?;
                client.get("ready", None).await?;
                anyhow::Ok(())
            })
            .await;
            if let Ok(Ok(())) = answered {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "etcd exited with {status}; see {}",
                    self.log_path().display()
                );
            }
            if tokio::time::Instant::now() > deadline {
                bail!("etcd did not get ready; see {}", self.log_path().display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn etcd_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("SPEND_TEST_ETCD_BIN").filter(|b| !b.is_empty()) {
        return Some(bin.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file())
}

/// A port nothing listens on right now (bound, then released).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(crate) fn program(id: &str) -> Value {
    json!({"id": id, "name": format!("Program {id}"), "unit": "points"})
}

pub(crate) fn campaign(id: &str, program: &str, rate: &str) -> Value {
    json!({
        "id": id,
        "name": format!("Campaign {id}"),
        "program": program,
        "kind": "base",
        "priority": 30,
        "start_date": "2024-01-01",
        "end_date": null,
        "conditions": [{"field": "mcc", "op": "in", "value": [5999, [5815, 5818]]}],
        "rate": rate,
    })
}

pub(crate) fn fx_rate(currency: &str, rate: &str) -> Value {
    json!({"currency": currency, "rate": rate})
}

pub(crate) fn exclusion(id: &str) -> Value {
    json!({
        "id": id,
        "name": format!("Exclusion {id}"),
        "programs": null,
        "conditions": [{"field": "mcc", "op": "eq", "value": 6011}],
        "valid_from": null,
        "valid_until": null,
    })
}

/// A whole configuration of `n` campaigns on two programs, with a tag in every value so two
/// configurations are told apart.
pub(crate) fn config(tag: &str, campaigns: usize) -> Vec<(Resource, String, Value)> {
    let mut objects = vec![
        (Resource::Program, "alpha".to_owned(), program("alpha")),
        (Resource::Program, "beta".to_owned(), program("beta")),
        (Resource::FxRate, "USD".to_owned(), fx_rate("USD", "1.35")),
        (Resource::Exclusion, format!("{tag}-ex"), exclusion(tag)),
    ];
    for i in 0..campaigns {
        let id = format!("{tag}-c{i:03}");
        let value = campaign(&id, if i % 2 == 0 { "alpha" } else { "beta" }, "1.5");
        objects.push((Resource::Campaign, id, value));
    }
    objects
}

/// Reads events until one at `revision` or later arrives.
pub(crate) async fn events_until(
    events: &mut futures::stream::BoxStream<'static, spend_store::config_store::Result<Event>>,
    revision: i64,
) -> anyhow::Result<Vec<Event>> {
    let mut seen = Vec::new();
    while seen.last().is_none_or(|e: &Event| e.revision < revision) {
        let next = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .context("no event within 10 s")?
            .context("the watch ended")??;
        seen.push(next);
    }
    Ok(seen)
}

/// The published snapshot once it reaches `revision`, within 10 s.
pub(crate) async fn wait(
    watch: &spend_store::watch::ConfigWatch,
    revision: i64,
) -> anyhow::Result<Arc<Snapshot>> {
    let found = tokio::time::timeout(Duration::from_secs(10), watch.wait_for_revision(revision))
        .await
        .with_context(|| format!("revision {revision} not published within 10 s"))?;
    let snapshot = found.context("the watch stopped")?;
    ensure!(snapshot.revision >= revision);
    Ok(snapshot)
}
