//! The CQL schema (`schemas/rewards.cql`) renamed to a keyspace, and its installation.
//!
//! **Tablets.** ScyllaDB releases that create keyspaces with tablets by default do not run
//! lightweight transactions on them (or did not until recently), and every decision of the store
//! is one. So the keyspace is created with `tablets = {'enabled': false}`; only where the server
//! does not know that option (Cassandra, ScyllaDB before tablets, which use vnodes anyway) is it
//! created without. A keyspace that already exists is checked, not trusted: one with tablets is
//! a fatal [`SetupError::Tablets`], never a store that stalls on its first write.
//!
//! **Who installs.** One installer per deployment (the chart's schema Job, `scripts/test-scylla.sh`,
//! `--scylla-install-schema` on one process): concurrent CREATE … IF NOT EXISTS from many replicas
//! at once is what produces schema disagreements. Installing twice is harmless.

use ::scylla::client::session::Session;

use super::errors::{is_unconfigured_table, is_unknown_tablets_option, SetupError};

/// `schemas/rewards.cql`, the single source of the CQL schema.
pub const SCHEMA_CQL: &str = include_str!("../../../schemas/rewards.cql");

/// The keyspace name the schema file is written for.
const SCHEMA_KEYSPACE: &str = "spend";

/// What CREATE KEYSPACE appends so that the keyspace uses vnodes.
const WITHOUT_TABLETS: &str = " AND tablets = {'enabled': false}";

/// Refuses a keyspace name that is not a plain identifier: it is spliced into statement text.
pub(super) fn check_keyspace(name: &str) -> Result<(), SetupError> {
    let ok = (1..=48).contains(&name.len())
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SetupError::Options(format!(
            "keyspace name {name:?} must be 1-48 of [a-z0-9_], starting with a letter"
        )))
    }
}

/// The statements that create the schema in `keyspace` with `replication_factor` replicas per
/// data center: the keyspace (vnodes: tablets disabled), then every statement of [`SCHEMA_CQL`]
/// but its own CREATE KEYSPACE, with the keyspace renamed.
pub fn schema_statements(
    keyspace: &str,
    replication_factor: u32,
) -> Result<Vec<String>, SetupError> {
    check_keyspace(keyspace)?;
    let without_comments: String = SCHEMA_CQL
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut statements = vec![format!(
        "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
         {{'class': 'NetworkTopologyStrategy', 'replication_factor': {replication_factor}}}\
         {WITHOUT_TABLETS}"
    )];
    let qualified = format!("{SCHEMA_KEYSPACE}.");
    for statement in without_comments.split(';') {
        let statement = statement.split_whitespace().collect::<Vec<_>>().join(" ");
        if statement.is_empty() || statement.starts_with("CREATE KEYSPACE") {
            continue;
        }
        statements.push(statement.replace(&qualified, &format!("{keyspace}.")));
    }
    Ok(statements)
}

/// How a keyspace replicates, as far as the store cares.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Replication {
    Absent,
    Vnodes,
    Tablets,
}

/// Whether `keyspace` exists and whether it uses tablets (`system_schema.scylla_keyspaces` has a
/// row with `initial_tablets` set; the table is absent on Cassandra and ScyllaDB before tablets).
pub(super) async fn replication(
    session: &Session,
    keyspace: &str,
) -> Result<Replication, SetupError> {
    let found = session
        .query_unpaged(
            "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (keyspace,),
        )
        .await
        .map_err(SetupError::from_execution)?
        .into_rows_result()
        .map_err(|e| SetupError::Refused(e.to_string()))?
        .rows_num();
    if found == 0 {
        return Ok(Replication::Absent);
    }
    let answer = session
        .query_unpaged(
            "SELECT initial_tablets FROM system_schema.scylla_keyspaces WHERE keyspace_name = ?",
            (keyspace,),
        )
        .await;
    let rows = match answer {
        Err(e) if is_unconfigured_table(&e) => return Ok(Replication::Vnodes),
        Err(e) => return Err(SetupError::from_execution(e)),
        Ok(result) => result
            .into_rows_result()
            .map_err(|e| SetupError::Refused(e.to_string()))?,
    };
    let row: Option<(Option<i32>,)> = rows
        .maybe_first_row()
        .map_err(|e| SetupError::Refused(e.to_string()))?;
    Ok(match row {
        Some((Some(_),)) => Replication::Tablets,
        _ => Replication::Vnodes,
    })
}

