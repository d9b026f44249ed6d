//! `GET /v1/invoices/{id}/html` (api-spec `getInvoiceHtml`) and `GET /v1/invoices/{id}/pdf`
//! (`getInvoicePdf`): the invoice rendered in-process from its snapshot.
//!
//! Stage: the HTTP edge. Renders with `invoice::render_html`/`render_pdf`; must not lay out pages.

use actix_web::http::header;
use actix_web::HttpResponse;

use super::lookup::ReadableInvoice;
use crate::http::ApiError;
use crate::invoice::{render_html, render_pdf, DocumentKind};
use crate::telemetry::spawn_blocking_with_tracing;

/// The invoice as a printable HTML page.
#[tracing::instrument(skip_all, fields(invoice_id = %invoice.0.document.id))]
pub async fn get_invoice_html(invoice: ReadableInvoice) -> Result<HttpResponse, ApiError> {
    render(invoice, Format::Html).await
}

/// The invoice as a PDF (rendered off the async runtime).
#[tracing::instrument(skip_all, fields(invoice_id = %invoice.0.document.id))]
pub async fn get_invoice_pdf(invoice: ReadableInvoice) -> Result<HttpResponse, ApiError> {
    render(invoice, Format::Pdf).await
}

/// What an invoice can be rendered as.
#[derive(Clone, Copy)]
enum Format {
    Html,
    Pdf,
}

async fn render(ReadableInvoice(invoice): ReadableInvoice, format: Format) -> Result<HttpResponse, ApiError> {
    let document = invoice.document;
    match format {
        Format::Html => Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(render_html(&document))),
        Format::Pdf => {
            let file_name = format!("{}.pdf", document.number);
            let pdf = spawn_blocking_with_tracing(move || render_pdf(&document, &DocumentKind::Invoice))
                .await
                .map_err(|e| ApiError::Unexpected(e.into()))?
                .map_err(|e| ApiError::Unexpected(e.into()))?;
            Ok(HttpResponse::Ok()
                .content_type("application/pdf")
                .insert_header((header::CONTENT_DISPOSITION, format!("inline; filename=\"{file_name}\"")))
                .body(pdf))
        }
    }
}
