//! `unbilled_usage`: one admin-visible entry per (tenant, period) with usage no subscription
//! covers, written with its `usage.unbilled` outbox row by `raised.rs`, and kept to the usage
//! the period holds as the quota evaluator finds more (late records) or less (corrections).

use chrono::{DateTime, Utc};

use super::codec::{Dec, Instant};
use super::engine::on_read;
use super::{DbError, Store};
use crate::domain::{BillingPeriod, Quantities, TenantId};

/// An unbilled-usage entry: what is uncovered in the period as the quota evaluator last
/// counted it; `created_at` is when it was first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnbilledEntry {
    pub tenant_id: TenantId,
    pub period: BillingPeriod,
    /// `no_plan`, `before_first_subscription` or `after_subscription_ended`.
    pub reason: String,
    pub quantities: Quantities,
    pub records: i64,
    pub created_at: DateTime<Utc>,
}

/// What an entry holds now, to tell whether the usage it counts has changed since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedUnbilled {
    pub period_start: DateTime<Utc>,
    pub quantities: Quantities,
    pub records: i64,
}

/// What an entry's period holds now, to set a recorded entry to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnbilledNow {
    pub tenant_id: TenantId,
    pub period: BillingPeriod,
    pub quantities: Quantities,
    pub records: i64,
}

type EntryRow = (String, Instant, Instant, String, Dec, Dec, Dec, i64, Instant);

impl Store {
    /// The tenant's entries, newest period first.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn unbilled_entries(&self, tenant: &TenantId) -> Result<Vec<UnbilledEntry>, DbError> {
        let sql = r#"select tenant_id, period_start, period_end, reason, cpu_cycles, memory_gb_seconds, invocations,
                records, created_at
            from unbilled_usage where tenant_id = $1 order by period_start desc"#;
        let rows: Vec<EntryRow> =
            on_read!(self.read(), |db| sqlx::query_as(sql).bind(tenant.as_str()).fetch_all(db).await)?;
        rows.into_iter()
            .map(|(tenant_id, start, end, reason, cpu, memory, invocations, records, created_at)| {
                Ok(UnbilledEntry {
                    tenant_id: TenantId::parse(&tenant_id).map_err(|_| DbError::Corrupt("unbilled tenant".into()))?,
                    period: BillingPeriod::new(start.0, end.0)
                        .ok_or_else(|| DbError::Corrupt("unbilled period".into()))?,
                    reason,
                    quantities: Quantities {
                        cpu_cycles: cpu.0,
                        memory_gb_seconds: memory.0,
                        invocations: invocations.0,
                    },
                    records,
                    created_at: created_at.0,
                })
            })
            .collect()
    }
}
