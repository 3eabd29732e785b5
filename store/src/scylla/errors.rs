//! Which driver errors are worth retrying, and the error setting a store up returns.
//!
//! The rewarder retries [`RewardStoreError::Unavailable`] forever with backoff and stops on
//! anything else, so an error the cluster will answer the same way every time (a syntax error, a
//! missing table, a permission or authentication failure, an LWT on a tablets keyspace, a value
//! the driver cannot serialize) must not be `Unavailable`: it would be a silent stall. Those map to
//! [`RewardStoreError::Corrupt`], the contract's only non-retryable kind, with a message that says
//! what happened. Anything that can pass (timeouts, unavailable replicas, overload, a broken
//! connection, a node still bootstrapping) stays `Unavailable`.

use ::scylla::errors::{
    DbError, ExecutionError, NewSessionError, NextRowError, PagerExecutionError, PrepareError,
    RequestAttemptError,
};

use crate::reward_store::RewardStoreError;

/// Why a [`super::ScyllaRewardStore`] could not be set up (connect, prepare, install the schema).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The cluster could not be reached or did not answer in time: trying later may work.
    #[error("scylla unreachable: {0}")]
    Unreachable(String),
    /// The cluster answered with a refusal that will not change by itself (bad credentials, a
    /// permission, a statement it does not accept, a missing table).
    #[error("scylla refused: {0}")]
    Refused(String),
    /// The options are wrong for this cluster (keyspace name, TLS files, data centers).
    #[error("scylla options: {0}")]
    Options(String),
    /// The keyspace replicates with tablets, on which ScyllaDB does not run the lightweight
    /// transactions the once-only rule rests on.
    #[error(
        "scylla keyspace {keyspace} uses tablets, and the reward store needs lightweight \
         transactions, which need vnodes: drop it and let the schema install recreate it, or \
         create it by hand WITH ... AND tablets = {{'enabled': false}}"
    )]
    Tablets { keyspace: String },
}

/// Whether an error can pass by itself.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    Transient,
    Permanent,
}

fn db_error(e: &DbError) -> Kind {
    match e {
        DbError::SyntaxError
        | DbError::Invalid
        | DbError::AlreadyExists { .. }
        | DbError::FunctionFailure { .. }
        | DbError::AuthenticationError
        | DbError::Unauthorized
        | DbError::ConfigError
        | DbError::ProtocolError => Kind::Permanent,
        // Unavailable, Overloaded, IsBootstrapping, timeouts, read/write failures (a replica
        // that failed this once), ServerError, RateLimitReached, Unprepared (the driver
        // re-prepares) and codes this driver does not know.
        _ => Kind::Transient,
    }
}

fn attempt(e: &RequestAttemptError) -> Kind {
    match e {
        RequestAttemptError::DbError(db, _) => db_error(db),
        RequestAttemptError::SerializationError(_)
        | RequestAttemptError::CqlRequestSerialization(_)
        | RequestAttemptError::CqlResultParseError(_)
        | RequestAttemptError::CqlErrorParseError(_)
        | RequestAttemptError::BodyExtensionsParseError(_)
        | RequestAttemptError::UnexpectedResponse(_)
        | RequestAttemptError::RepreparedIdChanged { .. } => Kind::Permanent,
        _ => Kind::Transient,
    }
}

fn prepare(e: &PrepareError) -> Kind {
    match e {
        PrepareError::AllAttemptsFailed { first_attempt } => attempt(first_attempt),
        _ => Kind::Transient,
    }
}

pub(super) fn execution_kind(e: &ExecutionError) -> Kind {
    match e {
        ExecutionError::BadQuery(_) => Kind::Permanent,
        ExecutionError::PrepareError(p) => prepare(p),
        ExecutionError::LastAttemptError(a) => attempt(a),
        ExecutionError::UseKeyspaceError(_) => Kind::Permanent,
        // EmptyPlan (the local DC was checked at connect, so a passing topology state),
        // ConnectionPoolError, RequestTimeout, schema agreement and metadata fetches.
        _ => Kind::Transient,
    }
}

fn pager_kind(e: &PagerExecutionError) -> Kind {
    match e {
        PagerExecutionError::PrepareError(p) => prepare(p),
        PagerExecutionError::SerializationError(_) => Kind::Permanent,
        PagerExecutionError::NextPageError(_) => Kind::Transient,
        PagerExecutionError::UseKeyspaceError(_) => Kind::Permanent,
        _ => Kind::Transient,
    }
}

fn to_store_error(kind: Kind, e: impl std::fmt::Display) -> RewardStoreError {
    match kind {
        Kind::Transient => RewardStoreError::Unavailable(format!("scylla: {e}")),
        Kind::Permanent => RewardStoreError::Corrupt(format!(
            "scylla refused the request, and retrying cannot change that (a schema, statement, \
             permission or keyspace problem): {e}"
        )),
    }
}

/// A failed statement as the store reports it.
pub(super) fn from_execution(e: ExecutionError) -> RewardStoreError {
    to_store_error(execution_kind(&e), e)
}

