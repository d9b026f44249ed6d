//! `plan_version` table (global).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::store::{DbError, NewPlanVersion, StoredPlanVersion};

/// A transaction-scoped advisory lock per plan serializes version numbering across
/// processes (never a session lock on a pooled connection).
#[tracing::instrument(skip_all, fields(plan_id = plan.plan_id))]
pub(super) async fn record(
    pool: &PgPool,
    plan: &NewPlanVersion<'_>,
    now: DateTime<Utc>,
) -> Result<(i32, bool), DbError> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(hashtext('tally.plan_version.' || $1))")
        .bind(plan.plan_id)
        .execute(&mut *tx)
        .await?;
    let latest: Option<(i32, String)> = sqlx::query_as(
        "select version, content_hash from plan_version where plan_id = $1 order by version desc limit 1",
    )
    .bind(plan.plan_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((version, hash)) = &latest {
        if hash == plan.content_hash {
            return Ok((*version, false));
        }
    }
    let version = latest.map_or(1, |(v, _)| v + 1);
    sqlx::query(
        r#"insert into plan_version (plan_id, version, content_hash, definition, currency, created_at)
        values ($1, $2, $3, $4, $5, $6)"#,
    )
    .bind(plan.plan_id)
    .bind(version)
    .bind(plan.content_hash)
    .bind(plan.definition)
    .bind(plan.currency)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((version, true))
}

#[tracing::instrument(skip_all)]
pub(super) async fn all(pool: &PgPool) -> Result<Vec<StoredPlanVersion>, DbError> {
    let rows: Vec<(String, i32, String, String, DateTime<Utc>)> = sqlx::query_as(
        "select plan_id, version, content_hash, definition, created_at from plan_version order by plan_id, version",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(plan_id, version, content_hash, definition, created_at)| StoredPlanVersion {
            plan_id,
            version,
            content_hash,
            definition,
            created_at,
        })
        .collect())
}
