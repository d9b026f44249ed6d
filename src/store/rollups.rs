//! `usage_rollup` reads, rollup deltas, and the rebuild from raw records.

use std::mem::take;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{Postgres, Transaction};

use super::codec::StoredKey;
use super::codec::{tenant_id, Dec, Instant};
use super::engine::{on_read, on_tx, Engine, Tx};
use super::rebuild::RebuildFold;
use super::rollup_hours::{derive_hours, lock_watermark, unit_parts};
use super::{postgres, sqlite, DbError, PerTenant, RebuildReport, Store, EARLIEST, LATEST};
use crate::aggregate::{merge_adjacent_keys, GroupBy, Rollup, RollupKey, RollupTotals};
use crate::domain::{ContentHash, NewUsageRecord, Quantities, RecordKey, TenantId};

/// A `[start, end)` summed as one: on the 15-minute grid.
pub type Unit = (DateTime<Utc>, DateTime<Utc>);

/// A `usage_rollup` row.
#[derive(sqlx::FromRow)]
pub(super) struct RollupRow {
    tenant_id: String,
    bucket_start: Instant,
    function: String,
    region: String,
    cpu_cycles: Dec,
    memory_gb_seconds: Dec,
    invocations: Dec,
    records: i64,
}

impl RollupRow {
    pub(super) fn totals(&self) -> RollupTotals {
        let quantities = Quantities {
            cpu_cycles: self.cpu_cycles.0,
            memory_gb_seconds: self.memory_gb_seconds.0,
            invocations: self.invocations.0,
        };
        RollupTotals { quantities, records: self.records }
    }
}

impl TryFrom<RollupRow> for Rollup {
    type Error = DbError;

    fn try_from(r: RollupRow) -> Result<Self, DbError> {
        let totals = r.totals();
        let key = RollupKey {
            tenant_id: tenant_id(&r.tenant_id)?,
            bucket_start: r.bucket_start.0,
            function: r.function,
            region: r.region,
        };
        Ok(Rollup { key, totals })
    }
}

pub(super) const COLUMNS: &str =
    "tenant_id, bucket_start, function, region, cpu_cycles, memory_gb_seconds, invocations, records";

/// A raw record as the rebuild reads it.
#[derive(sqlx::FromRow)]
struct RawRow {
    tenant_id: String,
    source: String,
    record_id: String,
    ts: Instant,
    function: String,
    region: String,
    cpu_cycles: i64,
    memory_gb_seconds: Dec,
    invocations: i64,
}

impl Store {
    /// Rollup rows of one tenant with `from <= bucket_start < to`, ordered by key: each the
    /// stored row plus the deltas still pending for it (`rollup_pending.rs`), read in one
    /// statement.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn rollups(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Rollup>, DbError> {
        let sql = format!(
            r#"select {COLUMNS} from usage_rollup
            where tenant_id = $1 and bucket_start >= $2 and bucket_start < $3
            union all
            select {COLUMNS} from usage_rollup_pending
            where tenant_id = $1 and bucket_start >= $2 and bucket_start < $3
            order by bucket_start, function, region"#
        );
        let rows: Vec<RollupRow> = on_read!(self.read(), |db| sqlx::query_as(&sql)
            .bind(tenant.as_str())
            .bind(Instant(from))
            .bind(Instant(to))
            .fetch_all(db)
            .await)?;
        let rows = rows.into_iter().map(Rollup::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(merge_adjacent_keys(rows)?)
    }

    /// One tenant's rollups summed per unit of `units` (each `[start, end)` on the 15-minute
    /// grid, ascending) and per `group` value (`""` for the other dimension): each sum is a
    /// [`Rollup`] whose `bucket_start` is its unit's start. Folding them over the same units
    /// gives exactly what folding the rows gives, from a handful of rows instead of one per
    /// bucket, function and region (a month of 32 function × region pairs is 92 000 rows).
    /// PostgreSQL sums in SQL (`numeric`: exact), each unit's whole UTC hours before the hour
    /// watermark from the hour level (a quarter of the rows; `rollup_hours.rs`) and its edges
    /// and later hours from the 15-minute rows; SQLite answers the rows themselves, as its `sum` goes through floating point.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, units = units.len()))]
    pub async fn rollups_per_unit(
        &self,
        tenant: &TenantId,
        units: &[Unit],
        group: Option<GroupBy>,
    ) -> Result<Vec<Rollup>, DbError> {
        let (Some(first), Some(last)) = (units.first(), units.last()) else {
            return Ok(Vec::new());
        };
        let Engine::Postgres { pool, .. } = &self.engine else {
            return self.rollups(tenant, first.0, last.1).await;
        };
        let (quarters, hours) = PartColumns::of([(tenant, units)]);
        let mut tx = begin_summing(pool).await?;
        let rows: Vec<RollupRow> =
            PartColumns::bind(sqlx::query_as(&PER_UNIT_SQL).bind(tenant.as_str()), quarters, hours)
                .bind(group.map_or("", |g| g.as_str()))
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        rows.into_iter().map(Rollup::try_from).collect()
    }

