//! The copy's bookkeeping on the target (`store_copy`, one row per copied table): where each
//! table's copy stands, and — while any row exists — the marker that this database is an
//! unverified copy, which `tally serve` refuses to start on.

use chrono::{DateTime, Utc};

use super::tables::COPIED_TABLES;
use super::value::Value;
use crate::store::codec::{corrupt_json, Instant};
use crate::store::engine::{execute_in_own_tx, execute_on_tx, on_read, Engine, Tx};
use crate::store::{DbError, Store};

/// Where the copy of one table stands.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct TableState {
    pub table_name: String,
    pub source: String,
    /// The key of the last row written, as JSON (`None` before the first batch).
    pub after_key: Option<String>,
    pub rows_copied: i64,
    pub done: bool,
}

impl TableState {
    /// The key of the last row written.
    pub(super) fn after(&self) -> Result<Option<Vec<Value>>, DbError> {
        self.after_key.as_deref().map(serde_json::from_str).transpose().map_err(corrupt_json)
    }
}

/// How a written batch moves its table's cursor.
pub(super) struct CursorUpdate {
    pub after: Option<Vec<Value>>,
    pub rows: u64,
    pub done: bool,
    pub at: DateTime<Utc>,
}

impl CursorUpdate {
    /// Moves the cursor inside the batch's transaction.
    pub(super) async fn write(self, tx: &mut Tx, table: &str) -> Result<(), DbError> {
        let after = self.after.as_ref().map(serde_json::to_string).transpose().map_err(corrupt_json)?;
        let sql = r#"update store_copy
            set after_key = $2, rows_copied = rows_copied + $3, done = $4, updated_at = $5
            where table_name = $1"#;
        let rows = i64::try_from(self.rows).unwrap_or(i64::MAX);
        execute_on_tx!(
            tx,
            sqlx::query(sql).bind(table).bind(&after).bind(rows).bind(self.done).bind(Instant(self.at))
        )?;
        Ok(())
    }
}

impl Store {
    /// The source of an unverified `tally store copy` into this database, if one is under way
    /// (or was interrupted, or failed its verification).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn unverified_copy(&self) -> Result<Option<String>, DbError> {
        let sql = "select source from store_copy order by table_name limit 1";
        Ok(on_read!(self.read(), |db| sqlx::query_scalar(sql).fetch_optional(db).await)?)
    }

    /// Refuses a database that is an unverified copy: a service writing to it before the copy
    /// is verified would mix its rows with the copied ones (and send the copied outbox again
    /// if the move is abandoned), so nothing serves it until `--verify` releases it.
    ///
    /// # Errors
    /// When it is such a copy, or the database fails.
    pub async fn refuse_unverified_copy(&self) -> anyhow::Result<()> {
        if let Some(source) = self.unverified_copy().await? {
            anyhow::bail!(
                "this database is an unfinished or unverified `tally store copy` of {source}; finish it with \
                 `tally store copy --to <this database> --verify` (run with the source configured) before serving it"
            );
        }
        Ok(())
    }

    /// Every table's copy state (empty when no copy is under way).
    pub(super) async fn copy_state(&self) -> Result<Vec<TableState>, DbError> {
        let sql = "select table_name, source, after_key, rows_copied, done from store_copy order by table_name";
        Ok(on_read!(self.read(), |db| sqlx::query_as(sql).fetch_all(db).await)?)
    }

    /// Marks this database as the target of a copy from `source`: one row per copied table,
    /// written at once, so the marker exists before the first row of data.
    pub(super) async fn start_copy(&self, source: &str, now: DateTime<Utc>) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        let sql = r#"insert into store_copy (table_name, source, started_at, updated_at)
            values ($1, $2, $3, $3)"#;
        for table in COPIED_TABLES {
            execute_on_tx!(&mut tx, sqlx::query(sql).bind(table.name).bind(source).bind(Instant(now)))?;
        }
        tx.commit().await
    }

    /// Removes the marker: the copy was verified.
    pub(super) async fn clear_copy_marker(&self) -> Result<(), DbError> {
        execute_in_own_tx!(self, sqlx::query("delete from store_copy"));
        Ok(())
    }

    /// The first copied table that holds a row, if any.
    pub(super) async fn first_table_with_rows(&self) -> Result<Option<&'static str>, DbError> {
        for table in COPIED_TABLES {
            let sql = format!("select 1 from {} limit 1", table.name);
            let found: Option<i32> = on_read!(self.read(), |db| sqlx::query_scalar(&sql).fetch_optional(db).await)?;
            if found.is_some() {
                return Ok(Some(table.name));
            }
        }
        Ok(None)
    }

    /// How many rows a table holds.
    pub(super) async fn count_rows(&self, table: &str) -> Result<u64, DbError> {
        let sql = format!("select count(*) from {table}");
        let count: i64 = on_read!(self.read(), |db| sqlx::query_scalar(&sql).fetch_one(db).await)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Moves identity sequences past the copied rows, so the next row the service appends
    /// continues the copied numbering. SQLite's `autoincrement` already did when the rows were
    /// inserted with their ids.
    pub(super) async fn advance_sequences(&self) -> Result<(), DbError> {
        let Engine::Postgres { .. } = &self.engine else { return Ok(()) };
        let mut tx = self.begin().await?;
        for table in COPIED_TABLES {
            let Some(column) = table.identity else { continue };
            let sql = format!(
                "select setval(pg_get_serial_sequence('{0}', '{column}'), max({column})) from {0} having count(*) > 0",
                table.name
            );
            execute_on_tx!(&mut tx, sqlx::query(&sql))?;
        }
        tx.commit().await
    }
}
