//! Reading invoices and moving their status (see the PostgreSQL twin).

use chrono::{DateTime, Datelike, Utc};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::domain::TenantId;
use crate::invoice::{CreditEntryKind, InvoiceStatus};
use crate::store::convert::{entry_id, from_micros, micros, outbox_payload, stored_invoice};
use crate::store::{DbError, StatusChange, StoredInvoice};

type InvoiceRow = (String, String, Option<i64>, Option<i64>, Option<String>);

const COLUMNS: &str = "document, status, paid_at, voided_at, credit_note_number";

fn decode(row: InvoiceRow) -> Result<StoredInvoice, DbError> {
    stored_invoice(&row.0, &row.1, row.2.map(from_micros).transpose()?, row.3.map(from_micros).transpose()?, row.4)
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn list(
    pool: &SqlitePool,
    tenant: &TenantId,
    before: Option<(DateTime<Utc>, String)>,
    limit: u32,
) -> Result<Vec<StoredInvoice>, DbError> {
    let (at, id) = before.map_or((i64::MAX, String::new()), |(at, id)| (micros(at), id));
    let sql = format!(
        r#"select {COLUMNS} from invoice
        where tenant_id = $1 and (period_start < $2 or (period_start = $2 and invoice_id < $3) or $3 = '')
        order by period_start desc, invoice_id desc
        limit $4"#
    );
    let rows: Vec<InvoiceRow> =
        sqlx::query_as(&sql).bind(tenant.as_str()).bind(at).bind(id).bind(i64::from(limit)).fetch_all(pool).await?;
    rows.into_iter().map(decode).collect()
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn get(
    pool: &SqlitePool,
    tenant: &TenantId,
    invoice_id: &str,
) -> Result<Option<StoredInvoice>, DbError> {
    let sql = format!("select {COLUMNS} from invoice where tenant_id = $1 and invoice_id = $2");
    let row: Option<InvoiceRow> =
        sqlx::query_as(&sql).bind(tenant.as_str()).bind(invoice_id).fetch_optional(pool).await?;
    row.map(decode).transpose()
}

#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn mark_paid(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    invoice_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "update invoice set status = 'paid', paid_at = $3 where tenant_id = $1 and invoice_id = $2 and status = 'finalized'",
    )
    .bind(tenant.as_str())
    .bind(invoice_id)
    .bind(micros(now))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Numbers a credit note, voids, restores consumed credits; inside the writer's transaction.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub(super) async fn void(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    invoice_id: &str,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<Option<InvoiceStatus>, DbError> {
    let status: Option<(String, String)> =
        sqlx::query_as("select status, document from invoice where tenant_id = $1 and invoice_id = $2")
            .bind(tenant.as_str())
            .bind(invoice_id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some((status, document)) = status else { return Ok(None) };
    let status = InvoiceStatus::parse(&status).ok_or_else(|| DbError::Corrupt(format!("invoice status {status}")))?;
    if !matches!(status, InvoiceStatus::Finalized | InvoiceStatus::Paid) {
        return Ok(Some(status));
    }
    let number = super::billing::next_number(tx, prefix, now.year()).await?;
    sqlx::query(
        "update invoice set status = 'void', voided_at = $3, credit_note_number = $4 where tenant_id = $1 and invoice_id = $2",
    )
    .bind(tenant.as_str())
    .bind(invoice_id)
    .bind(micros(now))
    .bind(&number)
    .execute(&mut **tx)
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
    .bind(micros(now))
    .execute(&mut **tx)
    .await?;
    let stored = stored_invoice(&document, "void", None, Some(now), Some(number))?;
    super::effects::insert_outbox(tx, tenant.as_str(), "invoice.voided", &outbox_payload(&stored.document), now)
        .await?;
    Ok(Some(InvoiceStatus::Void))
}

/// The status change as seen after the transaction.
pub(super) async fn after_change(
    pool: &SqlitePool,
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
