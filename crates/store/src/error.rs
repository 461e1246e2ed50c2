use tenantry_kernel::Unexpected;
use thiserror::Error;

/// What can go wrong inside the adapter. Ports turn it into their own error enums; whatever
/// they do not name becomes [`Unexpected`].
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database connection: {0}")]
    Connection(String),
    #[error("migrations: {0}")]
    Migration(String),
    #[error("invalid data in the database: {0}")]
    Corrupt(String),
    #[error("configuration: {0}")]
    Config(String),
    /// The change pipeline refused a change past a quota (the transaction rolled back).
    #[error(transparent)]
    Quota(#[from] tenantry_kernel::QuotaError),
}

impl StoreError {
    /// A connection error that waiting would not end: PostgreSQL refused the role or its
    /// password, or has no such database. Others (refused, still starting, out of
    /// connections, a pooler's "try again later") may pass.
    pub fn is_lasting_connection_error(&self) -> bool {
        matches!(self, Self::Connection(why) if crate::db::is_lasting_refusal(why))
    }

    /// True when the statement broke a unique constraint whose name (PostgreSQL) or message
    /// (SQLite: `UNIQUE constraint failed: users.email_normalized`) mentions `column`.
    pub(crate) fn is_unique_violation_of(&self, column: &str) -> bool {
        match self {
            Self::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                info,
            )) => {
                info.constraint_name().is_some_and(|c| c.contains(column))
                    || info.message().contains(column)
            }
            _ => false,
        }
    }

    /// True when the statement broke a unique constraint (on either backend).
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            Self::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

impl StoreError {
    /// True when the database cannot serve now but may soon: no connection could be had
    /// (refused, timed out waiting for one), the connection died under the statement (a
    /// restart), or SQLite is locked by another process or out of disk.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind as Kind, Error};
        match self {
            Self::Connection(_) => true,
            Self::Query(Error::DatabaseError(
                Kind::ClosedConnection | Kind::UnableToSendCommand,
                _,
            )) => true,
            Self::Query(Error::DatabaseError(_, info)) => {
                let m = info.message();
                m.contains("database is locked")
                    || m.contains("database or disk is full")
                    || m.contains("disk I/O error")
                    || m.contains("unable to open database file")
                    || m.contains("terminating connection due to administrator command")
                    || m.contains("the database system is shutting down")
                    || m.contains("the database system is starting up")
                    || m.contains("server closed the connection unexpectedly")
            }
            _ => false,
        }
    }
}

impl From<StoreError> for Unexpected {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            Unexpected::unavailable(e.to_string())
        } else {
            Unexpected::new(e)
        }
    }
}
