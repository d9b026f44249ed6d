//! `GET /portal/invoices/{id}/lines/{n}`: "explain this line" — the daily usage behind an
//! invoice line, its tier arithmetic exactly as the rating code computed it (the invoice's
//! snapshot: quantity per tier × price = amount), and a few of the raw records it bills.
//!
//! Stage: the HTTP edge (portal). The invoice comes from `PortalInvoice` (the tenant API's
//! `find_invoice` with the session's principal: another tenant's id is a 404); days and
//! arithmetic from `api::explain_line`, the API's own explanation; samples from a bounded
//! store read. Holds no pricing.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use actix_web::{web, HttpResponse};
use askama::Template;
use rust_decimal::Decimal;

use super::chart::{stacked_chart, Frame, Stack};
use super::context::Portal;
use super::error::PortalError;
use super::invoices::PortalInvoice;
use super::page;
use super::view::Chrome;
use crate::api::{explain_line, invoice_tenant};
use crate::domain::{Currency, LineSnapshot, Meter, Money};
use crate::invoice::display_format as format;
use crate::store::SampleRecord;

/// Records read to find samples, and samples shown (those with usage of the line's meter).
const SAMPLES_READ: u32 = 25;
const SAMPLES_SHOWN: usize = 5;

struct DayRow {
    day: String,
    quantity: String,
}

struct TierRow {
    range: String,
    units: String,
    price: String,
    flat_fee: String,
    amount: String,
}

struct SampleRow {
    id: String,
    at: String,
    function: String,
    region: String,
    quantity: String,
}

#[derive(Template)]
#[template(path = "portal/templates/explain.html")]
struct ExplainPage {
    chrome: Chrome,
    invoice_id: String,
    invoice_number: String,
    number: u32,
    description: String,
    span: String,
    quantity: Option<String>,
    amount: String,
    meter: Option<&'static str>,
    chart: Option<String>,
    days: Vec<DayRow>,
    tiers: Vec<TierRow>,
    steps: Vec<String>,
    samples: Vec<SampleRow>,
}

/// Explains line `{n}` of an invoice of the session's tenant.
#[tracing::instrument(skip_all, fields(tenant_id = %found.session.tenant))]
pub async fn explain_portal_invoice_line(
    found: PortalInvoice,
    request: HttpRequest,
    portal: web::Data<Portal>,
) -> Result<HttpResponse, PortalError> {
    let number: u32 =
        request.match_info().get("n").and_then(|n| n.parse().ok()).ok_or(PortalError::NotFound("line"))?;
    let doc = &found.invoice.document;
    let explained = explain_line(&portal.store, doc, number).await?;
    let (line, tz, currency) = (explained.line, explained.tz, doc.content.currency);
    let samples = match line.meter {
        Some(meter) => {
            let read = portal.store.sample_records(&invoice_tenant(doc)?, line.start, line.end, SAMPLES_READ).await?;
            sample_rows(&read, meter, tz)
        }
        None => Vec::new(),
    };
    let label = |start: chrono::DateTime<chrono::Utc>| start.with_timezone(&tz).format("%-d %b").to_string();
    let page = ExplainPage {
        chrome: Chrome::signed_in(
            &format!("Line {number} of invoice {}", doc.number),
            "invoices",
            found.session.account(&doc.content.customer.name),
        ),
        invoice_id: doc.id.to_string(),
        invoice_number: doc.number.clone(),
        number,
        description: line.description.clone(),
        span: format::span(line.start, line.end, tz),
        quantity: line.quantity.map(format::quantity),
        amount: format::money(&Money::new(line.amount, currency)),
        meter: line.meter.map(Meter::display_name),
        chart: line.meter.map(|meter| {
            let days: Vec<Stack> = explained
                .daily
                .iter()
                .map(|(start, _, q)| Stack {
                    label: label(*start),
                    parts: vec![*q],
                    title: format!("{}: {}", label(*start), format::quantity(*q)),
                })
                .collect();
            stacked_chart(Frame::WIDE, &days, 7, &format!("{} per day", meter.display_name()))
        }),
        days: explained
            .daily
            .iter()
            .map(|(start, _, q)| DayRow { day: label(*start), quantity: format::quantity(*q) })
            .collect(),
        tiers: tier_rows(line, currency),
        steps: explained.arithmetic,
        samples,
    };
    page::html(StatusCode::OK, &page)
}

/// The line's tiers as the rating code priced them (the invoice's snapshot).
fn tier_rows(line: &LineSnapshot, currency: Currency) -> Vec<TierRow> {
    line.tiers
        .iter()
        .map(|t| {
            let to = t.to.map_or_else(|| "and above".to_owned(), |to| format!("to {}", format::quantity(to)));
            let per = if t.price_per == Decimal::ONE {
                String::new()
            } else {
                format!(" per {}", format::quantity(t.price_per))
            };
            TierRow {
                range: format!("over {} {to}", format::quantity(t.from)),
                units: format::quantity(t.units),
                price: format!("{}{per}", format::exact(t.unit_price, currency)),
                flat_fee: format::exact(t.flat_fee, currency),
                amount: format::exact(t.amount, currency),
            }
        })
        .collect()
}

/// The samples that used the line's meter, at most [`SAMPLES_SHOWN`].
fn sample_rows(records: &[SampleRecord], meter: Meter, tz: chrono_tz::Tz) -> Vec<SampleRow> {
    records
        .iter()
        .filter(|r| !r.quantities.get(meter).is_zero())
        .take(SAMPLES_SHOWN)
        .map(|r| SampleRow {
            id: if r.source.is_empty() { r.record_id.clone() } else { format!("{}/{}", r.source, r.record_id) },
            at: r.timestamp.with_timezone(&tz).format("%-d %b %Y %H:%M:%S").to_string(),
            function: r.function.clone(),
            region: r.region.clone(),
            quantity: format::quantity(r.quantities.get(meter)),
        })
        .collect()
}
