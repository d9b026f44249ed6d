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

/// Inserts a row that may exist only once (`$insert` is an `insert … on conflict do nothing`
/// with its binds) and, only when it took, the outbox event announcing it — one transaction.
/// The value is `Ok(true)` when recorded now, `Ok(false)` when another pass or process got
/// there first: the "exactly one alert / entry, announced once" rule quotas and unbilled usage
/// share.
macro_rules! insert_once_announced {
    ($store:expr, $insert:expr, ($tenant:expr, $kind:expr, $payload:expr, $now:expr)) => {{
        let mut tx = $store.begin().await?;
        let inserted = $crate::store::engine::execute_on_tx!(&mut tx, $insert)?;
        if inserted == 0 {
            Ok(false)
        } else {
            $crate::store::outbox::append(&mut tx, $tenant, $kind, $payload, $now).await?;
            tx.commit().await?;
            Ok(true)
        }
    }};
}

pub(super) use insert_once_announced;
