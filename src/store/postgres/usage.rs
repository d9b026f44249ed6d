//! `usage_record` and the rollup deltas written with it: the ingest hot path.
//!
//! The table is partitioned by month (`partitions.rs`); each partition's primary key catches a
//! key seen again in its month, and the group's keys are looked up in the other months the
//! accepted window reaches (`probe.rs`). One transaction per group commit: (1) the prelude
//! (`prelude.rs`: tenant-bucket locks and that lookup — one round trip, or two for a large
//! group with keys inside the bounds of the ids stored there, `key_bounds.rs`), (2) the records,
//! (3) the rollup deltas of exactly the rows inserted, appended to the pending deltas
//! (`rollup_pending.rs`: no rollup row is updated, so writers never wait for each other
//! there), then the commit.
//!
//! Fast path (`copy_insert.rs`): most groups hold no key seen before, so a group is first
//! streamed with `COPY` (the cheapest way rows enter PostgreSQL: no plan, no `on conflict`, no
//! `returning`), with the rollup deltas of exactly those rows folded in Rust; a unique
//! violation rolls that transaction back whole. A small group (single-record requests) is
//! first written in one call instead (`one_call.rs`: prelude, records and deltas as one
//! statement, its own transaction), refused whole the same way. Duplicates come in runs (a
//! client resending), so after a miss the next groups' preludes look their keys up in their
//! own months as well, and only the rest is copied: an index probe per record instead of the
//! checked path. A miss
//! there too (a concurrent writer stored one of the keys between lookup and `COPY`) leaves the
//! checked path: `insert … on conflict do nothing returning` the keys, then one lookup of the
//! content hashes of the keys refused, to tell duplicates from conflicts. It is always right.
//!
//! Concurrency: two groups in flight at once with the same key in the *same* month meet at
//! that partition's primary key. With the same key in *different* months neither lookup would
//! see the other's uncommitted row, so the prelude first locks the groups' tenant buckets
//! (`tenant_locks.rs`): such writers take turns, and the second one's lookup sees the first's.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{Connection, Postgres, Transaction};

use super::bounds_policy::BoundsPolicy;
use super::copy_insert::{copy_new, AllNew, COPY_FROM_RECORDS};
use super::held_connection::HeldConnection;
use super::one_call::{write_new_in_one_call, OneCall};
use super::prelude::{prelude, LookIn, Lookups, Prelude};
use super::probe::{lookup_hashes, ProbeWindow};
use crate::aggregate::{fold_records, RollupKey, RollupTotals};
use crate::domain::ContentHash;
use crate::domain::NewUsageRecord;
use crate::store::codec::{stored_key, whole, StoredKey};
use crate::store::partitions::{ensure_months, month_start, PartitionState};
use crate::store::rollup_pending::append_pending;
use crate::store::{DbError, InsertOutcome};

/// Inserts the records bound as twelve arrays, then `$tail`.
macro_rules! insert_records_sql {
    ($tail:literal) => {
        concat!(
            "insert into usage_record (tenant_id, source, record_id, ts, function, region, ",
            "cpu_cycles, memory_gb_seconds, invocations, event_type, content_hash, ingested_at) ",
            "select t.*, $12 ",
            "from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], ",
            "$7::int8[], $8::numeric[], $9::int8[], $10::text[], $11::bytea[]) as t",
            $tail
        )
    };
}

/// The checked path's insert; also used verbatim by the ingest benchmark's direct-SQL baseline.
pub const INSERT_RECORDS_SQL: &str =
    insert_records_sql!(" on conflict do nothing returning tenant_id, source, record_id");

/// The fast path's insert for small groups: like `COPY`, a stored key fails it whole.
/// `usage_write_new()` (migration 20261203100000, `one_call.rs`) runs the same statement.
const PLAIN_INSERT_RECORDS_SQL: &str = insert_records_sql!("");

/// Bounded by `ts` so only the partitions the group can meet are read.
const EXISTING_HASHES_SQL: &str = r#"
select r.tenant_id, r.source, r.record_id, r.content_hash
from usage_record r
join unnest($1::text[], $2::text[], $3::text[]) as k (tenant_id, source, record_id)
  on r.tenant_id = k.tenant_id and r.source = k.source and r.record_id = k.record_id
where r.ts >= $4 and r.ts < $5"#;

