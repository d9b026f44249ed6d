//! What issuing an invoice writes besides the invoice (see the PostgreSQL twin).

use sqlx::{Sqlite, Transaction};

use crate::invoice::{CreditEntryKind, InvoiceDocument};
use crate::store::convert::{entry_id, micros, outbox_payload};
use crate::store::{DbError, IssueInvoice};

pub(super) async fn record(
    tx: &mut Transaction<'_, Sqlite>,
    issue: &IssueInvoice<'_>,
    document: &InvoiceDocument,
) -> Result<(), DbError> {
    let tenant = issue.tenant.as_str();
    for billed in &issue.assembled.billed {
        sqlx::query(
            "insert into billed_line (tenant_id, period_start, line_key, invoice_id, amount) values ($1, $2, $3, $4, $5)",
        )
        .bind(tenant)
        .bind(micros(billed.period_start))
        .bind(&billed.key)
        .bind(&document.id)
        .bind(billed.amount.normalize().to_string())
        .execute(&mut **tx)
        .await?;
    }
    for (grant_id, amount) in &issue.assembled.consumptions {
        insert_entry(tx, issue, document, (CreditEntryKind::Consumption, grant_id, *amount, "applied to invoice"))
            .await?;
    }
    if let Some(amount) = issue.assembled.remainder_credit {
        let id = entry_id();
        insert_entry(tx, issue, document, (CreditEntryKind::Grant, &id, amount, "negative invoice remainder")).await?;
    }
    insert_outbox(tx, tenant, "invoice.finalized", &outbox_payload(document), issue.now).await
}

async fn insert_entry(
    tx: &mut Transaction<'_, Sqlite>,
    issue: &IssueInvoice<'_>,
    document: &InvoiceDocument,
    (kind, grant_id, amount, reason): (CreditEntryKind, &str, rust_decimal::Decimal, &str),
) -> Result<(), DbError> {
    let id = if kind == CreditEntryKind::Grant { grant_id.to_owned() } else { entry_id() };
    sqlx::query(
        r#"insert into credit_entry (tenant_id, entry_id, kind, grant_id, amount, currency, reason, invoice_id, created_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
    )
    .bind(issue.tenant.as_str())
    .bind(id)
    .bind(kind.as_str())
    .bind(grant_id)
    .bind(amount.normalize().to_string())
    .bind(document.currency.code())
    .bind(reason)
    .bind(&document.id)
    .bind(micros(issue.now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Appends an outbox message (delivered later by the notify worker).
pub(super) async fn insert_outbox(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &str,
    kind: &str,
    payload: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), DbError> {
    sqlx::query(
        r#"insert into outbox (tenant_id, message_id, kind, payload, state, next_attempt_at, created_at)
        values ($1, $2, $3, $4, 'pending', $5, $5)"#,
    )
    .bind(tenant)
    .bind(format!("{kind}:{}", entry_id()))
    .bind(kind)
    .bind(payload)
    .bind(micros(now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
