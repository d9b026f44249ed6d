//! `tally backup FILE` on the embedded SQLite store: `VACUUM INTO` a new file, a consistent
//! snapshot taken in one read transaction while the service keeps writing (WAL mode lets
//! readers and the writer proceed together), then checked by opening the copy. PostgreSQL
//! has its own tools (`pg_dump`, PITR; docs/operations.md).

use std::path::Path;

use anyhow::Context;
use sqlx::{Connection, SqliteConnection};

use super::engine::Engine;
use super::Store;

/// What a backup holds.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub bytes: u64,
    pub tenants: i64,
    pub usage_records: i64,
    pub invoices: i64,
}

impl Store {
    /// Writes a consistent copy of this SQLite database to `file` (which must not exist) and
    /// checks it opens whole.
    ///
    /// # Errors
    /// On PostgreSQL (use `pg_dump`), when `file` exists, or the copy fails or is damaged.
    #[tracing::instrument(skip_all, fields(file = %file.display()))]
    pub async fn backup_into(&self, file: &Path) -> anyhow::Result<BackupReport> {
        let Engine::Sqlite { reader, .. } = &self.engine else {
            anyhow::bail!(
                "tally backup copies the embedded SQLite database; on PostgreSQL use pg_dump or \
                 point-in-time recovery (docs/operations.md, \"Moving stores, backups and restore\")"
            );
        };
        anyhow::ensure!(!file.exists(), "{} already exists: a backup never overwrites a file", file.display());
        // Written under another name and renamed when whole: a backup interrupted half way
        // never lies at the name the operator restores from.
        let partial = file.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        let name = partial.to_str().context("the backup path is not valid UTF-8")?;
        sqlx::query("vacuum into $1").bind(name).execute(reader).await.context("Failed to copy the database")?;
        let report = check(&partial).await?;
        std::fs::rename(&partial, file)
            .with_context(|| format!("Failed to rename the backup to {}", file.display()))?;
        Ok(report)
    }
}

/// Opens a backup read-only: SQLite's integrity check, and what it holds.
async fn check(file: &Path) -> anyhow::Result<BackupReport> {
    let url = format!("sqlite://{}?mode=ro", file.display());
    let mut db = SqliteConnection::connect(&url).await.context("Failed to open the backup")?;
    let integrity: String = sqlx::query_scalar("pragma integrity_check").fetch_one(&mut db).await?;
    anyhow::ensure!(integrity == "ok", "the backup is damaged: {integrity}");
    let count =
        "select (select count(*) from tenant), (select count(*) from usage_record), (select count(*) from invoice)";
    let (tenants, usage_records, invoices): (i64, i64, i64) = sqlx::query_as(count).fetch_one(&mut db).await?;
    db.close().await?;
    let bytes = std::fs::metadata(file).context("Failed to read the backup's size")?.len();
    Ok(BackupReport { bytes, tenants, usage_records, invoices })
}
