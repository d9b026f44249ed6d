//! `usage_rollup_pending` (PostgreSQL): rollup deltas committed with their records, not yet
//! added to the rollup rows.
//!
//! Why: nearly every record ingested falls in the current 15-minute buckets, so consecutive
//! group commits of both writers upserted the same few hundred `usage_rollup` rows. The
//! upserts took turns (each writer holding its rows through its commit's WAL flush:
//! `Lock/transactionid` was the largest wait of batched ingest, BENCHMARKS.md), and upserting
//! a row costs several times appending one. Now a group *appends* its deltas here — new rows,
//! which no other writer holds — and the fold below moves them into the rollup levels.
//!
//! Reads stay exact at every instant: every rollup read adds the rows still pending, in the
//! same statement as the rollup rows (one snapshot), and the fold deletes pending rows and
//! adds them to the levels in one transaction, so a read sees each delta exactly once. A key
//! whose records sum to zero (all corrected away) reads as absent, as before.
//!
//! The fold (`tally serve`, every second: `lifecycle::keep_rollups_every`) runs under
//! the lock that guards the hour watermark `W`, taken exclusive, which the hour compactor,
//! rebuild and copy take too: it is then the only transaction changing the levels, so it adds
//! each delta below `W` to the hour level as well, and the compactor never sums quarters a fold
//! is changing. Writers take no lock of it. Several processes may fold at once: the lock
//! queues them, and a delete takes each committed pending row exactly once. A fold takes the
//! pending rows a page at a time, each page its own transaction ([`FOLD_PAGE_DELTAS`]), so a
//! backlog (the fold stopped a while, a backfill spanning months of buckets) costs memory of a
//! page, not of the backlog. Then it vacuums the table (`postgres/pending_vacuum.rs`): a queue
//! that turns over every second cannot wait for autovacuum.
//!
//! Storage: one row of `usage_rollup_pending_batch` per tenant and UTC month of each write,
//! its deltas as parallel arrays (migration 20261203080000): a group commit spanning 800
//! rollup keys appends a few wide rows, not 800 narrow ones, each with its index entry, WAL,
//! delete and vacuum. Reads name the view `usage_rollup_pending`, one row per delta.
//!
//! SQLite has a table of that name, always empty: its one writer adds to `usage_rollup`
//! directly.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use rust_decimal::Decimal;
use sqlx::{Postgres, Transaction};

use super::codec::tenant_id;
use super::engine::Engine;
use super::partitions::month_start;
use super::postgres::{
    bind_rollup_columns, pending_rows, send_copy, upsert_rollup_level, vacuum_pending, RollupLevel, COPY_PENDING_SQL,
};
use super::rollup_hours::{add_hour_deltas, lock_watermark};
use super::rollups::RollupRow;
use super::{DbError, Store};
use crate::aggregate::{Rollup, RollupKey, RollupTotals};
use crate::domain::Quantities;

/// Appends rollup deltas, as they are, one row per tenant and month (`$9`: each delta's UTC
/// month). Every `array_agg` of a group takes its rows in the same order, so the arrays stay
/// parallel. `usage_write_new()` (migration 20261203100000, `postgres/one_call.rs`) runs the
/// same statement.
const APPEND_SQL: &str = r#"
insert into usage_rollup_pending_batch (tenant_id, month_start, bucket_starts, functions, regions,
    cpu_cycles, memory_gb_seconds, invocations, records)
select d.tenant_id, d.month_start, array_agg(d.bucket_start), array_agg(d.function), array_agg(d.region),
    array_agg(d.cpu_cycles), array_agg(d.memory_gb_seconds), array_agg(d.invocations), array_agg(d.records)
from unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::numeric[], $6::numeric[],
    $7::numeric[], $8::int8[], $9::timestamptz[])
    as d (tenant_id, bucket_start, function, region, cpu_cycles, memory_gb_seconds, invocations, records, month_start)
group by d.tenant_id, d.month_start"#;

/// 15-minute rows whose every record a correction voided or moved: gone, as a rebuild would
/// leave them.
const DELETE_EMPTIED_SQL: &str = r#"
delete from usage_rollup q
using unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[]) as k (tenant_id, bucket_start, function, region)
where q.tenant_id = k.tenant_id and q.bucket_start = k.bucket_start and q.function = k.function
    and q.region = k.region and q.records = 0"#;

