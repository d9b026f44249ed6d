//! Quotas and budgets: `PUT`/`GET /v1/tenants/{id}/quotas` (api-spec `putQuotas`,
//! `getQuotas`; the operator's set, replaced whole, honours `Idempotency-Key`) and
//! `PUT`/`GET /v1/tenants/{id}/budgets` (`putBudgets`, `getBudgets`; the tenant's own spend
//! alerts, set with a tenant token or by an admin).
//!
//! Stage: the HTTP edge. Parses, asks `quota::set_quotas` / `quota::quota_listing`, answers.
//! The rules (ids, budgets, hard budgets) live in `quota::manage`.

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
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
use crate::quota::{quota_listing, set_quotas_by, QuotaListing};
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
#[tracing::instrument(skip_all, fields(tenant_id = %read.tenant.0.id))]
pub async fn get_quotas(read: SetRead) -> Result<HttpResponse, ApiError> {
    read.answer(quota_set_json).await
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
#[tracing::instrument(skip_all, fields(tenant_id = %read.tenant.0.id))]
pub async fn get_budgets(read: SetRead) -> Result<HttpResponse, ApiError> {
    read.answer(budget_set_json).await
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
            // Admins' changes are audited; a tenant's own budgets are its business.
            let admin = request.caller.0.is_admin().then(|| request.actor());
            let listing =
                set_quotas_by(admin.as_ref(), (store, &catalog), (&id, owner), &quotas, request.now()).await?;
            JsonReply::ok(answer(&listing))
        })
        .await
}

/// A read of the quota listing of the tenant the path names: the arguments `getQuotas` and
/// `getBudgets` share, extracted in the order they were written (the tenant's 404 first).
pub struct SetRead {
    tenant: ReadableTenant,
    store: web::Data<Store>,
    catalog: web::Data<SharedCatalog>,
    clock: web::Data<SharedClock>,
}

impl SetRead {
    /// 200 with the tenant's listing (every quota, the operator's and its own, with its plan's
    /// defaults) as `answer` shows it.
    async fn answer(self, answer: fn(&QuotaListing) -> Value) -> Result<HttpResponse, ApiError> {
        let catalog = self.catalog.current(&self.store).await?;
        let listing = quota_listing(&self.store, &catalog, &self.tenant.0.id, self.clock.now()).await?;
        Ok(HttpResponse::Ok().json(answer(&listing)))
    }
}

impl FromRequest for SetRead {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        type Parts = (ReadableTenant, web::Data<Store>, web::Data<SharedCatalog>, web::Data<SharedClock>);
        let parts = Parts::from_request(request, payload);
        Box::pin(async move {
            let (tenant, store, catalog, clock) = parts.await?;
            Ok(SetRead { tenant, store, catalog, clock })
        })
    }
}