/// Adds deltas to the rows of a rollup table (`usage_rollup`, `usage_rollup_hour`: the same
/// columns), inserting the rows that do not exist yet.
#[rustfmt::skip]
macro_rules! upsert_rollups_sql {
    ($table:literal) => {
        concat!(
            "insert into ", $table, " (tenant_id, bucket_start, function, region, ",
            "cpu_cycles, memory_gb_seconds, invocations, records) ",
            "select * from unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], ",
            "$5::numeric[], $6::numeric[], $7::numeric[], $8::int8[]) ",
            "on conflict (tenant_id, bucket_start, function, region) do update set ",
            "cpu_cycles = ", $table, ".cpu_cycles + excluded.cpu_cycles, ",
            "memory_gb_seconds = ", $table, ".memory_gb_seconds + excluded.memory_gb_seconds, ",
            "invocations = ", $table, ".invocations + excluded.invocations, ",
            "records = ", $table, ".records + excluded.records"
        )
    };
}

/// The levels of rollups the write path adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum RollupLevel {
    /// `usage_rollup`, 15-minute buckets.
    Quarter,
    /// `usage_rollup_hour`, UTC hours (`rollup_hours.rs`).
    Hour,
}

impl RollupLevel {
    fn upsert_sql(self) -> &'static str {
        match self {
            Self::Quarter => upsert_rollups_sql!("usage_rollup"),
            Self::Hour => upsert_rollups_sql!("usage_rollup_hour"),
        }
    }
}

/// Binds the twelve parameters of [`INSERT_RECORDS_SQL`] (a macro keeps the twelve binds in
/// one readable column).
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

/// Groups that look their keys up in their own months after one met a stored key.
const LOOKUP_GROUPS: u32 = 16;

/// How a group is written, cheapest first; each later one is right where the one before was
/// refused by a primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// `COPY` every record the probe did not find in another month (a group smaller than
    /// [`COPY_FROM_RECORDS`] first tries the one call of `one_call.rs`, outside the loop below:
    /// it is no transaction of its own making).
    Copy,
    /// Look the remaining keys up in the group's own months, `COPY` the rest.
    LookupThenCopy,
    /// `insert … on conflict do nothing returning`, then the hashes of the keys refused.
    Checked,
}

/// What the write path needs of the engine (its connection is the writer's,
/// `held_connection.rs`).
pub(in crate::store) struct UsageTable<'a> {
    /// Groups left that look their keys up in their own months before the `COPY`.
    pub lookup_groups: &'a AtomicU32,
    /// Which groups read the key bounds before probing (`bounds_policy.rs`).
    pub bounds: &'a BoundsPolicy,
    pub partitions: &'a PartitionState,
    /// Citus: lookups take the join form, as it cannot push a correlated subquery down.
    pub distributed: bool,
}

impl UsageTable<'_> {
    fn lookups(&self) -> Lookups<'_> {
        Lookups { distributed: self.distributed, bounds: self.bounds }
    }
}

#[tracing::instrument(skip_all, fields(records = records.len()))]
pub(in crate::store) async fn insert_usage(
    on: &UsageTable<'_>,
    connection: &mut HeldConnection,
    records: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    let window = ProbeWindow::of(records, ingested_at, on.partitions.lateness());
    let mut written = write_window(on, connection, &window, records, ingested_at).await;
    if written.as_ref().is_err_and(DbError::is_connection_lost) {
        // The connection died before or under the write (a restart, or a kept connection's
        // idle timeout): once more, whole, on a fresh one. Every path refuses a stored key, so
        // a rerun cannot store a record twice (`held_connection.rs`).
        connection.give_back();
        written = write_window(on, connection, &window, records, ingested_at).await;
    }
    if written.is_err() {
        // A partition may have been dropped under us (retention): ask the catalog next time.
        on.partitions.forget();
        connection.give_back();
    }
    written
}

/// Makes sure the group's months have their partitions, then writes it (month by month when
/// it spans several), all on `connection`: a lane's pool has no other (`held_connection.rs`).
async fn write_window(
    on: &UsageTable<'_>,
    connection: &mut HeldConnection,
    window: &ProbeWindow,
    records: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    ensure_months(connection.get().await?, on.partitions, window.months.clone()).await?;
    match window.months.len() {
        0 | 1 => write(on, connection, window, records, ingested_at).await,
        _ => write_month_by_month(on, connection, window, records, ingested_at).await,
    }
}

