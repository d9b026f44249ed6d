//! The objects a path names, as the caller may see them: a tenant that exists, an invoice
//! whose tenant the caller may read. Anything else is 404 (no existence oracle).
//!
//! Stage: the HTTP edge. Reads one row from the store; holds no rules beyond "may this caller
//! see it", which `auth::Principal` answers.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use crate::auth::{visible_tenant, AnyCaller, Principal};
use crate::domain::{InvoiceId, Tenant, TenantId};
use crate::http::ApiError;
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
    let id = request.match_info().get("id").unwrap_or_default().to_owned();
    let store = request.app_data::<web::Data<Store>>().cloned();
    Box::pin(async move {
        let caller = caller.await?;
        let store = store.ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("the store is not configured")))?;
        find(caller.0, store, id).await
    })
}
