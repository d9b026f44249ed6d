//! Auth as extractor arguments: a handler's signature shows what access its route needs.
//! `GlobalAdmin` (admin role, no tenant scope: routes over every tenant), `AdminCaller` (admin
//! role, maybe tenant-scoped), `IngestCaller` (ingest or admin), `AnyCaller` (any valid
//! credential; tenant access is checked per object, answering 404 for other tenants). Each is
//! a [`Caller`] with one [`Access`] rule, so there is one `FromRequest` impl; callers also
//! scope `http`'s `Idempotency-Key` records (by role, tenant and subject).
//!
//! Stage: the HTTP edge. Inputs: the `Authorization` header and the `Authenticator`; outputs:
//! a `Principal` or an `ApiError` (401/403/503). Uses `http` for the error type; `http` must
//! never import `auth`.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use super::{Authenticator, Principal, Role};
use crate::clock::SharedClock;
use crate::domain::TenantId;
use crate::http::{ApiError, IdempotencyScope};

/// What a route demands of its caller beyond a valid credential. Each caller extractor is
/// [`Caller`] with one of these, so the authentication steps are written once.
pub trait Access {
    /// `Err(why)` when `principal` may not use the route (logged at debug level, answered 403).
    ///
    /// # Errors
    /// The reason the caller is refused.
    fn admit(principal: &Principal) -> Result<(), &'static str>;
}

/// Any valid credential (tenant access is then checked per object).
pub enum AnyRole {}

/// The admin role, possibly scoped to one tenant.
pub enum AdminRole {}

/// The admin role with no tenant scope.
pub enum GlobalAdminRole {}

/// The ingest or admin role (tenant-scoped keys only for their tenant, checked per record).
pub enum IngestRole {}

impl Access for AnyRole {
    fn admit(_: &Principal) -> Result<(), &'static str> {
        Ok(())
    }
}

impl Access for AdminRole {
    fn admit(principal: &Principal) -> Result<(), &'static str> {
        principal.is_admin().then_some(()).ok_or("admin role required")
    }
}

impl Access for GlobalAdminRole {
    fn admit(principal: &Principal) -> Result<(), &'static str> {
        AdminRole::admit(principal)?;
        principal.is_global_admin().then_some(()).ok_or("a tenant-scoped admin on a global route")
    }
}

impl Access for IngestRole {
    fn admit(principal: &Principal) -> Result<(), &'static str> {
        matches!(principal.role(), Role::Admin | Role::Ingest).then_some(()).ok_or("ingest role required")
    }
}

/// An authenticated caller that `A` admits; 401 without a valid credential, 403 when `A`
/// refuses it.
pub struct Caller<A>(pub Principal, PhantomData<A>);

/// A caller with the admin role and no tenant scope, for routes that act on every tenant
/// (billing runs, creating and listing tenants). A tenant-scoped admin gets 403 `forbidden`.
pub type GlobalAdmin = Caller<GlobalAdminRole>;

/// A caller with the admin role (possibly scoped to one tenant; routes check the tenant).
pub type AdminCaller = Caller<AdminRole>;

/// A caller that may post usage (ingest or admin role; tenant-scoped keys only for their tenant).
pub type IngestCaller = Caller<IngestRole>;

/// Any authenticated caller.
pub type AnyCaller = Caller<AnyRole>;

impl<A> Caller<A> {
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

impl<A: Access + 'static> FromRequest for Caller<A> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let principal = authenticate(request).await?;
            if let Err(why) = A::admit(&principal) {
                tracing::debug!(role = principal.role().as_str(), "rejected: {why}");
                return Err(ApiError::Forbidden);
            }
            Ok(Caller(principal, PhantomData))
        })
    }
}

impl<A> IdempotencyScope for Caller<A> {
    /// Keys are scoped by the whole principal, not only the audit-log subject.
    fn idempotency_owner(&self) -> [&str; 3] {
        let principal = &self.0;
        [principal.role().as_str(), principal.tenant().map_or("", TenantId::as_str), principal.subject()]
    }
}
