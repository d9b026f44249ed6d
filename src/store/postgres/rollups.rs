//! `usage_rollup` reads and the rebuild from raw records.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::aggregate::{Rollup, RollupKey, RollupTotals};
use crate::domain::{ContentHash, NewUsageRecord, Quantities, RecordKey, TenantId};
use crate::store::convert::tenant_id;
use crate::store::rebuild::RebuildFold;
use crate::store::{DbError, RebuildReport};

#[derive(sqlx::FromRow)]
struct RollupRow {
    tenant_id: String,
    bucket_start: DateTime<Utc>,
    function: String,
    region: String,
    cpu_cycles: Decimal,
    memory_gb_seconds: Decimal,
    invocations: Decimal,
    records: i64,
}

impl TryFrom<RollupRow> for Rollup {
    type Error = DbError;

    fn try_from(r: RollupRow) -> Result<Self, DbError> {
        // numeric keeps the scale of its inputs ("250.00"); values are compared normalized.
        let quantities = Quantities {
            cpu_cycles: r.cpu_cycles.normalize(),
            memory_gb_seconds: r.memory_gb_seconds.normalize(),
            invocations: r.invocations.normalize(),
        };
        Ok(Rollup {
            key: RollupKey {
                tenant_id: tenant_id(&r.tenant_id)?,
                bucket_start: r.bucket_start,
                function: r.function,
                region: r.region,
            },
            totals: RollupTotals { quantities, records: r.records },
        })
    }
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn between(
    pool: &PgPool,
    tenant: &TenantId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Rollup>, DbError> {
    let rows: Vec<RollupRow> = sqlx::query_as(
        r#"select tenant_id, bucket_start, function, region, cpu_cycles, memory_gb_seconds, invocations, records
        from usage_rollup
        where tenant_id = $1 and bucket_start >= $2 and bucket_start < $3
        order by bucket_start, function, region"#,
    )
    .bind(tenant.as_str())
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Rollup::try_from).collect()
}

#[derive(sqlx::FromRow)]
struct RawRow {
    tenant_id: String,
    source: String,
    record_id: String,
    ts: DateTime<Utc>,
    function: String,
    region: String,
    cpu_cycles: i64,
    memory_gb_seconds: Decimal,
    invocations: i64,
}

/// Holds a share lock on `usage_record` and `usage_correction` (writers wait) while it
/// recomputes every record's newest effective content, so the result is a consistent
/// snapshot and no insert slips between the read and the replace.
#[tracing::instrument(skip_all)]
pub(super) async fn rebuild(pool: &PgPool) -> Result<RebuildReport, DbError> {
    let mut tx = pool.begin().await?;
    sqlx::query("lock table usage_record, usage_correction in share mode").execute(&mut *tx).await?;
    let mut fold = RebuildFold::new(super::corrections::newest_states(&mut tx).await?);
    {
        let mut rows = sqlx::query_as::<_, RawRow>(
            "select tenant_id, source, record_id, ts, function, region, cpu_cycles, memory_gb_seconds, invocations from usage_record",
        )
        .fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            let key = (row.tenant_id.clone(), row.source.clone(), row.record_id.clone());
            fold.push(&key, raw_to_record(row)?)?;
        }
    }
    let (totals, records) = fold.finish()?;
    let report = RebuildReport { records, rollups: totals.len() as u64 };
    sqlx::query("delete from usage_rollup").execute(&mut *tx).await?;
    let all: Vec<(RollupKey, RollupTotals)> = totals.into_iter().collect();
    for part in all.chunks(10_000) {
        super::usage::upsert_rollup_rows(&mut tx, part).await?;
    }
    tx.commit().await?;
    Ok(report)
}

/// Only the fields the fold reads matter; key and hash are placeholders.
fn raw_to_record(r: RawRow) -> Result<NewUsageRecord, DbError> {
    let quantities = Quantities {
        cpu_cycles: Decimal::from(r.cpu_cycles),
        memory_gb_seconds: r.memory_gb_seconds,
        invocations: Decimal::from(r.invocations),
    };
    Ok(NewUsageRecord {
        key: RecordKey { tenant_id: tenant_id(&r.tenant_id)?, source: String::new(), record_id: String::new() },
        timestamp: r.ts,
        function: r.function,
        region: r.region,
        quantities,
        event_type: String::new(),
        content_hash: ContentHash([0; 16]),
    })
}
