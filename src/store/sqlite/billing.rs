//! Closing billing periods on SQLite: the same steps as PostgreSQL inside the single writer's
//! `BEGIN IMMEDIATE` transaction (which is what serializes concurrent runs here).

use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::domain::TenantId;
use crate::invoice::{BillingPeriod, InvoiceDocument};
use crate::store::convert::{corrupt_json, decimal_text, from_micros, invoice_id, micros, number_text};
use crate::store::{DbError, IssueInvoice, IssueOutcome};

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn closed_periods(pool: &SqlitePool, tenant: &TenantId) -> Result<Vec<BillingPeriod>, DbError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "select period_start, period_end from billing_period where tenant_id = $1 and state = 'closed' order by period_start",
    )
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(s, e)| {
            BillingPeriod::new(from_micros(s)?, from_micros(e)?)
                .ok_or_else(|| DbError::Corrupt("an empty billing period".into()))
        })
        .collect()
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn billed_lines(
    pool: &SqlitePool,
    tenant: &TenantId,
    period_start: DateTime<Utc>,
) -> Result<Vec<(String, Decimal)>, DbError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("select line_key, amount from billed_line where tenant_id = $1 and period_start = $2")
            .bind(tenant.as_str())
            .bind(micros(period_start))
            .fetch_all(pool)
            .await?;
    rows.into_iter().map(|(key, amount)| Ok((key, decimal_text(&amount)?))).collect()
}

#[tracing::instrument(skip_all, fields(tenant_id = %issue.tenant))]
pub(super) async fn issue(tx: &mut Transaction<'_, Sqlite>, issue: &IssueInvoice<'_>) -> Result<IssueOutcome, DbError> {
    let doc = &issue.assembled.document;
    let tenant = issue.tenant.as_str();
    let state: Option<(String,)> =
        sqlx::query_as("select state from billing_period where tenant_id = $1 and period_start = $2")
            .bind(tenant)
            .bind(micros(doc.period_start))
            .fetch_optional(&mut **tx)
            .await?;
    if state.is_some_and(|(s,)| s == "closed") {
        return Ok(IssueOutcome::AlreadyClosed);
    }
    let number = next_number(tx, issue.invoice_prefix, issue.now.year()).await?;
    let mut document = doc.clone();
    document.id = invoice_id(issue.tenant);
    document.number = number;
    insert_invoice(tx, &document).await?;
    super::effects::record(tx, issue, &document).await?;
    sqlx::query(
        r#"insert into billing_period (tenant_id, period_start, period_end, state, closed_at, invoice_id)
        values ($1, $2, $3, 'closed', $4, $5)
        on conflict (tenant_id, period_start) do update set state = 'closed', closed_at = $4, invoice_id = $5"#,
    )
    .bind(tenant)
    .bind(micros(doc.period_start))
    .bind(micros(doc.period_end))
    .bind(micros(issue.now))
    .bind(&document.id)
    .execute(&mut **tx)
    .await?;
    Ok(IssueOutcome::Issued(Box::new(document)))
}

/// The next gapless number for `prefix` and `year`, inside the caller's transaction.
pub(super) async fn next_number(tx: &mut Transaction<'_, Sqlite>, prefix: &str, year: i32) -> Result<String, DbError> {
    sqlx::query("insert into number_counter (prefix, year, next_value) values ($1, $2, 1) on conflict do nothing")
        .bind(prefix)
        .bind(year)
        .execute(&mut **tx)
        .await?;
    let (value,): (i64,) = sqlx::query_as(
        "update number_counter set next_value = next_value + 1 where prefix = $1 and year = $2 returning next_value - 1",
    )
    .bind(prefix)
    .bind(year)
    .fetch_one(&mut **tx)
    .await?;
    Ok(number_text(prefix, year, value))
}

async fn insert_invoice(tx: &mut Transaction<'_, Sqlite>, d: &InvoiceDocument) -> Result<(), DbError> {
    sqlx::query(
        r#"insert into invoice (tenant_id, invoice_id, kind, number, status, period_start, period_end, currency,
            subtotal, tax, credits_applied, total, document, issued_at, created_at)
        values ($1, $2, 'period', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)"#,
    )
    .bind(d.customer.tenant_id.as_str())
    .bind(&d.id)
    .bind(&d.number)
    .bind(d.status.as_str())
    .bind(micros(d.period_start))
    .bind(micros(d.period_end))
    .bind(d.currency.code())
    .bind(d.subtotal.normalize().to_string())
    .bind(d.tax.normalize().to_string())
    .bind(d.credits_applied.normalize().to_string())
    .bind(d.total.normalize().to_string())
    .bind(serde_json::to_string(d).map_err(corrupt_json)?)
    .bind(micros(d.issued_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
