//! `usage_correction` on SQLite (see the PostgreSQL twin); the single writer serializes.

use chrono::{DateTime, Utc};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::aggregate::{correction_deltas, RecordState};
use crate::domain::{Quantities, TenantId, UsageCorrection};
use crate::store::convert::{correction_columns, correction_step, decimal_text, from_micros, micros, whole};
use crate::store::rebuild::NewestCorrections;
use crate::store::{CorrectionOutcome, DbError};

/// key (3), action, function, region, cpu, memory, invocations.
type NewestRow = (String, String, String, String, String, String, i64, String, i64);

type StateRow = (i64, String, String, i64, String, i64);

fn quantities(cpu: i64, memory: &str, invocations: i64) -> Result<Quantities, DbError> {
    Ok(Quantities { cpu_cycles: cpu.into(), memory_gb_seconds: decimal_text(memory)?, invocations: invocations.into() })
}

#[tracing::instrument(skip_all, fields(tenant_id = %c.key.tenant_id))]
pub(super) async fn apply(
    tx: &mut Transaction<'_, Sqlite>,
    c: &UsageCorrection,
    now: DateTime<Utc>,
) -> Result<CorrectionOutcome, DbError> {
    let key = &c.key;
    let original: Option<StateRow> = sqlx::query_as(
        r#"select ts, function, region, cpu_cycles, memory_gb_seconds, invocations from usage_record
        where tenant_id = $1 and source = $2 and record_id = $3"#,
    )
    .bind(key.tenant_id.as_str())
    .bind(&key.source)
    .bind(&key.record_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((ts, function, region, cpu, mem, inv)) = original else { return Ok(CorrectionOutcome::RecordNotFound) };
    let original =
        RecordState { timestamp: from_micros(ts)?, function, region, quantities: quantities(cpu, &mem, inv)? };
    if c.closed_before.is_some_and(|end| original.timestamp < end) {
        return Ok(CorrectionOutcome::PeriodClosed);
    }
    let newest: Option<(i32, String, String, String, i64, String, i64)> = sqlx::query_as(
        r#"select seq, action, function, region, cpu_cycles, memory_gb_seconds, invocations from usage_correction
        where tenant_id = $1 and source = $2 and record_id = $3 order by seq desc limit 1"#,
    )
    .bind(key.tenant_id.as_str())
    .bind(&key.source)
    .bind(&key.record_id)
    .fetch_optional(&mut **tx)
    .await?;
    let seq = newest.as_ref().map_or(1, |n| n.0 + 1);
    let newest = match newest {
        None => None,
        Some((_, action, _, _, _, _, _)) if action != "replace" => Some(None),
        Some((_, _, function, region, cpu, mem, inv)) => Some(Some(RecordState {
            timestamp: original.timestamp,
            function,
            region,
            quantities: quantities(cpu, &mem, inv)?,
        })),
    };
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
    .bind(q.memory_gb_seconds.normalize().to_string())
    .bind(whole(q.invocations)?)
    .bind(&c.reason)
    .bind(micros(now))
    .execute(&mut **tx)
    .await?;
    for (rollup, delta) in correction_deltas(&key.tenant_id, before.as_ref(), after.as_ref())? {
        super::usage::add_to_rollup(tx, &rollup, &delta).await?;
    }
    Ok(CorrectionOutcome::Applied { seq, before: before.map(Box::new), after: after.map(Box::new) })
}

/// Newest correction per corrected record, for rebuilds: `None` for a void.
pub(super) async fn newest_states(tx: &mut Transaction<'_, Sqlite>) -> Result<NewestCorrections, DbError> {
    let rows: Vec<NewestRow> = sqlx::query_as(
        r#"select c.tenant_id, c.source, c.record_id, c.action, c.function, c.region, c.cpu_cycles,
            c.memory_gb_seconds, c.invocations
        from usage_correction c
        where c.seq = (select max(seq) from usage_correction n
            where n.tenant_id = c.tenant_id and n.source = c.source and n.record_id = c.record_id)"#,
    )
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|(t, s, id, action, f, r, cpu, mem, inv)| {
            let content = if action == "replace" { Some((f, r, quantities(cpu, &mem, inv)?)) } else { None };
            Ok(((t, s, id), content))
        })
        .collect()
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn sample_ids(
    pool: &SqlitePool,
    tenant: &TenantId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> =
        sqlx::query_as("select record_id from usage_record where tenant_id = $1 and ts >= $2 and ts < $3 limit $4")
            .bind(tenant.as_str())
            .bind(micros(from))
            .bind(micros(to))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
