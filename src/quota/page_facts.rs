//! What evaluating a page of tenants reads, one statement per table for the whole page
//! (`store/quota_pages.rs`): their subscriptions, stored quota sets, alert keys, unbilled-usage
//! entries, and which of them have any usage in the periods still open for it. Read once per
//! page, not once per tenant: a sweep over 100 000 tenants is a few hundred round trips of
//! these, and a tenant with no usage costs no usage read (its draft is drafted from no rollups).
//!
//! The facts can be a moment old when a tenant is evaluated: a write after the read marks the
//! tenant changed (`store/changes.rs`), so the next changed pass reads it again; an alert
//! another pass raised meanwhile is refused by its key.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::periods::periods_open_for_usage;
use crate::aggregate::BillingCalendar;
use crate::domain::{BillingPeriod, QuotaSet, SubscriptionChange, Tenant, TenantId};
use crate::store::{AlertKey, DbError, PerTenant, RecordedUnbilled, Store};

/// A page's facts, by tenant (a tenant without rows has no entry).
pub(super) struct PageFacts {
    subscriptions: PerTenant<SubscriptionChange>,
    quota_sets: HashMap<TenantId, QuotaSet>,
    alert_keys: PerTenant<AlertKey>,
    unbilled: PerTenant<RecordedUnbilled>,
    with_usage: HashSet<TenantId>,
}

impl PageFacts {
    /// Reads the facts of `page` as of `now`: alert keys and usage from the oldest period
    /// still open for usage of any of its tenants.
    pub(super) async fn read(
        store: &Store,
        page: &[Tenant],
        now: DateTime<Utc>,
        allowed_lateness: chrono::Duration,
    ) -> Result<Self, DbError> {
        let ids: Vec<TenantId> = page.iter().map(|t| t.id.clone()).collect();
        let oldest = page
            .iter()
            .filter_map(|t| {
                periods_open_for_usage(&BillingCalendar::of(t), now, allowed_lateness).last().map(BillingPeriod::start)
            })
            .min()
            .unwrap_or(now);
        Ok(Self {
            subscriptions: store.subscriptions_of(&ids).await?,
            quota_sets: store.quota_sets_of(&ids).await?,
            alert_keys: store.alert_keys_of(&ids, oldest).await?,
            unbilled: store.unbilled_recorded_of(&ids, oldest).await?,
            with_usage: store.tenants_with_usage_since(&ids, oldest).await?,
        })
    }

    /// The tenant's subscription changes, ordered by `effective_at`.
    pub(super) fn subscriptions(&self, tenant: &TenantId) -> &[SubscriptionChange] {
        self.subscriptions.get(tenant).map_or(&[], Vec::as_slice)
    }

    /// The tenant's stored quotas and budgets.
    pub(super) fn quota_set(&self, tenant: &TenantId) -> QuotaSet {
        self.quota_sets.get(tenant).cloned().unwrap_or_default()
    }

    /// The tenant's alert keys for the periods still open for usage.
    pub(super) fn alert_keys(&self, tenant: &TenantId) -> &[AlertKey] {
        self.alert_keys.get(tenant).map_or(&[], Vec::as_slice)
    }

    /// The tenant's unbilled-usage entries of the periods still open for usage, as recorded.
    pub(super) fn unbilled_recorded(&self, tenant: &TenantId) -> &[RecordedUnbilled] {
        self.unbilled.get(tenant).map_or(&[], Vec::as_slice)
    }

    /// Whether the tenant has any usage in the periods still open for it.
    pub(super) fn has_usage(&self, tenant: &TenantId) -> bool {
        self.with_usage.contains(tenant)
    }
}
