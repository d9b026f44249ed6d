//! `GET /v1/invoices/{id}/html` (api-spec `getInvoiceHtml`) and `GET /v1/invoices/{id}/pdf`
//! (`getInvoicePdf`): the invoice rendered in-process from its snapshot.
//!
//! Stage: the HTTP edge. Renders with `invoice::render_html`/`render_pdf`; must not lay out pages.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use super::invoices::find_invoice;
use crate::auth::AnyCaller;
use crate::http::ApiError;
use crate::invoice::{render_html, render_pdf};
use crate::store::Store;
use crate::telemetry::spawn_blocking_with_tracing;

/// The invoice as a printable HTML page.
#[tracing::instrument(skip_all, fields(invoice_id = %path))]
pub async fn get_invoice_html(
    path: web::Path<String>,
    caller: AnyCaller,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let invoice = find_invoice(store.get_ref(), &caller.0, &path).await?;
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(render_html(&invoice.document)))
}

/// The invoice as a PDF (rendered off the async runtime).
#[tracing::instrument(skip_all, fields(invoice_id = %path))]
pub async fn get_invoice_pdf(
    path: web::Path<String>,
    caller: AnyCaller,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let invoice = find_invoice(store.get_ref(), &caller.0, &path).await?;
    let file_name = format!("{}.pdf", invoice.document.number);
    let pdf = spawn_blocking_with_tracing(move || render_pdf(&invoice.document))
        .await
        .map_err(|e| ApiError::Unexpected(e.into()))?
        .map_err(|e| ApiError::Unexpected(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((header::CONTENT_DISPOSITION, format!("inline; filename=\"{file_name}\"")))
        .body(pdf))
}
