//! `subscription` table.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::{SubscriptionChange, TenantId};
use crate::store::DbError;

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn change(
    pool: &PgPool,
    tenant: &TenantId,
    change: &SubscriptionChange,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let mut tx = pool.begin().await?;
    sqlx::query("delete from subscription where tenant_id = $1 and effective_at >= $2")
        .bind(tenant.as_str())
        .bind(change.effective_at)
        .execute(&mut *tx)
        .await?;
    sqlx::query("insert into subscription (tenant_id, effective_at, plan_id, created_at) values ($1, $2, $3, $4)")
        .bind(tenant.as_str())
        .bind(change.effective_at)
        .bind(&change.plan_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn of(pool: &PgPool, tenant: &TenantId) -> Result<Vec<SubscriptionChange>, DbError> {
    let rows: Vec<(DateTime<Utc>, String)> =
        sqlx::query_as("select effective_at, plan_id from subscription where tenant_id = $1 order by effective_at")
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(effective_at, plan_id)| SubscriptionChange { effective_at, plan_id }).collect())
}
