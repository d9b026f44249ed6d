//! `GET /portal/invoices` (number, period, status, total), `GET /portal/invoices/{id}` (lines
//! and totals) and `GET /portal/invoices/{id}/pdf` (the API's PDF, offered as a download).
//!
//! Stage: the HTTP edge (portal). Reads with the tenant API's calls: `Store::list_invoices`
//! for the session's tenant and `api::find_invoice` with the session's tenant principal, so
//! another tenant's id — guessed or not — is a 404, exactly as in the API.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;

use super::context::Portal;
use super::error::PortalError;
use super::page;
use super::session::PortalSession;
use super::view::Chrome;
use crate::api::{find_invoice, get_invoice_pdf, ReadableInvoice};
use crate::domain::{InvoiceKind, Money};
use crate::invoice::display_format as format;
use crate::invoice::document_sums as sums;
use crate::store::{InvoiceFilter, StoredInvoice};

/// Invoices listed on one page (newest first); older ones are a later slice's pagination.
const LISTED: u32 = 100;

/// One invoice in the list.
struct InvoiceRow {
    id: String,
    number: String,
    period: String,
    status: &'static str,
    total: String,
}

/// One line of an invoice.
struct LineRow {
    number: u32,
    description: String,
    quantity: String,
    amount: String,
}

#[derive(Template)]
#[template(path = "portal/templates/invoices.html")]
struct InvoicesPage {
    chrome: Chrome,
    invoices: Vec<InvoiceRow>,
}

#[derive(Template)]
#[template(path = "portal/templates/invoice.html")]
struct InvoicePage {
    chrome: Chrome,
    invoice: InvoiceRow,
    issued_on: String,
    due_on: Option<String>,
    lines: Vec<LineRow>,
    /// (label, amount): subtotal, tax, credits and any remainder carried forward, the rows the
    /// PDF shows, so they add up to the total here too.
    sums: Vec<(String, String)>,
}

/// An invoice of the session's tenant, named by the path's `{id}`: found with the tenant API's
/// `find_invoice` and the session's tenant principal, so any other id is a 404.
pub struct PortalInvoice {
    pub(crate) session: PortalSession,
    pub(crate) invoice: StoredInvoice,
}

impl FromRequest for PortalInvoice {
    type Error = PortalError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PortalError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = PortalSession::from_request(request, payload);
        let id = request.match_info().get("id").unwrap_or_default().to_owned();
        let portal = Portal::of(request);
        Box::pin(async move {
            let (session, portal) = (session.await?, portal?);
            let invoice = find_invoice(&portal.store, session.principal(), &id).await?;
            Ok(PortalInvoice { session, invoice })
        })
    }
}

/// The session's tenant's invoices.
#[tracing::instrument(skip_all, fields(tenant_id = %session.tenant))]
pub async fn list_portal_invoices(
    session: PortalSession,
    portal: web::Data<Portal>,
) -> Result<HttpResponse, PortalError> {
    let tenant = portal.tenant_of(&session).await?;
    let invoices = portal.store.list_invoices(&session.tenant, InvoiceFilter::default(), None, LISTED).await?;
    let page = InvoicesPage {
        chrome: Chrome::signed_in("Invoices", "invoices", session.account(&tenant.details.name)),
        invoices: invoices.iter().map(row).collect(),
    };
    page::html(StatusCode::OK, &page)
}

/// One invoice of the session's tenant.
#[tracing::instrument(skip_all, fields(tenant_id = %found.session.tenant))]
pub async fn get_portal_invoice(found: PortalInvoice) -> Result<HttpResponse, PortalError> {
    let doc = &found.invoice.document;
    let (c, tz) = (&doc.content, format::zone(&doc.content.customer.timezone));
    let amount = |value| format::money(&Money::new(value, c.currency));
    let page = InvoicePage {
        chrome: Chrome::signed_in(
            &format!("Invoice {}", doc.number),
            "invoices",
            found.session.account(&c.customer.name),
        ),
        invoice: row(&found.invoice),
        issued_on: format::date(c.issued_at, tz),
        due_on: c.due_at.map(|due| format::date(due, tz)),
        lines: c
            .lines
            .iter()
            .map(|l| LineRow {
                number: l.number,
                description: l.description.clone(),
                quantity: l.quantity.map(format::quantity).unwrap_or_default(),
                amount: amount(l.amount),
            })
            .collect(),
        sums: sums(c, false).into_iter().map(|sum| (sum.label, amount(sum.amount))).collect(),
    };
    page::html(StatusCode::OK, &page)
}

/// The invoice's PDF: the API's own rendering, sent as an attachment named by its number.
#[tracing::instrument(skip_all, fields(tenant_id = %found.session.tenant))]
pub async fn get_portal_invoice_pdf(found: PortalInvoice) -> Result<HttpResponse, PortalError> {
    let number = found.invoice.document.number.clone();
    let mut response = get_invoice_pdf(ReadableInvoice(found.invoice)).await?;
    let disposition = format!("attachment; filename=\"{number}.pdf\"");
    let value = header::HeaderValue::from_str(&disposition).map_err(|e| PortalError::Unexpected(e.into()))?;
    response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

fn row(invoice: &StoredInvoice) -> InvoiceRow {
    let (doc, c) = (&invoice.document, &invoice.document.content);
    let span = format::span(c.period_start, c.period_end, format::zone(&c.customer.timezone));
    InvoiceRow {
        id: doc.id.to_string(),
        number: doc.number.clone(),
        period: match c.kind {
            InvoiceKind::Period => span,
            // Issued beside the period's own invoice, which the same dates would name.
            InvoiceKind::Adjustment => format!("{span}: late usage of earlier periods"),
        },
        status: status_label(invoice),
        total: format::money(&Money::new(c.total, c.currency)),
    }
}

/// The status a customer reads: "overdue" for an invoice it was reminded of and has not
/// paid, else the stored status.
fn status_label(invoice: &StoredInvoice) -> &'static str {
    if invoice.is_overdue() {
        "overdue"
    } else {
        invoice.document.status.as_str()
    }
}
