//! `usage_record` and the rollup deltas written with it, inside one `BEGIN IMMEDIATE`.
//!
//! Multi-row statements keep round trips few: records go in with `on conflict do nothing
//! returning` the key; the group's rollup deltas, folded in memory, are read back, summed in
//! Rust and upserted a chunk at a time (safe: this is the only writer). Durability is the
//! store's `synchronous=FULL` in WAL mode: a group is acknowledged after its commit is on disk,
//! so a crash loses nothing acknowledged.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, Transaction};

use crate::aggregate::{fold_records, Rollup, RollupKey, RollupTotals};
use crate::domain::{ContentHash, NewUsageRecord};
use crate::store::codec::{content_hash, stored_key, whole, Dec, Instant, StoredKey};
use crate::store::rollups::{RollupRow, COLUMNS};
use crate::store::{DbError, InsertOutcome};

/// 12 bound values per row; stays well under SQLite's 32 766 variable limit.
const ROWS_PER_STATEMENT: usize = 1_000;

/// Binds a rollup row's key as `$1`–`$4`, in the order of the rollup table's primary key
/// (`tenant_id`, `bucket_start`, `function`, `region`).
macro_rules! bind_rollup_key {
    ($query:expr, $key:expr) => {
        $query
            .bind($key.tenant_id.as_str())
            .bind(Instant($key.bucket_start))
            .bind($key.function.as_str())
            .bind($key.region.as_str())
    };
}

#[tracing::instrument(skip_all, fields(records = records.len()))]
pub(in crate::store) async fn insert_usage(
    tx: &mut Transaction<'_, Sqlite>,
    records: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    let mut inserted_keys = HashSet::with_capacity(records.len());
    for chunk in records.chunks(ROWS_PER_STATEMENT) {
        inserted_keys.extend(insert_chunk(tx, chunk, ingested_at).await?);
    }
    let existing: Vec<StoredKey> =
        records.iter().map(|r| stored_key(&r.key)).filter(|key| !inserted_keys.contains(key)).collect();
    let mut hashes = HashMap::with_capacity(existing.len());
    for chunk in existing.chunks(ROWS_PER_STATEMENT) {
        hashes.extend(existing_hashes(tx, chunk).await?);
    }
    let mut outcomes = Vec::with_capacity(records.len());
    let mut inserted = Vec::with_capacity(records.len());
    for record in records {
        let key = stored_key(&record.key);
        if inserted_keys.contains(&key) {
            outcomes.push(InsertOutcome::Inserted);
            inserted.push(*record);
        } else {
            let hash = hashes.get(&key).ok_or_else(|| DbError::Corrupt("a conflicting record vanished".into()))?;
            outcomes.push(InsertOutcome::Existing(*hash));
        }
    }
    let deltas: Vec<_> = fold_records(inserted)?.into_iter().collect();
    add_deltas(tx, &deltas).await?;
    Ok(outcomes)
}

async fn insert_chunk(
    tx: &mut Transaction<'_, Sqlite>,
    chunk: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<Vec<StoredKey>, DbError> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "insert into usage_record (tenant_id, source, record_id, ts, function, region, \
         cpu_cycles, memory_gb_seconds, invocations, event_type, content_hash, ingested_at) ",
    );
    let whole_meters: Vec<(i64, i64)> = chunk
        .iter()
        .map(|r| Ok((whole(r.quantities.cpu_cycles)?, whole(r.quantities.invocations)?)))
        .collect::<Result<_, DbError>>()?;
    query.push_values(chunk.iter().zip(whole_meters), |mut row, (r, (cpu_cycles, invocations))| {
        row.push_bind(r.key.tenant_id.as_str())
            .push_bind(r.key.source.as_str())
            .push_bind(r.key.record_id.as_str())
            .push_bind(Instant(r.timestamp))
            .push_bind(r.function.as_str())
            .push_bind(r.region.as_str())
            .push_bind(cpu_cycles)
            .push_bind(Dec(r.quantities.memory_gb_seconds))
            .push_bind(invocations)
            .push_bind(r.event_type.as_str())
            .push_bind(&r.content_hash.0[..])
            .push_bind(Instant(ingested_at));
    });
    query.push(" on conflict do nothing returning tenant_id, source, record_id");
    Ok(query.build_query_as::<StoredKey>().fetch_all(&mut **tx).await?)
}

