//! `tally store copy --verify`: reads every copied table on both sides (at once, table by
//! table, in batches) and compares what `summary.rs` computes of them. A clean comparison of a
//! finished copy removes the target's unverified-copy marker, so `tally serve` starts on it.

use super::batch::key_of;
use super::summary::{differences, TableSummary};
use super::tables::{CopiedTable, COPIED_TABLES};
use crate::store::{DbError, Store};

/// The outcome of a verification.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Rows per table in the source and in the target.
    pub tables: Vec<(&'static str, u64, u64)>,
    /// Every difference found, one sentence each; empty when the copy is faithful.
    pub differences: Vec<String>,
    /// The target was an unverified copy and is now released for service.
    pub released: bool,
}

/// Compares `source` with `target`, and releases the target for service when they agree and
/// its copy is complete.
///
/// # Errors
/// When a database fails.
pub async fn verify_copy(
    source: &Store,
    target: &Store,
    batch_rows: usize,
    progress: &(dyn Fn(&'static str) + Sync),
) -> Result<Verification, DbError> {
    let mut verification = Verification { tables: Vec::new(), differences: Vec::new(), released: false };
    // Both sides' rollups whole in their rows (PostgreSQL keeps recent deltas pending), so
    // comparing the rows compares what reads answer.
    source.fold_pending_rollups().await?;
    target.fold_pending_rollups().await?;
    let states = target.copy_state().await?;
    if let Some(unfinished) = states.iter().find(|s| !s.done) {
        let table = &unfinished.table_name;
        verification.differences.push(format!("the copy has not finished (table {table}): run it again to resume"));
    }
    for table in COPIED_TABLES {
        progress(table.name);
        let (ours, theirs) =
            tokio::try_join!(summarize(source, table, batch_rows), summarize(target, table, batch_rows))?;
        verification.tables.push((table.name, ours.rows, theirs.rows));
        verification.differences.extend(differences(table.name, &ours, &theirs));
    }
    if verification.differences.is_empty() && !states.is_empty() {
        target.clear_copy_marker().await?;
        verification.released = true;
    }
    Ok(verification)
}

/// One table of one side, read in batches.
async fn summarize(store: &Store, table: &CopiedTable, batch_rows: usize) -> Result<TableSummary, DbError> {
    let limit = batch_rows.max(1);
    let mut summary = TableSummary::default();
    let mut after = None;
    loop {
        let rows = store.read_batch(table, after.as_deref(), limit).await?;
        rows.iter().for_each(|row| summary.add(table, row));
        match rows.last() {
            Some(last) if rows.len() == limit => after = Some(key_of(table, last)),
            _ => return Ok(summary),
        }
    }
}
