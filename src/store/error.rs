//! Database failures, translated.

use crate::domain::QuantityError;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("already exists")]
    AlreadyExists,
    /// The database could not be reached or timed out; retrying later may succeed.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Overflow(#[from] QuantityError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// An invoice was priced with credit that a void revoked before it was issued; nothing
    /// was written, and pricing it again (the next run) leaves that credit out.
    #[error("a credit the invoice would use was revoked by a void meanwhile")]
    CreditRevoked,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if is_unique_violation(db.as_ref()) => DbError::AlreadyExists,
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => DbError::Unavailable(Box::new(error)),
            sqlx::Error::Database(db) if is_transient(db.code().as_deref()) => DbError::Unavailable(Box::new(error)),
            _ => DbError::Unexpected(anyhow::Error::new(error)),
        }
    }
}

impl DbError {
    /// The connection broke under the call ([`is_connection_lost`]), as opposed to the
    /// database refusing it or being away.
    pub(super) fn is_connection_lost(&self) -> bool {
        matches!(self, DbError::Unavailable(source) if source.downcast_ref::<sqlx::Error>().is_some_and(is_connection_lost))
    }
}

/// The same translation for statements run on ingest's own SQLite connection
/// (`sqlite/ingest_connection.rs`): BUSY and LOCKED (another process holds the database past the busy
/// timeout) are the database being away, as through sqlx.
impl From<rusqlite::Error> for DbError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{ConstraintViolation, DatabaseBusy, DatabaseLocked};
        match error.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked) => DbError::Unavailable(Box::new(error)),
            Some(ConstraintViolation) if is_sqlite_unique_violation(&error) => DbError::AlreadyExists,
            _ => DbError::Unexpected(anyhow::Error::new(error)),
        }
    }
}

/// A primary key or unique index refused a row (SQLite's extended constraint codes).
fn is_sqlite_unique_violation(error: &rusqlite::Error) -> bool {
    let unique = [rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY, rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE];
    matches!(error, rusqlite::Error::SqliteFailure(e, _) if unique.contains(&e.extended_code))
}

/// A unique key refused a row: SQLSTATE 23505 (SQLite: its constraint code), or the form stock
/// Citus gives a unique violation raised by a multi-shard `INSERT … SELECT`, which loses the
/// SQLSTATE: `XX000` with PostgreSQL's message.
fn is_unique_violation(error: &dyn sqlx::error::DatabaseError) -> bool {
    error.kind() == sqlx::error::ErrorKind::UniqueViolation
        || (error.code().as_deref() == Some("XX000")
            && error.message().starts_with("duplicate key value violates unique constraint"))
}

/// The connection itself broke (the socket, or the server ending the session, e.g. a restart's
/// `57P01 admin_shutdown`), as opposed to the statement failing.
pub(super) fn is_connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// PostgreSQL classes 08 (connection), 53 (resources), 57 (operator intervention, e.g. shutdown),
/// 40 (serialization/deadlock), and 55000 (the database does not accept connections now);
/// SQLite BUSY (5) and LOCKED (6).
fn is_transient(code: Option<&str>) -> bool {
    match code {
        Some(code) => {
            ["08", "53", "57", "40"].iter().any(|class| code.starts_with(class)) || ["55000", "5", "6"].contains(&code)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use sqlx::error::{DatabaseError, ErrorKind};

    use super::DbError;

    /// A database error with a given SQLSTATE and message, as a server would report it.
    #[derive(Debug, thiserror::Error)]
    #[error("{message}")]
    struct Reported {
        code: &'static str,
        message: &'static str,
    }

    impl DatabaseError for Reported {
        fn message(&self) -> &str {
            self.message
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.code))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            match self.code {
                "23505" => ErrorKind::UniqueViolation,
                _ => ErrorKind::Other,
            }
        }
    }

    fn translated(code: &'static str, message: &'static str) -> DbError {
        DbError::from(sqlx::Error::Database(Box::new(Reported { code, message })))
    }

    const DUPLICATE: &str = r#"duplicate key value violates unique constraint "usage_record_pkey_102008""#;

    #[test]
    fn a_unique_violation_is_already_exists_with_its_sqlstate_or_in_citus_xx000_form() {
        assert!(matches!(translated("23505", DUPLICATE), DbError::AlreadyExists), "PostgreSQL");
        assert!(matches!(translated("XX000", DUPLICATE), DbError::AlreadyExists), "Citus multi-shard insert");
    }

    #[test]
    fn other_internal_errors_stay_unexpected() {
        let other = translated("XX000", "could not connect to node 127.0.0.1:9701");
        assert!(matches!(other, DbError::Unexpected(_)), "{other:?}");
    }
}
