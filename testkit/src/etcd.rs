//! etcd for tests: the shared server `SPEND_TEST_ETCD` names, and private processes a test may
//! kill and restart ([`EtcdProcess`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use tempfile::TempDir;

use crate::env::{server_env, skip_or_fail};
use crate::net::free_port;

/// The endpoints of the shared etcd (`SPEND_TEST_ETCD`, comma-separated); `None` (after saying
/// so) when it is not set outside CI. Under CI a missing etcd fails the test.
#[track_caller]
pub fn shared_endpoints() -> Option<Vec<String>> {
    let v = server_env("SPEND_TEST_ETCD")?;
    Some(v.split(',').map(|e| e.trim().to_owned()).collect())
}

/// The etcd binary: `SPEND_TEST_ETCD_BIN`, or `etcd` on `PATH`.
fn etcd_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("SPEND_TEST_ETCD_BIN").filter(|b| !b.is_empty()) {
        return Some(bin.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file())
}

/// An etcd server of the test's own, on free loopback ports and a temp data dir, that the test
/// may kill and restart on the same ports and data. Killed on drop.
pub struct EtcdProcess {
    bin: PathBuf,
    dir: TempDir,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

impl EtcdProcess {
    /// Starts one; `None` (after saying so) when there is no etcd binary outside CI.
    pub async fn start() -> anyhow::Result<Option<Self>> {
        let Some(mut etcd) = Self::prepare()? else {
            return Ok(None);
        };
        etcd.restart().await?;
        Ok(Some(etcd))
    }

    /// Picks its ports and data dir without starting it yet ([`Self::restart`] starts it).
    pub fn prepare() -> anyhow::Result<Option<Self>> {
        let Some(bin) = etcd_binary() else {
            skip_or_fail(
                "no etcd binary (install Debian etcd-server, set SPEND_TEST_ETCD_BIN or put etcd \
                 on PATH)",
            );
            return Ok(None);
        };
        Ok(Some(Self {
            bin,
            dir: tempfile::tempdir()?,
            client_port: free_port(),
            peer_port: free_port(),
            child: None,
        }))
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    pub fn endpoints(&self) -> Vec<String> {
        vec![self.endpoint()]
    }

    /// The temp dir of its data and its log.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `kill -9`, and waits for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts it on the same ports and data dir, and waits until it answers; an error when it
    /// exits first or does not answer within 20 s.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
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
