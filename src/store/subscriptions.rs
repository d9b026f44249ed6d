//! `subscription` table: a tenant's plan changes, each effective from an instant.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::codec::Instant;
use super::engine::{on_read, on_tx};
use super::{audit, DbError, Store};
use crate::domain::{Actor, AuditTarget, SubscriptionChange, TenantId};

impl Store {
    /// Puts a tenant on a plan from `change.effective_at` (no plan: ends the subscription),
    /// replacing any change at or after that instant or attributing usage from the same
    /// bucket on (the newer change wins it), with the `subscription.changed` audit event of
    /// `actor`.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn change_subscription(
        &self,
        tenant: &TenantId,
        change: &SubscriptionChange,
        now: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<(), DbError> {
        let replaced = r#"
            delete from subscription
            where tenant_id = $1
              and (effective_at >= $2 or usage_from >= $3)
        "#;
        let insert = r#"
            insert into subscription (tenant_id, effective_at, plan_id, created_at, usage_from)
            values ($1, $2, $3, $4, $5)
        "#;
        let (at, usage_from) = (Instant(change.effective_at), Instant(change.usage_from));
        let mut tx = self.begin().await?;
        on_tx!(&mut tx, |db| sqlx::query(replaced)
            .bind(tenant.as_str())
            .bind(at)
            .bind(usage_from)
            .execute(db)
            .await
            .map(|_| ()))?;
        on_tx!(&mut tx, |db| sqlx::query(insert)
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
        audit::append(&mut tx, actor, "subscription.changed", &target, detail, now).await?;
        tx.commit().await?;
        self.mark_changed([tenant]);
        Ok(())
    }

    /// A tenant's subscription changes, ordered by `effective_at`.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn subscriptions(&self, tenant: &TenantId) -> Result<Vec<SubscriptionChange>, DbError> {
        let sql = r#"
            select effective_at, plan_id, usage_from
            from subscription
            where tenant_id = $1
            order by effective_at
        "#;
        let rows: Vec<(Instant, String, Instant)> =
            on_read!(self.read(), |db| sqlx::query_as(sql).bind(tenant.as_str()).fetch_all(db).await)?;
        Ok(rows.into_iter().map(change).collect())
    }
}

/// A stored `(effective_at, plan_id, usage_from)` row as a change.
pub(super) fn change((at, id, usage_from): (Instant, String, Instant)) -> SubscriptionChange {
    // An ended subscription is stored with an empty plan id, so the key stays NOT NULL.
    let plan_id = (!id.is_empty()).then_some(id);
    SubscriptionChange { effective_at: at.0, plan_id, usage_from: usage_from.0 }
}
