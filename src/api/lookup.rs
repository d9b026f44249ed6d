//! The objects a path names, as the caller may see them: a tenant that exists, an invoice
//! whose tenant the caller may read. Anything else is 404 (no existence oracle).
//!
//! Stage: the HTTP edge. Reads one row from the store; holds no rules beyond "may this caller
//! see it", which `auth::Principal` answers.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use crate::auth::{AnyCaller, Principal};
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

impl FromRequest for ReadableInvoice {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = AnyCaller::from_request(request, payload);
        let request = request.clone();
        Box::pin(async move {
            let caller = caller.await?;
            let Some(store) = request.app_data::<web::Data<Store>>() else {
                return Err(ApiError::Unexpected(anyhow::anyhow!("the store is not configured")));
            };
            let id = request.match_info().get("id").unwrap_or_default();
            find_invoice(store, &caller.0, id).await.map(ReadableInvoice)
        })
    }
}
