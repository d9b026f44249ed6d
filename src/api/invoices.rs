//! Invoice routes: `GET /v1/tenants/{id}/invoices` (api-spec `listInvoices`),
//! `GET /v1/invoices/{id}` (`getInvoice`), `POST /v1/invoices/{id}/void` (`voidInvoice`),
//! `POST /v1/invoices/{id}/mark-paid` (`markInvoicePaid`).
//!
//! Stage: the HTTP edge. Parses, reads or changes one invoice through the store, answers; the
//! lifecycle rules are `invoice::transition`'s.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::DateTime;
use serde::Deserialize;

use super::invoice_wire::{invoice_json, invoice_summary};
use crate::auth::{AdminCaller, AnyCaller, Principal};
use crate::clock::SharedClock;
use crate::domain::InvoiceId;
use crate::http::{run_idempotent, ApiError, JsonBody, JsonReply};
use crate::invoice::{transition, Biller, InvoiceAction};
use crate::store::{StatusChange, Store, StoredInvoice};

/// Query of `listInvoices`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListInvoicesQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

/// A tenant's invoices, newest first; `next_cursor` continues the list.
#[tracing::instrument(skip_all, fields(tenant_id = %path))]
pub async fn list_invoices(
    path: web::Path<String>,
    query: web::Query<ListInvoicesQuery>,
    caller: AnyCaller,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let id = caller.readable_tenant(&path)?;
    store.get_tenant(&id).await?.ok_or(ApiError::NotFound("tenant"))?;
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let before = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let invoices = store.list_invoices(&id, before, limit).await?;
    let next_cursor = (invoices.len() == limit as usize)
        .then(|| {
            invoices.last().map(|i| format!("{}~{}", i.document.content.period_start.timestamp_micros(), i.document.id))
        })
        .flatten();
    let data: Vec<_> = invoices.iter().map(invoice_summary).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data, "next_cursor": next_cursor })))
}

fn parse_cursor(text: &str) -> Result<(chrono::DateTime<chrono::Utc>, InvoiceId), ApiError> {
    let invalid = || ApiError::bad_request("invalid_cursor", "cursor is not one this API returned");
    let (micros, id) = text.split_once('~').ok_or_else(invalid)?;
    let id = InvoiceId::parse(id).map_err(|_| invalid())?;
    let at = micros.parse().ok().and_then(DateTime::from_timestamp_micros).ok_or_else(invalid)?;
    Ok((at, id))
}

/// One invoice with every line.
#[tracing::instrument(skip_all, fields(invoice_id = %path))]
pub async fn get_invoice(
    path: web::Path<String>,
    caller: AnyCaller,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let invoice = find_invoice(store.get_ref(), &caller.0, &path).await?;
    Ok(HttpResponse::Ok().json(invoice_json(&invoice)))
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

/// `finalized → paid`.
#[tracing::instrument(skip_all, fields(invoice_id = %path))]
pub async fn mark_invoice_paid(
    request: HttpRequest,
    path: web::Path<String>,
    JsonBody(body): JsonBody,
    caller: AdminCaller,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let current = find_invoice(store.get_ref(), &caller.0, &path).await?;
    run_idempotent(&request, &body, caller.0.subject(), store.get_ref(), &clock, || async {
        transition(current.document.status, InvoiceAction::MarkPaid).map_err(not_allowed)?;
        changed(store.mark_invoice_paid(&current.document.id, clock.now()).await?)
    })
    .await
}

/// `finalized | paid → void`: issues a numbered credit note and restores consumed credits.
#[tracing::instrument(skip_all, fields(invoice_id = %path))]
pub async fn void_invoice(
    request: HttpRequest,
    path: web::Path<String>,
    JsonBody(body): JsonBody,
    caller: AdminCaller,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
    biller: web::Data<Biller>,
) -> Result<HttpResponse, ApiError> {
    let current = find_invoice(store.get_ref(), &caller.0, &path).await?;
    run_idempotent(&request, &body, caller.0.subject(), store.get_ref(), &clock, || async {
        transition(current.document.status, InvoiceAction::Void).map_err(not_allowed)?;
        let prefix = &biller.config.credit_note_prefix;
        changed(store.void_invoice(&current.document.id, prefix, clock.now()).await?)
    })
    .await
}

fn changed(change: StatusChange) -> Result<JsonReply, ApiError> {
    match change {
        StatusChange::Changed(invoice) => JsonReply::ok(invoice_json(&invoice)),
        StatusChange::NotFound => Err(ApiError::NotFound("invoice")),
        StatusChange::NotAllowed(status) => Err(ApiError::Conflict {
            code: "invalid_invoice_transition",
            message: format!("the invoice is {} and cannot make this change", status.as_str()),
        }),
    }
}

fn not_allowed(error: crate::invoice::InvalidTransition) -> ApiError {
    ApiError::Conflict { code: "invalid_invoice_transition", message: error.to_string() }
}
