//! What a billing run reads for a page of tenants, one statement per table for the whole page
//! (`tenant_id in (…)`), instead of one per tenant: a run of 100 000 tenants is a few hundred
//! round trips of reads, not a few hundred thousand. Each answer is grouped by tenant; a
//! tenant with no rows has no entry.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use rust_decimal::Decimal;

use super::codec::{tenant_id, Dec, Instant};
use super::engine::on_read;
use super::ledger::EntryRow;
use super::rollups::{RollupRow, COLUMNS as ROLLUP_COLUMNS};
use super::subscriptions::change;
use super::{DbError, Store};
use crate::aggregate::Rollup;
use crate::domain::{BillingPeriod, CreditEntry, LineKey, SubscriptionChange, TenantId};

/// Rows per tenant, in the order the statement read them.
pub type PerTenant<T> = HashMap<TenantId, Vec<T>>;

/// `$first, $first + 1, …`: one placeholder per tenant of the page.
pub(super) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// `$query` with each tenant of `$tenants` bound after the binds it already has, in order:
/// the values of [`placeholders`].
macro_rules! bind_tenants {
    ($query:expr, $tenants:expr) => {{
        let mut query = $query;
        for tenant in $tenants {
            query = query.bind(tenant.as_str());
        }
        query
    }};
}
pub(super) use bind_tenants;

/// Groups `(tenant_id, row)` pairs by tenant.
pub(super) fn group<T>(
    rows: impl IntoIterator<Item = Result<(TenantId, T), DbError>>,
) -> Result<PerTenant<T>, DbError> {
    let mut out: PerTenant<T> = HashMap::new();
    for row in rows {
        let (tenant, value) = row?;
        out.entry(tenant).or_default().push(value);
    }
    Ok(out)
}

/// A stored `[start, end)` as a period.
pub(super) fn period(start: Instant, end: Instant) -> Result<BillingPeriod, DbError> {
    BillingPeriod::new(start.0, end.0).ok_or_else(|| DbError::Corrupt("an empty billing period".into()))
}

/// A stored line key.
pub(super) fn line_key(text: &str) -> Result<LineKey, DbError> {
    LineKey::parse(text).ok_or_else(|| DbError::Corrupt(format!("line key {text:?}")))
}

#[derive(sqlx::FromRow)]
struct TenantEntryRow {
    tenant_id: String,
    #[sqlx(flatten)]
    entry: EntryRow,
}

impl Store {
    /// The subscription changes of each tenant, ordered by `effective_at`.
    #[tracing::instrument(skip_all, fields(tenants = tenants.len()))]
    pub async fn subscriptions_of(&self, tenants: &[TenantId]) -> Result<PerTenant<SubscriptionChange>, DbError> {
        if tenants.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "select tenant_id, effective_at, plan_id, usage_from from subscription \
            where tenant_id in ({}) order by tenant_id, effective_at",
            placeholders(1, tenants.len())
        );
        let rows: Vec<(String, Instant, String, Instant)> =
            on_read!(self.read(), |db| bind_tenants!(sqlx::query_as(&sql), tenants).fetch_all(db).await)?;
        group(rows.into_iter().map(|(t, at, plan, from)| Ok((tenant_id(&t)?, change((at, plan, from))))))
    }

    /// The closed billing periods of each tenant, oldest first.
    #[tracing::instrument(skip_all, fields(tenants = tenants.len()))]
    pub async fn closed_periods_of(&self, tenants: &[TenantId]) -> Result<PerTenant<BillingPeriod>, DbError> {
        if tenants.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "select tenant_id, period_start, period_end from billing_period \
            where tenant_id in ({}) and state = 'closed' order by tenant_id, period_start",
            placeholders(1, tenants.len())
        );
        let rows: Vec<(String, Instant, Instant)> =
            on_read!(self.read(), |db| bind_tenants!(sqlx::query_as(&sql), tenants).fetch_all(db).await)?;
        group(rows.into_iter().map(|(t, start, end)| Ok((tenant_id(&t)?, period(start, end)?))))
    }

    /// The credit ledger of each tenant, oldest first.
    #[tracing::instrument(skip_all, fields(tenants = tenants.len()))]
    pub async fn credit_entries_of(&self, tenants: &[TenantId]) -> Result<PerTenant<CreditEntry>, DbError> {
        if tenants.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "select tenant_id, entry_id, kind, grant_id, amount, currency, expires_at, reason, invoice_id, created_at \
            from credit_entry where tenant_id in ({}) order by tenant_id, created_at, entry_id",
            placeholders(1, tenants.len())
        );
        let rows: Vec<TenantEntryRow> =
            on_read!(self.read(), |db| bind_tenants!(sqlx::query_as(&sql), tenants).fetch_all(db).await)?;
        group(rows.into_iter().map(|r| Ok((tenant_id(&r.tenant_id)?, CreditEntry::try_from(r.entry)?))))
    }

    /// Every amount billed for lines of periods starting at or after `from`, per tenant, as
    /// (period start, line key, amount) rows.
    #[tracing::instrument(skip_all, fields(tenants = tenants.len()))]
    pub async fn billed_lines_of(
        &self,
        tenants: &[TenantId],
        from: DateTime<Utc>,
    ) -> Result<PerTenant<(DateTime<Utc>, LineKey, Decimal)>, DbError> {
        if tenants.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "select tenant_id, period_start, line_key, amount from billed_line \
            where period_start >= $1 and tenant_id in ({})",
            placeholders(2, tenants.len())
        );
        let rows: Vec<(String, Instant, String, Dec)> =
            on_read!(self.read(), |db| bind_tenants!(sqlx::query_as(&sql).bind(Instant(from)), tenants)
                .fetch_all(db)
                .await)?;
        group(
            rows.into_iter().map(|(t, start, key, amount)| Ok((tenant_id(&t)?, (start.0, line_key(&key)?, amount.0)))),
        )
    }

    /// Hands `each` every rollup row of these tenants with `from <= bucket_start < to` and every
    /// delta still pending for them (several rows may share a key), one at a time as they
    /// stream in: a page of tenants may have millions of rows, and the caller
    /// folds them into the few sums it needs.
    #[tracing::instrument(skip_all, fields(tenants = tenants.len()))]
    pub async fn fold_rollups_of(
        &self,
        tenants: &[TenantId],
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        mut each: impl FnMut(Rollup) + Send,
    ) -> Result<(), DbError> {
        if tenants.is_empty() {
            return Ok(());
        }
        // Pending deltas (`rollup_pending.rs`) in the same statement: the caller sums.
        let tenants_in = placeholders(3, tenants.len());
        let sql = format!(
            "select {ROLLUP_COLUMNS} from usage_rollup \
            where bucket_start >= $1 and bucket_start < $2 and tenant_id in ({tenants_in}) \
            union all \
            select {ROLLUP_COLUMNS} from usage_rollup_pending \
            where bucket_start >= $1 and bucket_start < $2 and tenant_id in ({tenants_in})"
        );
        on_read!(self.read(), |db| {
            let query = sqlx::query_as::<_, RollupRow>(&sql).bind(Instant(from)).bind(Instant(to));
            let mut rows = bind_tenants!(query, tenants).fetch(db);
            while let Some(row) = rows.try_next().await? {
                each(Rollup::try_from(row)?);
            }
            Ok::<(), DbError>(())
        })
    }
}
