//! Invoices in JSON (api-spec `Invoice`, `InvoiceSummary`): amounts as strings at the
//! currency's precision, plus precise amounts on lines.

use serde_json::{json, Value};

use super::money_wire::{decimal, precise_mark};
use crate::domain::LineSnapshot;
use crate::domain::{Currency, Money};
use crate::store::StoredInvoice;

fn money(amount: rust_decimal::Decimal, currency: Currency) -> String {
    Money::new(amount, currency).round_to_minor_units().format_amount()
}

/// The list view.
pub fn invoice_summary(invoice: &StoredInvoice) -> Value {
    let (doc, d) = (&invoice.document, &invoice.document.content);
    json!({
        "id": doc.id, "number": doc.number, "kind": d.kind, "status": doc.status, "tenant_id": d.customer.tenant_id,
        "period_start": d.period_start, "period_end": d.period_end, "issued_at": d.issued_at,
        "currency": d.currency.code(), "total": money(d.total, d.currency), "due_at": d.due_at,
        "reminded_at": invoice.reminded_at,
    })
}

/// The full invoice.
pub fn invoice_json(invoice: &StoredInvoice) -> Value {
    let d = &invoice.document.content;
    let mut out = invoice_summary(invoice);
    let extra = json!({
        "issuer": d.issuer, "customer": d.customer,
        "lines": d.lines.iter().map(|l| line(l, d.currency)).collect::<Vec<_>>(),
        "subtotal": money(d.subtotal, d.currency),
        "tax_rate": decimal(d.tax_rate),
        "tax": money(d.tax, d.currency),
        "credits_applied": money(d.credits_applied, d.currency),
        "paid_at": invoice.paid_at, "voided_at": invoice.voided_at,
        "credit_note_number": invoice.credit_note_number,
    });
    if let (Some(out), Value::Object(extra)) = (out.as_object_mut(), extra) {
        out.extend(extra);
    }
    out
}

fn line(l: &LineSnapshot, currency: Currency) -> Value {
    let mut out = json!({
        "number": l.number, "type": l.line_type, "description": l.description,
        "start": l.start, "end": l.end, "plan": l.plan_id, "plan_version": l.plan_version,
        "meter": l.meter, "quantity": l.quantity.map(decimal), "included": l.included.map(decimal),
        "proration": l.proration.map(decimal),
        "tiers": l.tiers.iter().map(|t| json!({
            "from": decimal(t.from), "to": t.to.map(decimal), "units": decimal(t.units),
            "unit_price": decimal(t.unit_price), "price_per": decimal(t.price_per),
            "flat_fee": decimal(t.flat_fee), "amount": decimal(t.amount),
            "package_size": t.package_size.map(decimal),
        })).collect::<Vec<_>>(),
        "amount": money(l.amount, currency),
        "amount_precise": decimal(l.amount_precise),
    });
    precise_mark(&mut out, l.amount_precise_rounded);
    out
}
