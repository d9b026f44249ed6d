//! What the quota evaluator reads for a page of tenants, one statement per table for the whole
//! page (`tenant_id in (…)`), as the billing run does (`billing_pages.rs`): a sweep over
//! 100 000 tenants is a few hundred round trips of reads, not several hundred thousand.
//! Which tenants have any usage at all is one of them, so a tenant with none costs no usage read;
//! the unbilled-usage entries already written are another.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::alerts::AlertKey;
use super::billing_pages::{bind_tenants, group, placeholders, PerTenant};
use super::codec::{tenant_id, Dec, Instant};
use super::engine::on_read;
use super::quotas::{quota_set_of, QuotaRow};
use super::{DbError, RecordedUnbilled, Store};
use crate::domain::{Quantities, QuotaSet, TenantId};

#[derive(sqlx::FromRow)]
struct TenantQuotaRow {
    tenant_id: String,
    #[sqlx(flatten)]
    quota: QuotaRow,
}

impl Store {
    /// The stored quota set of each tenant of `tenants` that has one.
    #[tracing::instrument(skip_all, fields(tenants = tenants.len()))]
    pub async fn quota_sets_of(&self, tenants: &[TenantId]) -> Result<HashMap<TenantId, QuotaSet>, DbError> {
        if tenants.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "select tenant_id, quota_id, owner, meter, limit_value, thresholds, hard, created_at from quota \
            where tenant_id in ({}) order by tenant_id, quota_id",
            placeholders(1, tenants.len())
        );
        let rows: Vec<TenantQuotaRow> =
            on_read!(self.read(), |db| bind_tenants!(sqlx::query_as(&sql), tenants).fetch_all(db).await)?;
        let grouped = group(rows.into_iter().map(|r| Ok((tenant_id(&r.tenant_id)?, r.quota))))?;
        grouped.into_iter().map(|(tenant, rows)| Ok((tenant.clone(), quota_set_of(&tenant, rows)?))).collect()
    }

    /// The alert keys of each tenant of `tenants`, for periods starting at or after `since`.
    #[tracing::instrument(skip_all, fields(tenants = tenants.len()))]
    pub async fn alert_keys_of(
        &self,
        tenants: &[TenantId],
        since: DateTime<Utc>,
    ) -> Result<PerTenant<AlertKey>, DbError> {
        if tenants.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "select tenant_id, quota_id, threshold, period_start, meter, limit_value from alert \
            where period_start >= $1 and tenant_id in ({})",
            placeholders(2, tenants.len())
        );
        let rows: Vec<(String, String, i64, Instant, String, Dec)> =
            on_read!(self.read(), |db| bind_tenants!(sqlx::query_as(&sql).bind(Instant(since)), tenants)
                .fetch_all(db)
                .await)?;
        group(rows.into_iter().map(|(tenant, quota_id, threshold, start, meter, limit)| {
            let threshold = u32::try_from(threshold).map_err(|_| DbError::Corrupt("alert threshold".into()))?;
            Ok((tenant_id(&tenant)?, AlertKey { quota_id, threshold, period_start: start.0, meter, limit: limit.0 }))
        }))
    }

    /// Each tenant's unbilled-usage entries as recorded (period start, quantities, records),
    /// for periods starting at or after `since`.
    #[tracing::instrument(skip_all, fields(tenants = tenants.len()))]
    pub async fn unbilled_recorded_of(
        &self,
        tenants: &[TenantId],
        since: DateTime<Utc>,
    ) -> Result<PerTenant<RecordedUnbilled>, DbError> {
        if tenants.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "select tenant_id, period_start, cpu_cycles, memory_gb_seconds, invocations, records \
            from unbilled_usage where period_start >= $1 and tenant_id in ({})",
            placeholders(2, tenants.len())
        );
        let rows: Vec<(String, Instant, Dec, Dec, Dec, i64)> =
            on_read!(self.read(), |db| bind_tenants!(sqlx::query_as(&sql).bind(Instant(since)), tenants)
                .fetch_all(db)
                .await)?;
        group(rows.into_iter().map(|(tenant, start, cpu, memory, invocations, records)| {
            let quantities = Quantities { cpu_cycles: cpu.0, memory_gb_seconds: memory.0, invocations: invocations.0 };
            Ok((tenant_id(&tenant)?, RecordedUnbilled { period_start: start.0, quantities, records }))
        }))
    }

    /// The tenants of `tenants` with any usage in a bucket at or after `since`, committed or
    /// still pending: one index probe per tenant, stopping at its first row.
    #[tracing::instrument(skip_all, fields(tenants = tenants.len()))]
    pub async fn tenants_with_usage_since(
        &self,
        tenants: &[TenantId],
        since: DateTime<Utc>,
    ) -> Result<HashSet<TenantId>, DbError> {
        if tenants.is_empty() {
            return Ok(HashSet::new());
        }
        let sql = format!(
            "select t.tenant_id from tenant t where t.tenant_id in ({}) \
            and (exists (select 1 from usage_rollup r where r.tenant_id = t.tenant_id and r.bucket_start >= $1) \
              or exists (select 1 from usage_rollup_pending p where p.tenant_id = t.tenant_id and p.bucket_start >= $1))",
            placeholders(2, tenants.len())
        );
        let rows: Vec<String> =
            on_read!(self.read(), |db| bind_tenants!(sqlx::query_scalar(&sql).bind(Instant(since)), tenants)
                .fetch_all(db)
                .await)?;
        rows.iter().map(|t| tenant_id(t)).collect()
    }
}
