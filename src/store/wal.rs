//! SQLite's write-ahead log copied into the database file beside the writer, not inside it.
//!
//! Why: by default SQLite checkpoints inside the commit that takes the log past 1 000 pages,
//! on the committing connection — here the one writer, so every few ingest groups one of them
//! also copied a few megabytes of pages and synced the database file before its requests were
//! answered (ingest ran 4–10 % faster with no checkpoint at all, BENCHMARKS.md). Now
//! `tally serve` runs a passive checkpoint on a connection of its own every
//! [`CHECKPOINT_EVERY`] (`lifecycle::checkpoint_wal_every`); a passive checkpoint never waits
//! for, nor blocks, the writer or a reader, so it runs on the other core while the writer goes
//! on.
//!
//! The writer still checkpoints, at [`WRITER_CHECKPOINT_PAGES`]: SQLite starts the log over
//! only when a write begins with every frame copied, which a checkpoint beside a busy writer
//! seldom leaves (the writer appends while it copies). The writer's checkpoint then copies the
//! pages written since the last pass (the rest are copied already) and the log starts over;
//! without `tally serve` running (the CLI's commands) it is SQLite's own checkpoint, later.
//!
//! Durability does not change: a commit is durable once its log frames are synced
//! (`synchronous=FULL`); a checkpoint only moves committed pages into the database file.

use std::time::Duration;

use super::engine::Engine;
use super::{DbError, Store};

/// How often the log is checkpointed beside the writer: often enough that the writer's own
/// checkpoint finds little left to copy.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Log pages (4 KiB each) past which the writer checkpoints itself (SQLite's default: 1 000).
pub(super) const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// What one checkpoint found (`PRAGMA wal_checkpoint`'s answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalProgress {
    /// Frames in the log since it last started over.
    pub frames: i64,
    /// How many of them are in the database file now.
    pub checkpointed: i64,
}

impl Store {
    /// Copies committed log pages into the database file, without waiting for the writer or a
    /// reader (SQLite's passive checkpoint); `None` on PostgreSQL, which checkpoints itself.
    ///
    /// # Errors
    /// When SQLite fails to read the log or write the database file.
    pub async fn checkpoint_wal(&self) -> Result<Option<WalProgress>, DbError> {
        let Engine::Sqlite { checkpointer, .. } = &self.engine else {
            return Ok(None);
        };
        let (_busy, frames, checkpointed): (i64, i64, i64) =
            sqlx::query_as("pragma wal_checkpoint(passive)").fetch_one(checkpointer).await?;
        Ok(Some(WalProgress { frames, checkpointed }))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sqlx::{Connection, SqliteConnection};

    use crate::store::open_store;

    /// Tables in the database file alone, read from a copy of it without its log.
    async fn tables_in_the_file(file: &Path) -> i64 {
        let copy = file.with_file_name("file-alone.db");
        std::fs::copy(file, &copy).unwrap();
        let mut conn = SqliteConnection::connect(&format!("sqlite://{}", copy.display())).await.unwrap();
        let (tables,): (i64,) = sqlx::query_as("select count(*) from sqlite_schema where type = 'table'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        std::fs::remove_file(&copy).unwrap();
        tables
    }

    #[tokio::test]
    async fn a_checkpoint_copies_every_committed_page_into_the_database_file() {
        // Arrange: the migrations' tables, committed to the log only.
        let dir = std::env::temp_dir().join(format!("tally-wal-{}", uuid::Uuid::new_v4()));
        let file = dir.join("tally.db");
        let store = open_store(&format!("sqlite://{}", file.display()), 4).await.unwrap();
        assert_eq!(tables_in_the_file(&file).await, 0, "before the checkpoint, the tables are in the log only");

        // Act
        let progress = store.checkpoint_wal().await.unwrap().expect("SQLite checkpoints");

        // Assert
        assert!(progress.frames > 0, "{progress:?}");
        assert_eq!(progress.checkpointed, progress.frames, "nothing else was writing: every frame copied");
        assert!(tables_in_the_file(&file).await > 10, "the migrated tables are in the database file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
