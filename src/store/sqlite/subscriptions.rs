//! `subscription` table.

use chrono::{DateTime, Utc};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::domain::{SubscriptionChange, TenantId};
use crate::store::convert::{from_micros, micros};
use crate::store::DbError;

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn change(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    change: &SubscriptionChange,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query("delete from subscription where tenant_id = $1 and effective_at >= $2")
        .bind(tenant.as_str())
        .bind(micros(change.effective_at))
        .execute(&mut **tx)
        .await?;
    sqlx::query("insert into subscription (tenant_id, effective_at, plan_id, created_at) values ($1, $2, $3, $4)")
        .bind(tenant.as_str())
        .bind(micros(change.effective_at))
        .bind(&change.plan_id)
        .bind(micros(now))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn of(pool: &SqlitePool, tenant: &TenantId) -> Result<Vec<SubscriptionChange>, DbError> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("select effective_at, plan_id from subscription where tenant_id = $1 order by effective_at")
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await?;
    rows.into_iter().map(|(at, plan_id)| Ok(SubscriptionChange { effective_at: from_micros(at)?, plan_id })).collect()
}
