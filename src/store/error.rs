//! Database failures, translated.

use crate::domain::QuantityError;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("already exists")]
    AlreadyExists,
    /// The database could not be reached or timed out; retrying later may succeed.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error(transparent)]
    Overflow(#[from] QuantityError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => DbError::AlreadyExists,
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => DbError::Unavailable(error),
            sqlx::Error::Database(db) if is_transient(db.code().as_deref()) => DbError::Unavailable(error),
            _ => DbError::Unexpected(anyhow::Error::new(error)),
        }
    }
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
