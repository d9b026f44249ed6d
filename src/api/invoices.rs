//! Invoice routes: `GET /v1/tenants/{id}/invoices` (api-spec `listInvoices`),
//! `GET /v1/invoices/{id}` (`getInvoice`), `POST /v1/invoices/{id}/void` (`voidInvoice`),
//! `POST /v1/invoices/{id}/mark-paid` (`markInvoicePaid`).
//!
//! Stage: the HTTP edge. Parses, reads or changes one invoice through the store, answers; the
//! lifecycle rules are `invoice::transition`'s.

use actix_web::{web, HttpResponse};
use chrono::DateTime;
use serde::Deserialize;

use super::invoice_wire::{invoice_json, invoice_summary};
use super::lookup::{PathChange, ReadableInvoice, ReadableTenant};
use crate::auth::AdminCaller;
use crate::domain::InvoiceId;
use crate::http::{ApiError, JsonReply};
use crate::invoice::{transition, Biller, InvoiceAction};
use crate::store::{StatusChange, Store};

/// Query of `listInvoices`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListInvoicesQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

/// A tenant's invoices, newest first; `next_cursor` continues the list.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.0.id))]
pub async fn list_invoices(
    query: web::Query<ListInvoicesQuery>,
    tenant: ReadableTenant,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let id = tenant.0.id;
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
#[tracing::instrument(skip_all, fields(invoice_id = %invoice.0.document.id))]
pub async fn get_invoice(invoice: ReadableInvoice) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(invoice_json(&invoice.0)))
}

/// `finalized → paid`.
#[tracing::instrument(skip_all, fields(invoice_id = %request.id))]
pub async fn mark_invoice_paid(request: PathChange<AdminCaller>) -> Result<HttpResponse, ApiError> {
    let current = request.invoice().await?;
    request
        .run(|| async {
            transition(current.document.status, InvoiceAction::MarkPaid).map_err(not_allowed)?;
            changed(request.store().mark_invoice_paid(&current.document.id, request.now()).await?)
        })
        .await
}

/// `finalized | paid → void`: issues a numbered credit note and restores consumed credits.
#[tracing::instrument(skip_all, fields(invoice_id = %request.id))]
pub async fn void_invoice(request: PathChange<AdminCaller>, biller: web::Data<Biller>) -> Result<HttpResponse, ApiError> {
    let current = request.invoice().await?;
    request
        .run(|| async {
            transition(current.document.status, InvoiceAction::Void).map_err(not_allowed)?;
            let prefix = &biller.config.credit_note_prefix;
            changed(request.store().void_invoice(&current.document.id, prefix, request.now()).await?)
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
