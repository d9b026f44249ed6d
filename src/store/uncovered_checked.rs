//! `uncovered_checked`: how far billing runs have reported each tenant's periods that no plan
//! covers at all (`invoice/uncovered_page.rs`), so that each such period is in one run's report.
//! Read and written a page of tenants at a time, and only for tenants that have such periods.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::billing_pages::{bind_tenants, placeholders};
use super::codec::{tenant_id, Instant};
use super::engine::{on_read, on_tx};
use super::{DbError, Store};
use crate::domain::TenantId;

/// Rows per multi-row upsert: 2 binds a row, far below both engines' limits.
const ROWS_PER_STATEMENT: usize = 1_000;

impl Store {
    /// Each tenant's `checked_until`; a tenant no run has checked has no entry.
    #[tracing::instrument(skip_all, fields(tenants = tenants.len()))]
    pub async fn uncovered_checked_of(
        &self,
        tenants: &[TenantId],
    ) -> Result<HashMap<TenantId, DateTime<Utc>>, DbError> {
        if tenants.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "select tenant_id, checked_until from uncovered_checked where tenant_id in ({})",
            placeholders(1, tenants.len())
        );
        let rows: Vec<(String, Instant)> =
            on_read!(self.read(), |db| bind_tenants!(sqlx::query_as(&sql), tenants).fetch_all(db).await)?;
        rows.into_iter().map(|(t, until)| Ok((tenant_id(&t)?, until.0))).collect()
    }

    /// Moves each tenant's `checked_until` forward to `until` (never back: a run with an earlier
    /// `as_of` leaves it), in one transaction.
    #[tracing::instrument(skip_all, fields(tenants = tenants.len()))]
    pub async fn mark_uncovered_checked(&self, tenants: &[TenantId], until: DateTime<Utc>) -> Result<(), DbError> {
        if tenants.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for chunk in tenants.chunks(ROWS_PER_STATEMENT) {
            on_tx!(&mut tx, |db| {
                let mut upsert = sqlx::QueryBuilder::new("insert into uncovered_checked (tenant_id, checked_until) ");
                upsert.push_values(chunk, |mut row, tenant| {
                    row.push_bind(tenant.as_str()).push_bind(Instant(until));
                });
                upsert.push(
                    " on conflict (tenant_id) do update set checked_until = excluded.checked_until \
                    where uncovered_checked.checked_until < excluded.checked_until",
                );
                upsert.build().execute(db).await.map(|_| ())
            })?;
        }
        tx.commit().await
    }
}