/// From this many deltas a write's rows are grouped in Rust and sent with `COPY`
/// (`postgres/copy_pending.rs`), which spares PostgreSQL the `unnest` and `array_agg` of
/// [`APPEND_SQL`]; fewer take the statement's one round trip (`COPY` takes two).
const COPY_PENDING_FROM: usize = 64;

/// Appends `deltas` (of records this transaction wrote, or of a correction) to the pending
/// rows, in the caller's transaction: the whole cost a write pays for its rollups.
///
/// # Errors
/// A store failure.
pub(in crate::store) async fn append_pending(
    tx: &mut Transaction<'_, Postgres>,
    deltas: &[(RollupKey, RollupTotals)],
) -> Result<(), DbError> {
    if deltas.is_empty() {
        return Ok(());
    }
    if deltas.len() >= COPY_PENDING_FROM {
        return send_copy(tx, COPY_PENDING_SQL, pending_rows(deltas)?).await;
    }
    bind_rollup_columns(sqlx::query(APPEND_SQL), deltas).bind(months_of(deltas)).execute(&mut **tx).await?;
    Ok(())
}

/// The UTC month of each delta, the rows the deltas are appended to (with the tenant).
pub(in crate::store) fn months_of(deltas: &[(RollupKey, RollupTotals)]) -> Vec<DateTime<Utc>> {
    deltas.iter().map(|(k, _)| month_start(k.bucket_start)).collect()
}

/// Pending deltas a fold's page takes (PostgreSQL): rows in table order until they hold this
/// many, at least one row. A page's memory is a sum per distinct rollup row, so it is bounded by
/// this, whatever the backlog: one second of ingest is a few hundred rows of a few dozen deltas.
/// A backlog of ≈ 600 000 distinct rollup rows held the server at 514–636 MB before pages
/// (BENCHMARKS.md, reading of the Dec 3 22:52 run).
pub const FOLD_PAGE_DELTAS: i64 = 20_000;

/// Pages one call folds at most: under ingest faster than folding, a call still returns (the
/// next one goes on), and a backlog drains at up to this many pages a call.
const FOLD_PAGES_PER_CALL: u64 = 64;

/// What one fold did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoldReport {
    /// Pending deltas taken (and deleted).
    pub pending: u64,
    /// Distinct 15-minute rows they were added to (summed over pages).
    pub rows: u64,
    /// Transactions the fold took (PostgreSQL pages of [`FOLD_PAGE_DELTAS`]; 1 on Citus).
    pub pages: u64,
    /// The pending table was vacuumed after the pages (`postgres/pending_vacuum.rs`): every
    /// fold that took deltas does it.
    pub vacuumed: bool,
}

impl Store {
    /// Moves the committed pending rollup deltas into the rollup levels, a page of
    /// [`FOLD_PAGE_DELTAS`] per transaction, until none is left (at most
    /// [`FOLD_PAGES_PER_CALL`] pages; PostgreSQL; `None` on SQLite, which has none). Reads give
    /// the same answers before, between and after the pages.
    ///
    /// # Errors
    /// A store failure; the deltas of the failed page then stay pending, still read (earlier
    /// pages are committed).
    #[tracing::instrument(skip_all)]
    pub async fn fold_pending_rollups(&self) -> Result<Option<FoldReport>, DbError> {
        let Engine::Postgres { pool, distributed, .. } = &self.engine else {
            return Ok(None);
        };
        let mut report = FoldReport::default();
        while report.pages < FOLD_PAGES_PER_CALL {
            let mut tx = super::open::begin_postgres(pool).await?;
            let page = fold_pending(&mut tx, *distributed).await?;
            tx.commit().await?;
            report.pending += page.pending;
            report.rows += page.rows;
            report.pages += 1;
            if !page.more {
                break;
            }
        }
        if report.pending > 0 {
            // The deltas are folded whatever the vacuum does: a failed one is retried by the
            // next fold that takes deltas, and costs only the table's growth until then.
            match vacuum_pending(pool).await {
                Ok(()) => report.vacuumed = true,
                Err(error) => tracing::warn!(error = ?error, "vacuum of the pending rollup deltas failed"),
            }
        }
        Ok(Some(report))
    }
}