/// A group spanning months is written month by month, each month in the given order. `COPY`
/// into a partitioned table buffers rows per partition and inserts them partition by
/// partition, so the order rows take locks in is month-major whatever order they come in:
/// every path writes in that order, or a `COPY` and an `insert … select` meeting on two keys
/// in two months could each wait for the other.
async fn write_month_by_month(
    on: &UsageTable<'_>,
    connection: &mut HeldConnection,
    window: &ProbeWindow,
    records: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by_key(|&i| month_start(records[i].timestamp));
    let month_major: Vec<&NewUsageRecord> = order.iter().map(|&i| records[i]).collect();
    let written = write(on, connection, window, &month_major, ingested_at).await?;
    let mut outcomes = vec![InsertOutcome::Inserted; records.len()];
    for (position, outcome) in order.into_iter().zip(written) {
        outcomes[position] = outcome;
    }
    Ok(outcomes)
}

async fn write(
    on: &UsageTable<'_>,
    connection: &mut HeldConnection,
    window: &ProbeWindow,
    records: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    let waiting = on.lookup_groups.load(Ordering::Relaxed);
    let mut attempt = if waiting > 0 {
        on.lookup_groups.store(waiting - 1, Ordering::Relaxed);
        Attempt::LookupThenCopy
    } else {
        Attempt::Copy
    };
    if attempt == Attempt::Copy && !on.distributed && records.len() < COPY_FROM_RECORDS {
        match write_new_in_one_call(connection.get().await?, records, window, ingested_at).await {
            Ok(OneCall::Written) => return Ok(vec![InsertOutcome::Inserted; records.len()]),
            Ok(OneCall::LeftToTransaction) => {}
            Err(DbError::AlreadyExists) => {
                on.lookup_groups.store(LOOKUP_GROUPS, Ordering::Relaxed);
                attempt = Attempt::LookupThenCopy;
            }
            Err(e) => return Err(e),
        }
    }
    loop {
        let mut tx = connection.get().await?.begin().await?;
        let look_in = match attempt {
            Attempt::LookupThenCopy => LookIn::WholeWindow,
            Attempt::Copy | Attempt::Checked => LookIn::OtherMonths,
        };
        if attempt == Attempt::Checked {
            let Prelude { known } = prelude(&mut tx, records, window, look_in, on.lookups()).await?;
            return insert_checked(tx, records, &known, window, ingested_at).await;
        }
        // While PostgreSQL runs the prelude, this task encodes the group's `COPY` rows and
        // folds its deltas, on the bet that no key is stored (most groups): the two overlap
        // rather than take turns (`biased`: the prelude is sent first). Not after a miss: then
        // the bet is that keys come again (duplicates come in runs), and the encoding would be
        // thrown away.
        let bet_all_new = attempt == Attempt::Copy;
        let (prelude, encoded) = tokio::join!(
            biased;
            prelude(&mut tx, records, window, look_in, on.lookups()),
            async { bet_all_new.then(|| AllNew::encode(records, ingested_at)).flatten() },
        );
        let Prelude { known } = prelude?;
        let encoded = encoded.transpose()?;
        if attempt == Attempt::LookupThenCopy && !known.is_empty() {
            on.lookup_groups.store(LOOKUP_GROUPS, Ordering::Relaxed);
        }
        match copy_new(tx, records, &known, encoded, ingested_at).await {
            Err(DbError::AlreadyExists) => {
                on.lookup_groups.store(LOOKUP_GROUPS, Ordering::Relaxed);
                attempt = match attempt {
                    Attempt::Copy => Attempt::LookupThenCopy,
                    _ => Attempt::Checked,
                };
            }
            done => return done,
        }
    }
}

