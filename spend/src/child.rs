//! A `spend` service run as a child process by a benchmark, so that its memory and CPU are
//! measured alone: a free port, readiness, peak memory and CPU time from `/proc`, a stop by
//! signal. Signals go through kill(1): this crate has no unsafe for libc.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A free TCP port on loopback (free when asked; a benchmark takes it at once).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .context("find a free port")?
        .local_addr()?
        .port())
}

/// CPU time (user + system) of process `pid` (`"self"`: this one) so far, from `/proc`
/// (Linux reports clock ticks; USER_HZ is 100 on every common configuration).
pub(crate) fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The peak resident set (VmHWM) of process `pid`, in bytes.
pub(crate) fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A child service listening on `url`; killed on drop.
pub(crate) struct ChildService {
    name: &'static str,
    child: Child,
    pub(crate) url: String,
}

impl ChildService {
    /// Starts `command`, a service that will listen on loopback `port`.
    pub(crate) fn spawn(
        name: &'static str,
        command: &mut Command,
        port: u16,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            name,
            child: command.spawn().with_context(|| format!("start {name}"))?,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// Waits until `GET /readyz` answers 200; fails at once if the child exits.
    pub(crate) async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(r) = reqwest::get(format!("{}/readyz", self.url)).await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            self.check_alive()?;
            if Instant::now() > deadline {
                bail!(
                    "{} at {} was not ready within {timeout:?}",
                    self.name,
                    self.url
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An error if the child has exited.
    pub(crate) fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(Some(status)) => bail!("{} exited early ({status}); see its log", self.name),
            _ => Ok(()),
        }
    }

    /// The child's peak resident set (VmHWM), in bytes.
    pub(crate) fn peak_rss(&self) -> Option<u64> {
        peak_rss(self.child.id())
    }

    pub(crate) fn cpu_time(&self) -> Option<Duration> {
        cpu_time(&self.child.id().to_string())
    }

    /// CPU time so far per kind of thread (the thread's name with its trailing digits dropped:
    /// `rdk:broker1` and `rdk:broker2` are one kind), most first: a profile by stage, since each
    /// stage of the pipeline runs on threads of its own name.
    pub(crate) fn cpu_by_thread(&self) -> Vec<(String, Duration)> {
        let pid = self.child.id();
        let mut kinds: std::collections::BTreeMap<String, Duration> = Default::default();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return Vec::new();
        };
        for task in tasks.flatten() {
            let tid = task.file_name().to_string_lossy().into_owned();
            let name =
                std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).unwrap_or_default();
            let kind = name.trim().trim_end_matches(|c: char| c.is_ascii_digit());
            if let Some(cpu) = cpu_time(&format!("{pid}/task/{tid}")) {
                *kinds.entry(kind.to_owned()).or_default() += cpu;
            }
        }
        let mut kinds: Vec<(String, Duration)> = kinds.into_iter().collect();
        kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
        kinds
    }

    /// Sends `signal` (`"TERM"`, `"INT"`) and waits up to `grace` for a clean exit; past it the
    /// child is killed and the stop is an error, as is a non-zero exit.
    pub(crate) fn stop(&mut self, signal: &str, grace: Duration) -> anyhow::Result<()> {
        if self.child.try_wait().ok().flatten().is_some() {
            return Ok(());
        }
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().context("wait for the child")? {
                if !status.success() {
                    bail!("{} exited with {status}", self.name);
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        bail!("{} did not stop within {grace:?} of SIG{signal}", self.name)
    }
}

impl Drop for ChildService {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_cpu_time() {
        assert!(cpu_time(&std::process::id().to_string()).is_some());
        assert!(cpu_time("self").is_some());
        assert!(cpu_time("not-a-pid").is_none());
    }
}