/// What a page of a fold did.
pub(in crate::store) struct FoldedPage {
    pub pending: u64,
    pub rows: u64,
    /// Pending rows may be left: the page reached [`FOLD_PAGE_DELTAS`].
    pub more: bool,
}

/// Takes a page of committed pending deltas (rows in table order while fewer than `$1` deltas
/// come before them) and sums it per rollup row in PostgreSQL, one statement: a second of
/// ingest is hundreds of thousands of deltas and a few hundred sums, so only the sums cross the
/// wire. Rows are taken by `ctid`: only folds delete them, one at a time (the watermark lock).
/// Citus runs [`TAKE_SQL`] and sums in Rust instead: it plans a data-modifying `with` across
/// shards only by pulling its rows to the coordinator anyway.
///
/// Cost, measured on 28 000 deltas in 14 000 rows (BENCHMARKS.md, Dec 6): 40 ms against 85 ms
/// for the same page taken with `delete … returning` and a `lateral unnest`.
/// - The page looks at the table's first `$1` rows only (every row holds a delta at least), not
///   at the whole table: a backlog costs each page its own rows.
/// - The sums read the page's rows beside the `delete` of them rather than from what it
///   returns: both see the statement's one snapshot, so they take the same rows, and the
///   deleted arrays are not copied into the `with`'s store first.
/// - `unnest`s in the select list run in step, as one multi-argument `unnest` in `from`
///   does, without building a function scan's result store per row.
const TAKE_SUMMED_SQL: &str = r#"
with page as (
    select ctid from (
        select ctid, sum(cardinality(bucket_starts)) over (rows unbounded preceding) - cardinality(bucket_starts) as before
        from (select ctid, bucket_starts from usage_rollup_pending_batch limit $1) as head) as p
    where before < $1),
taken as (delete from usage_rollup_pending_batch where ctid = any(array(select ctid from page))),
deltas as (
    select tenant_id, unnest(bucket_starts) as bucket_start, unnest(functions) as function, unnest(regions) as region,
        unnest(cpu_cycles) as cpu_cycles, unnest(memory_gb_seconds) as memory_gb_seconds,
        unnest(invocations) as invocations, unnest(records) as records
    from usage_rollup_pending_batch where ctid = any(array(select ctid from page)))
select tenant_id, bucket_start, function, region, sum(cpu_cycles) as cpu_cycles,
    sum(memory_gb_seconds) as memory_gb_seconds, sum(invocations) as invocations,
    sum(records)::int8 as records, count(*) as deltas
from deltas
group by 1, 2, 3, 4"#;

/// Every committed pending row as it is, deleted.
const TAKE_SQL: &str = r#"
delete from usage_rollup_pending_batch
returning tenant_id, bucket_starts, functions, regions, cpu_cycles, memory_gb_seconds, invocations, records"#;

/// A row of [`TAKE_SUMMED_SQL`]: a rollup row's delta and how many pending deltas it sums.
#[derive(sqlx::FromRow)]
struct Summed {
    #[sqlx(flatten)]
    row: RollupRow,
    deltas: i64,
}

/// A row of [`TAKE_SQL`]: one tenant's deltas of one write, as parallel arrays.
#[derive(sqlx::FromRow)]
struct PendingBatch {
    tenant_id: String,
    bucket_starts: Vec<DateTime<Utc>>,
    functions: Vec<String>,
    regions: Vec<String>,
    cpu_cycles: Vec<Decimal>,
    memory_gb_seconds: Vec<Decimal>,
    invocations: Vec<Decimal>,
    records: Vec<i64>,
}

