//! `GET /v1/invoices/{id}/lines/{n}/explain` (api-spec `explainInvoiceLine`): the daily usage
//! behind a line (in the customer's time zone), its tier arithmetic, and sample record ids —
//! with when retention removed raw records of the line's period, if it did.
//!
//! Stage: the HTTP edge. Reads the invoice, its rollups and sample record ids from the store;
//! the daily series is `aggregate`'s. Holds no pricing.

use actix_web::{web, HttpResponse};
use chrono_tz::Tz;
use serde_json::{json, Value};

use super::lookup::find_invoice;
use super::money_wire::decimal;
use crate::aggregate::{usage_series, Granularity};
use crate::auth::AnyCaller;
use crate::domain::LineSnapshot;
use crate::domain::TenantId;
use crate::http::ApiError;
use crate::store::Store;

/// How many record ids an explanation shows.
const SAMPLE_IDS: u32 = 10;

/// Explains one invoice line.
#[tracing::instrument(skip_all, fields(invoice_id = %path.0, line = path.1))]
pub async fn explain_invoice_line(
    path: web::Path<(String, u32)>,
    caller: AnyCaller,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let (invoice_id, number) = path.into_inner();
    let invoice = find_invoice(store.get_ref(), &caller.0, &invoice_id).await?;
    let doc = &invoice.document;
    let line = doc.content.lines.iter().find(|l| l.number == number).ok_or(ApiError::NotFound("invoice line"))?;
    let tenant = TenantId::parse(&doc.content.customer.tenant_id).map_err(|e| ApiError::Unexpected(e.into()))?;
    let tz: Tz = doc.content.customer.timezone.parse().unwrap_or(Tz::UTC);
    let (daily, samples) = match line.meter {
        Some(meter) => {
            let rollups = store.rollups(&tenant, line.start, line.end).await?;
            let days = usage_series(tz, Granularity::Day, None, line.start, line.end, &rollups)
                .map_err(|e| ApiError::Unexpected(e.into()))?;
            let daily: Vec<Value> = days
                .iter()
                .map(|d| json!({ "start": d.start, "end": d.end, "quantity": decimal(d.totals.quantities.get(meter)) }))
                .collect();
            (daily, store.sample_record_ids(&tenant, line.start, line.end, SAMPLE_IDS).await?)
        }
        None => (Vec::new(), Vec::new()),
    };
    // Retention may have removed the raw records of the line's first days or all of them;
    // the daily usage (rollups) stays complete.
    let retired = store.raw_usage_retired().await?.filter(|(before, _)| line.start < *before).map(|(_, at)| at);
    Ok(HttpResponse::Ok().json(json!({
        "invoice_id": doc.id,
        "line": number,
        "description": line.description,
        "type": line.line_type,
        "meter": line.meter,
        "timezone": tz.name(),
        "arithmetic": arithmetic(line),
        "daily_usage": daily,
        "sample_record_ids": samples,
        "sample_records_retired_at": retired,
    })))
}

/// The line's computation, one step per string.
fn arithmetic(line: &LineSnapshot) -> Vec<String> {
    let mut steps = Vec::new();
    if let (Some(quantity), Some(included)) = (line.quantity, line.included) {
        let net = (quantity - included).max(rust_decimal::Decimal::ZERO);
        steps.push(format!("{} used − {} included = {} billable", decimal(quantity), decimal(included), decimal(net)));
    }
    for t in &line.tiers {
        let to = t.to.map_or_else(|| "∞".to_owned(), decimal);
        steps.push(format!(
            "({}, {to}]: {} × {} ÷ {} + {} = {}",
            decimal(t.from),
            decimal(t.units),
            decimal(t.unit_price),
            decimal(t.price_per),
            decimal(t.flat_fee),
            decimal(t.amount)
        ));
    }
    if let Some(proration) = line.proration {
        steps.push(format!("prorated × {} (share of the period)", decimal(proration)));
    }
    steps.push(format!("= {} exactly, billed {}", decimal(line.amount_precise), line.amount));
    steps
}
