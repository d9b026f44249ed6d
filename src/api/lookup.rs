//! The objects a path names, as the caller may see them: a tenant that exists, an invoice
//! whose tenant the caller may read. Anything else is 404 (no existence oracle).
//!
//! Stage: the HTTP edge. Reads one row from the store; holds no rules beyond "may this caller
//! see it", which `auth::Principal` answers.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use crate::auth::{visible_tenant, AnyCaller, Caller, Principal};
use crate::domain::{InvoiceId, Tenant, TenantId};
use crate::http::{ApiError, Idempotent};
use crate::store::{Store, StoredInvoice};

/// The tenant behind an id the caller may already see.
///
/// # Errors
/// 404 `not_found` when there is no such tenant; 503 or 500 when the store fails.
pub async fn existing_tenant(store: &Store, id: &TenantId) -> Result<Tenant, ApiError> {
    store.get_tenant(id).await?.ok_or(ApiError::NotFound("tenant"))
}

/// The invoice behind an id, if the caller may see its tenant (404 otherwise).
///
/// # Errors
/// 404 `not_found`.
pub async fn find_invoice(store: &Store, caller: &Principal, invoice_id: &str) -> Result<StoredInvoice, ApiError> {
    let id = readable_invoice_id(caller, invoice_id)?;
    store.get_invoice(&id).await?.ok_or(ApiError::NotFound("invoice"))
}

/// The id in a path, if it is one this API issues and the caller may see its tenant (404
/// otherwise: no existence oracle).
fn readable_invoice_id(caller: &Principal, invoice_id: &str) -> Result<InvoiceId, ApiError> {
    InvoiceId::parse(invoice_id)
        .ok()
        .filter(|id| caller.can_read_tenant(id.tenant()))
        .ok_or(ApiError::NotFound("invoice"))
}

/// The invoice named by the path's `{id}`, read by any caller who may see its tenant: the
/// argument of every read-only invoice route (JSON, HTML, PDF).
pub struct ReadableInvoice(pub StoredInvoice);

/// The tenant named by the path's `{id}`, if it exists and the caller may read it: the
/// argument of every read of one tenant's data. 404 otherwise, the same for both.
pub struct ReadableTenant(pub Tenant);

/// A mutating request on the object its path's `{id}` names (a tenant, an invoice): the
/// [`Idempotent`] request of caller `C`, which it derefs to, and the id as the path spells it.
/// The handler checks the id ([`PathChange::tenant`], [`PathChange::invoice`]) when it needs
/// it, so the caller's 401/403 always come before the object's 404.
pub struct PathChange<C> {
    /// The path's `{id}`, not yet checked.
    pub id: String,
    request: Idempotent<C>,
}

impl<A> PathChange<Caller<A>> {
    /// The tenant the path names, if the caller may see it (it may not exist).
    ///
    /// # Errors
    /// 404 `not_found`, see [`visible_tenant`].
    pub fn tenant(&self) -> Result<TenantId, ApiError> {
        self.caller.readable_tenant(&self.id)
    }

    /// The invoice the path names, see [`find_invoice`].
    ///
    /// # Errors
    /// 404 `not_found`; 503 or 500 when the store fails.
    pub async fn invoice(&self) -> Result<StoredInvoice, ApiError> {
        find_invoice(self.store(), &self.caller.0, &self.id).await
    }
}

impl<C> Deref for PathChange<C> {
    type Target = Idempotent<C>;

    fn deref(&self) -> &Idempotent<C> {
        &self.request
    }
}

impl<C: FromRequest<Error = ApiError> + 'static> FromRequest for PathChange<C> {
    type Error = ApiError;
    type Future = Pending<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let id = path_id(request);
        let change = Idempotent::<C>::from_request(request, payload);
        Box::pin(async move { Ok(PathChange { id, request: change.await? }) })
    }
}

/// The path's `{id}` (every route these extractors serve has one).
fn path_id(request: &HttpRequest) -> String {
    request.match_info().get("id").unwrap_or_default().to_owned()
}

type Pending<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl FromRequest for ReadableInvoice {
    type Error = ApiError;
    type Future = Pending<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        look_up(request, payload, |caller, store, id| async move {
            find_invoice(&store, &caller, &id).await.map(ReadableInvoice)
        })
    }
}

impl FromRequest for ReadableTenant {
    type Error = ApiError;
    type Future = Pending<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        look_up(request, payload, |caller, store, id| async move {
            let id = visible_tenant(&caller, &id)?;
            existing_tenant(&store, &id).await.map(ReadableTenant)
        })
    }
}

/// Authenticates the caller, then runs `find` with it, the store and the path's `{id}`.
fn look_up<T, F, Found>(request: &HttpRequest, payload: &mut Payload, find: F) -> Pending<T>
where
    T: 'static,
    F: FnOnce(Principal, web::Data<Store>, String) -> Found + 'static,
    Found: Future<Output = Result<T, ApiError>> + 'static,
{
    let caller = AnyCaller::from_request(request, payload);
    let id = path_id(request);
    let store = request.app_data::<web::Data<Store>>().cloned();
    Box::pin(async move {
        let caller = caller.await?;
        let store = store.ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("the store is not configured")))?;
        find(caller.0, store, id).await
    })
}