impl PendingBatch {
    /// The row's deltas; arrays of different lengths are a corrupt row, not a shorter one.
    fn into_rollups(self) -> Result<Vec<Rollup>, DbError> {
        let n = self.bucket_starts.len();
        let lengths = [
            self.functions.len(),
            self.regions.len(),
            self.cpu_cycles.len(),
            self.memory_gb_seconds.len(),
            self.invocations.len(),
            self.records.len(),
        ];
        if lengths.iter().any(|&l| l != n) {
            return Err(DbError::Corrupt(format!(
                "pending rollup row of {:?}: arrays of unequal length",
                self.tenant_id
            )));
        }
        let tenant_id = tenant_id(&self.tenant_id)?;
        let columns = self.bucket_starts.into_iter().zip(self.functions).zip(self.regions);
        let totals = self.cpu_cycles.into_iter().zip(self.memory_gb_seconds).zip(self.invocations).zip(self.records);
        let rollups =
            columns.zip(totals).map(|(((bucket_start, function), region), (((cpu, memory), invocations), records))| {
                let key = RollupKey { tenant_id: tenant_id.clone(), bucket_start, function, region };
                let quantities = Quantities { cpu_cycles: cpu, memory_gb_seconds: memory, invocations };
                Rollup { key, totals: RollupTotals { quantities, records } }
            });
        Ok(rollups.collect())
    }
}

/// One page of [`Store::fold_pending_rollups`] in the caller's transaction (Citus: every
/// pending row at once, summed as they arrive).
///
/// # Errors
/// A store failure, or a sum leaving `Decimal`'s range.
pub(in crate::store) async fn fold_pending(
    tx: &mut Transaction<'_, Postgres>,
    distributed: bool,
) -> Result<FoldedPage, DbError> {
    // Read after the wait for the lock (re-entrant: the compactor already holds it): a fold
    // queued behind a compactor adds hour deltas below the `W` that compactor moved to.
    let watermark = lock_watermark(tx).await?;
    let mut sums: BTreeMap<RollupKey, RollupTotals> = BTreeMap::new();
    let mut pending = 0_u64;
    let mut add = |Rollup { key, totals }: Rollup, deltas: i64| -> Result<(), DbError> {
        let sum = sums.entry(key).or_default();
        *sum = sum.checked_add(&totals)?;
        pending += u64::try_from(deltas).unwrap_or(0);
        Ok(())
    };
    if distributed {
        // Summed as the rows arrive: memory holds one sum per rollup row, not one per delta.
        let mut rows = sqlx::query_as::<_, PendingBatch>(TAKE_SQL).fetch(&mut **tx);
        while let Some(batch) = rows.try_next().await? {
            for rollup in batch.into_rollups()? {
                add(rollup, 1)?;
            }
        }
    } else {
        let mut rows = sqlx::query_as::<_, Summed>(TAKE_SUMMED_SQL).bind(FOLD_PAGE_DELTAS).fetch(&mut **tx);
        while let Some(Summed { row, deltas }) = rows.try_next().await? {
            add(Rollup::try_from(row)?, deltas)?;
        }
    }
    // Sorted by key (a `BTreeMap`): the one order rows are locked in.
    let deltas: Vec<(RollupKey, RollupTotals)> = sums.into_iter().collect();
    upsert_rollup_level(tx, RollupLevel::Quarter, &deltas).await?;
    delete_emptied_quarters(tx, &deltas).await?;
    add_hour_deltas(tx, &deltas, watermark).await?;
    let more = !distributed && pending >= FOLD_PAGE_DELTAS as u64;
    Ok(FoldedPage { pending, rows: deltas.len() as u64, more })
}

/// Deletes the 15-minute rows of `deltas` left with no record: those a delta took records from,
/// or added none to (a record and its void in one fold add a row of zeros). Only corrections
/// make such deltas, so a fold of ingest alone runs no statement here.
async fn delete_emptied_quarters(
    tx: &mut Transaction<'_, Postgres>,
    deltas: &[(RollupKey, RollupTotals)],
) -> Result<(), DbError> {
    let removing: Vec<&RollupKey> = deltas.iter().filter(|(_, t)| t.records <= 0).map(|(k, _)| k).collect();
    if removing.is_empty() {
        return Ok(());
    }
    sqlx::query(DELETE_EMPTIED_SQL)
        .bind(removing.iter().map(|k| k.tenant_id.as_str()).collect::<Vec<_>>())
        .bind(removing.iter().map(|k| k.bucket_start).collect::<Vec<_>>())
        .bind(removing.iter().map(|k| k.function.as_str()).collect::<Vec<_>>())
        .bind(removing.iter().map(|k| k.region.as_str()).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
