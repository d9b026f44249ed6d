//! `alert` table: one row per (tenant, quota, threshold, period) ever crossed, written with
//! its `quota.threshold_crossed` outbox row in one transaction.

use chrono::{DateTime, Utc};

use super::codec::{Dec, Instant};
use super::engine::on_read;
use super::outbox::insert_once_announced;
use super::{DbError, Store};
use crate::domain::{QuotaAlert, TenantId};

/// The key of an alert already raised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertKey {
    pub quota_id: String,
    pub threshold: u32,
    pub period_start: DateTime<Utc>,
}

impl Store {
    /// Keys of the tenant's alerts for periods starting at or after `since`.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn alert_keys(&self, tenant: &TenantId, since: DateTime<Utc>) -> Result<Vec<AlertKey>, DbError> {
        let sql = r#"select quota_id, threshold, period_start from alert
            where tenant_id = $1 and period_start >= $2"#;
        let rows: Vec<(String, i64, Instant)> = on_read!(self.read(), |db| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(Instant(since))
            .fetch_all(db)
            .await)?;
        rows.into_iter()
            .map(|(quota_id, threshold, start)| {
                let threshold = u32::try_from(threshold).map_err(|_| DbError::Corrupt("alert threshold".into()))?;
                Ok(AlertKey { quota_id, threshold, period_start: start.0 })
            })
            .collect()
    }

    /// Records an alert and appends `payload` to the outbox as `quota.threshold_crossed`, in
    /// one transaction — or does nothing when this (tenant, quota, threshold, period) already
    /// alerted (another pass or process got there first). `true` when recorded now.
    #[tracing::instrument(skip_all, fields(tenant_id = %alert.tenant_id, quota_id = %alert.quota_id))]
    pub async fn record_alert(&self, alert: &QuotaAlert, payload: &str, now: DateTime<Utc>) -> Result<bool, DbError> {
        let sql = r#"insert into alert (tenant_id, quota_id, threshold, period_start, period_end, meter, used,
                limit_value, late, created_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            on conflict do nothing"#;
        insert_once_announced!(
            self,
            sqlx::query(sql)
                .bind(alert.tenant_id.as_str())
                .bind(&alert.quota_id)
                .bind(i64::from(alert.threshold))
                .bind(Instant(alert.period.start()))
                .bind(Instant(alert.period.end()))
                .bind(alert.meter.as_str())
                .bind(Dec(alert.used))
                .bind(Dec(alert.limit))
                .bind(alert.late)
                .bind(Instant(now)),
            (&alert.tenant_id, "quota.threshold_crossed", payload, now)
        )
    }
}
