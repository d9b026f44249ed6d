//! `usage_record` and the rollup deltas written with it: the ingest hot path.
//!
//! One transaction per group commit: (1) insert every record with `on conflict do nothing
//! returning` its key, (2) one lookup of the content hashes of the keys not returned, to tell
//! duplicates from conflicts, (3) one sorted upsert of the rollup deltas of exactly the rows
//! inserted. Three statements per batch, whatever its size.
//!
//! Fast path: most groups hold no key seen before, and a plain insert (no `on conflict`, no
//! `returning`) costs about a third less. So a group first tries that, with the rollup upsert,
//! in its own transaction; a unique violation rolls it back whole and the group takes the
//! path above. After such a miss the next groups skip the attempt for a while, so a steady
//! stream of retries does not pay for the failed attempts.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgPool, Postgres, Transaction};

use crate::aggregate::{fold_records, RollupKey, RollupTotals};
use crate::domain::NewUsageRecord;
use crate::store::codec::{content_hash, stored_key, whole, StoredKey};
use crate::store::{DbError, InsertOutcome};

/// The insert statement; also used verbatim by the ingest benchmark's direct-SQL baseline.
pub const INSERT_RECORDS_SQL: &str = r#"
insert into usage_record (tenant_id, source, record_id, ts, function, region,
    cpu_cycles, memory_gb_seconds, invocations, event_type, content_hash, ingested_at)
select t.*, $12
from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
    $7::int8[], $8::numeric[], $9::int8[], $10::text[], $11::bytea[]) as t
on conflict do nothing
returning tenant_id, source, record_id"#;

const EXISTING_HASHES_SQL: &str = r#"
select r.tenant_id, r.source, r.record_id, r.content_hash
from usage_record r
join unnest($1::text[], $2::text[], $3::text[]) as k (tenant_id, source, record_id)
  on r.tenant_id = k.tenant_id and r.source = k.source and r.record_id = k.record_id"#;

const UPSERT_ROLLUPS_SQL: &str = r#"
insert into usage_rollup (tenant_id, bucket_start, function, region,
    cpu_cycles, memory_gb_seconds, invocations, records)
select * from unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[],
    $5::numeric[], $6::numeric[], $7::numeric[], $8::int8[])
on conflict (tenant_id, bucket_start, function, region) do update set
    cpu_cycles = usage_rollup.cpu_cycles + excluded.cpu_cycles,
    memory_gb_seconds = usage_rollup.memory_gb_seconds + excluded.memory_gb_seconds,
    invocations = usage_rollup.invocations + excluded.invocations,
    records = usage_rollup.records + excluded.records"#;

/// Binds the twelve parameters both insert statements share (`query` and `query_as` have
/// no common bind trait, hence a macro).
macro_rules! bind_columns {
    ($query:expr, $c:expr, $ingested_at:expr) => {
        $query
            .bind(&$c.tenant_ids)
            .bind(&$c.sources)
            .bind(&$c.record_ids)
            .bind(&$c.timestamps)
            .bind(&$c.functions)
            .bind(&$c.regions)
            .bind(&$c.cpu_cycles)
            .bind(&$c.memory_gb_seconds)
            .bind(&$c.invocations)
            .bind(&$c.event_types)
            .bind(&$c.content_hashes)
            .bind($ingested_at)
    };
}

/// The plain insert of the fast path: same rows as [`INSERT_RECORDS_SQL`].
const PLAIN_INSERT_SQL: &str = r#"
insert into usage_record (tenant_id, source, record_id, ts, function, region,
    cpu_cycles, memory_gb_seconds, invocations, event_type, content_hash, ingested_at)
select t.*, $12
from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
    $7::int8[], $8::numeric[], $9::int8[], $10::text[], $11::bytea[]) as t"#;

/// Groups that skip the fast path after it met a duplicate.
const FAST_PATH_COOLDOWN_GROUPS: u32 = 16;

#[tracing::instrument(skip_all, fields(records = records.len()))]
pub(in crate::store) async fn insert_usage(
    pool: &PgPool,
    cooldown: &AtomicU32,
    records: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    let waiting = cooldown.load(Ordering::Relaxed);
    if waiting > 0 {
        cooldown.store(waiting - 1, Ordering::Relaxed);
    } else {
        match insert_all_new(pool, records, ingested_at).await {
            Err(DbError::AlreadyExists) => cooldown.store(FAST_PATH_COOLDOWN_GROUPS, Ordering::Relaxed),
            done => return done,
        }
    }
    insert_checked(crate::store::open::begin_postgres(pool).await?, records, ingested_at).await
}

/// The fast path: succeeds only when no key exists yet (the transaction rolls back whole on a
/// unique violation, reported as [`DbError::AlreadyExists`]).
async fn insert_all_new(
    pool: &PgPool,
    records: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    let mut tx = crate::store::open::begin_postgres(pool).await?;
    let columns = RecordColumns::of(records)?;
    bind_columns!(sqlx::query(PLAIN_INSERT_SQL), columns, ingested_at).execute(&mut *tx).await?;
    let deltas: Vec<(RollupKey, RollupTotals)> = fold_records(records.iter().copied())?.into_iter().collect();
    upsert_rollup_rows(&mut tx, &deltas).await?;
    tx.commit().await?;
    Ok(vec![InsertOutcome::Inserted; records.len()])
}

