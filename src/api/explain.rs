//! `GET /v1/invoices/{id}/lines/{n}/explain` (api-spec `explainInvoiceLine`): the daily usage
//! behind a line (in the customer's time zone), its tier arithmetic, and sample record ids —
//! with when retention removed raw records of the line's period, if it did.
//!
//! Stage: the HTTP edge. Reads the invoice, its rollups and sample record ids from the store;
//! the daily series is `aggregate`'s. Holds no pricing. [`explain_line`] is shared with the
//! portal's "explain this line" page, so both show the same days and arithmetic.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::lookup::find_invoice;
use super::money_wire::decimal;
use crate::aggregate::{usage_series, Granularity};
use crate::auth::AnyCaller;
use crate::domain::{Currency, InvoiceDocument, LineSnapshot, LineType, Money, TenantId};
use crate::http::ApiError;
use crate::store::Store;

/// How many record ids an explanation shows, of how many read to find them.
const SAMPLE_IDS: usize = 10;
const SAMPLES_READ: u32 = 25;

/// What explains one line: the API answers it as JSON, the portal's "explain this line"
/// shows it as a page.
pub struct LineExplanation<'a> {
    pub line: &'a LineSnapshot,
    /// The customer's time zone, in which days are counted.
    pub tz: Tz,
    /// The line's meter per local day `[start, end)` (empty for a line of no meter).
    pub daily: Vec<(DateTime<Utc>, DateTime<Utc>, Decimal)>,
    /// The line's computation, one step per string.
    pub arithmetic: Vec<String>,
}

/// Explains line `number` of `doc` from the snapshot and the tenant's rollups.
///
/// # Errors
/// 404 for a line the invoice does not have; a store failure.
pub async fn explain_line<'a>(
    store: &Store,
    doc: &'a InvoiceDocument,
    number: u32,
) -> Result<LineExplanation<'a>, ApiError> {
    let line = doc.content.lines.iter().find(|l| l.number == number).ok_or(ApiError::NotFound("invoice line"))?;
    let tz: Tz = doc.content.customer.timezone.parse().unwrap_or(Tz::UTC);
    let daily = match line.meter {
        Some(meter) => {
            let rollups = store.rollups(&invoice_tenant(doc)?, line.start, line.end).await?;
            let days = usage_series(tz, Granularity::Day, None, line.start, line.end, &rollups)
                .map_err(|e| ApiError::Unexpected(e.into()))?;
            days.iter().map(|d| (d.start, d.end, d.totals.quantities.get(meter))).collect()
        }
        None => Vec::new(),
    };
    let mut steps = arithmetic(line, doc.content.currency);
    let stored: Decimal = daily.iter().map(|(_, _, q)| *q).sum();
    if let (LineType::Usage, Some(billed)) = (line.line_type, line.quantity) {
        steps.extend(changed_since(billed, stored));
    }
    Ok(LineExplanation { line, tz, daily, arithmetic: steps })
}

/// A step saying that the days above no longer add up to what the line billed, when they do
/// not: usage that arrived late (or a correction) after the invoice was issued, which later
/// invoices settle as adjustments (DESIGN §7). The daily figures are today's rollups.
fn changed_since(billed: Decimal, stored: Decimal) -> Option<String> {
    let (billed, stored) = (billed.normalize(), stored.normalize());
    match stored.cmp(&billed) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => Some(format!(
            "the days above now add up to {}: {} more arrived after this invoice, billed as adjustments on later invoices",
            decimal(stored),
            decimal(stored - billed)
        )),
        std::cmp::Ordering::Less => Some(format!(
            "the days above now add up to {}: corrections after this invoice removed {}, credited as adjustments on later invoices",
            decimal(stored),
            decimal(billed - stored)
        )),
    }
}

/// The tenant an invoice bills.
///
/// # Errors
/// Unexpected for a snapshot naming no valid tenant (a bug).
pub fn invoice_tenant(doc: &InvoiceDocument) -> Result<TenantId, ApiError> {
    TenantId::parse(&doc.content.customer.tenant_id).map_err(|e| ApiError::Unexpected(e.into()))
}

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
    let explained = explain_line(store.get_ref(), doc, number).await?;
    let line = explained.line;
    let samples: Vec<String> = match line.meter {
        // Records of the line's span that count for its meter (a CPU line's samples used CPU).
        Some(meter) => store
            .sample_records(&invoice_tenant(doc)?, line.start, line.end, SAMPLES_READ)
            .await?
            .into_iter()
            .filter(|r| !r.quantities.get(meter).is_zero())
            .take(SAMPLE_IDS)
            .map(|r| r.record_id)
            .collect(),
        None => Vec::new(),
    };
    let daily: Vec<Value> = explained
        .daily
        .iter()
        .map(|(start, end, quantity)| json!({ "start": start, "end": end, "quantity": decimal(*quantity) }))
        .collect();
    // Retention may have removed the raw records of the line's first days or all of them;
    // the daily usage (rollups) stays complete.
    let retired = store.raw_usage_retired().await?.filter(|(before, _)| line.start < *before).map(|(_, at)| at);
    Ok(HttpResponse::Ok().json(json!({
        "invoice_id": doc.id,
        "line": number,
        "description": line.description,
        "type": line.line_type,
        "meter": line.meter,
        "timezone": explained.tz.name(),
        "arithmetic": explained.arithmetic,
        "daily_usage": daily,
        "sample_record_ids": samples,
        "sample_records_retired_at": retired,
    })))
}

