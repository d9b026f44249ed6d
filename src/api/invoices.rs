//! Invoice routes: `GET /v1/tenants/{id}/invoices` (api-spec `listInvoices`),
//! `GET /v1/invoices/{id}` (`getInvoice`), `POST /v1/invoices/{id}/void` (`voidInvoice`),
//! `POST /v1/invoices/{id}/mark-paid` (`markInvoicePaid`).
//!
//! Stage: the HTTP edge. Parses, reads or changes one invoice through the store, answers; the
//! lifecycle rules are `invoice::transition`'s.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::invoice_wire::{invoice_json, invoice_summary};
use super::lookup::{PathChange, ReadableInvoice, ReadableTenant};
use super::page::{invalid_cursor, next_cursor, page_limit, page_response, parse_time_cursor, time_cursor};
use crate::auth::AdminCaller;
use crate::domain::{InvoiceId, InvoiceKind, InvoiceStatus};
use crate::http::{ApiError, DeferredQuery, JsonReply};
use crate::invoice::{transition, Biller, InvoiceAction};
use crate::store::{InvoiceFilter, StatusChange, Store};

/// Query of `listInvoices`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceQuery {
    status: Option<String>,
    kind: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// A tenant's invoices, newest first, of one status or kind if asked; `next_cursor`
/// continues the list.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.0.id))]
pub async fn list_invoices(
    tenant: ReadableTenant,
    query: DeferredQuery<InvoiceQuery>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let query = query.parsed()?;
    let bad = |m: &str| ApiError::bad_request("invalid_query", m.to_owned());
    let filter = InvoiceFilter {
        status: query
            .status
            .as_deref()
            .map(|s| InvoiceStatus::parse(s).ok_or_else(|| bad("status must be draft, finalized, paid or void")))
            .transpose()?,
        kind: query
            .kind
            .as_deref()
            .map(|k| InvoiceKind::parse(k).ok_or_else(|| bad("kind must be period or adjustment")))
            .transpose()?,
    };
    let id = tenant.0.id;
    let limit = page_limit(query.limit, 200);
    let before = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let invoices = store.list_invoices(&id, filter, before, limit).await?;
    let next_cursor = next_cursor(&invoices, limit, |i| time_cursor(i.document.content.period_start, &i.document.id));
    let data: Vec<_> = invoices.iter().map(invoice_summary).collect();
    Ok(page_response(data, next_cursor))
}

fn parse_cursor(text: &str) -> Result<(DateTime<Utc>, InvoiceId), ApiError> {
    let (at, id) = parse_time_cursor(text)?;
    Ok((at, InvoiceId::parse(id).map_err(|_| invalid_cursor())?))
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
            changed(request.store().mark_invoice_paid(&current.document.id, request.now(), &request.actor()).await?)
        })
        .await
}

/// `finalized | paid → void`: issues a numbered credit note, restores consumed credits and
/// takes back the credit the invoice granted; 409 while other invoices hold some of that.
#[tracing::instrument(skip_all, fields(invoice_id = %request.id))]
pub async fn void_invoice(
    request: PathChange<AdminCaller>,
    biller: web::Data<Biller>,
) -> Result<HttpResponse, ApiError> {
    let current = request.invoice().await?;
    request
        .run(|| async {
            transition(current.document.status, InvoiceAction::Void).map_err(not_allowed)?;
            let prefix = &biller.config.credit_note_prefix;
            let id = &current.document.id;
            changed(request.store().void_invoice(id, prefix, request.now(), &request.actor()).await?)
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
        StatusChange::GrantedCreditSpent(spenders) => {
            let named: Vec<String> = spenders.iter().map(|(id, number)| format!("{number} ({id})")).collect();
            Err(ApiError::Conflict {
                code: "granted_credit_spent",
                message: format!(
                    "the credit this invoice granted was used by {}: void {} first, which restores it",
                    named.join(", "),
                    if named.len() == 1 { "that invoice" } else { "those invoices" }
                ),
            })
        }
    }
}

fn not_allowed(error: crate::invoice::InvalidTransition) -> ApiError {
    ApiError::Conflict { code: "invalid_invoice_transition", message: error.to_string() }
}
