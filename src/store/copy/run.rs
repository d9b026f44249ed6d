//! `tally store copy`: every copied table from the source to the target in key-ordered
//! batches, each batch committed on the target with the cursor that records it, so a copy
//! stopped at any point (Ctrl-C, a crash, a lost connection) resumes where it stopped when run
//! again. While it runs, the next batch is read from the source as the last one is written.

use chrono::Utc;

use super::batch::key_of;
use super::state::{CursorUpdate, TableState};
use super::tables::{CopiedTable, COPIED_TABLES};
use crate::store::{DbError, Store};

/// How a copy runs.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Rows per batch (per target transaction); memory holds about two batches.
    pub batch_rows: usize,
    /// Stop, as an interruption would, after this many batches (tests resume from there).
    pub stop_after_batches: Option<u64>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self { batch_rows: 2_000, stop_after_batches: None }
    }
}

/// Where a running copy stands, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct CopyProgress {
    pub table: &'static str,
    /// Rows on the target so far, over all tables, and rows in the source.
    pub rows: u64,
    pub total: u64,
}

/// What a copy did.
#[derive(Debug, Clone)]
pub struct CopyReport {
    /// Rows on the target per table.
    pub tables: Vec<(&'static str, u64)>,
    /// Rows this run wrote, and in how many batches.
    pub rows_written: u64,
    pub batches: u64,
    /// It continued an earlier, interrupted copy.
    pub resumed: bool,
    /// Every table is copied (false when stopped by `stop_after_batches`).
    pub complete: bool,
}

/// Why a copy did not start.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "the target already holds data (table {0}) and no copy into it is under way: copy only into an empty database"
    )]
    TargetNotEmpty(&'static str),
    #[error("the target is being copied into from another source ({0}): finish or drop that copy first")]
    OtherSource(String),
    #[error("the source is itself an unverified copy (from {0}): verify that copy first")]
    SourceUnverified(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Copies `source` (described as `source_label` in the target's bookkeeping) into `target`,
/// or resumes the copy an earlier run left unfinished. `target` must be migrated (opening it
/// does that) and empty, or hold that earlier copy.
///
/// # Errors
/// [`CopyError`] when the target holds other data, or a database fails.
pub async fn copy_store(
    source: &Store,
    source_label: &str,
    target: &Store,
    options: &CopyOptions,
    progress: &(dyn Fn(CopyProgress) + Sync),
) -> Result<CopyReport, CopyError> {
    if let Some(origin) = source.unverified_copy().await? {
        return Err(CopyError::SourceUnverified(origin));
    }
    let mut states = target.copy_state().await?;
    let resumed = !states.is_empty();
    if let Some(other) = states.iter().find(|s| s.source != source_label) {
        return Err(CopyError::OtherSource(other.source.clone()));
    }
    if !resumed {
        if let Some(table) = target.first_table_with_rows().await? {
            return Err(CopyError::TargetNotEmpty(table));
        }
        target.start_copy(source_label, Utc::now()).await?;
        states = target.copy_state().await?;
    }
    // A PostgreSQL source keeps its latest rollup deltas pending (not a copied table): into
    // its rollup rows first, which are.
    source.fold_pending_rollups().await?;
    let mut total = 0;
    for table in COPIED_TABLES {
        total += source.count_rows(table.name).await?;
    }
    let mut run = Run { source, target, options, progress, total, rows: 0, rows_written: 0, batches: 0 };
    run.rows = states.iter().map(|s| u64::try_from(s.rows_copied).unwrap_or(0)).sum();
    let mut complete = true;
    for table in COPIED_TABLES {
        let state = states.iter().find(|s| s.table_name == table.name);
        let Some(state) = state.filter(|s| !s.done) else { continue };
        if !run.copy_table(table, state).await? {
            complete = false;
            break;
        }
    }
    if complete {
        target.advance_sequences().await?;
        // The hour level is derived, not copied: from the 15-minute rows just written.
        target.derive_rollup_hours().await?;
    }
    let states = target.copy_state().await?;
    let copied = |name: &str| states.iter().find(|s| s.table_name == name).map_or(0, |s| s.rows_copied);
    let tables = COPIED_TABLES.iter().map(|t| (t.name, u64::try_from(copied(t.name)).unwrap_or(0))).collect();
    Ok(CopyReport { tables, rows_written: run.rows_written, batches: run.batches, resumed, complete })
}

/// One copy in progress.
struct Run<'a> {
    source: &'a Store,
    target: &'a Store,
    options: &'a CopyOptions,
    progress: &'a (dyn Fn(CopyProgress) + Sync),
    total: u64,
    rows: u64,
    rows_written: u64,
    batches: u64,
}

impl Run<'_> {
    /// Copies the rest of one table; false when stopped before its end.
    async fn copy_table(&mut self, table: &'static CopiedTable, state: &TableState) -> Result<bool, DbError> {
        let limit = self.options.batch_rows.max(1);
        let mut after = state.after()?;
        let mut rows = self.source.read_batch(table, after.as_deref(), limit).await?;
        loop {
            let done = rows.len() < limit;
            let count = rows.len() as u64;
            if let Some(last) = rows.last() {
                after = Some(key_of(table, last));
            }
            let cursor = CursorUpdate { after: after.clone(), rows: count, done, at: Utc::now() };
            let read_next = async {
                if done {
                    return Ok(Vec::new());
                }
                self.source.read_batch(table, after.as_deref(), limit).await
            };
            let (written, next) = tokio::join!(self.target.write_batch(table, rows, cursor), read_next);
            written?;
            (self.rows, self.rows_written, self.batches) =
                (self.rows + count, self.rows_written + count, self.batches + 1);
            (self.progress)(CopyProgress { table: table.name, rows: self.rows, total: self.total.max(self.rows) });
            if done {
                return Ok(true);
            }
            if self.options.stop_after_batches.is_some_and(|stop| self.batches >= stop) {
                return Ok(false);
            }
            rows = next?;
        }
    }
}
