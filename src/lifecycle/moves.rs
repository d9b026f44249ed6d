//! The command line of a store's life beyond one database: `tally store copy` (moving it) and
//! `tally backup` (a copy of the embedded SQLite file). Opens the stores, draws progress on a
//! terminal, and returns the lines `cli` prints; the work itself is the store's.
//!
//! Stage: wiring, beside `cli` (which alone calls it).

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context;

use crate::store::{copy_store, open_store, verify_copy, CopyError, CopyOptions, Store};

/// What a command printed, and whether it failed after printing.
pub struct Outcome {
    pub lines: Vec<String>,
    pub failure: Option<String>,
}

/// `tally store copy --to URL [--verify]`: copies (or resumes copying) the store at
/// `source_url` into `to`, then, with `verify`, compares both sides.
///
/// # Errors
/// When a store cannot be opened or the copy cannot start; differences are an [`Outcome`]
/// failure, after their lines.
pub async fn store_copy(source_url: &str, to: &str, verify: bool, batch_rows: usize) -> anyhow::Result<Outcome> {
    let (source_label, target_label) = (redacted(source_url), redacted(to));
    anyhow::ensure!(source_label != target_label, "--to names the configured store itself");
    let source = open_store(source_url, 4).await.context("Failed to open the source store")?;
    let target = open_store(to, 4).await.context("Failed to open (and migrate) the target store")?;
    let mut outcome = Outcome { lines: Vec::new(), failure: None };
    let shown = std::io::stderr().is_terminal();
    let bar = crate::progress::bar(0, "copying", "rows", shown);
    let progress = |p: crate::store::CopyProgress| {
        bar.set_length(p.total);
        bar.set_position(p.rows);
        bar.set_message(p.table);
    };
    let options = CopyOptions { batch_rows, ..CopyOptions::default() };
    match copy_store(&source, &source_label, &target, &options, &progress).await {
        Ok(report) => {
            bar.finish_and_clear();
            let how = match (report.resumed, report.batches) {
                (true, 0) => "the copy was already complete: ",
                (true, _) => "resumed an interrupted copy: ",
                (false, _) => "",
            };
            outcome.lines.push(format!("{how}wrote {} rows in {} batches", report.rows_written, report.batches));
            if !verify {
                outcome.lines.extend(report.tables.iter().map(|(table, rows)| format!("{table}\t{rows}")));
            }
        }
        // Only a target with no copy of its own is refused for holding data.
        Err(CopyError::TargetNotEmpty(_)) if verify => {
            bar.finish_and_clear();
            outcome.lines.push(format!("{target_label} holds data and no copy into it is under way: comparing only"));
        }
        Err(error) => return Err(error.into()),
    }
    if verify {
        verify_both(&source, &target, batch_rows, shown, &mut outcome).await?;
    } else {
        outcome.lines.push(format!(
            "now run `tally store copy --to {target_label} --verify`: the target serves nothing until it is verified"
        ));
    }
    Ok(outcome)
}

/// The `--verify` half: a line per table, then every difference.
async fn verify_both(
    source: &Store,
    target: &Store,
    batch_rows: usize,
    shown: bool,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let bar = crate::progress::bar(crate::store::COPIED_TABLES.len() as u64, "verifying", "tables", shown);
    let progress = |table: &'static str| {
        bar.inc(1);
        bar.set_message(table);
    };
    let verification = verify_copy(source, target, batch_rows, &progress).await.context("Failed to verify the copy")?;
    bar.finish_and_clear();
    outcome.lines.push("table\tsource rows\ttarget rows".to_owned());
    outcome.lines.extend(verification.tables.iter().map(|(t, s, d)| format!("{t}\t{s}\t{d}")));
    outcome.lines.extend(verification.differences.iter().map(|d| format!("DIFFERENCE\t{d}")));
    if !verification.differences.is_empty() {
        outcome.failure =
            Some(format!("{} difference(s) between the source and the target", verification.differences.len()));
    } else if verification.released {
        outcome.lines.push("verified: no differences; the target is released for service".to_owned());
    } else {
        outcome.lines.push("verified: no differences".to_owned());
    }
    Ok(())
}

/// `tally backup FILE`.
///
/// # Errors
/// On PostgreSQL, or when the backup cannot be written or checked.
pub async fn backup(database_url: &str, file: &Path) -> anyhow::Result<Vec<String>> {
    let store = open_store(database_url, 1).await?;
    let report = store.backup_into(file).await?;
    Ok(vec![
        format!("backed up {} ({} bytes) to {}", redacted(database_url), report.bytes, file.display()),
        format!(
            "tenants {}, usage records {}, invoices {}; integrity check ok",
            report.tenants, report.usage_records, report.invoices
        ),
    ])
}

/// A database URL without its password, fit for output and the target's bookkeeping.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => format!("{}@{host}", user.split_once(':').map_or(user, |(name, _)| name)),
        None => authority.to_owned(),
    };
    match path {
        Some(path) => format!("{scheme}://{authority}/{path}"),
        None => format!("{scheme}://{authority}"),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn a_password_never_reaches_the_output() {
        assert_eq!(redacted("postgres://tally:s3cret@db:5432/tally"), "postgres://tally@db:5432/tally");
        assert_eq!(redacted("postgres://postgres@127.0.0.1:5432/x"), "postgres://postgres@127.0.0.1:5432/x");
        assert_eq!(redacted("sqlite://tally-data/tally.db"), "sqlite://tally-data/tally.db");
    }
}
