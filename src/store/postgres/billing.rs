//! Closing billing periods: `billing_period`, `invoice`, `billed_line`, `number_counter`,
//! credit consumptions and the outbox row — one transaction per period.

use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;
use sqlx::{PgPool, Postgres, Transaction};

use crate::domain::TenantId;
use crate::invoice::{BillingPeriod, InvoiceDocument};
use crate::store::convert::{corrupt_json, invoice_id, number_text};
use crate::store::{DbError, IssueInvoice, IssueOutcome};

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn closed_periods(pool: &PgPool, tenant: &TenantId) -> Result<Vec<BillingPeriod>, DbError> {
    let rows: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "select period_start, period_end from billing_period where tenant_id = $1 and state = 'closed' order by period_start",
    )
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(s, e)| BillingPeriod::new(s, e).ok_or_else(|| DbError::Corrupt("an empty billing period".into())))
        .collect()
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn billed_lines(
    pool: &PgPool,
    tenant: &TenantId,
    period_start: DateTime<Utc>,
) -> Result<Vec<(String, Decimal)>, DbError> {
    Ok(sqlx::query_as("select line_key, amount from billed_line where tenant_id = $1 and period_start = $2")
        .bind(tenant.as_str())
        .bind(period_start)
        .fetch_all(pool)
        .await?)
}

/// Claims the period row with `for update skip locked`, so concurrent runs on several nodes
/// neither wait for nor duplicate each other; everything else happens under that claim.
#[tracing::instrument(skip_all, fields(tenant_id = %issue.tenant))]
pub(super) async fn issue(pool: &PgPool, issue: &IssueInvoice<'_>) -> Result<IssueOutcome, DbError> {
    let doc = &issue.assembled.document;
    let tenant = issue.tenant.as_str();
    let mut tx = pool.begin().await?;
    sqlx::query(
        r#"insert into billing_period (tenant_id, period_start, period_end, state) values ($1, $2, $3, 'open')
        on conflict do nothing"#,
    )
    .bind(tenant)
    .bind(doc.period_start)
    .bind(doc.period_end)
    .execute(&mut *tx)
    .await?;
    let state: Option<(String,)> = sqlx::query_as(
        "select state from billing_period where tenant_id = $1 and period_start = $2 for update skip locked",
    )
    .bind(tenant)
    .bind(doc.period_start)
    .fetch_optional(&mut *tx)
    .await?;
    match state.as_ref().map(|(s,)| s.as_str()) {
        None => return Ok(IssueOutcome::Busy),
        Some("closed") => return Ok(IssueOutcome::AlreadyClosed),
        Some(_) => {}
    }
    let number = next_number(&mut tx, issue.invoice_prefix, issue.now.year()).await?;
    let mut document = doc.clone();
    document.id = invoice_id(issue.tenant);
    document.number = number;
    insert_invoice(&mut tx, &document).await?;
    super::effects::record(&mut tx, issue, &document).await?;
    sqlx::query(
        "update billing_period set state = 'closed', closed_at = $3, invoice_id = $4 where tenant_id = $1 and period_start = $2",
    )
    .bind(tenant)
    .bind(doc.period_start)
    .bind(issue.now)
    .bind(&document.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(IssueOutcome::Issued(Box::new(document)))
}

/// The next gapless number for `prefix` and `year`, inside the caller's transaction.
pub(super) async fn next_number(
    tx: &mut Transaction<'_, Postgres>,
    prefix: &str,
    year: i32,
) -> Result<String, DbError> {
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

async fn insert_invoice(tx: &mut Transaction<'_, Postgres>, d: &InvoiceDocument) -> Result<(), DbError> {
    let tenant = d.customer.tenant_id.as_str();
    sqlx::query(
        r#"insert into invoice (tenant_id, invoice_id, kind, number, status, period_start, period_end, currency,
            subtotal, tax, credits_applied, total, document, issued_at, created_at)
        values ($1, $2, 'period', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)"#,
    )
    .bind(tenant)
    .bind(&d.id)
    .bind(&d.number)
    .bind(d.status.as_str())
    .bind(d.period_start)
    .bind(d.period_end)
    .bind(d.currency.code())
    .bind(d.subtotal)
    .bind(d.tax)
    .bind(d.credits_applied)
    .bind(d.total)
    .bind(serde_json::to_string(d).map_err(corrupt_json)?)
    .bind(d.issued_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
