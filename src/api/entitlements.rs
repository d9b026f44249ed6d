//! `GET /v1/tenants/{id}/entitlements[?meter=]` (api-spec `getEntitlements`): per quota in
//! force, used / limit / remaining / hard / blocked — for runtimes (ingest keys), admins and the
//! tenant itself. Answered from `quota::EntitlementCache` (at most 1 s stale, stated as
//! `as_of`), so runtimes may call it on their hot path.
//!
//! Stage: the HTTP edge. Checks who may ask, reads the cache, renders.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::quota_wire::{entitlements_json, meter_filter};
use crate::auth::AnyCaller;
use crate::clock::SharedClock;
use crate::domain::TenantId;
use crate::http::{ApiError, DeferredQuery};
use crate::quota::EntitlementCache;

/// Query of `getEntitlements`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitlementsQuery {
    meter: Option<String>,
}

/// The tenant's entitlements.
#[tracing::instrument(skip_all, fields(tenant_id = %path))]
pub async fn get_entitlements(
    caller: AnyCaller,
    path: web::Path<String>,
    query: DeferredQuery<EntitlementsQuery>,
    cache: web::Data<EntitlementCache>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let caller = &caller.0;
    let id = TenantId::parse(&path)
        .ok()
        .filter(|t| caller.can_read_tenant(t) || caller.can_ingest_for(t))
        .ok_or(ApiError::NotFound("tenant"))?;
    let query = query.parsed()?;
    let meter = meter_filter(query.meter.as_deref())?;
    let snapshot = cache.get(&id, clock.now()).await?;
    Ok(HttpResponse::Ok().json(entitlements_json(&snapshot, meter)))
}
