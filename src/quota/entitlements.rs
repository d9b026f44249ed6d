//! Entitlements for runtimes' hot path (`GET /v1/tenants/{id}/entitlements`): per quota in
//! force, used / limit / remaining / blocked, answered from an in-process cache of committed
//! data at most `max_age` old (1 s by default; the answer states its `as_of`). A deactivated
//! tenant's answer is blocked throughout, so runtimes learn before ingest refuses its usage.
//!
//! Refresh ahead (`refresh_ahead`): a snapshot past half its life is still served, and one
//! background task re-reads it (the reads of `usage/current`: tenant, quota set,
//! subscriptions, rollups), so a tenant asked about steadily never makes a request wait for
//! the database — under ingest load those reads take milliseconds, which would otherwise land
//! in the p99 of whichever requests arrive at each refresh. Only a snapshot past its whole
//! life (an idle tenant) is re-read in the request, single flight: concurrent requests for
//! that tenant wait for the one read and share it. Either way 2 000 requests/s for one tenant
//! cost the database one refresh per half `max_age`. Fresh reads take two uncontended mutexes,
//! no IO.
//!
//! Stage: quota service (read only). Must not refuse or slow usage: ingestion never asks it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::periods::plan_for_period;
use super::policy::{effective_quotas, entitlement, spend_currency, used, Entitlement};
use crate::aggregate::BillingCalendar;
use crate::domain::{BillingPeriod, Currency, SubscriptionChange, TenantId};
use crate::invoice::{period_usage, CurrentUsageError};
use crate::plans::SharedCatalog;
use crate::refresh_ahead::RefreshAhead;
use crate::store::Store;

/// One tenant's entitlements as of one instant.
#[derive(Debug, Clone)]
pub struct EntitlementSnapshot {
    pub tenant_id: TenantId,
    /// The clock's reading when the snapshot was read from the store.
    pub as_of: DateTime<Utc>,
    pub period: BillingPeriod,
    /// The currency spend is counted in (the period's draft's); `None` without a plan in the period.
    pub currency: Option<Currency>,
    /// One per quota in force, ordered by quota id; all blocked when usage is `refused`.
    pub entitlements: Vec<Entitlement>,
    /// Why ingest refuses all of the tenant's usage, whatever its quotas; `None` while it accepts it.
    pub refused: Option<Refusal>,
}

/// Why ingest refuses a tenant's usage outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Deactivated: its records are rejected as `unknown_tenant` until it is reactivated.
    TenantInactive,
}

impl Refusal {
    /// The wire name (`blocked_reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::TenantInactive => "tenant_inactive",
        }
    }
}

/// What a refresh reads from; cloned into background refreshes.
#[derive(Clone)]
struct Source {
    store: Store,
    catalog: SharedCatalog,
}

/// The process-wide entitlement cache.
pub struct EntitlementCache {
    source: Source,
    snapshots: RefreshAhead<TenantId, Arc<EntitlementSnapshot>>,
}

impl EntitlementCache {
    /// A cache over `store` whose snapshots live at most `max_age` (zero: always refresh).
    pub fn new(store: Store, catalog: SharedCatalog, max_age: Duration) -> Self {
        Self { source: Source { store, catalog }, snapshots: RefreshAhead::new(max_age) }
    }

    /// The tenant's entitlements, from the cache when fresh (refreshed ahead in the
    /// background once past half their life), else read once as of `now`.
    ///
    /// # Errors
    /// [`CurrentUsageError::TenantNotFound`]; a store failure.
    pub async fn get(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<Arc<EntitlementSnapshot>, CurrentUsageError> {
        let read = |id: &TenantId| {
            let (source, id) = (self.source.clone(), id.clone());
            async move { source.read(&id, now).await.map(|snapshot| Some(Arc::new(snapshot))) }
        };
        self.snapshots.get(tenant, read).await?.ok_or(CurrentUsageError::TenantNotFound)
    }
}

impl Source {
    async fn read(&self, id: &TenantId, now: DateTime<Utc>) -> Result<EntitlementSnapshot, CurrentUsageError> {
        let catalog = self.catalog.cached();
        let tenant = self.store.get_tenant(id).await?.ok_or(CurrentUsageError::TenantNotFound)?;
        let set = self.store.quota_set(id).await?;
        let changes = self.store.subscriptions(id).await?;
        let period = BillingCalendar::of(&tenant).period_containing(now);
        let refused = (!tenant.active).then_some(Refusal::TenantInactive);
        // A deactivated tenant's subscription ended when it was: its quotas are still those of
        // the plan it was on in the period (not none), each blocked.
        let quotas_at = if refused.is_some() { last_instant_on_a_plan(&changes, &period, now) } else { now };
        let plan = plan_for_period(&catalog, &changes, &period, quotas_at);
        let quotas = effective_quotas(plan.map(|v| v.plan.as_ref()), &set);
        let usage = period_usage(&self.store, &catalog, &tenant, &changes, period, now).await?;
        let entitlements = quotas
            .iter()
            .map(|q| entitlement(q, used(q.meter(), &usage)))
            .map(|e| Entitlement { blocked: e.blocked || refused.is_some(), ..e })
            .collect();
        Ok(EntitlementSnapshot {
            tenant_id: id.clone(),
            as_of: now,
            period,
            currency: spend_currency(&usage),
            entitlements,
            refused,
        })
    }
}

/// The last instant of `period` up to `now` that a subscription covered: just before the
/// latest change that ended one (a deactivation), if that lies in the period; else `now`.
fn last_instant_on_a_plan(changes: &[SubscriptionChange], period: &BillingPeriod, now: DateTime<Utc>) -> DateTime<Utc> {
    let ended = changes.iter().rev().find(|c| c.effective_at <= now && c.plan_id.is_none());
    let before_end = ended.map(|c| c.effective_at - chrono::Duration::microseconds(1));
    before_end.filter(|at| *at >= period.start()).unwrap_or(now)
}
