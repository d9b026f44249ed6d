//! `usage_correction`: append a correction under a row lock on the original record, and move
//! the rollups by the difference in the same transaction.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::aggregate::{correction_deltas, RecordState, RollupKey, RollupTotals};
use crate::domain::{Quantities, TenantId, UsageCorrection};
use crate::store::convert::{correction_columns, correction_step, whole};
use crate::store::rebuild::NewestCorrections;
use crate::store::{CorrectionOutcome, DbError};

/// key (3), action, function, region, cpu, memory, invocations.
type NewestRow = (String, String, String, String, String, String, i64, Decimal, i64);

type StateRow = (DateTime<Utc>, String, String, i64, Decimal, i64);

fn state((timestamp, function, region, cpu, memory, invocations): StateRow) -> RecordState {
    let quantities =
        Quantities { cpu_cycles: cpu.into(), memory_gb_seconds: memory.normalize(), invocations: invocations.into() };
    RecordState { timestamp, function, region, quantities }
}

#[tracing::instrument(skip_all, fields(tenant_id = %c.key.tenant_id))]
pub(super) async fn apply(
    pool: &PgPool,
    c: &UsageCorrection,
    now: DateTime<Utc>,
) -> Result<CorrectionOutcome, DbError> {
    let key = &c.key;
    let mut tx = pool.begin().await?;
    let original: Option<StateRow> = sqlx::query_as(
        r#"select ts, function, region, cpu_cycles, memory_gb_seconds, invocations from usage_record
        where tenant_id = $1 and source = $2 and record_id = $3 for update"#,
    )
    .bind(key.tenant_id.as_str())
    .bind(&key.source)
    .bind(&key.record_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(original) = original.map(state) else { return Ok(CorrectionOutcome::RecordNotFound) };
    if c.closed_before.is_some_and(|end| original.timestamp < end) {
        return Ok(CorrectionOutcome::PeriodClosed);
    }
    let newest: Option<(i32, String, String, String, i64, Decimal, i64)> = sqlx::query_as(
        r#"select seq, action, function, region, cpu_cycles, memory_gb_seconds, invocations from usage_correction
        where tenant_id = $1 and source = $2 and record_id = $3 order by seq desc limit 1"#,
    )
    .bind(key.tenant_id.as_str())
    .bind(&key.source)
    .bind(&key.record_id)
    .fetch_optional(&mut *tx)
    .await?;
    let seq = newest.as_ref().map_or(1, |n| n.0 + 1);
    let newest = newest.map(|(_, action, f, r, cpu, mem, inv)| {
        (action == "replace").then(|| state((original.timestamp, f, r, cpu, mem, inv)))
    });
    let original_instant = original.timestamp;
    let Some((before, after)) = correction_step(original, newest, &c.action) else {
        return Ok(CorrectionOutcome::AlreadyVoid);
    };
    let (action, function, region, q) = correction_columns(&c.action);
    sqlx::query(
        r#"insert into usage_correction (tenant_id, source, record_id, seq, action, function, region,
            cpu_cycles, memory_gb_seconds, invocations, reason, created_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"#,
    )
    .bind(key.tenant_id.as_str())
    .bind(&key.source)
    .bind(&key.record_id)
    .bind(seq)
    .bind(action)
    .bind(function)
    .bind(region)
    .bind(whole(q.cpu_cycles)?)
    .bind(q.memory_gb_seconds)
    .bind(whole(q.invocations)?)
    .bind(&c.reason)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let deltas: Vec<(RollupKey, RollupTotals)> =
        correction_deltas(&key.tenant_id, before.as_ref(), after.as_ref())?.into_iter().collect();
    super::usage::upsert_rollup_rows(&mut tx, &deltas).await?;
    // A bucket whose every record was voided or moved is gone, as a rebuild would leave it.
    sqlx::query("delete from usage_rollup where tenant_id = $1 and bucket_start = $2 and records = 0")
        .bind(key.tenant_id.as_str())
        .bind(crate::aggregate::bucket_start(original_instant))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(CorrectionOutcome::Applied { seq, before: before.map(Box::new), after: after.map(Box::new) })
}

/// The newest correction of every corrected record (for rebuilds): `None` for a void.
pub(super) async fn newest_states(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
) -> Result<NewestCorrections, DbError> {
    let rows: Vec<NewestRow> = sqlx::query_as(
        r#"select distinct on (tenant_id, source, record_id)
            tenant_id, source, record_id, action, function, region, cpu_cycles, memory_gb_seconds, invocations
        from usage_correction order by tenant_id, source, record_id, seq desc"#,
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(t, s, id, action, f, r, cpu, mem, inv)| {
            let quantities =
                Quantities { cpu_cycles: cpu.into(), memory_gb_seconds: mem.normalize(), invocations: inv.into() };
            ((t, s, id), (action == "replace").then_some((f, r, quantities)))
        })
        .collect())
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn sample_ids(
    pool: &PgPool,
    tenant: &TenantId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> =
        sqlx::query_as("select record_id from usage_record where tenant_id = $1 and ts >= $2 and ts < $3 limit $4")
            .bind(tenant.as_str())
            .bind(from)
            .bind(to)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
