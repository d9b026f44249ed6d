//! Which tenants may receive usage, and since when (policy `reject` refuses records for
//! closed periods), cached briefly so the hot path does not ask the database every request.
//!
//! Stage: ingest (read cache over the store). Listens to billing through
//! `invoice::InvoiceIssued`, so `invoice` never needs to import `ingest`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::{LateUsagePolicy, TenantId};
use crate::invoice::InvoiceIssued;
use crate::refresh_ahead::RefreshAhead;
use crate::store::{DbError, Store};

/// How long an answer is trusted. Unknown tenants are never cached, so a tenant created on
/// another node is usable at once; a deactivation or a period closing reaches every node
/// within this time (and at once on the node that served the change, see
/// [`TenantDirectory::forget`]). A record for a `reject` tenant's period that slips through in
/// that window is not lost: it is billed as a late adjustment. A tenant receiving usage
/// steadily is re-read in the background past half of it (`refresh_ahead`), so its requests
/// never wait for the read.
const TTL: Duration = Duration::from_secs(5);

/// What ingestion needs to know about a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantGate {
    /// Records before this instant are refused (`period_closed`): the end of the last closed
    /// period of a tenant whose late-usage policy is `reject`.
    pub closed_before: Option<DateTime<Utc>>,
}

/// A cache of active tenants.
pub struct TenantDirectory {
    store: Store,
    active: RefreshAhead<TenantId, TenantGate>,
}

impl TenantDirectory {
    /// An empty directory over `store`.
    pub fn new(store: Store) -> Self {
        Self { store, active: RefreshAhead::new(TTL) }
    }

    /// The gate of an active tenant; `None` when it does not exist or is deactivated.
    ///
    /// # Errors
    /// When the database cannot answer.
    pub async fn gate(&self, id: &TenantId) -> Result<Option<TenantGate>, DbError> {
        let read = |id: &TenantId| {
            let (store, id) = (self.store.clone(), id.clone());
            async move { read_gate(&store, &id).await }
        };
        self.active.get(id, read).await
    }

    /// Drops a cached answer (after the tenant changed on this node).
    pub fn forget(&self, id: &TenantId) {
        self.active.forget(id);
    }
}

/// The gate of an active tenant as stored now; `None` when it does not exist or is deactivated.
async fn read_gate(store: &Store, id: &TenantId) -> Result<Option<TenantGate>, DbError> {
    Ok(match store.get_tenant(id).await? {
        Some(t) if t.active => Some(TenantGate {
            closed_before: match t.details.late_usage_policy {
                LateUsagePolicy::Reject => store.closed_periods(id).await?.last().map(|p| p.end()),
                LateUsagePolicy::NextInvoice => None,
            },
        }),
        _ => None,
    })
}

impl InvoiceIssued for TenantDirectory {
    /// A new invoice closed a period: a `reject` tenant refuses usage for it at once here.
    fn invoice_issued(&self, tenant: &TenantId) {
        self.forget(tenant);
    }
}
