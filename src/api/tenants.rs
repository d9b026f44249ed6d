//! Admin tenant routes: `POST /v1/tenants` (api-spec `createTenant`), `GET /v1/tenants`
//! (`listTenants`), `GET /v1/tenants/{id}` (`getTenant`), `PATCH /v1/tenants/{id}`
//! (`updateTenant`).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::idempotency::{run_idempotent, JsonReply};
use super::json::parse_json;
use super::tenant_wire::{CreateTenantRequest, PatchTenantRequest, TenantResponse};
use crate::auth::{AdminCaller, AnyCaller};
use crate::clock::SharedClock;
use crate::domain::{NewTenant, TenantId, TenantPatch};
use crate::error::ApiError;
use crate::ingest::TenantDirectory;
use crate::store::{DbError, Store};

/// Creates a tenant; 409 `tenant_exists` when the id is taken.
#[tracing::instrument(skip_all)]
pub async fn create_tenant(
    request: HttpRequest,
    body: web::Bytes,
    caller: AdminCaller,
    store: web::Data<Arc<dyn Store>>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let new: NewTenant = parse_json::<CreateTenantRequest>(&body)?.try_into()?;
    run_idempotent(&request, &body, caller.0.subject(), store.as_ref().as_ref(), &clock, || async {
        let tenant = store.create_tenant(&new, clock.now()).await.map_err(|e| match e {
            DbError::AlreadyExists => ApiError::Conflict {
                code: "tenant_exists",
                message: format!("tenant {:?} already exists", new.id.as_str()),
            },
            other => ApiError::Unexpected(anyhow::Error::new(other).context("Failed to create the tenant")),
        })?;
        JsonReply::with_status(StatusCode::CREATED, TenantResponse::from(tenant))
    })
    .await
}

/// Reads one tenant. Tenant credentials read only their own (others are 404).
#[tracing::instrument(skip_all, fields(tenant_id = %path))]
pub async fn get_tenant(
    path: web::Path<String>,
    caller: AnyCaller,
    store: web::Data<Arc<dyn Store>>,
) -> Result<HttpResponse, ApiError> {
    let id = caller.readable_tenant(&path)?;
    let tenant = store.get_tenant(&id).await.map_err(unexpected)?.ok_or(ApiError::NotFound("tenant"))?;
    Ok(HttpResponse::Ok().json(TenantResponse::from(tenant)))
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
    _caller: AdminCaller,
    store: web::Data<Arc<dyn Store>>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let after = query
        .cursor
        .as_deref()
        .map(TenantId::parse)
        .transpose()
        .map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not one this API returned"))?;
    let tenants = store.list_tenants(after.as_ref(), limit).await.map_err(unexpected)?;
    let next_cursor = (tenants.len() == limit as usize).then(|| tenants.last().map(|t| t.id.to_string())).flatten();
    let data: Vec<TenantResponse> = tenants.into_iter().map(TenantResponse::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data, "next_cursor": next_cursor })))
}

/// Updates a tenant's details, or deactivates it (`"active": false`: new usage is refused).
#[tracing::instrument(skip_all, fields(tenant_id = %path))]
pub async fn update_tenant(
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    caller: AdminCaller,
    store: web::Data<Arc<dyn Store>>,
    clock: web::Data<SharedClock>,
    directory: web::Data<TenantDirectory>,
) -> Result<HttpResponse, ApiError> {
    let id = TenantId::parse(&path).map_err(|_| ApiError::NotFound("tenant"))?;
    let patch: TenantPatch = parse_json::<PatchTenantRequest>(&body)?.try_into()?;
    run_idempotent(&request, &body, caller.0.subject(), store.as_ref().as_ref(), &clock, || async {
        let tenant = store.update_tenant(&id, patch, clock.now()).await.map_err(unexpected)?;
        directory.forget(&id);
        JsonReply::ok(TenantResponse::from(tenant.ok_or(ApiError::NotFound("tenant"))?))
    })
    .await
}

fn unexpected(error: DbError) -> ApiError {
    ApiError::Unexpected(anyhow::Error::new(error))
}
