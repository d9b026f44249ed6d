//! Which tenants may receive usage, cached briefly so the hot path does not ask the database
//! on every request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::domain::TenantId;
use crate::store::{DbError, Store};

/// How long an "exists and active" answer is trusted. Unknown tenants are never cached, so a
/// tenant created on another node is usable at once; a deactivation reaches every node within
/// this time (and at once on the node that served the PATCH, see [`TenantDirectory::forget`]).
const TTL: Duration = Duration::from_secs(5);

/// A cache of active tenants.
pub struct TenantDirectory {
    store: Arc<dyn Store>,
    active: RwLock<HashMap<TenantId, Instant>>,
}

impl TenantDirectory {
    /// An empty directory over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, active: RwLock::new(HashMap::new()) }
    }

    /// True when the tenant exists and is active.
    ///
    /// # Errors
    /// When the database cannot answer.
    pub async fn is_active(&self, id: &TenantId) -> Result<bool, DbError> {
        let cached = self.active.read().unwrap_or_else(|p| p.into_inner()).get(id).is_some_and(|at| at.elapsed() < TTL);
        if cached {
            return Ok(true);
        }
        let active = self.store.get_tenant(id).await?.is_some_and(|t| t.active);
        let mut map = self.active.write().unwrap_or_else(|p| p.into_inner());
        if active {
            map.insert(id.clone(), Instant::now());
        } else {
            map.remove(id);
        }
        Ok(active)
    }

    /// Drops a cached answer (after the tenant changed on this node).
    pub fn forget(&self, id: &TenantId) {
        self.active.write().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}
