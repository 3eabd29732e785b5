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
//!
//! **Upgrades.** The schema has a version ([`SCHEMA_VERSION`], the file's `Schema version` line).
//! Installing is declarative, so it is also the upgrade: every table is created if absent, then
//! every column the file declares that an existing table lacks is added (`ALTER TABLE … ADD`,
//! after a look at `system_schema.columns`; CQL has no `ADD IF NOT EXISTS` that ScyllaDB and
//! Cassandra both accept). Version 1 → 2 (missions) adds the payout columns of `outcomes` and
//! `history`, `outcomes.pending_missions` and the table `mission_states`; rows written before
//! read back with the new columns null, which is what they mean. Columns are only ever added.

use ::scylla::client::session::Session;

use super::errors::{is_unconfigured_table, is_unknown_tablets_option, SetupError};

/// `schemas/rewards.cql`, the single source of the CQL schema.
pub const SCHEMA_CQL: &str = include_str!("../../../schemas/rewards.cql");

/// The version of [`SCHEMA_CQL`]: 1 before missions, 2 with them (see the module documentation).
pub const SCHEMA_VERSION: u32 = 2;

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
    agree(session).await?;
    // Every node knows every table now: what `system_schema.columns` says is the whole truth.
    let mut added = 0;
    for statement in tables {
        if let Some((table, columns)) = declared_columns(statement) {
            added += add_missing_columns(session, keyspace, table, &columns).await?;
        }
    }
    if added > 0 {
        agree(session).await?;
    }
    // CREATE KEYSPACE IF NOT EXISTS does nothing when another installer got there first, with
    // whatever options it chose: what counts is what is there now.
    if replication(session, keyspace).await? == Replication::Tablets {
        return Err(tablets());
    }
    Ok(())
}

async fn agree(session: &Session) -> Result<(), SetupError> {
    session
        .await_schema_agreement()
        .await
        .map(drop)
        .map_err(|e| SetupError::Unreachable(e.to_string()))
}

/// The table a normalised `CREATE TABLE` statement of [`schema_statements`] creates, and the
/// columns it declares (name, CQL type), in order; `None` for any other statement.
fn declared_columns(statement: &str) -> Option<(&str, Vec<(&str, String)>)> {
    let rest = statement.strip_prefix("CREATE TABLE IF NOT EXISTS ")?;
    let open = rest.find('(')?;
    let table = rest[..open].trim().rsplit('.').next()?;
    // The definitions: split at the commas of the outermost parentheses.
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, open + 1);
    for (i, c) in rest.char_indices().skip_while(|(i, _)| *i < open) {
        match c {
            '(' | '<' => depth += 1,
            ')' | '>' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    items.push(&rest[start..i]);
                    break;
                }
            }
            ',' if depth == 1 => {
                items.push(&rest[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    let columns = items
        .into_iter()
        .filter_map(|item| {
            let mut words = item.split_whitespace();
            let name = words
                .next()
                .filter(|w| !w.eq_ignore_ascii_case("PRIMARY"))?;
            let typ: Vec<&str> = words
                .take_while(|w| {
                    !w.eq_ignore_ascii_case("PRIMARY") && !w.eq_ignore_ascii_case("STATIC")
                })
                .collect();
            Some((name, typ.join(" ")))
        })
        .collect();
    Some((table, columns))
}

/// The columns `keyspace.table` has.
async fn table_columns(
    session: &Session,
    keyspace: &str,
    table: &str,
) -> Result<Vec<String>, SetupError> {
    let rows = session
        .query_unpaged(
            "SELECT column_name FROM system_schema.columns \
             WHERE keyspace_name = ? AND table_name = ?",
            (keyspace, table),
        )
        .await
        .map_err(SetupError::from_execution)?
        .into_rows_result()
        .map_err(|e| SetupError::Refused(e.to_string()))?;
    let names = rows
        .rows::<(String,)>()
        .map_err(|e| SetupError::Refused(e.to_string()))?
        .map(|row| row.map(|(name,)| name))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| SetupError::Refused(e.to_string()))?;
    Ok(names)
}

/// Adds each of `columns` that `keyspace.table` lacks (an installation of an older version of
/// the schema); how many it added.
async fn add_missing_columns(
    session: &Session,
    keyspace: &str,
    table: &str,
    columns: &[(&str, String)],
) -> Result<usize, SetupError> {
    let existing = table_columns(session, keyspace, table).await?;
    let mut added = 0;
    for (name, typ) in columns {
        if existing.iter().any(|c| c == name) {
            continue;
        }
        // Names and types come from the schema file; the keyspace name was checked.
        let alter = format!("ALTER TABLE {keyspace}.{table} ADD {name} {typ}");
        if let Err(e) = session.query_unpaged(alter, ()).await {
            // Another installer, against the advice above, may have added it in between.
            let now = table_columns(session, keyspace, table).await?;
            if !now.iter().any(|c| c == name) {
                return Err(SetupError::from_execution(e));
            }
            continue;
        }
        tracing::info!(keyspace, table, column = %name, "scylla schema upgraded: column added");
        added += 1;
    }
    Ok(added)
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
        assert_eq!(statements.len(), 6, "{statements:#?}");
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
    fn every_table_declares_its_columns_for_the_upgrade() {
        let statements = schema_statements("spend_t1", 1).unwrap();
        let tables: Vec<(&str, Vec<(&str, String)>)> = statements
            .iter()
            .filter_map(|s| declared_columns(s))
            .collect();
        let names: Vec<&str> = tables.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            names,
            [
                "outcomes",
                "history",
                "card_months",
                "reversals",
                "mission_states"
            ]
        );
        let columns = |table: &str| -> Vec<String> {
            let (_, cols) = tables.iter().find(|(t, _)| *t == table).unwrap();
            cols.iter().map(|(n, t)| format!("{n} {t}")).collect()
        };
        let outcomes = columns("outcomes");
        assert_eq!(outcomes.len(), 26, "{outcomes:?}");
        assert_eq!(outcomes[0], "id uuid");
        assert_eq!(
            outcomes[22..],
            [
                "mission_id uuid",
                "payout_kind text",
                "caused_by uuid",
                "pending_missions blob"
            ]
        );
        let history = columns("history");
        assert_eq!(history.len(), 27, "{history:?}");
        assert!(history.contains(&"payout_kind text".to_owned()));
        assert!(history.contains(&"id_order blob".to_owned()));
        assert_eq!(
            columns("mission_states"),
            ["card_id uuid", "mission_id uuid", "state blob"]
        );
        // A type with commas inside its brackets stays one column.
        let (table, cols) = declared_columns(
            "CREATE TABLE IF NOT EXISTS k.t ( a map<text, int>, b frozen<tuple<int, int>> \
             STATIC, PRIMARY KEY ((a, b), c) ) WITH x = 1",
        )
        .unwrap();
        assert_eq!(table, "t");
        assert_eq!(
            cols,
            [
                ("a", "map<text, int>".to_owned()),
                ("b", "frozen<tuple<int, int>>".to_owned())
            ]
        );
        assert!(declared_columns("CREATE KEYSPACE IF NOT EXISTS k").is_none());
    }

    #[test]
    fn the_schema_file_states_its_version() {
        let line = format!("-- Schema version {SCHEMA_VERSION} ");
        assert!(SCHEMA_CQL.contains(&line), "{line:?}");
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
