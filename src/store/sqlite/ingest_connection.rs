//! The connection ingest groups are written through: SQLite's own API (rusqlite, over the
//! libsqlite3-sys sqlx links) on a connection of its own, its statements prepared once and
//! kept.
//!
//! Why: sqlx runs each statement on its connection's thread, and every statement is a round
//! trip to that thread and back — on two busy cores a wake-up each way (0.65–2 ms for a
//! `select 1` here) — plus a copy of every bound value. An ingest group ran ≈ 17 of them. Here
//! a group's statements run back to back on one blocking thread: one hand-off per group.
//!
//! One write at a time still: a group runs while it holds the writer pool's one connection,
//! which is the process's turn to write (every other write takes it too), so the two
//! connections never wait on each other's lock inside SQLite. Both are set alike (`open.rs`).

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::SqlitePool;

use crate::store::DbError;

/// Settings every connection that writes carries, beyond SQLite's defaults. `open.rs` gives
/// them to the writer pool; [`IngestConnection::open`] to its own connection.
pub(in crate::store) fn writer_pragmas() -> [(&'static str, String); 4] {
    [
        // A group is acknowledged once its commit is synced into the log: a crash loses nothing
        // acknowledged.
        ("synchronous", "FULL".into()),
        ("foreign_keys", "ON".into()),
        // SQLite journals the pages a statement changes; past 64 KiB that journal would spill to a
        // temporary file, opened, written and unlinked per group. Durability is the log's alone.
        ("temp_store", "MEMORY".into()),
        // The log is checkpointed beside the writers (`wal.rs`); theirs is the backstop.
        ("wal_autocheckpoint", crate::store::wal::WRITER_CHECKPOINT_PAGES.to_string()),
    ]
}

/// How long a write waits for another process's lock before the database counts as away.
pub(in crate::store) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The ingest connection, shared by the store's clones.
#[derive(Debug, Clone)]
pub(in crate::store) struct IngestConnection(Arc<Mutex<rusqlite::Connection>>);

impl IngestConnection {
    /// Opens the database at `path`, which the writer pool has opened (in WAL mode, which the
    /// file keeps) and migrated.
    pub(in crate::store) fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = rusqlite::Connection::open_with_flags(path, flags)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        for (name, value) in writer_pragmas() {
            connection.pragma_update(None, name, value)?;
        }
        Ok(Self(Arc::new(Mutex::new(connection))))
    }

    /// Runs `work` on this connection on a blocking thread, during the process's turn to write.
    /// `work` must leave no transaction open: one left open (a failure past rusqlite's own
    /// rollback) is rolled back here.
    ///
    /// # Errors
    /// `work`'s error; the pool's when the turn does not come; [`DbError::Unexpected`] if
    /// `work` panicked.
    pub(in crate::store) async fn run<T, W>(&self, writer: &SqlitePool, work: W) -> Result<T, DbError>
    where
        T: Send + 'static,
        W: FnOnce(&rusqlite::Connection) -> Result<T, DbError> + Send + 'static,
    {
        let turn = writer.acquire().await?;
        let connection = Arc::clone(&self.0);
        // The turn travels with the work: if this future is dropped, the blocking thread keeps
        // it until the work is done.
        let ran = tokio::task::spawn_blocking(move || {
            // A panic inside `work` unwound through rusqlite's transaction, which rolled back.
            let connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            let result = work(&connection);
            if !connection.is_autocommit() {
                connection.execute_batch("ROLLBACK").map_err(DbError::from)?;
            }
            Ok::<_, DbError>((turn, result))
        })
        .await;
        let (turn, result) =
            ran.map_err(|e| DbError::Unexpected(anyhow::anyhow!("SQLite ingest work failed: {e}")))??;
        drop(turn); // back to the pool here, on the runtime
        result
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::types::Value;

    use crate::store::engine::Engine;
    use crate::store::sqlite::testing::store_in_temp_dir;

    #[tokio::test]
    async fn the_ingest_connection_writes_with_the_writer_pools_settings() {
        let (store, dir) = store_in_temp_dir().await;
        let Engine::Sqlite { writer, ingest, .. } = &store.engine else { unreachable!("a SQLite store") };
        for name in ["synchronous", "foreign_keys", "temp_store", "wal_autocheckpoint", "busy_timeout", "journal_mode"]
        {
            let row = sqlx::query(&format!("pragma {name}")).fetch_one(writer).await.unwrap();
            let in_pool: String = sqlx::Row::try_get_unchecked(&row, 0).unwrap();
            let own = ingest.run(writer, move |c| Ok(c.pragma_query_value(None, name, |row| row.get::<_, Value>(0))?));
            let own = match own.await.unwrap() {
                Value::Integer(number) => number.to_string(),
                Value::Text(text) => text,
                other => panic!("pragma {name} is {other:?}"),
            };
            assert_eq!(own, in_pool, "pragma {name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
