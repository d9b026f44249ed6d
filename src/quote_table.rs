//! `tally quote`: a price breakdown as a readable text table.

use std::fmt::Write;

use anyhow::Context;

use crate::domain::{parse_quantity_text, Meter, Money, Quantities};
use crate::rate::{rate_usage, LineKind, PricingPlan, Proration};

/// Parses `meter=value` pairs exactly.
///
/// # Errors
/// An unknown meter or a value that is not a non-negative decimal.
pub fn parse_usage(pairs: &[String]) -> anyhow::Result<Quantities> {
    let mut quantities = Quantities::default();
    for pair in pairs.iter().filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').with_context(|| format!("{pair:?} is not meter=value"))?;
        let meter = Meter::parse(name.trim()).with_context(|| format!("unknown meter {name:?}"))?;
        let value = parse_quantity_text(value.trim()).with_context(|| format!("{name}={value}"))?;
        quantities.set(meter, value);
    }
    Ok(quantities)
}

/// Renders the quote for a whole period.
///
/// # Errors
/// When the arithmetic overflows.
pub fn render(plan: &PricingPlan, usage: &Quantities) -> anyhow::Result<String> {
    let breakdown = rate_usage(plan, usage, Proration::FULL)?;
    let mut out = String::new();
    let code = plan.currency().code();
    writeln!(out, "Plan {} ({}), {code}", plan.id(), plan.name())?;
    for line in &breakdown.lines {
        match &line.kind {
            LineKind::Charge(rated) => {
                let (meter, q, free, net) = (rated.meter, rated.quantity, rated.included, rated.net_quantity);
                writeln!(out, "{meter:<20} {q:>20} used, {free} included, {net} billed {:>14}", show(&line.amount))?;
                for t in &rated.lines {
                    let to = t.to.map_or_else(|| "∞".to_owned(), |v| v.to_string());
                    let price = format!("{} per {}", t.unit_price.normalize(), rated.price_per);
                    writeln!(
                        out,
                        "    ({} – {to}]  {} × {price} + {}  = {}",
                        t.from,
                        t.units,
                        t.flat_fee,
                        t.amount.normalize()
                    )?;
                }
            }
            LineKind::BaseFee { proration, .. } => {
                writeln!(out, "{:<20} × {proration:<41} {:>14}", "base fee", show(&line.amount))?
            }
            LineKind::MinimumSpendTopUp { .. } => {
                writeln!(out, "{:<64} {:>14}", "minimum spend top-up", show(&line.amount))?
            }
        }
    }
    writeln!(out, "{:<64} {:>14}", "total (before tax)", show(&breakdown.subtotal))?;
    Ok(out)
}

fn show(money: &Money) -> String {
    format!("{} {}", money.format_amount(), money.currency.code())
}