/// Creates the keyspace (if absent) with `replication_factor` replicas per data center and
/// tablets disabled, and every table of [`SCHEMA_CQL`] in it (if absent), then waits for schema
/// agreement. An existing keyspace with tablets is refused ([`SetupError::Tablets`]); an error
/// other than "unknown option tablets" on CREATE KEYSPACE is returned as it is.
pub async fn install_schema(
    session: &Session,
    keyspace: &str,
    replication_factor: u32,
) -> Result<(), SetupError> {
    let statements = schema_statements(keyspace, replication_factor)?;
    let Some((create_keyspace, tables)) = statements.split_first() else {
        return Err(SetupError::Options("the schema file is empty".into()));
    };
    let tablets = || SetupError::Tablets {
        keyspace: keyspace.to_owned(),
    };
    match replication(session, keyspace).await? {
        Replication::Tablets => return Err(tablets()),
        Replication::Vnodes => {}
        Replication::Absent => create(session, create_keyspace).await?,
    }
    // DDL has no values to bind; `schema_statements` checked the only spliced name.
    for statement in tables {
        session
            .query_unpaged(statement.as_str(), ())
            .await
            .map_err(SetupError::from_execution)?;
    }
    session
        .await_schema_agreement()
        .await
        .map_err(|e| SetupError::Unreachable(e.to_string()))?;
    // CREATE KEYSPACE IF NOT EXISTS does nothing when another installer got there first, with
    // whatever options it chose: what counts is what is there now.
    if replication(session, keyspace).await? == Replication::Tablets {
        return Err(tablets());
    }
    Ok(())
}

async fn create(session: &Session, create_keyspace: &str) -> Result<(), SetupError> {
    let Err(e) = session.query_unpaged(create_keyspace, ()).await else {
        return Ok(());
    };
    if !is_unknown_tablets_option(&e) {
        return Err(SetupError::from_execution(e));
    }
    let plain = create_keyspace
        .strip_suffix(WITHOUT_TABLETS)
        .unwrap_or(create_keyspace);
    tracing::info!("the cluster does not know the tablets option; creating a vnodes keyspace");
    session
        .query_unpaged(plain, ())
        .await
        .map(drop)
        .map_err(SetupError::from_execution)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_renamed_and_split() {
        let statements = schema_statements("spend_t1", 1).unwrap();
        assert_eq!(statements.len(), 5, "{statements:#?}");
        assert!(statements[0].contains("spend_t1 WITH replication"));
        assert!(statements[0].contains("'replication_factor': 1"));
        assert!(
            statements[0].ends_with("AND tablets = {'enabled': false}"),
            "{}",
            statements[0]
        );
        for s in &statements[1..] {
            assert!(s.starts_with("CREATE TABLE IF NOT EXISTS spend_t1."), "{s}");
            assert!(!s.contains("spend."), "{s}");
            assert!(!s.contains("--"), "{s}");
        }
        assert!(schema_statements("Spend", 1).is_err());
        assert!(schema_statements("spend; DROP", 1).is_err());
        assert!(schema_statements("", 1).is_err());
    }

    #[test]
    fn the_schema_file_creates_its_keyspace_without_tablets() {
        let create = SCHEMA_CQL
            .split(';')
            .map(|s| {
                s.lines()
                    .map(|l| l.split("--").next().unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .find(|s| s.contains("CREATE KEYSPACE"))
            .expect("a CREATE KEYSPACE");
        let create = create.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            create.ends_with("AND tablets = {'enabled': false}"),
            "{create}"
        );
    }
}
