//! What issuing an invoice writes besides the invoice: billed amounts per line key, credit
//! consumptions (and a remainder credit), and the `invoice.finalized` outbox row.

use sqlx::{Postgres, Transaction};

use crate::invoice::{CreditEntryKind, InvoiceDocument};
use crate::store::convert::{entry_id, outbox_payload};
use crate::store::{DbError, IssueInvoice};

pub(super) async fn record(
    tx: &mut Transaction<'_, Postgres>,
    issue: &IssueInvoice<'_>,
    document: &InvoiceDocument,
) -> Result<(), DbError> {
    let tenant = issue.tenant.as_str();
    let billed = &issue.assembled.billed;
    if !billed.is_empty() {
        sqlx::query(
            r#"insert into billed_line (tenant_id, period_start, line_key, invoice_id, amount)
            select $1, t.period_start, t.line_key, $2, t.amount
            from unnest($3::timestamptz[], $4::text[], $5::numeric[]) as t (period_start, line_key, amount)"#,
        )
        .bind(tenant)
        .bind(&document.id)
        .bind(billed.iter().map(|b| b.period_start).collect::<Vec<_>>())
        .bind(billed.iter().map(|b| b.key.as_str()).collect::<Vec<_>>())
        .bind(billed.iter().map(|b| b.amount).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    for (grant_id, amount) in &issue.assembled.consumptions {
        let entry =
            NewEntry { kind: CreditEntryKind::Consumption, grant_id, amount: *amount, reason: "applied to invoice" };
        insert_entry(tx, issue, document, &entry).await?;
    }
    if let Some(amount) = issue.assembled.remainder_credit {
        let id = entry_id();
        let entry =
            NewEntry { kind: CreditEntryKind::Grant, grant_id: &id, amount, reason: "negative invoice remainder" };
        insert_entry(tx, issue, document, &entry).await?;
    }
    insert_outbox(tx, tenant, "invoice.finalized", &outbox_payload(document), issue.now).await
}

struct NewEntry<'a> {
    kind: CreditEntryKind,
    grant_id: &'a str,
    amount: rust_decimal::Decimal,
    reason: &'a str,
}

async fn insert_entry(
    tx: &mut Transaction<'_, Postgres>,
    issue: &IssueInvoice<'_>,
    document: &InvoiceDocument,
    entry: &NewEntry<'_>,
) -> Result<(), DbError> {
    let id = if entry.kind == CreditEntryKind::Grant { entry.grant_id.to_owned() } else { entry_id() };
    sqlx::query(
        r#"insert into credit_entry (tenant_id, entry_id, kind, grant_id, amount, currency, reason, invoice_id, created_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
    )
    .bind(issue.tenant.as_str())
    .bind(id)
    .bind(entry.kind.as_str())
    .bind(entry.grant_id)
    .bind(entry.amount)
    .bind(document.currency.code())
    .bind(entry.reason)
    .bind(&document.id)
    .bind(issue.now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Appends an outbox message (delivered later by the notify worker).
pub(super) async fn insert_outbox(
    tx: &mut Transaction<'_, Postgres>,
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
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