/// A failed paged query as the store reports it.
pub(super) fn from_pager(e: PagerExecutionError) -> RewardStoreError {
    to_store_error(pager_kind(&e), e)
}

/// A page of a paged query that failed midway.
pub(super) fn from_next_row(e: NextRowError) -> RewardStoreError {
    match e {
        NextRowError::NextPageError(e) => RewardStoreError::Unavailable(format!("scylla: {e}")),
        e => RewardStoreError::Corrupt(format!("scylla: {e}")),
    }
}

impl SetupError {
    pub(super) fn from_execution(e: ExecutionError) -> Self {
        match execution_kind(&e) {
            Kind::Transient => Self::Unreachable(e.to_string()),
            Kind::Permanent => Self::Refused(e.to_string()),
        }
    }

    pub(super) fn from_prepare(e: PrepareError) -> Self {
        match prepare(&e) {
            Kind::Transient => Self::Unreachable(e.to_string()),
            Kind::Permanent => Self::Refused(e.to_string()),
        }
    }

    pub(super) fn from_new_session(e: NewSessionError) -> Self {
        match e {
            NewSessionError::EmptyKnownNodesList | NewSessionError::IllegalConfig(_) => {
                Self::Options(e.to_string())
            }
            e => Self::Unreachable(e.to_string()),
        }
    }
}

/// Whether a statement failed because the table it names does not exist (as
/// `system_schema.scylla_keyspaces` does not on Cassandra and older ScyllaDB).
pub(super) fn is_unconfigured_table(e: &ExecutionError) -> bool {
    matches!(
        e,
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(DbError::Invalid, m))
            if m.contains("unconfigured table")
    ) || matches!(
        e,
        ExecutionError::PrepareError(PrepareError::AllAttemptsFailed {
            first_attempt: RequestAttemptError::DbError(DbError::Invalid, m)
        }) if m.contains("unconfigured table")
    )
}

/// Whether CREATE KEYSPACE failed only because the server does not know the `tablets` option
/// (Cassandra, ScyllaDB before tablets), which then has vnodes anyway.
pub(super) fn is_unknown_tablets_option(e: &ExecutionError) -> bool {
    let (ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, message))
    | ExecutionError::PrepareError(PrepareError::AllAttemptsFailed {
        first_attempt: RequestAttemptError::DbError(db, message),
    })) = e
    else {
        return false;
    };
    matches!(
        db,
        DbError::SyntaxError | DbError::Invalid | DbError::ConfigError
    ) && message.to_ascii_lowercase().contains("tablets")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(e: DbError, message: &str) -> ExecutionError {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(e, message.into()))
    }

    #[test]
    fn refusals_are_not_retried_and_outages_are() {
        for permanent in [
            db(DbError::SyntaxError, "line 1:0 no viable alternative"),
            db(DbError::Invalid, "unconfigured table outcomes"),
            db(DbError::Unauthorized, "no SELECT permission"),
            db(DbError::AuthenticationError, "bad credentials"),
            db(DbError::ConfigError, "tablets"),
            db(
                DbError::Invalid,
                "Cannot use LightWeight Transactions for table spend.outcomes: LWT is not yet \
                 supported with tablets",
            ),
        ] {
            assert_eq!(execution_kind(&permanent), Kind::Permanent, "{permanent}");
            assert!(matches!(
                from_execution(permanent),
                RewardStoreError::Corrupt(m) if m.contains("retrying cannot change that")
            ));
        }
        for transient in [
            db(DbError::Overloaded, "overloaded"),
            db(DbError::IsBootstrapping, ""),
            db(DbError::ServerError, "semaphore timed out"),
            ExecutionError::RequestTimeout(std::time::Duration::from_secs(5)),
            ExecutionError::EmptyPlan,
        ] {
            assert_eq!(execution_kind(&transient), Kind::Transient, "{transient}");
            assert!(matches!(
                from_execution(transient),
                RewardStoreError::Unavailable(_)
            ));
        }
    }

    #[test]
    fn only_a_missing_table_or_an_unknown_tablets_option_is_recognised() {
        assert!(is_unconfigured_table(&db(
            DbError::Invalid,
            "unconfigured table scylla_keyspaces"
        )));
        assert!(!is_unconfigured_table(&db(DbError::Invalid, "other")));
        assert!(!is_unconfigured_table(&db(
            DbError::Unauthorized,
            "unconfigured table x"
        )));
        assert!(is_unknown_tablets_option(&db(
            DbError::SyntaxError,
            "Unknown property 'tablets'"
        )));
        assert!(is_unknown_tablets_option(&db(
            DbError::ConfigError,
            "Unrecognized strategy option {tablets}"
        )));
        assert!(!is_unknown_tablets_option(&db(
            DbError::Unauthorized,
            "no CREATE permission on tablets"
        )));
        assert!(!is_unknown_tablets_option(&db(
            DbError::Invalid,
            "replication_factor must be positive"
        )));
        assert!(!is_unknown_tablets_option(&ExecutionError::RequestTimeout(
            std::time::Duration::from_secs(1)
        )));
    }
}
