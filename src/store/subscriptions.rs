//! `subscription` table: a tenant's plan changes, each effective from an instant.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::codec::Instant;
use super::engine::{on_read, on_tx, Tx};
use super::{audit, DbError, Store};
use crate::domain::{Actor, AuditTarget, SubscriptionChange, TenantId};

impl Store {
    /// Puts a tenant on a plan from `change.effective_at` (no plan: ends the subscription),
    /// with the `subscription.changed` audit event of `actor` (see [`record_change`]).
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn change_subscription(
        &self,
        tenant: &TenantId,
        change: &SubscriptionChange,
        now: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        record_change(&mut tx, tenant, change, now, actor).await?;
        tx.commit().await?;
        self.mark_changed([tenant]);
        Ok(())
    }

    /// A tenant's subscription changes, ordered by `effective_at`.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn subscriptions(&self, tenant: &TenantId) -> Result<Vec<SubscriptionChange>, DbError> {
        let rows: Vec<(Instant, String, Instant)> =
            on_read!(self.read(), |db| sqlx::query_as(CHANGES).bind(tenant.as_str()).fetch_all(db).await)?;
        Ok(rows.into_iter().map(change).collect())
    }
}

const CHANGES: &str = r#"
    select effective_at, plan_id, usage_from
    from subscription
    where tenant_id = $1
    order by effective_at
"#;

/// A tenant's subscription changes as `tx` sees them, ordered by `effective_at`.
pub(super) async fn changes_in(tx: &mut Tx, tenant: &TenantId) -> Result<Vec<SubscriptionChange>, DbError> {
    let rows: Vec<(Instant, String, Instant)> =
        on_tx!(&mut *tx, |db| sqlx::query_as(CHANGES).bind(tenant.as_str()).fetch_all(db).await)?;
    Ok(rows.into_iter().map(change).collect())
}

/// Stores `change` inside `tx`, with `actor`'s `subscription.changed` audit event.
///
/// It replaces every change at or after its instant (a later schedule is void once the
/// tenant is put on a plan now). An earlier change keeps its fees up to `effective_at` even
/// when it began in the same 15-minute bucket: the newer change wins that bucket's usage
/// (DESIGN §6), so the earlier one's usage is cut back to `usage_from` — a plan held for six
/// minutes bills six minutes of fees and no usage, instead of vanishing and leaving those
/// minutes to the plan before it.
pub(super) async fn record_change(
    tx: &mut Tx,
    tenant: &TenantId,
    change: &SubscriptionChange,
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<(), DbError> {
    let replaced = "delete from subscription where tenant_id = $1 and effective_at >= $2";
    let bucket_given_up = "update subscription set usage_from = $2 where tenant_id = $1 and usage_from > $2";
    let insert = r#"
        insert into subscription (tenant_id, effective_at, plan_id, created_at, usage_from)
        values ($1, $2, $3, $4, $5)
    "#;
    let (at, usage_from) = (Instant(change.effective_at), Instant(change.usage_from));
    on_tx!(&mut *tx, |db| sqlx::query(replaced).bind(tenant.as_str()).bind(at).execute(db).await.map(|_| ()))?;
    on_tx!(&mut *tx, |db| sqlx::query(bucket_given_up)
        .bind(tenant.as_str())
        .bind(usage_from)
        .execute(db)
        .await
        .map(|_| ()))?;
    on_tx!(&mut *tx, |db| sqlx::query(insert)
        .bind(tenant.as_str())
        .bind(at)
        .bind(change.plan_id.as_deref().unwrap_or(""))
        .bind(Instant(now))
        .bind(usage_from)
        .execute(db)
        .await
        .map(|_| ()))?;
    let detail = json!({ "plan": change.plan_id, "effective_at": change.effective_at });
    let target = AuditTarget::tenant("subscription", tenant);
    audit::append(tx, actor, "subscription.changed", &target, detail, now).await
}

/// A stored `(effective_at, plan_id, usage_from)` row as a change.
pub(super) fn change((at, id, usage_from): (Instant, String, Instant)) -> SubscriptionChange {
    // An ended subscription is stored with an empty plan id, so the key stays NOT NULL.
    let plan_id = (!id.is_empty()).then_some(id);
    SubscriptionChange { effective_at: at.0, plan_id, usage_from: usage_from.0 }
}