/// The checked path, in `tx` (committed here): tells inserted rows from stored ones.
async fn insert_checked(
    mut tx: Transaction<'static, Postgres>,
    records: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    let inserted_keys = insert_records(&mut tx, records, ingested_at).await?;
    let all_inserted = inserted_keys.len() == records.len();
    let inserted: Vec<bool> =
        records.iter().map(|r| all_inserted || inserted_keys.contains(&stored_key(&r.key))).collect();
    let existing = existing_hashes(&mut tx, records, &inserted).await?;
    let deltas = fold_records(records.iter().zip(&inserted).filter(|(_, ins)| **ins).map(|(r, _)| *r))?;
    let deltas: Vec<(RollupKey, RollupTotals)> = deltas.into_iter().collect();
    upsert_rollup_rows(&mut tx, &deltas).await?;
    tx.commit().await?;
    records
        .iter()
        .zip(inserted)
        .map(|(r, ins)| match ins {
            true => Ok(InsertOutcome::Inserted),
            false => existing
                .get(&stored_key(&r.key))
                .map(|hash| InsertOutcome::Existing(*hash))
                .ok_or_else(|| DbError::Corrupt("a conflicting record vanished during the insert".into())),
        })
        .collect()
}

async fn insert_records(
    tx: &mut Transaction<'_, Postgres>,
    records: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<HashSet<StoredKey>, DbError> {
    let columns = RecordColumns::of(records)?;
    let rows: Vec<StoredKey> =
        bind_columns!(sqlx::query_as(INSERT_RECORDS_SQL), columns, ingested_at).fetch_all(&mut **tx).await?;
    Ok(rows.into_iter().collect())
}

async fn existing_hashes(
    tx: &mut Transaction<'_, Postgres>,
    records: &[&NewUsageRecord],
    inserted: &[bool],
) -> Result<HashMap<StoredKey, crate::domain::ContentHash>, DbError> {
    let missing: Vec<&NewUsageRecord> =
        records.iter().zip(inserted).filter(|(_, ins)| !**ins).map(|(r, _)| *r).collect();
    if missing.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String, String, Vec<u8>)> = sqlx::query_as(EXISTING_HASHES_SQL)
        .bind(missing.iter().map(|r| r.key.tenant_id.as_str()).collect::<Vec<_>>())
        .bind(missing.iter().map(|r| r.key.source.as_str()).collect::<Vec<_>>())
        .bind(missing.iter().map(|r| r.key.record_id.as_str()).collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter().map(|(t, s, id, hash)| Ok(((t, s, id), content_hash(&hash)?))).collect()
}

/// Adds deltas to rollup rows. `deltas` must be sorted by key: every writer then locks
/// rollup rows in the same order, so concurrent writers cannot deadlock.
pub(in crate::store) async fn upsert_rollup_rows(
    tx: &mut Transaction<'_, Postgres>,
    deltas: &[(RollupKey, RollupTotals)],
) -> Result<(), DbError> {
    if deltas.is_empty() {
        return Ok(());
    }
    sqlx::query(UPSERT_ROLLUPS_SQL)
        .bind(deltas.iter().map(|(k, _)| k.tenant_id.as_str()).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(k, _)| k.bucket_start).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(k, _)| k.function.as_str()).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(k, _)| k.region.as_str()).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(_, t)| t.quantities.cpu_cycles).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(_, t)| t.quantities.memory_gb_seconds).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(_, t)| t.quantities.invocations).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(_, t)| t.records).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records as column arrays, the shape `unnest` binds.
pub struct RecordColumns<'a> {
    pub tenant_ids: Vec<&'a str>,
    pub sources: Vec<&'a str>,
    pub record_ids: Vec<&'a str>,
    pub timestamps: Vec<DateTime<Utc>>,
    pub functions: Vec<&'a str>,
    pub regions: Vec<&'a str>,
    pub cpu_cycles: Vec<i64>,
    pub memory_gb_seconds: Vec<Decimal>,
    pub invocations: Vec<i64>,
    pub event_types: Vec<&'a str>,
    pub content_hashes: Vec<&'a [u8]>,
}

impl<'a> RecordColumns<'a> {
    /// Splits records into columns.
    ///
    /// # Errors
    /// [`DbError::Corrupt`] when an integer meter is not a whole `i64` (ingest validates this).
    pub fn of(records: &[&'a NewUsageRecord]) -> Result<Self, DbError> {
        Ok(Self {
            tenant_ids: records.iter().map(|r| r.key.tenant_id.as_str()).collect(),
            sources: records.iter().map(|r| r.key.source.as_str()).collect(),
            record_ids: records.iter().map(|r| r.key.record_id.as_str()).collect(),
            timestamps: records.iter().map(|r| r.timestamp).collect(),
            functions: records.iter().map(|r| r.function.as_str()).collect(),
            regions: records.iter().map(|r| r.region.as_str()).collect(),
            cpu_cycles: records.iter().map(|r| whole(r.quantities.cpu_cycles)).collect::<Result<_, _>>()?,
            memory_gb_seconds: records.iter().map(|r| r.quantities.memory_gb_seconds).collect(),
            invocations: records.iter().map(|r| whole(r.quantities.invocations)).collect::<Result<_, _>>()?,
            event_types: records.iter().map(|r| r.event_type.as_str()).collect(),
            content_hashes: records.iter().map(|r| &r.content_hash.0[..]).collect(),
        })
    }
}
