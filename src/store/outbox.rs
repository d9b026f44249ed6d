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
