//! Raw usage retention: whole UTC months of `usage_record` removed once nothing needs them —
//! a dropped partition on PostgreSQL, a delete in bounded batches on SQLite (whose raw table
//! is not partitioned). Rollups, corrections, invoices and their snapshots are never touched;
//! `usage_retirement` remembers which months went, for explanations and rollup rebuilds.
//! Which months may go is decided in `lifecycle`; this file only reads and removes.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::codec::Instant;
use super::engine::{on_read, on_tx, Engine, Tx};
use super::partitions::{month_start, months_between, next_month, partition_name};
use super::{sqlite, DbError, Store};

/// The first tenant with usage in `[$1, $2)` whose billing still needs that month's raw
/// records: a bucket no closed period covers, a period overlapping the month or its late window
/// (until `$3`) not closed yet, or no closed period ending after the late window — so the late
/// records of the month have not all been settled on a finalized invoice (a tenant without a
/// plan has no closed period: its usage is kept).
const HOLDING_TENANT_SQL: &str = r#"
with used as (
    select tenant_id, min(bucket_start) as first_bucket
    from (select tenant_id, bucket_start from usage_rollup where bucket_start >= $1 and bucket_start < $2
          union all
          select tenant_id, bucket_start from usage_rollup_pending where bucket_start >= $1 and bucket_start < $2) as u
    group by tenant_id
)
select used.tenant_id from used
where not exists (select 1 from billing_period p where p.tenant_id = used.tenant_id
        and p.state = 'closed' and p.period_start <= used.first_bucket)
   or not exists (select 1 from billing_period p where p.tenant_id = used.tenant_id
        and p.state = 'closed' and p.period_end >= $3)
   or exists (select 1 from billing_period p where p.tenant_id = used.tenant_id
        and p.state <> 'closed' and p.period_start < $3 and p.period_end > $1)
limit 1"#;

/// Keys SQLite's batched delete walks per transaction (the writer is held that long only).
const DELETE_BATCH: i64 = 10_000;

impl Store {
    /// The UTC months that still hold (or may hold) raw records and end by `horizon`, oldest
    /// first: the partitions on PostgreSQL, the months from the oldest record on SQLite.
    ///
    /// # Errors
    /// When the database fails.
    #[tracing::instrument(skip_all)]
    pub async fn raw_usage_months(&self, horizon: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>, DbError> {
        let months = match self.usage_partition_months().await? {
            Some(months) => months,
            None => {
                let sql = "select min(ts) from usage_record";
                let oldest: Option<Instant> = on_read!(self.read(), |db| sqlx::query_scalar(sql).fetch_one(db).await)?;
                oldest.map_or_else(Vec::new, |o| months_between(month_start(o.0), horizon))
            }
        };
        Ok(months.into_iter().filter(|m| next_month(*m) <= horizon).collect())
    }

    /// A tenant whose billing still needs the raw records of the month starting at `month`,
    /// given that late records for it are accepted until `late_until`; `None` when none does.
    ///
    /// # Errors
    /// When the database fails.
    #[tracing::instrument(skip_all)]
    pub async fn tenant_holding_raw_month(
        &self,
        month: DateTime<Utc>,
        late_until: DateTime<Utc>,
    ) -> Result<Option<String>, DbError> {
        let holding = on_read!(self.read(), |db| sqlx::query_scalar(HOLDING_TENANT_SQL)
            .bind(Instant(month))
            .bind(Instant(next_month(month)))
            .bind(Instant(late_until))
            .fetch_optional(db)
            .await)?;
        Ok(holding)
    }

    /// Removes the raw records of `months` (oldest first, contiguous) and records them retired.
    /// Returns the records deleted on SQLite; PostgreSQL drops partitions without counting.
    ///
    /// # Errors
    /// When the database fails; months already removed stay removed and recorded.
    #[tracing::instrument(skip_all, fields(months = months.len()))]
    pub async fn retire_raw_usage(&self, months: &[DateTime<Utc>], now: DateTime<Utc>) -> Result<Option<u64>, DbError> {
        let deleted = match (&self.engine, months.last()) {
            (Engine::Sqlite { writer, .. }, Some(last)) => Some(delete_before(writer, next_month(*last)).await?),
            (Engine::Sqlite { .. }, None) => Some(0),
            (Engine::Postgres { .. }, _) => None,
        };
        let sql = "insert into usage_retirement (month_start, month_end, retired_at) values ($1, $2, $3) \
            on conflict do nothing";
        for month in months {
            let mut tx = self.begin().await?;
            if let Tx::Postgres(pg) = &mut tx {
                // The name is built from the month, never from input.
                let drop = format!("drop table if exists {}", partition_name(*month));
                sqlx::query(&drop).execute(&mut **pg).await?;
            }
            on_tx!(&mut tx, |db| sqlx::query(sql)
                .bind(Instant(*month))
                .bind(Instant(next_month(*month)))
                .bind(Instant(now))
                .execute(db)
                .await
                .map(|_| ()))?;
            tx.commit().await?;
        }
        if let Engine::Postgres { partitions, .. } = &self.engine {
            partitions.forget();
        }
        Ok(deleted)
    }

    /// The end of the newest month whose raw records were removed, and when that happened.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn raw_usage_retired(&self) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, DbError> {
        let sql = "select month_end, retired_at from usage_retirement order by month_end desc limit 1";
        let row: Option<(Instant, Instant)> = on_read!(self.read(), |db| sqlx::query_as(sql).fetch_optional(db).await)?;
        Ok(row.map(|(end, at)| (end.0, at.0)))
    }
}

/// SQLite: deletes every record stamped before `end`, walking the primary key in batches of
/// [`DELETE_BATCH`] keys, one short write transaction each, so ingest keeps its turn.
async fn delete_before(writer: &SqlitePool, end: DateTime<Utc>) -> Result<u64, DbError> {
    let mut cursor = (String::new(), String::new(), String::new());
    let mut deleted = 0;
    loop {
        let mut tx = writer.begin_with(sqlite::BEGIN_WRITE).await?;
        let last: Option<(String, String, String)> = sqlx::query_as(
            "select tenant_id, source, record_id from (select tenant_id, source, record_id from usage_record \
             where (tenant_id, source, record_id) > ($1, $2, $3) \
             order by tenant_id, source, record_id limit $4) order by tenant_id desc, source desc, record_id desc limit 1",
        )
        .bind(&cursor.0)
        .bind(&cursor.1)
        .bind(&cursor.2)
        .bind(DELETE_BATCH)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(last) = last else { return Ok(deleted) };
        let done = sqlx::query(
            "delete from usage_record where (tenant_id, source, record_id) > ($1, $2, $3) \
             and (tenant_id, source, record_id) <= ($4, $5, $6) and ts < $7",
        )
        .bind(&cursor.0)
        .bind(&cursor.1)
        .bind(&cursor.2)
        .bind(&last.0)
        .bind(&last.1)
        .bind(&last.2)
        .bind(Instant(end))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        deleted += done.rows_affected();
        cursor = last;
    }
}
