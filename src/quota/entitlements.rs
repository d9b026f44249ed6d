//! Entitlements for runtimes' hot path (`GET /v1/tenants/{id}/entitlements`): per quota in
//! force, used / limit / remaining / blocked, answered from an in-process cache of committed
//! data at most `max_age` old (1 s by default; the answer states its `as_of`).
//!
//! Refresh ahead: a snapshot past half its life is still served, and one background task
//! re-reads it (the reads of `usage/current`: tenant, quota set, subscriptions, rollups), so a
//! tenant asked about steadily never makes a request wait for the database — under ingest
//! load those reads take milliseconds, which would otherwise land in the p99 of whichever
//! requests arrive at each refresh. Only a snapshot past its whole life (an idle tenant) is
//! re-read in the request, single flight: concurrent requests for that tenant wait for the
//! one read and share it. Either way 2 000 requests/s for one tenant cost the database one
//! refresh per half `max_age`. Fresh reads take one uncontended mutex, no IO.
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
    /// The snapshot and the instant its reads began (its age counts from then).
    snapshot: Mutex<Option<(Instant, Arc<EntitlementSnapshot>)>>,
    /// Held by the one read of this tenant in progress, in a request or in the background.
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

impl Slot {
    fn held(&self) -> Option<(Duration, Arc<EntitlementSnapshot>)> {
        let held = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        held.as_ref().map(|(at, s)| (at.elapsed(), s.clone()))
    }

    fn put(&self, read_at: Instant, snapshot: Arc<EntitlementSnapshot>) {
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = Some((read_at, snapshot));
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
    max_age: Duration,
    slots: Mutex<HashMap<TenantId, Arc<Slot>>>,
}

impl EntitlementCache {
    /// A cache over `store` whose snapshots live at most `max_age` (zero: always refresh).
    pub fn new(store: Store, catalog: SharedCatalog, max_age: Duration) -> Self {
        Self { source: Source { store, catalog }, max_age, slots: Mutex::default() }
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
        let slot = self.slot(tenant);
        if let Some(fresh) = self.fresh(&slot) {
            self.refresh_ahead_if_due(tenant, &slot, now);
            return Ok(fresh);
        }
        let _single_flight = slot.refreshing.lock().await;
        if let Some(fresh) = self.fresh(&slot) {
            return Ok(fresh);
        }
        let read_at = Instant::now();
        let snapshot = Arc::new(self.source.read(tenant, now).await?);
        slot.put(read_at, snapshot.clone());
        Ok(snapshot)
    }

    fn slot(&self, tenant: &TenantId) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(tenant.clone()).or_default().clone()
    }

    fn fresh(&self, slot: &Slot) -> Option<Arc<EntitlementSnapshot>> {
        slot.held().filter(|(age, _)| *age < self.max_age).map(|(_, s)| s)
    }

    /// Past half its life, the snapshot is re-read by one background task (none starts while
    /// a read of this tenant is in progress). A failed background read keeps the old snapshot:
    /// once it is too old, the next request reads in line and answers the error.
    fn refresh_ahead_if_due(&self, tenant: &TenantId, slot: &Arc<Slot>, now: DateTime<Utc>) {
        if slot.held().is_none_or(|(age, _)| age < self.max_age / 2) {
            return;
        }
        let Ok(reading) = slot.refreshing.clone().try_lock_owned() else {
            return;
        };
        let (source, slot, tenant) = (self.source.clone(), slot.clone(), tenant.clone());
        tokio::spawn(async move {
            let _reading = reading;
            let read_at = Instant::now();
            match source.read(&tenant, now).await {
                Ok(snapshot) => slot.put(read_at, Arc::new(snapshot)),
                Err(e) => {
                    tracing::warn!(tenant_id = %tenant, error = %e, "entitlement refresh failed; the cached snapshot ages out")
                }
            }
        });
    }
}

impl Source {
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
