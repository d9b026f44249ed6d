//! Auth as extractor arguments: a handler's signature shows what access its route needs.
//! `GlobalAdmin` (admin role, no tenant scope: routes over every tenant), `AdminCaller` (admin
//! role, maybe tenant-scoped), `IngestCaller` (ingest or admin), `AnyCaller` (any valid
//! credential; tenant access is checked per object, answering 404 for other tenants).
//!
//! Stage: the HTTP edge. Inputs: the `Authorization` header and the `Authenticator`; outputs:
//! a `Principal` or an `ApiError` (401/403/503). Uses `http` for the error type; `http` must
//! never import `auth`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use super::{Authenticator, Principal, Role};
use crate::clock::SharedClock;
use crate::domain::TenantId;
use crate::http::ApiError;

/// A caller with the admin role and no tenant scope, for routes that act on every tenant
/// (billing runs, creating and listing tenants). A tenant-scoped admin gets 403 `forbidden`.
pub struct GlobalAdmin(pub Principal);

/// A caller with the admin role (possibly scoped to one tenant; routes check the tenant).
pub struct AdminCaller(pub Principal);

/// A caller that may post usage (ingest or admin role; tenant-scoped keys only for their tenant).
pub struct IngestCaller(pub Principal);

/// Any authenticated caller.
pub struct AnyCaller(pub Principal);

impl AnyCaller {
    /// The tenant in a path, if this caller may read it; 404 otherwise (no existence oracle).
    ///
    /// # Errors
    /// 404 `not_found` for invalid ids and for tenants the caller may not read.
    pub fn readable_tenant(&self, id: &str) -> Result<TenantId, ApiError> {
        visible_tenant(&self.0, id)
    }
}

/// The tenant named in a path, if `caller` may see it; 404 otherwise (no existence oracle).
///
/// # Errors
/// 404 `not_found` for invalid ids and for tenants the caller may not read.
pub fn visible_tenant(caller: &Principal, id: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(id).ok().filter(|t| caller.can_read_tenant(t)).ok_or(ApiError::NotFound("tenant"))
}

async fn authenticate(request: HttpRequest) -> Result<Principal, ApiError> {
    let (Some(auth), Some(clock)) =
        (request.app_data::<web::Data<Authenticator>>(), request.app_data::<web::Data<SharedClock>>())
    else {
        return Err(ApiError::Unexpected(anyhow::anyhow!("the authenticator is not configured")));
    };
    let header = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let Some(credential) = header.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim) else {
        tracing::debug!("rejected: no bearer credential");
        return Err(ApiError::Unauthorized);
    };
    auth.authenticate(credential, clock.now()).await.map_err(|error| match error {
        super::AuthError::Unavailable(_) => ApiError::Unavailable { retry_after_secs: 2 },
        other => {
            tracing::debug!(reason = %other, "rejected credential");
            ApiError::Unauthorized
        }
    })
}

type Pending<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl FromRequest for AnyCaller {
    type Error = ApiError;
    type Future = Pending<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move { authenticate(request).await.map(AnyCaller) })
    }
}

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = Pending<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let principal = authenticate(request).await?;
            if principal.role() != Role::Admin {
                tracing::debug!(role = principal.role().as_str(), "rejected: admin role required");
                return Err(ApiError::Forbidden);
            }
            Ok(AdminCaller(principal))
        })
    }
}

impl FromRequest for GlobalAdmin {
    type Error = ApiError;
    type Future = Pending<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let admin = AdminCaller::from_request(request, payload);
        Box::pin(async move {
            let AdminCaller(principal) = admin.await?;
            if !principal.is_global_admin() {
                tracing::debug!("rejected: a tenant-scoped admin on a global route");
                return Err(ApiError::Forbidden);
            }
            Ok(GlobalAdmin(principal))
        })
    }
}

impl FromRequest for IngestCaller {
    type Error = ApiError;
    type Future = Pending<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let principal = authenticate(request).await?;
            if !matches!(principal.role(), Role::Admin | Role::Ingest) {
                tracing::debug!(role = principal.role().as_str(), "rejected: ingest role required");
                return Err(ApiError::Forbidden);
            }
            Ok(IngestCaller(principal))
        })
    }
}
