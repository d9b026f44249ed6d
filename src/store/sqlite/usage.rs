//! `usage_record` and the rollup deltas written with it, inside one `BEGIN IMMEDIATE`.
//!
//! Most groups hold only new keys, so records first go in without looking anything up: plain
//! multi-row inserts inside a savepoint, counting the rows each one adds. When every row went
//! in, every record was inserted and no key needs reading back. When a count falls short, some
//! key was already stored: the savepoint is rolled back and the group takes the careful path —
//! read the stored hashes of the keys that exist, insert the rest. Either way exactly the
//! inserted records go into the rollup deltas (`rollups.rs`), folded in memory per group.
//!
//! Durability is the store's `synchronous=FULL` in WAL mode: a group is acknowledged after its
//! commit is on disk, so a crash loses nothing acknowledged.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection, Transaction};

use super::chunks::statement_chunks;
use super::rollups::add_deltas;
use crate::aggregate::{fold_records, RollupKey, RollupTotals};
use crate::domain::{ContentHash, NewUsageRecord};
use crate::store::codec::{content_hash, stored_key, whole, Dec, Instant, StoredKey};
use crate::store::{DbError, InsertOutcome};

#[tracing::instrument(skip_all, fields(records = records.len()))]
pub(in crate::store) async fn insert_usage(
    tx: &mut Transaction<'_, Sqlite>,
    records: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    let (outcomes, inserted) = if insert_all_new(tx, records, ingested_at).await? {
        (vec![InsertOutcome::Inserted; records.len()], records.to_vec())
    } else {
        insert_new_keys(tx, records, ingested_at).await?
    };
    let deltas: Vec<(RollupKey, RollupTotals)> = fold_records(inserted)?.into_iter().collect();
    add_deltas(tx, &deltas).await?;
    Ok(outcomes)
}

/// Inserts every record if no key is stored yet (`true`); otherwise changes nothing (`false`).
/// Stops at the first statement that adds fewer rows than it carries.
async fn insert_all_new(
    tx: &mut Transaction<'_, Sqlite>,
    records: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let mut attempt = tx.begin().await?;
    for chunk in statement_chunks(records) {
        if insert_rows(&mut attempt, chunk, ingested_at).await? != chunk.len() as u64 {
            attempt.rollback().await?;
            return Ok(false);
        }
    }
    attempt.commit().await?;
    Ok(true)
}

/// Reads the stored hashes of the keys that exist and inserts the other records; returns the
/// outcomes in the order given and the inserted records.
async fn insert_new_keys<'r>(
    tx: &mut Transaction<'_, Sqlite>,
    records: &[&'r NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<(Vec<InsertOutcome>, Vec<&'r NewUsageRecord>), DbError> {
    let keys: Vec<StoredKey> = records.iter().map(|r| stored_key(&r.key)).collect();
    let mut hashes = HashMap::new();
    for chunk in statement_chunks(&keys) {
        hashes.extend(existing_hashes(tx, chunk).await?);
    }
    let mut outcomes = Vec::with_capacity(records.len());
    let mut inserted = Vec::with_capacity(records.len());
    for (record, key) in records.iter().zip(&keys) {
        match hashes.get(key) {
            Some(hash) => outcomes.push(InsertOutcome::Existing(*hash)),
            None => {
                outcomes.push(InsertOutcome::Inserted);
                inserted.push(*record);
            }
        }
    }
    for chunk in statement_chunks(&inserted) {
        // The one writer's transaction holds: a key read as absent is still absent.
        if insert_rows(tx, chunk, ingested_at).await? != chunk.len() as u64 {
            return Err(DbError::Corrupt("a record appeared inside the writer's transaction".into()));
        }
    }
    Ok((outcomes, inserted))
}

/// One multi-row insert that skips stored keys; the value is how many rows it added.
async fn insert_rows(
    conn: &mut SqliteConnection,
    chunk: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<u64, DbError> {
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
    query.push(" on conflict do nothing");
    Ok(query.build().execute(conn).await?.rows_affected())
}

/// The stored content hashes of those of `keys` that exist.
async fn existing_hashes(
    conn: &mut SqliteConnection,
    keys: &[StoredKey],
) -> Result<HashMap<StoredKey, ContentHash>, DbError> {
    let mut select = QueryBuilder::<Sqlite>::new(
        "select tenant_id, source, record_id, content_hash from usage_record where (tenant_id, source, record_id) in (",
    );
    select.push_values(keys, |mut row, key| {
        row.push_bind(key.0.as_str()).push_bind(key.1.as_str()).push_bind(key.2.as_str());
    });
    select.push(")");
    let rows: Vec<(String, String, String, Vec<u8>)> = select.build_query_as().fetch_all(conn).await?;
    rows.into_iter().map(|(t, s, r, hash)| Ok(((t, s, r), content_hash(&hash)?))).collect()
}
