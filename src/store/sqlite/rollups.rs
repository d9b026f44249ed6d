//! `usage_rollup` reads and the rebuild from raw records.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::aggregate::{Rollup, RollupKey, RollupTotals};
use crate::domain::{ContentHash, NewUsageRecord, Quantities, RecordKey, TenantId};
use crate::store::convert::{decimal_text, from_micros, micros, tenant_id};
use crate::store::rebuild::RebuildFold;
use crate::store::{DbError, RebuildReport};

#[derive(sqlx::FromRow)]
struct RollupRow {
    tenant_id: String,
    bucket_start: i64,
    function: String,
    region: String,
    cpu_cycles: String,
    memory_gb_seconds: String,
    invocations: String,
    records: i64,
}

impl RollupRow {
    fn totals(&self) -> Result<RollupTotals, DbError> {
        let quantities = Quantities {
            cpu_cycles: decimal_text(&self.cpu_cycles)?,
            memory_gb_seconds: decimal_text(&self.memory_gb_seconds)?,
            invocations: decimal_text(&self.invocations)?,
        };
        Ok(RollupTotals { quantities, records: self.records })
    }
}

impl TryFrom<RollupRow> for Rollup {
    type Error = DbError;

    fn try_from(r: RollupRow) -> Result<Self, DbError> {
        let totals = r.totals()?;
        Ok(Rollup {
            key: RollupKey {
                tenant_id: tenant_id(&r.tenant_id)?,
                bucket_start: from_micros(r.bucket_start)?,
                function: r.function,
                region: r.region,
            },
            totals,
        })
    }
}

const COLUMNS: &str = "tenant_id, bucket_start, function, region, cpu_cycles, memory_gb_seconds, invocations, records";

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn between(
    pool: &SqlitePool,
    tenant: &TenantId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Rollup>, DbError> {
    let sql = format!(
        r#"select {COLUMNS} from usage_rollup
        where tenant_id = $1 and bucket_start >= $2 and bucket_start < $3
        order by bucket_start, function, region"#
    );
    let rows: Vec<RollupRow> =
        sqlx::query_as(&sql).bind(tenant.as_str()).bind(micros(from)).bind(micros(to)).fetch_all(pool).await?;
    rows.into_iter().map(Rollup::try_from).collect()
}

/// One rollup row's totals, inside the writer's transaction.
pub(super) async fn get(tx: &mut Transaction<'_, Sqlite>, key: &RollupKey) -> Result<Option<RollupTotals>, DbError> {
    let sql = format!(
        "select {COLUMNS} from usage_rollup where tenant_id = $1 and bucket_start = $2 and function = $3 and region = $4"
    );
    let row: Option<RollupRow> = sqlx::query_as(&sql)
        .bind(key.tenant_id.as_str())
        .bind(micros(key.bucket_start))
        .bind(key.function.as_str())
        .bind(key.region.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| r.totals()).transpose()
}

#[derive(sqlx::FromRow)]
struct RawRow {
    tenant_id: String,
    source: String,
    record_id: String,
    ts: i64,
    function: String,
    region: String,
    cpu_cycles: i64,
    memory_gb_seconds: String,
    invocations: i64,
}

/// Runs inside the single writer's transaction, so no insert can interleave.
#[tracing::instrument(skip_all)]
pub(super) async fn rebuild(tx: &mut Transaction<'_, Sqlite>) -> Result<RebuildReport, DbError> {
    let mut fold = RebuildFold::new(super::corrections::newest_states(tx).await?);
    {
        let mut rows = sqlx::query_as::<_, RawRow>(
            "select tenant_id, source, record_id, ts, function, region, cpu_cycles, memory_gb_seconds, invocations from usage_record",
        )
        .fetch(&mut **tx);
        while let Some(row) = rows.try_next().await? {
            let key = (row.tenant_id.clone(), row.source.clone(), row.record_id.clone());
            fold.push(&key, raw_to_record(row)?)?;
        }
    }
    let (totals, records) = fold.finish()?;
    let report = RebuildReport { records, rollups: totals.len() as u64 };
    sqlx::query("delete from usage_rollup").execute(&mut **tx).await?;
    for (key, sum) in &totals {
        super::usage::add_to_rollup(tx, key, sum).await?;
    }
    Ok(report)
}

/// Only the fields the fold reads matter; key and hash are placeholders.
fn raw_to_record(r: RawRow) -> Result<NewUsageRecord, DbError> {
    let quantities = Quantities {
        cpu_cycles: r.cpu_cycles.into(),
        memory_gb_seconds: decimal_text(&r.memory_gb_seconds)?,
        invocations: r.invocations.into(),
    };
    Ok(NewUsageRecord {
        key: RecordKey { tenant_id: tenant_id(&r.tenant_id)?, source: String::new(), record_id: String::new() },
        timestamp: from_micros(r.ts)?,
        function: r.function,
        region: r.region,
        quantities,
        event_type: String::new(),
        content_hash: ContentHash([0; 16]),
    })
}
