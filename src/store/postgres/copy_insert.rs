//! The fast path of the write: the group's new records streamed with `COPY`, rollup deltas
//! folded in Rust from exactly those records. Right only when no record meets a stored key in
//! its own month: such a record makes that partition's primary key refuse the `COPY`, which
//! rolls the transaction back whole ([`DbError::AlreadyExists`]; `usage.rs` then tries again).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use foldhash::fast::RandomState;
use sqlx::{Postgres, Transaction};

use super::copy_binary::{copy_rows, COPY_RECORDS_SQL};
use super::usage::{add_rollup_deltas, insert_new_records};
use crate::aggregate::{fold_records, RollupKey, RollupTotals};
use crate::domain::{ContentHash, NewUsageRecord};
use crate::store::codec::StoredKey;
use crate::store::{DbError, InsertOutcome};

/// Groups with fewer new records go in with one plain `insert … select from unnest` instead:
/// `COPY` takes two round trips (start, then data and end) and sets up partition routing per
/// statement, which a group of a few single-record requests does not earn back; the insert
/// fails whole on a stored key just as `COPY` does.
pub(super) const COPY_FROM_RECORDS: usize = 64;

/// A group's `COPY` payload and rollup deltas, as if none of its keys were stored: built while
/// the group's prelude runs in PostgreSQL (`usage.rs`), used when the prelude knows no key.
pub(super) struct AllNew {
    rows: Vec<u8>,
    deltas: Vec<(RollupKey, RollupTotals)>,
}

impl AllNew {
    /// `None` for a group too small to be copied (its insert is built when it is sent).
    pub(super) fn encode(records: &[&NewUsageRecord], ingested_at: DateTime<Utc>) -> Option<Result<Self, DbError>> {
        (records.len() >= COPY_FROM_RECORDS).then(|| {
            Ok(Self {
                rows: copy_rows(records, ingested_at)?,
                deltas: fold_records(records.iter().copied())?.into_iter().collect(),
            })
        })
    }
}

/// Inserts, in `tx` (committed here), every record whose key is not in `known` (keys already
/// stored, with their hashes), and adds them to the rollups. Known records answer
/// [`InsertOutcome::Existing`] with the stored hash. `all_new` is the group encoded ahead; it
/// serves only when `known` is empty.
pub(super) async fn copy_new(
    mut tx: Transaction<'_, Postgres>,
    records: &[&NewUsageRecord],
    known: &HashMap<StoredKey, ContentHash>,
    all_new: Option<AllNew>,
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    if let (true, Some(AllNew { rows, deltas })) = (known.is_empty(), all_new) {
        send_copy(&mut tx, COPY_RECORDS_SQL, rows).await?;
        add_rollup_deltas(&mut tx, &deltas).await?;
        tx.commit().await?;
        return Ok(vec![InsertOutcome::Inserted; records.len()]);
    }
    // Most groups know no key: then skip looking. Else the known keys are borrowed, so that no
    // key is built per record to look it up.
    let stored: Vec<Option<ContentHash>> = match known.is_empty() {
        true => vec![None; records.len()],
        false => {
            let known: HashMap<(&str, &str, &str), ContentHash, RandomState> =
                known.iter().map(|((t, s, id), hash)| ((t.as_str(), s.as_str(), id.as_str()), *hash)).collect();
            records
                .iter()
                .map(|r| {
                    known.get(&(r.key.tenant_id.as_str(), r.key.source.as_str(), r.key.record_id.as_str())).copied()
                })
                .collect()
        }
    };
    let new: Vec<&NewUsageRecord> =
        records.iter().zip(&stored).filter(|(_, hash)| hash.is_none()).map(|(r, _)| *r).collect();
    if !new.is_empty() {
        if new.len() >= COPY_FROM_RECORDS {
            send_copy(&mut tx, COPY_RECORDS_SQL, copy_rows(&new, ingested_at)?).await?;
        } else {
            insert_new_records(&mut tx, &new, ingested_at).await?;
        }
        let deltas: Vec<(RollupKey, RollupTotals)> = fold_records(new.iter().copied())?.into_iter().collect();
        add_rollup_deltas(&mut tx, &deltas).await?;
    }
    tx.commit().await?;
    Ok(stored.into_iter().map(|hash| hash.map_or(InsertOutcome::Inserted, InsertOutcome::Existing)).collect())
}

/// Sends a finished `COPY … from stdin` stream (`statement` names the table and the format)
/// in the caller's transaction: the two round trips every `COPY` of the write path takes.
///
/// # Errors
/// A store failure, or PostgreSQL refusing the stream.
pub(in crate::store) async fn send_copy(
    tx: &mut Transaction<'_, Postgres>,
    statement: &str,
    stream: Vec<u8>,
) -> Result<(), DbError> {
    let mut copy = tx.copy_in_raw(statement).await?;
    copy.send(stream).await?;
    copy.finish().await?;
    Ok(())
}
