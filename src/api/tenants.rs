//! Admin tenant routes: `POST /v1/tenants` (api-spec `createTenant`), `GET /v1/tenants`
//! (`listTenants`), `GET /v1/tenants/{id}` (`getTenant`), `PATCH /v1/tenants/{id}`
//! (`updateTenant`).
//!
//! Stage: the HTTP edge. Parses, calls one `invoice` service (onboarding, patching) or one
//! store read, answers. Must hold no subscription rules.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};

use super::lookup::{PathChange, ReadableTenant};
use super::page::{invalid_cursor, next_cursor, page_limit, page_response, PageQuery};
use super::tenant_wire::{CreateTenantRequest, PatchTenantRequest, TenantResponse};
use crate::auth::{AdminCaller, GlobalAdmin};
use crate::clock::SharedClock;
use crate::domain::{NewTenant, Tenant, TenantId, TenantPatch};
use crate::http::{ApiError, DeferredQuery, Idempotent, JsonReply};
use crate::ingest::TenantDirectory;
use crate::invoice::{apply_tenant_patch, known_plan, onboard_tenant};
use crate::plans::SharedCatalog;
use crate::store::Store;

/// Creates a tenant (and its subscription when `plan` is given); 409 `tenant_exists` when the
/// id is taken.
#[tracing::instrument(skip_all)]
pub async fn create_tenant(
    request: Idempotent<GlobalAdmin>,
    catalog: web::Data<SharedCatalog>,
) -> Result<HttpResponse, ApiError> {
    let wire: CreateTenantRequest = request.json()?;
    let new = NewTenant::try_from(&wire)?;
    let store = request.store();
    let catalog = catalog.current(store).await?;
    if let Some(plan) = wire.plan.as_deref() {
        known_plan(&catalog, plan)?;
    }
    request
        .run(|| async {
            let now = request.now();
            let first = (wire.plan.as_deref(), wire.subscription_start);
            let tenant = onboard_tenant(store, &catalog, &new, first, now, &request.actor()).await?;
            JsonReply::with_status(StatusCode::CREATED, respond(store, tenant, now).await?)
        })
        .await
}

/// Reads one tenant. Tenant credentials read only their own (others are 404).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.0.id))]
pub async fn get_tenant(
    tenant: ReadableTenant,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(respond(store.get_ref(), tenant.0, clock.now()).await?))
}

/// Lists tenants by id with cursor pagination (`next_cursor` is the last id of the page).
#[tracing::instrument(skip_all)]
pub async fn list_tenants(
    _caller: GlobalAdmin,
    query: DeferredQuery<PageQuery>,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let query = query.parsed()?;
    let limit = page_limit(query.limit, 500);
    let after = query.cursor.as_deref().map(TenantId::parse).transpose().map_err(|_| invalid_cursor())?;
    let tenants = store.list_tenants(after.as_ref(), limit).await?;
    let next_cursor = next_cursor(&tenants, limit, |t| t.id.to_string());
    let mut data = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        data.push(respond(store.get_ref(), tenant, clock.now()).await?);
    }
    Ok(page_response(data, next_cursor))
}

/// Updates a tenant's details, or deactivates it (`"active": false`: new usage is refused, the
/// subscription ends now, and the period so far gets its final invoice when it closes).
#[tracing::instrument(skip_all, fields(tenant_id = %request.id))]
pub async fn update_tenant(
    request: PathChange<AdminCaller>,
    directory: web::Data<TenantDirectory>,
) -> Result<HttpResponse, ApiError> {
    let id = request.tenant()?;
    let patch: TenantPatch = request.json::<PatchTenantRequest>()?.try_into()?;
    let store = request.store();
    request
        .run(|| async {
            let patched = apply_tenant_patch(store, &id, patch, request.now(), &request.actor()).await;
            directory.forget(&id);
            JsonReply::ok(respond(store, patched?, request.now()).await?)
        })
        .await
}

async fn respond(store: &Store, tenant: Tenant, now: DateTime<Utc>) -> Result<TenantResponse, ApiError> {
    let changes = store.subscriptions(&tenant.id).await?;
    Ok(TenantResponse::new(tenant, &changes, now))
}
