//! `alert` table: one row per (tenant, quota, threshold, period) crossed, written with its
//! `quota.threshold_crossed` outbox row by `raised.rs`; the row says which form of the quota
//! (meter and limit) it was raised for.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::codec::{Dec, Instant};
use super::engine::on_read;
use super::{DbError, Store};
use crate::domain::TenantId;

/// The key of an alert already raised, with the form of the quota it was raised for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertKey {
    pub quota_id: String,
    pub threshold: u32,
    pub period_start: DateTime<Utc>,
    /// The quota's meter (`spend` or a meter name) when the alert was raised.
    pub meter: String,
    /// The quota's limit when the alert was raised.
    pub limit: Decimal,
}

impl Store {
    /// Keys of the tenant's alerts for periods starting at or after `since`.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn alert_keys(&self, tenant: &TenantId, since: DateTime<Utc>) -> Result<Vec<AlertKey>, DbError> {
        let sql = r#"select quota_id, threshold, period_start, meter, limit_value from alert
            where tenant_id = $1 and period_start >= $2"#;
        let rows: Vec<(String, i64, Instant, String, Dec)> = on_read!(self.read(), |db| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(Instant(since))
            .fetch_all(db)
            .await)?;
        rows.into_iter()
            .map(|(quota_id, threshold, start, meter, limit)| {
                let threshold = u32::try_from(threshold).map_err(|_| DbError::Corrupt("alert threshold".into()))?;
                Ok(AlertKey { quota_id, threshold, period_start: start.0, meter, limit: limit.0 })
            })
            .collect()
    }
}