    /// [`Self::rollups_per_unit`] (no group) for a page of tenants, each with its own units:
    /// one statement on PostgreSQL, whatever the page's size (the quota evaluator's page of
    /// 500 tenants read one at a time cost a transaction of four round trips each). Citus
    /// plans the page's parts (an `unnest` joined on the distribution column) as a subplan it
    /// cannot type, and SQLite reads in process: both read one tenant at a time.
    ///
    /// # Errors
    /// A store failure.
    #[tracing::instrument(skip_all, fields(tenants = wanted.len()))]
    pub async fn rollups_per_unit_of(&self, wanted: &[(TenantId, Vec<Unit>)]) -> Result<PerTenant<Rollup>, DbError> {
        let mut out = PerTenant::new();
        match &self.engine {
            Engine::Postgres { pool, distributed: false, .. } if !wanted.is_empty() => {
                let (mut quarters, mut hours) = PartColumns::of(wanted.iter().map(|(t, units)| (t, units.as_slice())));
                let (quarter_tenants, hour_tenants) = (take(&mut quarters.tenants), take(&mut hours.tenants));
                let mut tx = begin_summing(pool).await?;
                let query = sqlx::query_as::<_, RollupRow>(&PAGE_PER_UNIT_SQL).bind(quarter_tenants);
                let mut rows = PartColumns::bind(query, quarters, hours).bind("").bind(hour_tenants).fetch(&mut *tx);
                while let Some(row) = rows.try_next().await? {
                    let rollup = Rollup::try_from(row)?;
                    out.entry(rollup.key.tenant_id.clone()).or_default().push(rollup);
                }
                drop(rows);
                tx.commit().await?;
            }
            _ => {
                for (tenant, units) in wanted {
                    let rollups = self.rollups_per_unit(tenant, units, None).await?;
                    if !rollups.is_empty() {
                        out.insert(tenant.clone(), rollups);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every rollup row of one tenant, ordered by key.
    pub async fn all_rollups(&self, tenant: &TenantId) -> Result<Vec<Rollup>, DbError> {
        self.rollups(tenant, EARLIEST, LATEST).await
    }

    /// Recomputes every rollup from raw records (with the same pure fold as the write path)
    /// and replaces the table's contents, in one transaction that keeps writers out (a share
    /// lock on PostgreSQL; the one writer on SQLite), so no insert slips between the read
    /// and the replace.
    #[tracing::instrument(skip_all)]
    pub async fn rebuild_rollups(&self) -> Result<RebuildReport, DbError> {
        self.rebuild_rollups_reporting(|_, _| {}).await
    }

    /// [`Self::rebuild_rollups`], telling `progress` (records read, records in all) as it reads.
    ///
    /// # Errors
    /// A store failure; the rollups are then unchanged.
    pub async fn rebuild_rollups_reporting(&self, progress: impl Fn(u64, u64)) -> Result<RebuildReport, DbError> {
        let raw = "select tenant_id, source, record_id, ts, function, region, cpu_cycles, memory_gb_seconds, \
            invocations from usage_record";
        let mut tx = self.begin().await?;
        if let Tx::Postgres(tx) = &mut tx {
            sqlx::query("lock table usage_record, usage_correction in share mode").execute(&mut **tx).await?;
            // No fold may move pending deltas into the rows this replaces.
            lock_watermark(tx).await?;
        }
        let mut fold = RebuildFold::new(super::corrections::newest_states(&mut tx).await?);
        let total: i64 =
            on_tx!(&mut tx, |db| sqlx::query_scalar("select count(*) from usage_record").fetch_one(db).await)?;
        let total = u64::try_from(total).unwrap_or(0);
        on_tx!(&mut tx, |db| {
            let mut rows = sqlx::query_as::<_, RawRow>(raw).fetch(db);
            let mut read = 0_u64;
            while let Some(row) = rows.try_next().await? {
                let key: StoredKey = (row.tenant_id.clone(), row.source.clone(), row.record_id.clone());
                fold.push(&key, raw_to_record(row)?)?;
                read += 1;
                if read % PROGRESS_EVERY == 0 {
                    progress(read, total);
                }
            }
            progress(read, total);
            Ok::<(), DbError>(())
        })?;
        let (totals, records) = fold.finish()?;
        let report = RebuildReport { records, rollups: totals.len() as u64 };
        // Months whose raw records retention removed keep their rollups: they are all that is left.
        let kept_before = Instant(self.raw_usage_retired().await?.map_or(EARLIEST, |(before, _)| before));
        let stale = "delete from usage_rollup where bucket_start >= $1";
        on_tx!(&mut tx, |db| sqlx::query(stale).bind(kept_before).execute(db).await.map(|_| ()))?;
        let all: Vec<(RollupKey, RollupTotals)> = totals.into_iter().collect();
        for part in all.chunks(10_000) {
            add_quarter_deltas(&mut tx, part).await?;
        }
        if let Tx::Postgres(tx) = &mut tx {
            // The raw records read above already count every pending delta of these months (a
            // pending row holds one month; SQLite has none).
            let pending = "delete from usage_rollup_pending_batch where month_start >= $1";
            sqlx::query(pending).bind(kept_before).execute(&mut **tx).await?;
            derive_hours(tx, kept_before.0).await?;
        }
        tx.commit().await?;
        Ok(report)
    }
}

/// Sums per unit of the parts read from each level (`$2..$4` 15-minute, `$5..$7` whole-hour
/// parts, each tagged with its unit's start), grouped by `$8` (`function`, `region` or `""`).
/// A whole-hour part reads its hours before the watermark `W` from the hour level and the
/// rest from the 15-minute rows (the hour level is complete only before `W`,
/// `rollup_hours.rs`); `W` is read in the same statement, so in the same snapshot as the rows.
/// Every part adds the deltas still pending in its whole range (they are in neither level).
/// A sum of no record (all corrected away, not yet folded) is left out, as a missing row is.
///
/// `{tenant}` is whose rows a part reads: [`PER_UNIT_SQL`] binds one tenant (`$1`; Citus routes
/// the statement to its shard), [`PAGE_PER_UNIT_SQL`] tags every part with its own tenant
/// (`$1` for the 15-minute parts, `$9` for the hour parts), so a page of tenants is one
/// statement.
const PER_UNIT_TEMPLATE: &str = r#"
with w as (select through from rollup_hour_watermark),
hour_parts as (select u.*, w.through from {hour_parts}, w)
select r.tenant_id, r.unit as bucket_start,
    case when $8 = 'function' then r.function else '' end as function,
    case when $8 = 'region' then r.region else '' end as region,
    sum(r.cpu_cycles) as cpu_cycles, sum(r.memory_gb_seconds) as memory_gb_seconds,
    sum(r.invocations) as invocations, sum(r.records)::int8 as records
from (
    select u.unit, q.tenant_id, q.function, q.region, q.cpu_cycles, q.memory_gb_seconds, q.invocations, q.records
    from {quarter_parts}
    join usage_rollup q on q.tenant_id = {tenant} and q.bucket_start >= u.start and q.bucket_start < u.stop
    union all
    select u.unit, h.tenant_id, h.function, h.region, h.cpu_cycles, h.memory_gb_seconds, h.invocations, h.records
    from hour_parts u
    join usage_rollup_hour h on h.tenant_id = {tenant} and h.bucket_start >= u.start and h.bucket_start < least(u.stop, u.through)
    union all
    select u.unit, q.tenant_id, q.function, q.region, q.cpu_cycles, q.memory_gb_seconds, q.invocations, q.records
    from hour_parts u
    join usage_rollup q on q.tenant_id = {tenant} and q.bucket_start >= greatest(u.start, u.through) and q.bucket_start < u.stop
    union all
    select u.unit, p.tenant_id, p.function, p.region, p.cpu_cycles, p.memory_gb_seconds, p.invocations, p.records
    from (select {tenant_column}unit, start, stop from {quarter_parts}
          union all select {tenant_column}unit, start, stop from hour_parts) as u
    join usage_rollup_pending p on p.tenant_id = {tenant} and p.bucket_start >= u.start and p.bucket_start < u.stop
) as r
group by r.tenant_id, r.unit, 3, 4
having sum(r.records) <> 0
order by 1, 2, 3, 4"#;

/// [`PER_UNIT_TEMPLATE`] for one tenant.
static PER_UNIT_SQL: LazyLock<String> = LazyLock::new(|| {
    PER_UNIT_TEMPLATE
        .replace(
            "{hour_parts}",
            "unnest($5::timestamptz[], $6::timestamptz[], $7::timestamptz[]) as u (unit, start, stop)",
        )
        .replace(
            "{quarter_parts}",
            "unnest($2::timestamptz[], $3::timestamptz[], $4::timestamptz[]) as u (unit, start, stop)",
        )
        .replace("{tenant_column}", "")
        .replace("{tenant}", "$1")
});

/// [`PER_UNIT_TEMPLATE`] for a page of tenants, each part tagged with its own.
static PAGE_PER_UNIT_SQL: LazyLock<String> = LazyLock::new(|| {
    PER_UNIT_TEMPLATE
        .replace(
            "{hour_parts}",
            "unnest($9::text[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[]) as u (tenant, unit, start, stop)",
        )
        .replace(
            "{quarter_parts}",
            "unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[]) as u (tenant, unit, start, stop)",
        )
        .replace("{tenant_column}", "tenant, ")
        .replace("{tenant}", "u.tenant")
});

/// Parts of units as the column arrays `unnest` binds, each with its tenant (bound by the
/// page's statement only).
#[derive(Default)]
struct PartColumns {
    tenants: Vec<String>,
    units: Vec<DateTime<Utc>>,
    starts: Vec<DateTime<Utc>>,
    stops: Vec<DateTime<Utc>>,
}

impl PartColumns {
    /// The 15-minute parts and the hour parts of each tenant's units.
    fn of<'a>(wanted: impl IntoIterator<Item = (&'a TenantId, &'a [Unit])>) -> (Self, Self) {
        let (mut quarters, mut hours) = (Self::default(), Self::default());
        for (tenant, units) in wanted {
            for &(start, stop) in units {
                let parts = unit_parts(start, stop);
                parts.quarters.into_iter().for_each(|part| quarters.push(tenant, start, part));
                parts.hours.into_iter().for_each(|part| hours.push(tenant, start, part));
            }
        }
        (quarters, hours)
    }

    /// `query` with `$2..$7` bound: the 15-minute parts' units, starts and stops, then the hour
    /// parts' (their tenants, if bound, are the caller's).
    fn bind<'q, O>(
        query: QueryAs<'q, Postgres, O, PgArguments>,
        quarters: Self,
        hours: Self,
    ) -> QueryAs<'q, Postgres, O, PgArguments> {
        query
            .bind(quarters.units)
            .bind(quarters.starts)
            .bind(quarters.stops)
            .bind(hours.units)
            .bind(hours.starts)
            .bind(hours.stops)
    }

    fn push(&mut self, tenant: &TenantId, unit: DateTime<Utc>, (start, stop): Unit) {
        self.tenants.push(tenant.as_str().to_owned());
        self.units.push(unit);
        self.starts.push(start);
        self.stops.push(stop);
    }
}

/// A read-only transaction for a per-unit sum. The planner cannot tell how few rows each
/// unit's range holds (the bounds are bound parameters): it estimates hundreds of thousands
/// and, at that cost, turns on JIT compilation (≈ 90 ms measured) and parallel workers, each
/// dearer than the whole read. Both are off for this transaction only.
async fn begin_summing(pool: &sqlx::PgPool) -> Result<Transaction<'static, Postgres>, DbError> {
    let mut tx = super::open::begin_postgres(pool).await?;
    sqlx::query("select set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// How many records the rebuild reads between progress reports.
const PROGRESS_EVERY: u64 = 10_000;

/// Adds `deltas` (sorted by key) to the rollups inside the caller's transaction: PostgreSQL
/// appends them to the pending deltas (`rollup_pending.rs`); SQLite adds them to the rows
/// (reading, summing in Rust — its `+` goes through floating point — and writing back: safe,
/// as it is the only writer).
pub(super) async fn add_deltas(tx: &mut Tx, deltas: &[(RollupKey, RollupTotals)]) -> Result<(), DbError> {
    match tx {
        Tx::Postgres(_) if deltas.is_empty() => Ok(()),
        Tx::Postgres(tx) => postgres::add_rollup_deltas(tx, deltas).await,
        Tx::Sqlite(tx) => sqlite::add_deltas(tx, deltas).await,
    }
}

/// [`add_deltas`] to the 15-minute rows only: the rebuild derives the hours afterwards.
async fn add_quarter_deltas(tx: &mut Tx, deltas: &[(RollupKey, RollupTotals)]) -> Result<(), DbError> {
    match tx {
        Tx::Postgres(tx) => postgres::upsert_rollup_rows(tx, deltas).await,
        Tx::Sqlite(tx) => sqlite::add_deltas(tx, deltas).await,
    }
}

/// Only the fields the fold reads matter; key and hash are placeholders.
fn raw_to_record(r: RawRow) -> Result<NewUsageRecord, DbError> {
    let quantities = Quantities {
        cpu_cycles: r.cpu_cycles.into(),
        memory_gb_seconds: r.memory_gb_seconds.0,
        invocations: r.invocations.into(),
    };
    Ok(NewUsageRecord {
        key: RecordKey { tenant_id: tenant_id(&r.tenant_id)?, source: String::new(), record_id: String::new() },
        timestamp: r.ts.0,
        function: r.function,
        region: r.region,
        quantities,
        event_type: String::new(),
        content_hash: ContentHash([0; 16]),
    })
}
