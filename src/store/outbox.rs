//! `outbox`: messages written in the same transaction as the business event they announce,
//! delivered later by the notify worker.

use chrono::{DateTime, Utc};

use super::codec::{entry_id, Instant};
use super::engine::{on_tx, Tx};
use super::DbError;
use crate::domain::TenantId;

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