/// The stored content hashes of records that were already there, by key.
async fn existing_hashes(
    tx: &mut Transaction<'_, Sqlite>,
    keys: &[StoredKey],
) -> Result<HashMap<StoredKey, ContentHash>, DbError> {
    let mut select = QueryBuilder::<Sqlite>::new(
        "select tenant_id, source, record_id, content_hash from usage_record where (tenant_id, source, record_id) in (",
    );
    select.push_values(keys, |mut row, key| {
        row.push_bind(key.0.as_str()).push_bind(key.1.as_str()).push_bind(key.2.as_str());
    });
    select.push(")");
    let rows: Vec<(String, String, String, Vec<u8>)> = select.build_query_as().fetch_all(&mut **tx).await?;
    rows.into_iter().map(|(t, s, r, hash)| Ok(((t, s, r), content_hash(&hash)?))).collect()
}

/// Adds `deltas` to the rollups: reads the rows a chunk of deltas touches in one statement,
/// adds in Rust (SQL `+` would go through floating point) and writes the sums back in one
/// multi-row upsert. Safe: the one writer's transaction excludes every other writer.
pub(in crate::store) async fn add_deltas(
    tx: &mut Transaction<'_, Sqlite>,
    deltas: &[(RollupKey, RollupTotals)],
) -> Result<(), DbError> {
    for chunk in deltas.chunks(ROWS_PER_STATEMENT) {
        let current = rollup_totals(tx, chunk).await?;
        let mut sums = Vec::with_capacity(chunk.len());
        let mut emptied = Vec::new();
        for (key, delta) in chunk {
            let sum = current.get(key).copied().unwrap_or_default().checked_add(delta)?;
            // Every record of the bucket voided or moved by corrections: drop the row, as a
            // rebuild would.
            if sum.records == 0 {
                emptied.push(key);
            } else {
                sums.push((key, sum));
            }
        }
        upsert_rollups(tx, &sums).await?;
        for key in emptied {
            let delete = "delete from usage_rollup \
                where tenant_id = $1 and bucket_start = $2 and function = $3 and region = $4";
            bind_rollup_key!(sqlx::query(delete), key).execute(&mut **tx).await?;
        }
    }
    Ok(())
}

/// Writes rollup rows as given (their new totals).
async fn upsert_rollups(tx: &mut Transaction<'_, Sqlite>, rows: &[(&RollupKey, RollupTotals)]) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut upsert = QueryBuilder::<Sqlite>::new(
        "insert into usage_rollup (tenant_id, bucket_start, function, region, \
            cpu_cycles, memory_gb_seconds, invocations, records) ",
    );
    upsert.push_values(rows, |mut row, (key, sum)| {
        row.push_bind(key.tenant_id.as_str())
            .push_bind(Instant(key.bucket_start))
            .push_bind(key.function.as_str())
            .push_bind(key.region.as_str())
            .push_bind(Dec(sum.quantities.cpu_cycles))
            .push_bind(Dec(sum.quantities.memory_gb_seconds))
            .push_bind(Dec(sum.quantities.invocations))
            .push_bind(sum.records);
    });
    upsert.push(
        " on conflict (tenant_id, bucket_start, function, region) do update set \
            cpu_cycles = excluded.cpu_cycles, memory_gb_seconds = excluded.memory_gb_seconds, \
            invocations = excluded.invocations, records = excluded.records",
    );
    upsert.build().execute(&mut **tx).await?;
    Ok(())
}

/// The current totals of the rollup rows of `deltas` that exist, inside the writer's
/// transaction.
async fn rollup_totals(
    tx: &mut Transaction<'_, Sqlite>,
    deltas: &[(RollupKey, RollupTotals)],
) -> Result<HashMap<RollupKey, RollupTotals>, DbError> {
    let mut select = QueryBuilder::<Sqlite>::new(format!(
        "select {COLUMNS} from usage_rollup where (tenant_id, bucket_start, function, region) in ("
    ));
    select.push_values(deltas, |mut row, (key, _)| {
        row.push_bind(key.tenant_id.as_str())
            .push_bind(Instant(key.bucket_start))
            .push_bind(key.function.as_str())
            .push_bind(key.region.as_str());
    });
    select.push(")");
    let rows: Vec<RollupRow> = select.build_query_as().fetch_all(&mut **tx).await?;
    rows.into_iter().map(|r| Rollup::try_from(r).map(|r| (r.key, r.totals))).collect()
}
