//! Which tenants may receive usage, and since when (policy `reject` refuses records for
//! closed periods), cached so the hot path does not ask the database every request: until
//! the store tells of a change where it can (PostgreSQL), briefly elsewhere.
//!
//! Stage: ingest (read cache over the store). Listens to billing through
//! `invoice::InvoiceIssued`, so `invoice` never needs to import `ingest`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::domain::{LateUsagePolicy, Tenant, TenantId};
use crate::invoice::InvoiceIssued;
use crate::refresh_ahead::RefreshAhead;
use crate::store::{DbError, GateChange, GateWatch, Store};

/// How long an answer is trusted where no watch tells this process of changes (SQLite, or a
/// database whose watch could not start). Unknown tenants are never cached, so a tenant
/// created on another node is usable at once; a deactivation or a period closing reaches every
/// node within this time (and at once on the node that served the change, see
/// [`TenantDirectory::forget`]). A record for a `reject` tenant's period that slips through in
/// that window is not lost: it is billed as a late adjustment. A tenant receiving usage
/// steadily is re-read in the background past half of it (`refresh_ahead`), so its requests
/// never wait for the read.
const TTL: Duration = Duration::from_secs(5);

/// How long an answer is trusted while a watch tells this process of every gate change as it
/// commits (PostgreSQL, `store/gate_changes.rs`): a backstop only, for a change made without
/// telling (SQL by hand; a process of an older version during a rolling upgrade). Re-reading
/// every tenant in use every 2.5 s instead took about a sixth of PostgreSQL's time in batches
/// spanning 100 000 tenants (BENCHMARKS.md, Dec 6).
const WATCHED_TTL: Duration = Duration::from_secs(300);

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
    active: Arc<RefreshAhead<TenantId, TenantGate>>,
    /// Dropped with the directory, which ends the task following the gate changes.
    _following: Option<oneshot::Sender<()>>,
}

impl TenantDirectory {
    /// The store the gates are read from.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// An empty directory over `store` that trusts an answer for [`TTL`].
    pub fn new(store: Store) -> Self {
        Self { store, active: Arc::new(RefreshAhead::new(TTL)), _following: None }
    }

    /// An empty directory over `store` that follows the store's gate changes where it tells
    /// them (PostgreSQL) and then trusts an answer until told (or for [`WATCHED_TTL`]);
    /// elsewhere as [`Self::new`].
    pub async fn following_changes(store: Store) -> Self {
        let watch = match store.watch_gates().await {
            Ok(Some(watch)) => watch,
            Ok(None) => return Self::new(store),
            Err(error) => {
                tracing::warn!(error = %error, "cannot follow the tenant gates' changes; re-reading them every 5 s");
                return Self::new(store);
            }
        };
        let active = Arc::new(RefreshAhead::new(WATCHED_TTL));
        let (following, stopped) = oneshot::channel();
        tokio::spawn(follow(watch, active.clone(), stopped));
        Self { store, active, _following: Some(following) }
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

    /// The gates of the active tenants among distinct `ids` (others are left out): a batch of
    /// usage spanning a thousand tenants reads those not cached in one page of statements, not
    /// one tenant at a time (1 000-record batches of 1 000 new tenants each were ingested at
    /// 14 000 records/s that way: BENCHMARKS.md, Dec 6).
    ///
    /// # Errors
    /// When the database cannot answer.
    pub async fn gates(&self, ids: &[TenantId]) -> Result<HashMap<TenantId, TenantGate>, DbError> {
        let store = self.store.clone();
        let read = move |ids: Vec<TenantId>| {
            let store = store.clone();
            async move { read_gates(&store, &ids).await }
        };
        self.active.get_many(ids, read).await
    }

    /// Drops a cached answer (after the tenant changed on this node).
    pub fn forget(&self, id: &TenantId) {
        self.active.forget(id);
    }
}

/// Drops the gates `watch` says changed, until `stopped`.
async fn follow(
    mut watch: GateWatch,
    gates: Arc<RefreshAhead<TenantId, TenantGate>>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            change = watch.next() => match change {
                GateChange::Tenant(tenant) => gates.forget(&tenant),
                GateChange::Missed => gates.refresh_all(),
            },
        }
    }
}

/// The gate of an active tenant as stored now; `None` when it does not exist or is deactivated.
async fn read_gate(store: &Store, id: &TenantId) -> Result<Option<TenantGate>, DbError> {
    Ok(read_gates(store, std::slice::from_ref(id)).await?.remove(id))
}

/// The gates of the active tenants among `ids` as stored now: per page of [`GATE_PAGE`], a
/// statement for the tenants and one for the closed periods of those whose policy is `reject`.
async fn read_gates(store: &Store, ids: &[TenantId]) -> Result<HashMap<TenantId, TenantGate>, DbError> {
    let mut gates = HashMap::with_capacity(ids.len());
    for page in ids.chunks(GATE_PAGE) {
        let active: Vec<Tenant> = store.tenants_among(page).await?.into_iter().filter(|t| t.active).collect();
        let rejecting: Vec<TenantId> = active
            .iter()
            .filter(|t| t.details.late_usage_policy == LateUsagePolicy::Reject)
            .map(|t| t.id.clone())
            .collect();
        let closed = store.closed_periods_of(&rejecting).await?;
        for tenant in active {
            let closed_before = match tenant.details.late_usage_policy {
                LateUsagePolicy::Reject => closed.get(&tenant.id).and_then(|p| p.last()).map(|p| p.end()),
                LateUsagePolicy::NextInvoice => None,
            };
            gates.insert(tenant.id, TenantGate { closed_before });
        }
    }
    Ok(gates)
}

/// Tenants [`read_gates`] reads per statement.
const GATE_PAGE: usize = 500;

impl InvoiceIssued for TenantDirectory {
    /// A new invoice closed a period: a `reject` tenant refuses usage for it at once here.
    fn invoice_issued(&self, tenant: &TenantId) {
        self.forget(tenant);
    }
}
