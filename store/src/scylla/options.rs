//! How a store reaches the cluster: nodes, data center, credentials, TLS, and the session built
//! from them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ::scylla::client::execution_profile::ExecutionProfile;
use ::scylla::client::session::{OpenSsl010Config, Session, TlsContext};
use ::scylla::client::session_builder::SessionBuilder;
use ::scylla::policies::load_balancing::DefaultPolicy;
use ::scylla::policies::timestamp_generator::MonotonicTimestampGenerator;
use ::scylla::statement::{Consistency, SerialConsistency};
use openssl::ssl::{SslConnector, SslFiletype, SslMethod};

use super::errors::SetupError;

/// How a [`super::ScyllaRewardStore`] connects.
#[derive(Clone, Debug)]
pub struct ScyllaOptions {
    /// `host:port` of one or more nodes; the rest of the cluster is discovered.
    pub nodes: Vec<String>,
    pub keyspace: String,
    /// The local data center: plain reads and writes stay in it. Required when the cluster has
    /// more than one ([`connect_session`] refuses to guess); `None` on a one-DC cluster.
    pub local_dc: Option<String>,
    /// Password authentication (`PasswordAuthenticator`), if the cluster asks for it.
    pub credentials: Option<Credentials>,
    /// TLS to every node, if set.
    pub tls: Option<ScyllaTls>,
    /// Statements in flight at once, per store.
    pub max_in_flight: usize,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for ScyllaOptions {
    fn default() -> Self {
        Self {
            nodes: vec!["127.0.0.1:9042".into()],
            keyspace: "spend".into(),
            local_dc: None,
            credentials: None,
            tls: None,
            max_in_flight: 256,
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A user name and password; `Debug` never shows the password.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// TLS settings. The nodes' certificates are verified against `ca_file` (else the system's
/// trust store) and against the address the driver connects to, so each node's certificate
/// must name its IP address (subjectAltName `IP:`), as the driver connects to the addresses the
/// cluster reports for its peers, never to host names.
#[derive(Clone, Debug, Default)]
pub struct ScyllaTls {
    /// PEM file of the CA certificate(s) that sign the nodes' certificates.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, for a cluster that requires client certificates.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl ScyllaTls {
    fn context(&self) -> Result<TlsContext, SetupError> {
        let bad = |what: &str, e: openssl::error::ErrorStack| {
            SetupError::Options(format!("TLS {what}: {e}"))
        };
        let mut builder =
            SslConnector::builder(SslMethod::tls_client()).map_err(|e| bad("context", e))?;
        if let Some(ca) = &self.ca_file {
            builder
                .set_ca_file(ca)
                .map_err(|e| bad(&format!("CA file {}", ca.display()), e))?;
        }
        if let Some((cert, key)) = &self.client_cert {
            builder
                .set_certificate_chain_file(cert)
                .map_err(|e| bad(&format!("client certificate {}", cert.display()), e))?;
            builder
                .set_private_key_file(key, SslFiletype::PEM)
                .map_err(|e| bad(&format!("client key {}", key.display()), e))?;
            builder
                .check_private_key()
                .map_err(|e| bad("client key does not match its certificate", e))?;
        }
        Ok(OpenSsl010Config::new(builder).into())
    }
}

/// A session set up as the store wants it (token-aware, `LOCAL_QUORUM` for plain statements,
/// `SERIAL` for lightweight transactions, monotonic client timestamps, credentials and TLS as
/// given), e.g. to install the schema before [`super::ScyllaRewardStore::with_session`].
///
/// **Why `SERIAL`, not `LOCAL_SERIAL`.** `LOCAL_SERIAL` runs Paxos among the local data
/// center's replicas only, so two rewarders in two data centers could each win the
/// `INSERT … IF NOT EXISTS` of one id: two rewards for one record. `SERIAL` takes a quorum of
/// all replicas, so exactly one wins anywhere. The price is a cross-DC round trip per decision
/// on a multi-DC cluster (none on a single DC), and decisions stop while a majority of all
/// replicas is unreachable (the rewarder then retries: nothing is lost).
///
/// **Data centers.** On a cluster of more than one data center, `local_dc` is required and must
/// be one of them: without it, the driver's plain reads and writes would go to any DC, and a
/// mistyped one would give every statement an empty plan.
pub async fn connect_session(options: &ScyllaOptions) -> Result<Session, SetupError> {
    let mut policy = DefaultPolicy::builder().token_aware(true);
    if let Some(dc) = &options.local_dc {
        policy = policy
            .prefer_datacenter(dc.clone())
            .permit_dc_failover(false);
    }
    let profile = ExecutionProfile::builder()
        .consistency(Consistency::LocalQuorum)
        .serial_consistency(Some(SerialConsistency::Serial))
        .request_timeout(Some(options.request_timeout))
        .load_balancing_policy(policy.build())
        .build();
    let mut builder = SessionBuilder::new()
        .known_nodes(&options.nodes)
        .connection_timeout(options.connect_timeout)
        .default_execution_profile_handle(profile.into_handle())
        .timestamp_generator(Arc::new(MonotonicTimestampGenerator::new()));
    if let Some(c) = &options.credentials {
        builder = builder.user(c.username.clone(), c.password.clone());
    }
    if let Some(tls) = &options.tls {
        builder = builder.tls_context(Some(tls.context()?));
    }
    let session = builder
        .build()
        .await
        .map_err(SetupError::from_new_session)?;
    let dcs: Vec<String> = session
        .get_cluster_state()
        .get_nodes_info()
        .iter()
        .filter_map(|node| node.datacenter.clone())
        .collect();
    check_data_centers(options.local_dc.as_deref(), dcs)?;
    Ok(session)
}

/// Refuses a multi-DC cluster without a local DC, and a local DC the cluster does not have.
fn check_data_centers(local_dc: Option<&str>, mut dcs: Vec<String>) -> Result<(), SetupError> {
    dcs.sort();
    dcs.dedup();
    match local_dc {
        None if dcs.len() > 1 => Err(SetupError::Options(format!(
            "the cluster has data centers {dcs:?}: name the local one (--scylla-local-dc, \
             chart value scylla.localDc)"
        ))),
        Some(dc) if !dcs.is_empty() && !dcs.iter().any(|d| d == dc) => Err(SetupError::Options(
            format!("local data center {dc:?} is not one of the cluster's: {dcs:?}"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dcs(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_local_dc_is_required_on_more_than_one_and_must_exist() {
        assert!(check_data_centers(None, dcs(&["dc1", "dc1", "dc1"])).is_ok());
        assert!(check_data_centers(None, dcs(&[])).is_ok());
        let err = check_data_centers(None, dcs(&["dc1", "dc2"])).unwrap_err();
        assert!(err.to_string().contains("--scylla-local-dc"), "{err}");
        assert!(check_data_centers(Some("dc2"), dcs(&["dc1", "dc2"])).is_ok());
        let err = check_data_centers(Some("dc3"), dcs(&["dc1", "dc2"])).unwrap_err();
        assert!(err.to_string().contains("\"dc3\""), "{err}");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let options = ScyllaOptions {
            credentials: Some(Credentials {
                username: "spend".into(),
                password: "hunter2".into(),
            }),
            ..ScyllaOptions::default()
        };
        let shown = format!("{options:?}");
        assert!(
            shown.contains("spend") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn a_missing_ca_file_is_an_options_error() {
        let tls = ScyllaTls {
            ca_file: Some("/nonexistent/ca.pem".into()),
            client_cert: None,
        };
        assert!(matches!(tls.context(), Err(SetupError::Options(m)) if m.contains("CA file")));
        assert!(ScyllaTls::default().context().is_ok());
    }
}
