//! `credit_entry`: the append-only credit ledger.

use chrono::{DateTime, Utc};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::domain::TenantId;
use crate::invoice::CreditEntry;
use crate::store::convert::{credit_entry, decimal_text, entry_id, from_micros, granted_entry, micros, CreditColumns};
use crate::store::{DbError, NewCreditGrant};

type EntryRow = (String, String, String, String, String, Option<i64>, String, Option<String>, i64);

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn grant(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    grant: &NewCreditGrant,
    now: DateTime<Utc>,
) -> Result<CreditEntry, DbError> {
    let id = entry_id();
    sqlx::query(
        r#"insert into credit_entry (tenant_id, entry_id, kind, grant_id, amount, currency, expires_at, reason, created_at)
        values ($1, $2, 'grant', $2, $3, $4, $5, $6, $7)"#,
    )
    .bind(tenant.as_str())
    .bind(&id)
    .bind(grant.amount.normalize().to_string())
    .bind(grant.currency.code())
    .bind(grant.expires_at.map(micros))
    .bind(&grant.reason)
    .bind(micros(now))
    .execute(&mut **tx)
    .await?;
    Ok(granted_entry(id, grant, now))
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn entries(pool: &SqlitePool, tenant: &TenantId) -> Result<Vec<CreditEntry>, DbError> {
    let rows: Vec<EntryRow> = sqlx::query_as(
        r#"select entry_id, kind, grant_id, amount, currency, expires_at, reason, invoice_id, created_at
        from credit_entry where tenant_id = $1 order by created_at, entry_id"#,
    )
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            credit_entry(CreditColumns {
                entry_id: r.0,
                kind: r.1,
                grant_id: r.2,
                amount: decimal_text(&r.3)?,
                currency: r.4,
                expires_at: r.5.map(from_micros).transpose()?,
                reason: r.6,
                invoice_id: r.7,
                created_at: from_micros(r.8)?,
            })
        })
        .collect()
}
