//! `tally quote`: a price breakdown as a readable text table.

use std::fmt::Write;

use anyhow::Context;

use rust_decimal::Decimal;

use crate::domain::{parse_quantity_text, Currency, Meter, Quantities};
use crate::invoice::display_format as format;
use crate::rate::{rate_usage, LineKind, PricingPlan, Proration, TierLine};

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

/// Renders the quote for a whole period: one row per charge (used, included, billed, amount)
/// with its tiers' arithmetic beneath, then fees and the total, every column as wide as its
/// widest cell so the amounts line up whatever the plan or the quantities.
///
/// # Errors
/// When the arithmetic overflows.
pub fn render(plan: &PricingPlan, usage: &Quantities) -> anyhow::Result<String> {
    let breakdown = rate_usage(plan, usage, Proration::FULL)?;
    let currency = plan.currency();
    let mut rows = vec![Row::cells(["", "used", "included", "billed", "amount"])];
    for line in &breakdown.lines {
        let amount = format::money(&line.amount);
        match &line.kind {
            LineKind::Charge(rated) => {
                let [used, included, billed] =
                    [rated.quantity, rated.included, rated.net_quantity].map(format::quantity);
                rows.push(Row::cells([rated.meter.to_string(), used, included, billed, amount]));
                rows.extend(rated.lines.iter().map(|tier| Row::Note(tier_arithmetic(tier, rated.price_per, currency))));
            }
            LineKind::BaseFee { proration, .. } => {
                rows.push(Row::amount_only(format!("base fee × {proration}"), amount))
            }
            LineKind::MinimumSpendTopUp { .. } => rows.push(Row::amount_only("minimum spend top-up", amount)),
        }
    }
    rows.push(Row::amount_only("total (before tax)", format::money(&breakdown.subtotal)));
    let mut out = format!("Plan {} ({}), {}\n", plan.id(), plan.name(), currency.code());
    out.push_str(&layout(&rows));
    Ok(out)
}

/// A row of the quote: five cells (a label, then right-aligned numbers), or a note beneath
/// the row before it.
enum Row {
    Cells([String; 5]),
    Note(String),
}

impl Row {
    fn cells(cells: [impl Into<String>; 5]) -> Self {
        Row::Cells(cells.map(Into::into))
    }

    /// A fee or total: a label and an amount, no quantities.
    fn amount_only(label: impl Into<String>, amount: String) -> Self {
        Row::Cells([label.into(), String::new(), String::new(), String::new(), amount])
    }
}

/// The rows as text: the label column left-aligned, the others right-aligned, each as wide as
/// its widest cell (counted in characters: `×` and `∞` are one column each).
fn layout(rows: &[Row]) -> String {
    let mut widths = [0; 5];
    for row in rows {
        if let Row::Cells(cells) = row {
            for (width, cell) in widths.iter_mut().zip(cells) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let text = match row {
            Row::Cells([label, rest @ ..]) => {
                let numbers = rest.iter().zip(&widths[1..]).map(|(cell, width)| format!("{cell:>width$}"));
                let numbers: Vec<String> = numbers.collect();
                format!("{label:<width$}  {}", numbers.join("  "), width = widths[0])
            }
            Row::Note(note) => format!("    {note}"),
        };
        let _ = writeln!(out, "{}", text.trim_end());
    }
    out
}

/// How one tier priced its units: `(0 – ∞]  2,000,000 × 0.20 per 1,000,000 = 0.40`, with the
/// flat fee only when the tier has one.
fn tier_arithmetic(tier: &TierLine, price_per: Decimal, currency: Currency) -> String {
    let to = tier.to.map_or_else(|| "∞".to_owned(), format::quantity);
    let per = match tier.package_size {
        Some(size) => format!("per package of {}", format::quantity(size)),
        None => format!("per {}", format::quantity(price_per)),
    };
    let price = format::exact(tier.unit_price, currency);
    let fee = match tier.flat_fee.is_zero() {
        true => String::new(),
        false => format!(" + {}", format::exact(tier.flat_fee, currency)),
    };
    let (from, units, amount) =
        (format::quantity(tier.from), format::quantity(tier.units), format::exact(tier.amount, currency));
    format!("({from} – {to}]  {units} × {price} {per}{fee} = {amount}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(plan: &str, usage: &str) -> String {
        let path = format!("{}/pricing/{plan}.toml", env!("CARGO_MANIFEST_DIR"));
        let plan = PricingPlan::from_toml(&path, &std::fs::read_to_string(&path).unwrap()).unwrap();
        let usage: Vec<String> = usage.split(',').map(str::to_owned).collect();
        render(&plan, &parse_usage(&usage).unwrap()).unwrap()
    }

    #[test]
    fn every_amount_ends_in_the_same_column_whatever_the_quantities() {
        let text = quote("committed", "invocations=300000000,memory_gb_seconds=54000000");
        let amounts: Vec<usize> =
            text.lines().skip(1).filter(|l| l.contains(" USD ")).map(|l| l.chars().count()).collect();
        assert!(amounts.len() >= 5, "{text}");
        assert!(amounts.iter().all(|end| *end == amounts[0]), "{text}");
    }

    #[test]
    fn a_quote_reads_as_the_invoice_does() {
        let text = quote("payg", "invocations=3000000,memory_gb_seconds=540000");
        // Each line with its runs of spaces as one: the words and numbers, not the layout.
        let words: Vec<String> = text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        let expected = [
            "Plan payg (Pay as you go), USD",
            "used included billed amount",
            "invocations 3,000,000 1,000,000 2,000,000 USD 0.40",
            "(0 – ∞] 2,000,000 × 0.20 per 1,000,000 = 0.40",
            "memory_gb_seconds 540,000 400,000 140,000 USD 2.33",
            "(0 – 6,000,000,000] 140,000 × 0.0000166667 per 1 = 2.333338",
            "cpu_cycles 0 30,000,000,000,000 0 USD 0.00",
            "total (before tax) USD 2.73",
        ];
        assert_eq!(words, expected, "a tier's flat fee of 0 is not shown:\n{text}");
    }
}
