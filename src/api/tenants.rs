//! Admin tenant routes: `POST /v1/tenants` (api-spec `createTenant`), `GET /v1/tenants`
//! (`listTenants`), `GET /v1/tenants/{id}` (`getTenant`), `PATCH /v1/tenants/{id}`
//! (`updateTenant`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::idempotency::{run_idempotent, JsonReply};
use super::json::{parse_json, JsonBody};
use super::subscription::plan_change;
use super::tenant_wire::{CreateTenantRequest, PatchTenantRequest, TenantResponse};
use super::unexpected;
use crate::auth::{visible_tenant, AdminCaller, AnyCaller};
use crate::clock::SharedClock;
use crate::domain::{plan_at, ChangeTiming, NewTenant, SubscriptionChange, Tenant, TenantId, TenantPatch};
use crate::error::ApiError;
use crate::ingest::TenantDirectory;
use crate::plans::load_catalog;
use crate::store::{DbError, Store};

/// Creates a tenant (and its subscription when `plan` is given); 409 `tenant_exists` when the
/// id is taken.
#[tracing::instrument(skip_all)]
pub async fn create_tenant(
    request: HttpRequest,
    JsonBody(body): JsonBody,
    caller: AdminCaller,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    if !caller.0.is_global_admin() {
        return Err(ApiError::Forbidden);
    }
    let wire: CreateTenantRequest = parse_json(&body)?;
    let new = NewTenant::try_from(&wire)?;
    let catalog = load_catalog(store.get_ref()).await?;
    if let Some(plan) = wire.plan.as_deref().filter(|p| catalog.latest(p).is_none()) {
        return Err(ApiError::unprocessable("unknown_plan", format!("no plan {plan:?}")));
    }
    run_idempotent(&request, &body, caller.0.subject(), store.get_ref(), &clock, || async {
        let now = clock.now();
        let tenant = store.create_tenant(&new, now).await.map_err(|e| match e {
            DbError::AlreadyExists => ApiError::Conflict {
                code: "tenant_exists",
                message: format!("tenant {:?} already exists", new.id.as_str()),
            },
            other => unexpected(other),
        })?;
        if let Some(plan) = &wire.plan {
            let store = store.get_ref();
            let change = plan_change(store, &catalog, &tenant, plan, ChangeTiming::Immediately, now).await?;
            store.change_subscription(&tenant.id, &change, now).await.map_err(unexpected)?;
        }
        JsonReply::with_status(StatusCode::CREATED, respond(store.get_ref(), tenant, now).await?)
    })
    .await
}

/// Reads one tenant. Tenant credentials read only their own (others are 404).
#[tracing::instrument(skip_all, fields(tenant_id = %path))]
pub async fn get_tenant(
    path: web::Path<String>,
    caller: AnyCaller,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let id = caller.readable_tenant(&path)?;
    let tenant = store.get_tenant(&id).await.map_err(unexpected)?.ok_or(ApiError::NotFound("tenant"))?;
    Ok(HttpResponse::Ok().json(respond(store.get_ref(), tenant, clock.now()).await?))
}

/// Query of `GET /v1/tenants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Lists tenants by id with cursor pagination (`next_cursor` is the last id of the page).
#[tracing::instrument(skip_all)]
pub async fn list_tenants(
    query: web::Query<ListQuery>,
    caller: AdminCaller,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    if !caller.0.is_global_admin() {
        return Err(ApiError::Forbidden);
    }
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let after = query
        .cursor
        .as_deref()
        .map(TenantId::parse)
        .transpose()
        .map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not one this API returned"))?;
    let tenants = store.list_tenants(after.as_ref(), limit).await.map_err(unexpected)?;
    let next_cursor = (tenants.len() == limit as usize).then(|| tenants.last().map(|t| t.id.to_string())).flatten();
    let mut data = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        data.push(respond(store.get_ref(), tenant, clock.now()).await?);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data, "next_cursor": next_cursor })))
}

/// Updates a tenant's details, or deactivates it (`"active": false`: new usage is refused, the
/// subscription ends now, and the period so far gets its final invoice when it closes).
#[tracing::instrument(skip_all, fields(tenant_id = %path))]
pub async fn update_tenant(
    request: HttpRequest,
    path: web::Path<String>,
    JsonBody(body): JsonBody,
    caller: AdminCaller,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
    directory: web::Data<TenantDirectory>,
) -> Result<HttpResponse, ApiError> {
    let id = visible_tenant(&caller.0, &path)?;
    let patch: TenantPatch = parse_json::<PatchTenantRequest>(&body)?.try_into()?;
    run_idempotent(&request, &body, caller.0.subject(), store.get_ref(), &clock, || async {
        let deactivating = patch.active == Some(false);
        let tenant = store.update_tenant(&id, patch, clock.now()).await.map_err(unexpected)?;
        directory.forget(&id);
        let tenant = tenant.ok_or(ApiError::NotFound("tenant"))?;
        if deactivating {
            end_subscription(store.get_ref(), &id, clock.now()).await?;
        }
        JsonReply::ok(respond(store.get_ref(), tenant, clock.now()).await?)
    })
    .await
}

/// A deactivated tenant stops accruing charges now (snapped to the rollup grain); the period
/// so far is billed, prorated, when that period closes — its final invoice.
async fn end_subscription(store: &Store, tenant: &TenantId, now: DateTime<Utc>) -> Result<(), ApiError> {
    let changes = store.subscriptions(tenant).await?;
    if plan_at(&changes, now).is_some() || changes.iter().any(|c| c.effective_at > now) {
        store.change_subscription(tenant, &SubscriptionChange::end(crate::aggregate::bucket_start(now)), now).await?;
    }
    Ok(())
}

async fn respond(store: &Store, tenant: Tenant, now: DateTime<Utc>) -> Result<TenantResponse, ApiError> {
    let changes = store.subscriptions(&tenant.id).await.map_err(unexpected)?;
    Ok(TenantResponse::new(tenant, &changes, now))
}
