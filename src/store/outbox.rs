//! `outbox`: messages written in the same transaction as the business event they announce,
//! delivered later by the notify worker.

use chrono::{DateTime, Utc};

use super::codec::{entry_id, Instant};
use super::engine::{on_tx, Tx};
use super::DbError;
use crate::domain::{InvoiceDocument, TenantId};

/// Appends a pending message of `kind` inside the caller's transaction.
pub(super) async fn append(
    tx: &mut Tx,
    tenant: &TenantId,
    kind: &str,
    payload: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let sql = r#"insert into outbox (tenant_id, message_id, kind, payload, state, next_attempt_at, created_at)
        values ($1, $2, $3, $4, 'pending', $5, $5)"#;
    let message_id = format!("{kind}:{}", entry_id());
    on_tx!(tx, |db| sqlx::query(sql)
        .bind(tenant.as_str())
        .bind(&message_id)
        .bind(kind)
        .bind(payload)
        .bind(Instant(now))
        .execute(db)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Rows per multi-row outbox insert: 7 binds a row stay far below both engines' limits on
/// binds per statement (65 535; SQLite 32 766).
const MESSAGES_PER_STATEMENT: usize = 1_000;

/// Appends one pending message of `kind` per (tenant, payload) inside the caller's
/// transaction, a multi-row statement per thousand.
pub(super) async fn append_many(
    tx: &mut Tx,
    kind: &str,
    messages: &[(&TenantId, &str)],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    for chunk in messages.chunks(MESSAGES_PER_STATEMENT) {
        on_tx!(tx, |db| {
            let mut insert = sqlx::QueryBuilder::new(
                "insert into outbox (tenant_id, message_id, kind, payload, state, next_attempt_at, created_at) ",
            );
            insert.push_values(chunk, |mut row, (tenant, payload)| {
                row.push_bind(tenant.as_str())
                    .push_bind(format!("{kind}:{}", entry_id()))
                    .push_bind(kind)
                    .push_bind(*payload)
                    .push_bind("pending")
                    .push_bind(Instant(now))
                    .push_bind(Instant(now));
            });
            insert.build().execute(db).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// Appends one `kind` event per invoice, its [`InvoiceDocument::event_payload`], inside the
/// caller's transaction (issued invoices, overdue reminders).
pub(super) async fn append_invoice_events<'a>(
    tx: &mut Tx,
    kind: &str,
    documents: impl IntoIterator<Item = &'a InvoiceDocument>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let documents: Vec<&InvoiceDocument> = documents.into_iter().collect();
    let payloads: Vec<String> = documents.iter().map(|d| d.event_payload()).collect();
    let messages: Vec<_> = documents.iter().zip(&payloads).map(|(d, p)| (d.id.tenant(), p.as_str())).collect();
    append_many(tx, kind, &messages, now).await
}