/// The line's computation, one step per string. An adjustment's tiers re-rate the period it
/// adjusts; what was billed for it before is the difference to the line's amount.
fn arithmetic(line: &LineSnapshot, currency: Currency) -> Vec<String> {
    let mut steps = Vec::new();
    if let (Some(quantity), Some(included)) = (line.quantity, line.included) {
        let net = (quantity - included).max(Decimal::ZERO);
        steps.push(format!("{} used − {} included = {} billable", decimal(quantity), decimal(included), decimal(net)));
    }
    for t in &line.tiers {
        if let (Some(size), Some(quantity), Some(included)) = (t.package_size, line.quantity, line.included) {
            let net = (quantity - included).max(Decimal::ZERO);
            steps.push(format!(
                "{} billable in packages of {} = {} packages (a started package counts whole)",
                decimal(net),
                decimal(size),
                decimal(t.units)
            ));
        }
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
    if line.line_type == LineType::Adjustment {
        match crate::invoice::rerated_amount(line, currency) {
            Some(rerated) => steps.push(format!(
                "re-rated {} − {} billed before = {}",
                rerated.format_amount(),
                Money::new(rerated.amount - line.amount, currency).format_amount(),
                Money::new(line.amount, currency).format_amount()
            )),
            None => steps.push(format!(
                "the difference from what was billed for this line before: {}",
                Money::new(line.amount, currency).format_amount()
            )),
        }
        return steps;
    }
    steps.push(format!("= {} exactly, billed {}", decimal(line.amount_precise), line.amount));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use crate::domain::TierSnapshot;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    /// An invocations line of 200 billable at 0.01 each (2.00), as the re-rating drafts it.
    fn line(line_type: LineType, amount: &str) -> LineSnapshot {
        let tier = TierSnapshot {
            from: d("0"),
            to: None,
            units: d("200"),
            unit_price: d("0.01"),
            price_per: d("1"),
            flat_fee: d("0"),
            amount: d("2"),
            package_size: None,
        };
        LineSnapshot {
            quantity: Some(d("200")),
            included: Some(d("0")),
            tiers: vec![tier],
            amount: d(amount),
            amount_precise: d(amount),
            ..LineSnapshot::blank(
                line_type,
                "Invocations".into(),
                at("2026-01-01T00:00:00Z"),
                at("2026-02-01T00:00:00Z"),
            )
        }
    }

    #[test]
    fn a_package_line_explains_how_many_packages_its_usage_started() {
        let mut package = line(LineType::Usage, "15");
        (package.quantity, package.included) = (Some(d("3500")), Some(d("1000")));
        let tier = &mut package.tiers[0];
        (tier.units, tier.unit_price, tier.amount, tier.package_size) = (d("3"), d("5"), d("15"), Some(d("1000")));
        let steps = arithmetic(&package, Currency::parse("USD").unwrap());
        assert_eq!(steps[1], "2500 billable in packages of 1000 = 3 packages (a started package counts whole)");
        assert_eq!(steps[2], "(0, ∞]: 3 × 5 ÷ 1 + 0 = 15");
    }

    #[test]
    fn an_adjustment_shows_what_was_billed_before_its_difference() {
        let usd = Currency::parse("USD").unwrap();
        let steps = arithmetic(&line(LineType::Adjustment, "1.00"), usd);
        assert_eq!(steps.last().unwrap(), "re-rated 2.00 − 1.00 billed before = 1.00", "{steps:?}");
        let steps = arithmetic(&line(LineType::Usage, "2.00"), usd);
        assert_eq!(steps.last().unwrap(), "= 2 exactly, billed 2.00", "{steps:?}");
    }

    #[test]
    fn days_that_no_longer_add_up_to_the_billed_quantity_are_said_to() {
        let cases = [
            ("200", "200", None, "nothing changed since the invoice"),
            ("200", "700", Some("500 more arrived after this invoice"), "late usage"),
            ("200", "150", Some("corrections after this invoice removed 50"), "a correction"),
        ];
        for (billed, stored, says, why) in cases {
            let step = changed_since(d(billed), d(stored));
            match says {
                None => assert_eq!(step, None, "{why}"),
                Some(text) => assert!(step.as_deref().is_some_and(|s| s.contains(text)), "{why}: {step:?}"),
            }
        }
    }
}
