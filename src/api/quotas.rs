//! Quotas and budgets: `PUT`/`GET /v1/tenants/{id}/quotas` (api-spec `putQuotas`,
//! `getQuotas`; the operator's set, replaced whole, honours `Idempotency-Key`) and
//! `PUT`/`GET /v1/tenants/{id}/budgets` (`putBudgets`, `getBudgets`; the tenant's own spend
//! alerts, set with a tenant token or by an admin).
//!
//! Stage: the HTTP edge. Parses, asks `quota::set_quotas` / `quota::quota_listing`, answers.
//! The rules (ids, budgets, hard budgets) live in `quota::manage`.

use actix_web::{web, HttpResponse};

use super::lookup::ReadableTenant;
use super::quota_wire::{budget_set_json, parse_quotas, quota_set_json, PutBudgetsRequest, PutQuotasRequest};
use crate::auth::{visible_tenant, AdminCaller, AnyCaller, Role};
use crate::clock::SharedClock;
use crate::domain::QuotaOwner;
use crate::http::{ApiError, Idempotent, JsonReply};
use crate::plans::SharedCatalog;
use crate::quota::{quota_listing, set_quotas};
use crate::store::Store;

/// Replaces the operator's quota set of a tenant.
#[tracing::instrument(skip_all, fields(tenant_id = %path))]
pub async fn put_quotas(
    path: web::Path<String>,
    request: Idempotent<AdminCaller>,
    catalog: web::Data<SharedCatalog>,
) -> Result<HttpResponse, ApiError> {
    let id = visible_tenant(&request.caller.0, &path)?;
    let wanted: PutQuotasRequest = request.json()?;
    let quotas = parse_quotas(&wanted.quotas)?;
    let store = request.store();
    let catalog = catalog.current(store).await?;
    request
        .run(|| async {
            let listing = set_quotas(store, &catalog, &id, QuotaOwner::Operator, &quotas, request.now()).await?;
            JsonReply::ok(quota_set_json(&listing))
        })
        .await
}

/// The operator's quota set of a tenant and its plan's defaults.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.0.id))]
pub async fn get_quotas(
    tenant: ReadableTenant,
    store: web::Data<Store>,
    catalog: web::Data<SharedCatalog>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let catalog = catalog.current(&store).await?;
    let listing = quota_listing(&store, &catalog, &tenant.0.id, clock.now()).await?;
    Ok(HttpResponse::Ok().json(quota_set_json(&listing)))
}

/// Replaces the tenant's budgets: the tenant itself (tenant role) or an admin.
#[tracing::instrument(skip_all, fields(tenant_id = %path))]
pub async fn put_budgets(
    path: web::Path<String>,
    request: Idempotent<AnyCaller>,
    catalog: web::Data<SharedCatalog>,
) -> Result<HttpResponse, ApiError> {
    if request.caller.0.role() == Role::Ingest {
        return Err(ApiError::Forbidden);
    }
    let id = visible_tenant(&request.caller.0, &path)?;
    let wanted: PutBudgetsRequest = request.json()?;
    let budgets = parse_quotas(&wanted.budgets)?;
    let store = request.store();
    let catalog = catalog.current(store).await?;
    request
        .run(|| async {
            let listing = set_quotas(store, &catalog, &id, QuotaOwner::Tenant, &budgets, request.now()).await?;
            JsonReply::ok(budget_set_json(&listing))
        })
        .await
}

/// The tenant's budgets.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.0.id))]
pub async fn get_budgets(
    tenant: ReadableTenant,
    store: web::Data<Store>,
    catalog: web::Data<SharedCatalog>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let catalog = catalog.current(&store).await?;
    let listing = quota_listing(&store, &catalog, &tenant.0.id, clock.now()).await?;
    Ok(HttpResponse::Ok().json(budget_set_json(&listing)))
}
