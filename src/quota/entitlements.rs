//! Entitlements for runtimes' hot path (`GET /v1/tenants/{id}/entitlements`): per quota in
//! force, used / limit / remaining / blocked, answered from an in-process cache of committed
//! data at most `max_age` old (1 s by default; the answer states its `as_of`).
//!
//! Single flight: when a tenant's snapshot is stale, one request refreshes it (the reads of
//! `usage/current`: tenant, quota set, subscriptions, rollups) while concurrent requests for
//! that tenant wait for it and share the result, so 2 000 requests/s for one tenant cost the
//! database one refresh per `max_age`. Fresh reads take one uncontended mutex, no IO.
//!
//! Stage: quota service (read only). Must not refuse or slow usage: ingestion never asks it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::periods::plan_for_period;
use super::policy::{effective_quotas, entitlement, used, Entitlement};
use crate::domain::{BillingPeriod, Currency, TenantId};
use crate::invoice::{period_containing, period_usage, CurrentUsageError};
use crate::plans::SharedCatalog;
use crate::store::Store;

/// One tenant's entitlements as of one instant.
#[derive(Debug, Clone)]
pub struct EntitlementSnapshot {
    pub tenant_id: TenantId,
    /// The clock's reading when the snapshot was read from the store.
    pub as_of: DateTime<Utc>,
    pub period: BillingPeriod,
    /// The currency spend is counted in; `None` without a plan.
    pub currency: Option<Currency>,
    /// One per quota in force, ordered by quota id.
    pub entitlements: Vec<Entitlement>,
}

#[derive(Default)]
struct Slot {
    snapshot: Mutex<Option<(Instant, Arc<EntitlementSnapshot>)>>,
    refreshing: tokio::sync::Mutex<()>,
}

/// The process-wide entitlement cache.
pub struct EntitlementCache {
    store: Store,
    catalog: SharedCatalog,
    max_age: Duration,
    slots: Mutex<HashMap<TenantId, Arc<Slot>>>,
}

impl EntitlementCache {
    /// A cache over `store` whose snapshots live at most `max_age` (zero: always refresh).
    pub fn new(store: Store, catalog: SharedCatalog, max_age: Duration) -> Self {
        Self { store, catalog, max_age, slots: Mutex::default() }
    }

    /// The tenant's entitlements, from the cache when fresh, else refreshed once as of `now`.
    ///
    /// # Errors
    /// [`CurrentUsageError::TenantNotFound`]; a store failure.
    pub async fn get(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<Arc<EntitlementSnapshot>, CurrentUsageError> {
        let slot = self.slot(tenant);
        if let Some(fresh) = self.fresh(&slot) {
            return Ok(fresh);
        }
        let _single_flight = slot.refreshing.lock().await;
        if let Some(fresh) = self.fresh(&slot) {
            return Ok(fresh);
        }
        let snapshot = Arc::new(self.read(tenant, now).await?);
        *slot.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), snapshot.clone()));
        Ok(snapshot)
    }

    fn slot(&self, tenant: &TenantId) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(tenant.clone()).or_default().clone()
    }

    fn fresh(&self, slot: &Slot) -> Option<Arc<EntitlementSnapshot>> {
        let held = slot.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        held.as_ref().filter(|(at, _)| at.elapsed() < self.max_age).map(|(_, s)| s.clone())
    }

    async fn read(&self, id: &TenantId, now: DateTime<Utc>) -> Result<EntitlementSnapshot, CurrentUsageError> {
        let catalog = self.catalog.cached();
        let tenant = self.store.get_tenant(id).await?.ok_or(CurrentUsageError::TenantNotFound)?;
        let set = self.store.quota_set(id).await?;
        let changes = self.store.subscriptions(id).await?;
        let period = period_containing(tenant.details.timezone, now);
        let plan = plan_for_period(&catalog, &changes, &period, now);
        let quotas = effective_quotas(plan.map(|v| v.plan.as_ref()), &set);
        let usage = period_usage(&self.store, &catalog, &tenant, &changes, period, now).await?;
        let entitlements = quotas.iter().map(|q| entitlement(q, used(q.meter(), &usage))).collect();
        Ok(EntitlementSnapshot {
            tenant_id: id.clone(),
            as_of: now,
            period,
            currency: plan.map(|v| v.plan.currency()),
            entitlements,
        })
    }
}
