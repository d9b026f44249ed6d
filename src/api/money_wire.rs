//! How money, price breakdowns and drafts look in JSON: amounts are strings at the
//! currency's precision (`"18.70"`, JPY `"1870"`) next to `currency`, plus `amount_precise`
//! (exact, or marked `amount_precise_rounded` when it has more digits than are kept).

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::domain::{BillingPeriod, Money, Quantities};
use crate::invoice::{DraftSegment, InvoiceDraft};
use crate::rate::{LineKind, PriceBreakdown, PriceLine, RatedCharge};

/// A decimal as normalized text.
pub fn decimal(value: Decimal) -> String {
    value.normalize().to_string()
}

/// Amount at the currency's precision.
pub fn amount(money: &Money) -> String {
    money.round_to_minor_units().format_amount()
}

/// A billing period as `{start, end}`.
pub fn period(p: &BillingPeriod) -> Value {
    json!({ "start": p.start(), "end": p.end() })
}

/// Usage no subscription covers: quantities, record count and why (api-spec `UnbilledUsage`).
pub fn unbilled(quantities: &Quantities, records: i64, reason: &str) -> Value {
    json!({ "usage": self::quantities(quantities), "records": records, "reason": reason })
}

/// Per-meter quantities as strings.
pub fn quantities(q: &Quantities) -> Value {
    json!({
        "cpu_cycles": decimal(q.cpu_cycles),
        "memory_gb_seconds": decimal(q.memory_gb_seconds),
        "invocations": decimal(q.invocations),
    })
}

/// One line with its arithmetic.
pub fn line(line: &PriceLine) -> Value {
    let mut out = match &line.kind {
        LineKind::Charge(rated) => charge(rated),
        LineKind::BaseFee { base_fee, proration } => json!({
            "type": "base_fee", "base_fee": decimal(*base_fee), "proration": decimal(*proration),
        }),
        LineKind::MinimumSpendTopUp { minimum_spend, proration, lines_total } => json!({
            "type": "minimum_spend_top_up", "minimum_spend": decimal(*minimum_spend),
            "proration": decimal(*proration), "lines_total": decimal(*lines_total),
        }),
    };
    out["amount"] = json!(amount(&line.amount));
    out["amount_precise"] = json!(decimal(line.amount_precise.amount));
    precise_mark(&mut out, line.amount_precise_rounded);
    out
}

/// Marks a line whose `amount_precise` is not every digit of its exact amount (past
/// `Decimal`'s 28 digits it is cut toward zero; `amount` is still rounded from the exact
/// value): `"amount_precise_rounded": true`, absent otherwise (api-spec `PriceLine`).
pub fn precise_mark(line: &mut Value, rounded: bool) {
    if rounded {
        line["amount_precise_rounded"] = json!(true);
    }
}

fn charge(rated: &RatedCharge) -> Value {
    let tiers: Vec<Value> = rated
        .lines
        .iter()
        .map(|t| {
            json!({
                "from": decimal(t.from), "to": t.to.map(decimal), "units": decimal(t.units),
                "unit_price": decimal(t.unit_price), "flat_fee": decimal(t.flat_fee), "amount": decimal(t.amount),
            })
        })
        .collect();
    json!({
        "type": "usage", "meter": rated.meter, "quantity": decimal(rated.quantity),
        "included": decimal(rated.included), "net_quantity": decimal(rated.net_quantity),
        "price_per": decimal(rated.price_per), "tiers": tiers,
    })
}

/// A priced plan: lines and subtotal.
pub fn breakdown(b: &PriceBreakdown) -> Value {
    json!({
        "plan": b.plan_id,
        "currency": b.currency.code(),
        "proration": decimal(b.proration),
        "lines": b.lines.iter().map(line).collect::<Vec<_>>(),
        "subtotal": amount(&b.subtotal),
    })
}

fn segment(s: &DraftSegment) -> Value {
    let mut out = breakdown(&s.breakdown);
    out["start"] = json!(s.segment.start);
    out["end"] = json!(s.segment.end);
    out["plan_version"] = json!(s.plan_version);
    out["usage"] = quantities(&s.quantities);
    out
}

/// An invoice draft: segments with their lines, subtotal, tax and total.
pub fn draft(d: &InvoiceDraft) -> Value {
    json!({
        "currency": d.currency.code(),
        "segments": d.segments.iter().map(segment).collect::<Vec<_>>(),
        "subtotal": amount(&d.subtotal),
        "tax_rate": decimal(d.tax_rate),
        "tax": amount(&d.tax),
        "total": amount(&d.total),
        "total_precise": decimal(d.total.amount),
    })
}