/// The checked path, in `tx` (committed here): records whose key the probe found in another
/// month are not inserted; the rest are, and inserted rows are told from stored ones.
async fn insert_checked(
    mut tx: Transaction<'_, Postgres>,
    records: &[&NewUsageRecord],
    elsewhere: &HashMap<StoredKey, ContentHash>,
    window: &ProbeWindow,
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    let candidates: Vec<&NewUsageRecord> =
        records.iter().filter(|r| !elsewhere.contains_key(&stored_key(&r.key))).copied().collect();
    let inserted_keys = insert_records(&mut tx, &candidates, ingested_at).await?;
    let all_inserted = inserted_keys.len() == candidates.len();
    let inserted: Vec<bool> = records
        .iter()
        .map(|r| {
            let key = stored_key(&r.key);
            !elsewhere.contains_key(&key) && (all_inserted || inserted_keys.contains(&key))
        })
        .collect();
    let refused: Vec<&NewUsageRecord> = records
        .iter()
        .zip(&inserted)
        .filter(|(r, ins)| !**ins && !elsewhere.contains_key(&stored_key(&r.key)))
        .map(|(r, _)| *r)
        .collect();
    let existing = existing_hashes(&mut tx, &refused, window.lookup).await?;
    let deltas = fold_records(records.iter().zip(&inserted).filter(|(_, ins)| **ins).map(|(r, _)| *r))?;
    let deltas: Vec<(RollupKey, RollupTotals)> = deltas.into_iter().collect();
    add_rollup_deltas(&mut tx, &deltas).await?;
    tx.commit().await?;
    records
        .iter()
        .zip(inserted)
        .map(|(r, ins)| {
            let key = stored_key(&r.key);
            match ins {
                true => Ok(InsertOutcome::Inserted),
                false => elsewhere
                    .get(&key)
                    .or_else(|| existing.get(&key))
                    .map(|hash| InsertOutcome::Existing(*hash))
                    .ok_or_else(|| DbError::Corrupt("a conflicting record vanished during the insert".into())),
            }
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

/// Inserts `records` with one plain `insert` (no `on conflict`): a key stored in the same
/// month fails the statement ([`DbError::AlreadyExists`]).
pub(super) async fn insert_new_records(
    tx: &mut Transaction<'_, Postgres>,
    records: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<(), DbError> {
    let columns = RecordColumns::of(records)?;
    bind_columns!(sqlx::query(PLAIN_INSERT_RECORDS_SQL), columns, ingested_at).execute(&mut **tx).await?;
    Ok(())
}

pub(super) async fn existing_hashes(
    tx: &mut Transaction<'_, Postgres>,
    refused: &[&NewUsageRecord],
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<HashMap<StoredKey, ContentHash>, DbError> {
    if refused.is_empty() {
        return Ok(HashMap::new());
    }
    lookup_hashes(tx, EXISTING_HASHES_SQL, refused, &[from, to]).await
}

/// Adds the rollup deltas of records just written, in their transaction: every write
/// path's one call, so no path can miss them. They are appended to the pending deltas, which
/// every read adds and the fold moves into the rollup levels (`rollup_pending.rs`).
pub(in crate::store) async fn add_rollup_deltas(
    tx: &mut Transaction<'_, Postgres>,
    deltas: &[(RollupKey, RollupTotals)],
) -> Result<(), DbError> {
    append_pending(tx, deltas).await
}

pub(in crate::store) async fn upsert_rollup_rows(
    tx: &mut Transaction<'_, Postgres>,
    deltas: &[(RollupKey, RollupTotals)],
) -> Result<(), DbError> {
    upsert_rollup_level(tx, RollupLevel::Quarter, deltas).await
}

/// Adds `deltas` to the rows of `level`, in the order given (callers sort them: one global
/// lock order); nothing when there are none.
pub(in crate::store) async fn upsert_rollup_level(
    tx: &mut Transaction<'_, Postgres>,
    level: RollupLevel,
    deltas: &[(RollupKey, RollupTotals)],
) -> Result<(), DbError> {
    if deltas.is_empty() {
        return Ok(());
    }
    bind_rollup_columns(sqlx::query(level.upsert_sql()), deltas).execute(&mut **tx).await?;
    Ok(())
}

/// Binds `deltas` as the eight rollup column arrays, the query's next eight parameters (key,
/// then totals, in the rollup tables' column order).
pub(in crate::store) fn bind_rollup_columns<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    deltas: &'q [(RollupKey, RollupTotals)],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(deltas.iter().map(|(k, _)| k.tenant_id.as_str()).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(k, _)| k.bucket_start).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(k, _)| k.function.as_str()).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(k, _)| k.region.as_str()).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(_, t)| t.quantities.cpu_cycles).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(_, t)| t.quantities.memory_gb_seconds).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(_, t)| t.quantities.invocations).collect::<Vec<_>>())
        .bind(deltas.iter().map(|(_, t)| t.records).collect::<Vec<_>>())
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
