//! Invoice documents for the rendering tests: one realistic USD invoice (tiered usage, a base
//! fee, a late adjustment, tax and credits) and variations of it.

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use std::str::FromStr;

use crate::domain::{Currency, InvoiceContent, InvoiceId, Meter};
use crate::domain::{
    CustomerSnapshot, InvoiceDocument, InvoiceStatus, IssuerSnapshot, LineSnapshot, LineType, TierSnapshot,
};

pub(crate) fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

/// A tier: `(from, to, units, unit_price, price_per, amount)`, no flat fee.
pub(crate) fn tier(from: &str, to: Option<&str>, units: &str, price: &str, per: &str, amount: &str) -> TierSnapshot {
    TierSnapshot {
        from: dec(from),
        to: to.map(dec),
        units: dec(units),
        unit_price: dec(price),
        price_per: dec(per),
        flat_fee: Decimal::ZERO,
        amount: dec(amount),
        package_size: None,
    }
}

/// A line billing March 2026 in New York, priced by plan `standard` v3.
pub(crate) fn line(number: u32, line_type: LineType, description: &str, amount: &str) -> LineSnapshot {
    LineSnapshot {
        number,
        line_type,
        description: description.to_owned(),
        start: at(2026, 3, 1, 5),
        end: at(2026, 4, 1, 4),
        plan_id: "standard".to_owned(),
        plan_version: 3,
        meter: None,
        quantity: None,
        included: None,
        proration: None,
        tiers: Vec::new(),
        amount: dec(amount),
        amount_precise: dec(amount),
        amount_precise_rounded: false,
    }
}

fn usage(number: u32, meter: Meter, description: &str, quantity: &str, included: &str) -> LineSnapshot {
    LineSnapshot {
        meter: Some(meter),
        quantity: Some(dec(quantity)),
        included: Some(dec(included)),
        ..line(number, LineType::Usage, description, "0")
    }
}

fn lines() -> Vec<LineSnapshot> {
    let mut invocations = usage(1, Meter::Invocations, "Invocations", "3000000", "1000000");
    invocations.tiers = vec![tier("0", None, "2000000", "0.20", "1000000", "0.40")];
    invocations.amount = dec("0.40");
    let mut memory = usage(2, Meter::MemoryGbSeconds, "Memory (GB-seconds)", "1650000", "400000");
    memory.tiers = vec![
        tier("0", Some("500000"), "500000", "0.0000166667", "1", "8.33335"),
        tier("500000", Some("1000000"), "500000", "0.000015", "1", "7.5"),
        tier("1000000", None, "250000", "0.0000133334", "1", "3.33335"),
    ];
    (memory.amount, memory.amount_precise) = (dec("19.17"), dec("19.1667"));
    let base_fee = line(3, LineType::BaseFee, "Standard plan base fee", "10.00");
    // February re-rated after late usage: 2,600,000 invocations now cost 0.32, of which 0.20
    // was billed in February, so March bills the 0.12 between them.
    let mut late = usage(4, Meter::Invocations, "Adjustment: Invocations", "2600000", "1000000");
    (late.line_type, late.start, late.end) = (LineType::Adjustment, at(2026, 2, 1, 5), at(2026, 3, 1, 5));
    late.tiers = vec![tier("0", None, "1600000", "0.20", "1000000", "0.32")];
    late.amount = dec("0.12");
    vec![invocations, memory, base_fee, late]
}

/// A finalized USD invoice for March 2026: subtotal 29.69, tax 8.875 %, 5.00 of credits,
/// total 27.32.
pub(crate) fn invoice() -> InvoiceDocument {
    let content = InvoiceContent {
        kind: crate::domain::InvoiceKind::Period,
        issuer: IssuerSnapshot {
            name: "Tally Cloud Ltd".to_owned(),
            address: vec![
                "100 Market Street".to_owned(),
                "San Francisco, CA 94105".to_owned(),
                "United States".to_owned(),
            ],
            tax_id: "US 12-3456789".to_owned(),
        },
        customer: CustomerSnapshot {
            tenant_id: "acme".to_owned(),
            name: "Acme Functions Inc.".to_owned(),
            billing_emails: vec!["billing@acme.test".to_owned(), "finance@acme.test".to_owned()],
            address: vec!["42 Harbour Road".to_owned(), "Brooklyn, NY 11201".to_owned(), "United States".to_owned()],
            tax_id: "US 98-7654321".to_owned(),
            timezone: "America/New_York".to_owned(),
        },
        period_start: at(2026, 3, 1, 5),
        period_end: at(2026, 4, 1, 4),
        issued_at: at(2026, 4, 1, 6),
        due_at: Some(at(2026, 4, 15, 6)),
        currency: Currency::parse("USD").unwrap(),
        lines: lines(),
        subtotal: dec("29.69"),
        tax_rate: dec("8.875"),
        tax: dec("2.63"),
        credits_applied: dec("5.00"),
        total: dec("27.32"),
    };
    InvoiceDocument {
        id: InvoiceId::parse("acme.0b7f3c1e5a2d4e8f9c612f4a8d9e7b10").unwrap(),
        number: "INV-2026-000123".to_owned(),
        status: InvoiceStatus::Finalized,
        content,
    }
}

/// The sample re-expressed in another currency with the given totals (lines are dropped to
/// one base fee of `total`, no tax, no credits).
pub(crate) fn in_currency(code: &str, total: &str) -> InvoiceDocument {
    let mut doc = invoice();
    doc.content.currency = Currency::parse(code).unwrap();
    doc.content.lines = vec![line(1, LineType::BaseFee, "Base fee", total)];
    (doc.content.subtotal, doc.content.tax_rate, doc.content.tax, doc.content.credits_applied, doc.content.total) =
        (dec(total), Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, dec(total));
    doc
}

/// The sample with `count` usage lines of three tiers each (the totals are not recomputed).
pub(crate) fn with_lines(count: u32) -> InvoiceDocument {
    let mut doc = invoice();
    doc.content.lines = (1..=count)
        .map(|n| {
            let mut l = usage(n, Meter::CpuCycles, &format!("CPU cycles, function #{n}"), "2500000", "0");
            l.tiers = vec![
                tier("0", Some("1000000"), "1000000", "0.10", "1000000", "0.10"),
                tier("1000000", Some("2000000"), "1000000", "0.08", "1000000", "0.08"),
                tier("2000000", None, "500000", "0.05", "1000000", "0.025"),
            ];
            (l.amount, l.amount_precise) = (dec("0.21"), dec("0.205"));
            l
        })
        .collect();
    doc
}

/// The sample in `code` with every amount and sum times 3·10¹³ — a total near 10¹⁵, the
/// widest figures the amount columns must hold — and a tier amount carrying more decimals than
/// the currency, as exact amounts do. Only the amounts grow (quantities and unit prices stay),
/// so it checks the layout, not the arithmetic.
pub(crate) fn near_a_quadrillion(code: &str) -> InvoiceDocument {
    let mut doc = invoice();
    let scale = |value: &mut Decimal| *value *= dec("30000000000000");
    let c = &mut doc.content;
    c.currency = Currency::parse(code).unwrap();
    for line in &mut c.lines {
        scale(&mut line.amount);
        scale(&mut line.amount_precise);
        for tier in &mut line.tiers {
            scale(&mut tier.amount);
        }
    }
    c.lines[1].tiers[0].amount += dec("0.00005");
    for sum in [&mut c.subtotal, &mut c.tax, &mut c.credits_applied, &mut c.total] {
        scale(sum);
    }
    doc
}
