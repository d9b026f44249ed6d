//! The fast path of the write: the group's new records streamed with `COPY`, rollup deltas
//! folded in Rust from exactly those records. Right only when no record meets a stored key in
//! its own month: such a record makes that partition's primary key refuse the `COPY`, which
//! rolls the transaction back whole ([`DbError::AlreadyExists`]; `usage.rs` then tries again).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::copy_text::{copy_rows, COPY_RECORDS_SQL};
use super::probe::ProbeWindow;
use super::usage::add_rollup_deltas;
use crate::aggregate::{fold_records, RollupKey, RollupTotals};
use crate::domain::{ContentHash, NewUsageRecord};
use crate::store::codec::{content_hash, stored_key, StoredKey};
use crate::store::partitions::next_month;
use crate::store::{DbError, InsertOutcome};

/// Inserts, in `tx` (committed here), every record whose key is not in `known` (keys already
/// stored, with their hashes), and adds them to the rollups. Known records answer
/// [`InsertOutcome::Existing`] with the stored hash.
pub(super) async fn copy_new(
    mut tx: Transaction<'static, Postgres>,
    records: &[&NewUsageRecord],
    known: &HashMap<StoredKey, ContentHash>,
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    // Most groups know no key: then skip building a key per record.
    let stored: Vec<Option<ContentHash>> = match known.is_empty() {
        true => vec![None; records.len()],
        false => records.iter().map(|r| known.get(&stored_key(&r.key)).copied()).collect(),
    };
    let new: Vec<&NewUsageRecord> =
        records.iter().zip(&stored).filter(|(_, hash)| hash.is_none()).map(|(r, _)| *r).collect();
    if !new.is_empty() {
        let rows = copy_rows(&new, ingested_at)?;
        let mut copy = tx.copy_in_raw(COPY_RECORDS_SQL).await?;
        copy.send(rows).await?;
        copy.finish().await?;
        let deltas: Vec<(RollupKey, RollupTotals)> = fold_records(new.iter().copied())?.into_iter().collect();
        add_rollup_deltas(&mut tx, &deltas).await?;
    }
    tx.commit().await?;
    Ok(stored.into_iter().map(|hash| hash.map_or(InsertOutcome::Inserted, InsertOutcome::Existing)).collect())
}

/// One primary-key probe per key, forced: as a plain join the planner may hash or sort a whole
/// partition for a group of a few thousand keys (measured: 130 ms for 2 000 keys against a
/// partition of 50 000 rows, against 35 ms for the probes), and `limit 1` keeps the subquery
/// from being flattened into such a join. Bounded by `ts` so only the group's months are read.
const OWN_MONTHS_SQL: &str = r#"
select k.tenant_id, k.source, k.record_id, r.content_hash
from unnest($1::text[], $2::text[], $3::text[]) as k (tenant_id, source, record_id)
cross join lateral (
    select r.content_hash from usage_record r
    where r.tenant_id = k.tenant_id and r.source = k.source and r.record_id = k.record_id
      and r.ts >= $4 and r.ts < $5
    limit 1) as r"#;

/// The range of `ts` the group's own months cover.
pub(super) fn own_months(window: &ProbeWindow) -> (DateTime<Utc>, DateTime<Utc>) {
    match (window.months.first(), window.months.last()) {
        (Some(first), Some(last)) => (*first, next_month(*last)),
        _ => (window.lookup.0, window.lookup.0),
    }
}

/// The records whose key is not in `known`.
pub(super) fn unknown<'a>(
    records: &[&'a NewUsageRecord],
    known: &HashMap<StoredKey, ContentHash>,
) -> Vec<&'a NewUsageRecord> {
    match known.is_empty() {
        true => records.to_vec(),
        false => records.iter().filter(|r| !known.contains_key(&stored_key(&r.key))).copied().collect(),
    }
}

/// The stored hashes of the keys of `records` not in `known` that lie in the group's own months
/// (those the probe leaves to the partitions' primary keys).
pub(super) async fn stored_in_own_months(
    tx: &mut Transaction<'_, Postgres>,
    records: &[&NewUsageRecord],
    known: &HashMap<StoredKey, ContentHash>,
    window: &ProbeWindow,
) -> Result<HashMap<StoredKey, ContentHash>, DbError> {
    let unknown = unknown(records, known);
    if unknown.is_empty() {
        return Ok(HashMap::new());
    }
    let (from, to) = own_months(window);
    let rows: Vec<(String, String, String, Vec<u8>)> = sqlx::query_as(OWN_MONTHS_SQL)
        .bind(unknown.iter().map(|r| r.key.tenant_id.as_str()).collect::<Vec<_>>())
        .bind(unknown.iter().map(|r| r.key.source.as_str()).collect::<Vec<_>>())
        .bind(unknown.iter().map(|r| r.key.record_id.as_str()).collect::<Vec<_>>())
        .bind(from)
        .bind(to)
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter().map(|(t, s, id, hash)| Ok(((t, s, id), content_hash(&hash)?))).collect()
}
