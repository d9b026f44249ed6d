//! `usage_record` and the rollup deltas written with it, inside one `BEGIN IMMEDIATE`.
//!
//! Multi-row inserts (`on conflict do nothing returning` the key) keep statements few; the
//! rollups are read, summed in Rust and written back (safe: this is the only writer).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, Transaction};

use crate::aggregate::{fold_records, RollupKey, RollupTotals};
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
    let mut outcomes = Vec::with_capacity(records.len());
    let mut inserted = Vec::with_capacity(records.len());
    for record in records {
        let key = stored_key(&record.key);
        if inserted_keys.contains(&key) {
            outcomes.push(InsertOutcome::Inserted);
            inserted.push(*record);
        } else {
            outcomes.push(InsertOutcome::Existing(existing_hash(tx, &key).await?));
        }
    }
    for (key, delta) in fold_records(inserted)? {
        add_to_rollup(tx, &key, &delta).await?;
    }
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

async fn existing_hash(tx: &mut Transaction<'_, Sqlite>, key: &StoredKey) -> Result<ContentHash, DbError> {
    let (hash,): (Vec<u8>,) =
        sqlx::query_as("select content_hash from usage_record where tenant_id = $1 and source = $2 and record_id = $3")
            .bind(&key.0)
            .bind(&key.1)
            .bind(&key.2)
            .fetch_one(&mut **tx)
            .await?;
    content_hash(&hash)
}

/// Reads the row, adds in Rust, writes the sum: SQL `+` would go through floating point.
pub(in crate::store) async fn add_to_rollup(
    tx: &mut Transaction<'_, Sqlite>,
    key: &RollupKey,
    delta: &RollupTotals,
) -> Result<(), DbError> {
    let current = rollup_totals(tx, key).await?.unwrap_or_default();
    let sum = current.checked_add(delta)?;
    if sum.records == 0 {
        // Every record of the bucket was voided or moved by corrections: drop the row, as a
        // rebuild would.
        let delete = "delete from usage_rollup \
            where tenant_id = $1 and bucket_start = $2 and function = $3 and region = $4";
        bind_rollup_key!(sqlx::query(delete), key).execute(&mut **tx).await?;
        return Ok(());
    }
    let upsert = r#"insert into usage_rollup (tenant_id, bucket_start, function, region,
            cpu_cycles, memory_gb_seconds, invocations, records)
        values ($1, $2, $3, $4, $5, $6, $7, $8)
        on conflict (tenant_id, bucket_start, function, region) do update set
            cpu_cycles = excluded.cpu_cycles, memory_gb_seconds = excluded.memory_gb_seconds,
            invocations = excluded.invocations, records = excluded.records"#;
    bind_rollup_key!(sqlx::query(upsert), key)
        .bind(Dec(sum.quantities.cpu_cycles))
        .bind(Dec(sum.quantities.memory_gb_seconds))
        .bind(Dec(sum.quantities.invocations))
        .bind(sum.records)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One rollup row's totals, inside the writer's transaction.
async fn rollup_totals(tx: &mut Transaction<'_, Sqlite>, key: &RollupKey) -> Result<Option<RollupTotals>, DbError> {
    let sql = format!(
        "select {COLUMNS} from usage_rollup where tenant_id = $1 and bucket_start = $2 and function = $3 and region = $4"
    );
    let row: Option<RollupRow> = bind_rollup_key!(sqlx::query_as(&sql), key).fetch_optional(&mut **tx).await?;
    Ok(row.map(|r| r.totals()))
}
