//! `quota` table: a tenant's own quotas (the operator's) and budgets (the tenant's), one id
//! space per tenant. Plan default quotas are not stored here (they are in the plan versions).
//! A row's `created_at` is when the quota took its present form: replacing a set keeps it for
//! a quota that comes back unchanged, so saving a set again does not make its quotas new
//! (the evaluator asks it whether a quota was in force in a past period).

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::codec::{Dec, Instant};
use super::engine::{execute_on_tx, on_read, on_tx};
use super::{audit, DbError, Store};
use crate::domain::{Actor, AuditTarget, Quota, QuotaOwner, QuotaSet, TenantId};

#[derive(sqlx::FromRow)]
pub(super) struct QuotaRow {
    quota_id: String,
    owner: String,
    meter: String,
    limit_value: Dec,
    thresholds: Json<Vec<u32>>,
    hard: bool,
    created_at: Instant,
}

/// The set `rows` (ordered by id) make up.
pub(super) fn quota_set_of(tenant: &TenantId, rows: Vec<QuotaRow>) -> Result<QuotaSet, DbError> {
    let mut set = QuotaSet::default();
    for r in rows {
        let quota = Quota::new(&r.quota_id, &r.meter, r.limit_value.0, &r.thresholds.0, r.hard)
            .map_err(|e| DbError::Corrupt(format!("quota {} of {tenant}: {e}", r.quota_id)))?;
        set.set_at.insert(r.quota_id.clone(), r.created_at.0);
        match r.owner.as_str() {
            "operator" => set.operator.push(quota),
            "tenant" => set.budgets.push(quota),
            other => return Err(DbError::Corrupt(format!("quota owner {other:?}"))),
        }
    }
    Ok(set)
}

impl Store {
    /// The tenant's stored quotas and budgets, each ordered by id.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn quota_set(&self, tenant: &TenantId) -> Result<QuotaSet, DbError> {
        let sql = r#"select quota_id, owner, meter, limit_value, thresholds, hard, created_at from quota
            where tenant_id = $1
            order by quota_id"#;
        let rows: Vec<QuotaRow> =
            on_read!(self.read(), |db| sqlx::query_as(sql).bind(tenant.as_str()).fetch_all(db).await)?;
        quota_set_of(tenant, rows)
    }

    /// Replaces every quota `owner` set for the tenant with `quotas`, in one transaction with
    /// the `quotas.replaced` (or `budgets.replaced`) audit event of `admin`, if an admin made
    /// the change. A quota equal to the one it replaces keeps when it was set; a new or changed
    /// one is set `now`.
    /// `Ok(Some(id))` and nothing changed when `id` is already used by the other owner's set
    /// (the insert meets the other row's key; on PostgreSQL a concurrent insert of the same id
    /// is awaited, then seen).
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn replace_quotas(
        &self,
        tenant: &TenantId,
        owner: QuotaOwner,
        quotas: &[Quota],
        now: DateTime<Utc>,
        admin: Option<&Actor>,
    ) -> Result<Option<String>, DbError> {
        let select_owned = r#"select quota_id, owner, meter, limit_value, thresholds, hard, created_at from quota
            where tenant_id = $1 and owner = $2"#;
        let delete = "delete from quota where tenant_id = $1 and owner = $2";
        let insert = r#"insert into quota (tenant_id, quota_id, owner, meter, limit_value, thresholds, hard, created_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8)
            on conflict do nothing"#;
        let mut tx = self.begin().await?;
        let before = quota_set_of(
            tenant,
            on_tx!(&mut tx, |db| sqlx::query_as(select_owned)
                .bind(tenant.as_str())
                .bind(owner.as_str())
                .fetch_all(db)
                .await)?,
        )?;
        on_tx!(&mut tx, |db| sqlx::query(delete)
            .bind(tenant.as_str())
            .bind(owner.as_str())
            .execute(db)
            .await
            .map(|_| ()))?;
        for quota in quotas {
            let kept = before.holds(quota).then(|| before.set_at.get(quota.id()).copied()).flatten();
            let set_at = kept.unwrap_or(now);
            let inserted = execute_on_tx!(
                &mut tx,
                sqlx::query(insert)
                    .bind(tenant.as_str())
                    .bind(quota.id())
                    .bind(owner.as_str())
                    .bind(quota.meter().as_str())
                    .bind(Dec(quota.limit()))
                    .bind(Json(quota.thresholds()))
                    .bind(quota.hard())
                    .bind(Instant(set_at))
            )?;
            if inserted == 0 {
                return Ok(Some(quota.id().to_owned()));
            }
        }
        if let Some(admin) = admin {
            let kind = match owner {
                QuotaOwner::Operator => "quotas",
                QuotaOwner::Tenant => "budgets",
            };
            let ids: Vec<&str> = quotas.iter().map(Quota::id).collect();
            let target = AuditTarget::tenant(kind, tenant);
            let detail = serde_json::json!({ "ids": ids });
            audit::append(&mut tx, admin, &format!("{kind}.replaced"), &target, detail, now).await?;
        }
        tx.commit().await?;
        self.mark_changed([tenant]);
        Ok(None)
    }
}
