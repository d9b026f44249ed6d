//! Quotas and budgets: `PUT`/`GET /v1/tenants/{id}/quotas` (api-spec `putQuotas`,
//! `getQuotas`; the operator's set, replaced whole, honours `Idempotency-Key`) and
//! `PUT`/`GET /v1/tenants/{id}/budgets` (`putBudgets`, `getBudgets`; the tenant's own spend
//! alerts, set with a tenant token or by an admin).
//!
//! Stage: the HTTP edge. Parses, asks `quota::set_quotas` / `quota::quota_listing`, answers.
//! The rules (ids, budgets, hard budgets) live in `quota::manage`.

use actix_web::{web, HttpResponse};
use serde_json::Value;

use super::lookup::{PathChange, ReadableTenant};
use super::quota_wire::{
    budget_set_json, parse_quotas, quota_set_json, PutBudgetsRequest, PutQuotasRequest, QuotaRequest,
};
use crate::auth::{AdminCaller, AnyCaller, Caller, Role};
use crate::clock::SharedClock;
use crate::domain::QuotaOwner;
use crate::http::{ApiError, IdempotencyScope, JsonReply};
use crate::plans::SharedCatalog;
use crate::quota::{quota_listing, set_quotas, QuotaListing};
use crate::store::Store;

/// Replaces the operator's quota set of a tenant.
#[tracing::instrument(skip_all, fields(tenant_id = %request.id))]
pub async fn put_quotas(
    request: PathChange<AdminCaller>,
    catalog: web::Data<SharedCatalog>,
) -> Result<HttpResponse, ApiError> {
    let wanted = |body: PutQuotasRequest| body.quotas;
    replace_set(&request, &catalog, QuotaOwner::Operator, wanted, quota_set_json).await
}

/// The operator's quota set of a tenant and its plan's defaults.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.0.id))]
pub async fn get_quotas(
    tenant: ReadableTenant,
    store: web::Data<Store>,
    catalog: web::Data<SharedCatalog>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let listing = read_set(&tenant, &store, &catalog, &clock).await?;
    Ok(HttpResponse::Ok().json(quota_set_json(&listing)))
}

/// Replaces the tenant's budgets: the tenant itself (tenant role) or an admin.
#[tracing::instrument(skip_all, fields(tenant_id = %request.id))]
pub async fn put_budgets(
    request: PathChange<AnyCaller>,
    catalog: web::Data<SharedCatalog>,
) -> Result<HttpResponse, ApiError> {
    if request.caller.0.role() == Role::Ingest {
        return Err(ApiError::Forbidden);
    }
    let wanted = |body: PutBudgetsRequest| body.budgets;
    replace_set(&request, &catalog, QuotaOwner::Tenant, wanted, budget_set_json).await
}

/// The tenant's budgets.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.0.id))]
pub async fn get_budgets(
    tenant: ReadableTenant,
    store: web::Data<Store>,
    catalog: web::Data<SharedCatalog>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let listing = read_set(&tenant, &store, &catalog, &clock).await?;
    Ok(HttpResponse::Ok().json(budget_set_json(&listing)))
}

/// Replaces `owner`'s set of the tenant the path names with the body's (`wanted` picks it out
/// of the body `B`), answering the new listing as `answer` shows it. 404 before the body's 400/422.
async fn replace_set<A, B: serde::de::DeserializeOwned>(
    request: &PathChange<Caller<A>>,
    catalog: &SharedCatalog,
    owner: QuotaOwner,
    wanted: impl FnOnce(B) -> Vec<QuotaRequest>,
    answer: fn(&QuotaListing) -> Value,
) -> Result<HttpResponse, ApiError>
where
    Caller<A>: IdempotencyScope,
{
    let id = request.tenant()?;
    let quotas = parse_quotas(&wanted(request.json()?))?;
    let store = request.store();
    let catalog = catalog.current(store).await?;
    request
        .run(|| async {
            let listing = set_quotas(store, &catalog, &id, owner, &quotas, request.now()).await?;
            JsonReply::ok(answer(&listing))
        })
        .await
}

/// Every quota of the tenant (the operator's and its own) with its plan's defaults.
async fn read_set(
    tenant: &ReadableTenant,
    store: &Store,
    catalog: &SharedCatalog,
    clock: &SharedClock,
) -> Result<QuotaListing, ApiError> {
    let catalog = catalog.current(store).await?;
    Ok(quota_listing(store, &catalog, &tenant.0.id, clock.now()).await?)
}
