//! `tenant` table.

use chrono::{DateTime, Utc};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::domain::{NewTenant, Tenant, TenantDetails, TenantId, TenantPatch};
use crate::store::convert::{decimal_text, from_micros, json_list, micros, TenantColumns};
use crate::store::DbError;

#[derive(sqlx::FromRow)]
struct TenantRow {
    tenant_id: String,
    name: String,
    billing_emails: String,
    timezone: String,
    tax_rate: String,
    address: String,
    tax_id: String,
    late_usage_policy: String,
    active: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = DbError;

    fn try_from(r: TenantRow) -> Result<Self, DbError> {
        Tenant::try_from(TenantColumns {
            tax_rate: decimal_text(&r.tax_rate)?,
            created_at: from_micros(r.created_at)?,
            updated_at: from_micros(r.updated_at)?,
            tenant_id: r.tenant_id,
            name: r.name,
            billing_emails: r.billing_emails,
            timezone: r.timezone,
            address: r.address,
            tax_id: r.tax_id,
            late_usage_policy: r.late_usage_policy,
            active: r.active,
        })
    }
}

const COLUMNS: &str = r#"tenant_id, name, billing_emails, timezone, tax_rate, address, tax_id,
    late_usage_policy, active, created_at, updated_at"#;

#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
pub(super) async fn create(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &NewTenant,
    now: DateTime<Utc>,
) -> Result<Tenant, DbError> {
    let sql = format!(
        r#"insert into tenant ({COLUMNS})
        values ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)
        returning {COLUMNS}"#
    );
    let row: TenantRow = bind_details(sqlx::query_as(&sql).bind(tenant.id.as_str()), &tenant.details)
        .bind(micros(now))
        .fetch_one(&mut **tx)
        .await?;
    row.try_into()
}

#[tracing::instrument(skip_all, fields(tenant_id = %id))]
pub(super) async fn get(pool: &SqlitePool, id: &TenantId) -> Result<Option<Tenant>, DbError> {
    let sql = format!("select {COLUMNS} from tenant where tenant_id = $1");
    let row: Option<TenantRow> = sqlx::query_as(&sql).bind(id.as_str()).fetch_optional(pool).await?;
    row.map(Tenant::try_from).transpose()
}

/// Read-modify-write inside the caller's `BEGIN IMMEDIATE` transaction.
#[tracing::instrument(skip_all, fields(tenant_id = %id))]
pub(super) async fn update(
    tx: &mut Transaction<'_, Sqlite>,
    id: &TenantId,
    patch: TenantPatch,
    now: DateTime<Utc>,
) -> Result<Option<Tenant>, DbError> {
    let sql = format!("select {COLUMNS} from tenant where tenant_id = $1");
    let Some(row) = sqlx::query_as::<_, TenantRow>(&sql).bind(id.as_str()).fetch_optional(&mut **tx).await? else {
        return Ok(None);
    };
    let tenant = Tenant::try_from(row)?.patched(patch, now);
    let sql = format!(
        r#"update tenant set name = $2, billing_emails = $3, timezone = $4, tax_rate = $5,
            address = $6, tax_id = $7, late_usage_policy = $8, active = $9, updated_at = $10
        where tenant_id = $1
        returning {COLUMNS}"#
    );
    let row: TenantRow = bind_details(sqlx::query_as(&sql).bind(id.as_str()), &tenant.details)
        .bind(tenant.active)
        .bind(micros(now))
        .fetch_one(&mut **tx)
        .await?;
    row.try_into().map(Some)
}

#[tracing::instrument(skip_all)]
pub(super) async fn list(pool: &SqlitePool, after: Option<&TenantId>, limit: u32) -> Result<Vec<Tenant>, DbError> {
    let sql = format!("select {COLUMNS} from tenant where tenant_id > $1 order by tenant_id limit $2");
    let rows: Vec<TenantRow> =
        sqlx::query_as(&sql).bind(after.map_or("", TenantId::as_str)).bind(i64::from(limit)).fetch_all(pool).await?;
    rows.into_iter().map(Tenant::try_from).collect()
}

type TenantQuery<'q> = sqlx::query::QueryAs<'q, Sqlite, TenantRow, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds the seven detail columns, in table order, after whatever is bound already.
fn bind_details<'q>(query: TenantQuery<'q>, d: &'q TenantDetails) -> TenantQuery<'q> {
    query
        .bind(d.name.as_str())
        .bind(json_list(&d.billing_emails))
        .bind(d.timezone.name())
        .bind(d.tax_rate.normalize().to_string())
        .bind(json_list(&d.address))
        .bind(d.tax_id.as_str())
        .bind(d.late_usage_policy.as_str())
}
