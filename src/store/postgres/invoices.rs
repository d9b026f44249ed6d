//! Reading invoices and moving their status (the content stays as issued: a trigger refuses
//! anything else).

use chrono::{DateTime, Datelike, Utc};
use sqlx::PgPool;

use crate::domain::TenantId;
use crate::invoice::{CreditEntryKind, InvoiceStatus};
use crate::store::convert::{entry_id, outbox_payload, stored_invoice};
use crate::store::{DbError, StatusChange, StoredInvoice};

type InvoiceRow = (String, String, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<String>);

const COLUMNS: &str = "document, status, paid_at, voided_at, credit_note_number";

fn decode(row: InvoiceRow) -> Result<StoredInvoice, DbError> {
    stored_invoice(&row.0, &row.1, row.2, row.3, row.4)
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    before: Option<(DateTime<Utc>, String)>,
    limit: u32,
) -> Result<Vec<StoredInvoice>, DbError> {
    let (at, id) = before.unwrap_or((DateTime::<Utc>::MAX_UTC, String::new()));
    let sql = format!(
        r#"select {COLUMNS} from invoice
        where tenant_id = $1 and (period_start < $2 or (period_start = $2 and invoice_id < $3) or $3 = '')
        order by period_start desc, invoice_id desc
        limit $4"#
    );
    let at = at.min(super::super::LATEST);
    let rows: Vec<InvoiceRow> =
        sqlx::query_as(&sql).bind(tenant.as_str()).bind(at).bind(id).bind(i64::from(limit)).fetch_all(pool).await?;
    rows.into_iter().map(decode).collect()
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn get(pool: &PgPool, tenant: &TenantId, invoice_id: &str) -> Result<Option<StoredInvoice>, DbError> {
    let sql = format!("select {COLUMNS} from invoice where tenant_id = $1 and invoice_id = $2");
    let row: Option<InvoiceRow> =
        sqlx::query_as(&sql).bind(tenant.as_str()).bind(invoice_id).fetch_optional(pool).await?;
    row.map(decode).transpose()
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn mark_paid(
    pool: &PgPool,
    tenant: &TenantId,
    invoice_id: &str,
    now: DateTime<Utc>,
) -> Result<StatusChange, DbError> {
    let done = sqlx::query(
        "update invoice set status = 'paid', paid_at = $3 where tenant_id = $1 and invoice_id = $2 and status = 'finalized'",
    )
    .bind(tenant.as_str())
    .bind(invoice_id)
    .bind(now)
    .execute(pool)
    .await?;
    after_change(pool, tenant, invoice_id, done.rows_affected() == 1).await
}

/// Locks the invoice row, numbers a credit note, voids, and restores every credit the
/// invoice consumed — one transaction.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn void(
    pool: &PgPool,
    tenant: &TenantId,
    invoice_id: &str,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<StatusChange, DbError> {
    let mut tx = pool.begin().await?;
    let status: Option<(String,)> =
        sqlx::query_as("select status from invoice where tenant_id = $1 and invoice_id = $2 for update")
            .bind(tenant.as_str())
            .bind(invoice_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((status,)) = status else { return Ok(StatusChange::NotFound) };
    let status = InvoiceStatus::parse(&status).ok_or_else(|| DbError::Corrupt(format!("invoice status {status}")))?;
    if !matches!(status, InvoiceStatus::Finalized | InvoiceStatus::Paid) {
        return Ok(StatusChange::NotAllowed(status));
    }
    let number = super::billing::next_number(&mut tx, prefix, now.year()).await?;
    sqlx::query(
        "update invoice set status = 'void', voided_at = $3, credit_note_number = $4 where tenant_id = $1 and invoice_id = $2",
    )
    .bind(tenant.as_str())
    .bind(invoice_id)
    .bind(now)
    .bind(&number)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r#"insert into credit_entry (tenant_id, entry_id, kind, grant_id, amount, currency, reason, invoice_id, created_at)
        select tenant_id, $3 || '-' || entry_id, $4, grant_id, amount, currency, 'invoice voided', invoice_id, $5
        from credit_entry where tenant_id = $1 and invoice_id = $2 and kind = 'consumption'"#,
    )
    .bind(tenant.as_str())
    .bind(invoice_id)
    .bind(entry_id())
    .bind(CreditEntryKind::Restoration.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let (document,): (String,) =
        sqlx::query_as("select document from invoice where tenant_id = $1 and invoice_id = $2")
            .bind(tenant.as_str())
            .bind(invoice_id)
            .fetch_one(&mut *tx)
            .await?;
    let stored = stored_invoice(&document, "void", None, Some(now), Some(number))?;
    super::effects::insert_outbox(&mut tx, tenant.as_str(), "invoice.voided", &outbox_payload(&stored.document), now)
        .await?;
    tx.commit().await?;
    after_change(pool, tenant, invoice_id, true).await
}

async fn after_change(
    pool: &PgPool,
    tenant: &TenantId,
    invoice_id: &str,
    changed: bool,
) -> Result<StatusChange, DbError> {
    match get(pool, tenant, invoice_id).await? {
        None => Ok(StatusChange::NotFound),
        Some(invoice) if changed => Ok(StatusChange::Changed(Box::new(invoice))),
        Some(invoice) => Ok(StatusChange::NotAllowed(invoice.document.status)),
    }
}
