//! Which document a rendering draws from an invoice snapshot: the invoice itself, or the
//! credit note that voids it (DESIGN §7: void issues a numbered credit note). A credit note is
//! the invoice reversed — same parties, period and lines, every amount negated — under its
//! own number and date, referencing the invoice it cancels. Pure.

use chrono::{DateTime, Utc};

use crate::domain::{InvoiceContent, InvoiceDocument, LineSnapshot};

/// The document to render from an [`InvoiceDocument`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentKind {
    /// The invoice as issued (with its status: paid, or a VOID watermark).
    Invoice,
    /// The credit note that voided it.
    CreditNote {
        /// `CN-2026-000007`.
        number: String,
        /// When the invoice was voided: the credit note's date of issue.
        issued_at: DateTime<Utc>,
    },
}

/// `doc` as the document `kind` prints: for a credit note, its number and date, no due date,
/// and every amount of the invoice negated (lines, tiers, subtotal, tax, credits, total).
pub(crate) fn as_printed(doc: &InvoiceDocument, kind: &DocumentKind) -> InvoiceDocument {
    match kind {
        DocumentKind::Invoice => doc.clone(),
        DocumentKind::CreditNote { number, issued_at } => InvoiceDocument {
            id: doc.id.clone(),
            number: number.clone(),
            status: doc.status,
            content: InvoiceContent { issued_at: *issued_at, due_at: None, ..reversed(&doc.content) },
        },
    }
}

fn reversed(content: &InvoiceContent) -> InvoiceContent {
    InvoiceContent {
        lines: content.lines.iter().map(reversed_line).collect(),
        subtotal: -content.subtotal,
        tax: -content.tax,
        credits_applied: -content.credits_applied,
        total: -content.total,
        ..content.clone()
    }
}

fn reversed_line(line: &LineSnapshot) -> LineSnapshot {
    let mut line = line.clone();
    line.amount = -line.amount;
    line.amount_precise = -line.amount_precise;
    for tier in &mut line.tiers {
        tier.amount = -tier.amount;
        tier.flat_fee = -tier.flat_fee;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice::render::sample;

    #[test]
    fn a_credit_note_negates_every_amount_and_carries_its_own_number_and_date() {
        let invoice = sample::invoice();
        let voided_at = invoice.content.issued_at + chrono::Duration::days(3);
        let kind = DocumentKind::CreditNote { number: "CN-2026-000007".into(), issued_at: voided_at };
        let note = as_printed(&invoice, &kind);
        assert_eq!((note.number.as_str(), note.content.issued_at), ("CN-2026-000007", voided_at));
        assert_eq!(note.content.due_at, None, "a credit note is not due");
        assert_eq!(note.content.total, -invoice.content.total);
        assert_eq!(note.content.tax, -invoice.content.tax);
        assert_eq!(note.content.lines[1].tiers[2].amount, -invoice.content.lines[1].tiers[2].amount);
        assert_eq!(note.content.lines[1].quantity, invoice.content.lines[1].quantity, "quantities stay as billed");
    }
}
