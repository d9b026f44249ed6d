//! An invoice or credit-note email as display text, computed once from the invoice snapshot
//! for both alternatives (HTML and plain text), so they cannot disagree. Pure.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::domain::{InvoiceDocument, InvoiceKind, LineType, Meter, Money};
use crate::invoice::display_format as format;

/// Which message this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MailKind {
    Invoice,
    /// On void, with the credit note's number.
    CreditNote(String),
    /// The invoice again, still unpaid past its due date (`billing.overdue_reminder`).
    Reminder,
}

/// One row of the per-meter summary.
pub(crate) struct MeterRow {
    pub name: String,
    pub quantity: String,
    pub amount: String,
}

/// Every text an invoice email shows.
pub(crate) struct MailView {
    /// "Invoice INV-2026-000123" / "Credit note CN-2026-000007".
    pub title: String,
    pub subject: String,
    pub intro: String,
    pub issuer_name: String,
    pub issuer_address: Vec<String>,
    pub customer_name: String,
    pub number: String,
    pub period: String,
    pub issued_on: String,
    /// The invoice's due date; none on credit notes (and on invoices issued before due dates).
    pub due_on: Option<String>,
    /// "USD 1,234.50".
    pub total: String,
    pub total_label: &'static str,
    pub meters: Vec<MeterRow>,
    /// Base fee, minimum top-up and adjustments without a meter, if any.
    pub other_charges: Option<String>,
    pub portal_url: String,
    /// The attachment's file name.
    pub pdf_name: String,
}

impl MailView {
    /// The view of `doc` as `kind`, linking to the portal under `public_url`.
    pub(crate) fn of(doc: &InvoiceDocument, kind: &MailKind, public_url: &str) -> MailView {
        let c = &doc.content;
        let tz = format::zone(&c.customer.timezone);
        let total = format::money(&Money::new(c.total, c.currency));
        let (title, subject, intro, total_label, pdf_name) = match kind {
            MailKind::Invoice => (
                format!("Invoice {}", doc.number),
                format!("Invoice {} from {} ({total})", doc.number, c.issuer.name),
                match c.kind {
                    InvoiceKind::Period => format!(
                        "Your invoice for {} is ready. The PDF is attached.",
                        format::span(c.period_start, c.period_end, tz)
                    ),
                    InvoiceKind::Adjustment => format!(
                        "This invoice bills usage of earlier periods that arrived after they were invoiced, \
                        in {}, the currency they were billed in. The PDF is attached.",
                        c.currency.code()
                    ),
                },
                "Amount due",
                format!("{}.pdf", doc.number),
            ),
            MailKind::Reminder => (
                format!("Invoice {} is overdue", doc.number),
                format!("Reminder: invoice {} from {} is overdue ({total})", doc.number, c.issuer.name),
                format!(
                    "Invoice {} for {} was due on {} and is not marked as paid yet. If you have paid it \
                    already, thank you, and please disregard this reminder. The PDF is attached again.",
                    doc.number,
                    format::span(c.period_start, c.period_end, tz),
                    c.due_at.map_or_else(|| "receipt".to_owned(), |due| format::date(due, tz)),
                ),
                "Amount due",
                format!("{}.pdf", doc.number),
            ),
            MailKind::CreditNote(number) => (
                format!("Credit note {number}"),
                format!("Credit note {number} for invoice {} from {}", doc.number, c.issuer.name),
                format!("Invoice {} has been voided by credit note {number}. The PDF is attached.", doc.number),
                "Amount credited",
                format!("{number}.pdf"),
            ),
        };
        let (meters, other) = summary(doc);
        MailView {
            title,
            subject,
            intro,
            issuer_name: c.issuer.name.clone(),
            issuer_address: c.issuer.address.clone(),
            customer_name: c.customer.name.clone(),
            number: doc.number.clone(),
            period: format::span(c.period_start, c.period_end, tz),
            issued_on: format::date(c.issued_at, tz),
            due_on: c.due_at.filter(|_| !matches!(kind, MailKind::CreditNote(_))).map(|due| format::date(due, tz)),
            total,
            total_label,
            meters,
            other_charges: other.map(|o| format::money(&Money::new(o, c.currency))),
            portal_url: format!("{}/portal/invoices/{}", public_url.trim_end_matches('/'), doc.id),
            pdf_name,
        }
    }
}

/// Quantity billed (usage lines) and amount (all lines) per meter, in display order; the
/// amount of lines without a meter.
fn summary(doc: &InvoiceDocument) -> (Vec<MeterRow>, Option<Decimal>) {
    let c = &doc.content;
    let mut per_meter: BTreeMap<Meter, (Decimal, Decimal)> = BTreeMap::new();
    let mut other = None::<Decimal>;
    for line in &c.lines {
        match line.meter {
            Some(meter) => {
                let entry = per_meter.entry(meter).or_default();
                if line.line_type == LineType::Usage {
                    entry.0 += line.quantity.unwrap_or_default();
                }
                entry.1 += line.amount;
            }
            None => *other.get_or_insert(Decimal::ZERO) += line.amount,
        }
    }
    let rows = Meter::ALL
        .into_iter()
        .filter_map(|meter| per_meter.get(&meter).map(|sums| (meter, sums)))
        .map(|(meter, (quantity, amount))| MeterRow {
            name: display_name(meter).to_owned(),
            quantity: format::quantity(*quantity),
            amount: format::amount(*amount, c.currency),
        })
        .collect();
    (rows, other)
}

fn display_name(meter: Meter) -> &'static str {
    match meter {
        Meter::CpuCycles => "CPU cycles",
        Meter::MemoryGbSeconds => "Memory (GB-seconds)",
        Meter::Invocations => "Invocations",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice::sample_invoice;

    #[test]
    fn an_invoice_email_introduces_its_period_and_an_adjustment_invoice_what_it_bills() {
        let mut doc = sample_invoice();
        let period = MailView::of(&doc, &MailKind::Invoice, "https://billing.test");
        assert_eq!(period.intro, "Your invoice for 1 Mar 2026 – 31 Mar 2026 is ready. The PDF is attached.");
        doc.content.kind = InvoiceKind::Adjustment;
        let adjustment = MailView::of(&doc, &MailKind::Invoice, "https://billing.test");
        assert!(adjustment.intro.starts_with("This invoice bills usage of earlier periods"), "{}", adjustment.intro);
        assert!(adjustment.intro.contains("in USD, the currency they were billed in"), "{}", adjustment.intro);
    }

    #[test]
    fn a_reminder_says_the_invoice_is_overdue_since_its_due_date_and_shows_what_is_due() {
        let doc = sample_invoice();
        let reminder = MailView::of(&doc, &MailKind::Reminder, "https://billing.test");
        let invoice = MailView::of(&doc, &MailKind::Invoice, "https://billing.test");
        let due = invoice.due_on.clone().expect("the sample invoice has a due date");
        assert!(
            reminder.subject.starts_with(&format!("Reminder: invoice {} from ", doc.number)),
            "{}",
            reminder.subject
        );
        assert!(reminder.subject.ends_with(&format!(" is overdue ({})", invoice.total)), "{}", reminder.subject);
        assert!(
            reminder.intro.contains(&format!("was due on {due} and is not marked as paid yet")),
            "{}",
            reminder.intro
        );
        assert_eq!((reminder.due_on, reminder.total, reminder.pdf_name), (Some(due), invoice.total, invoice.pdf_name));
    }
}
