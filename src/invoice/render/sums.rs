//! The labelled amounts between a document's lines and its total — subtotal, tax, credits and
//! a carried-forward remainder — decided once for every rendering (PDF, HTML, portal), so each
//! shows the same rows and the rows always add up to the total. Pure.

use rust_decimal::Decimal;

use super::format;
use crate::domain::InvoiceContent;

/// One row of the totals block: its label and the signed amount it adds to reach the total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sum {
    pub label: String,
    pub amount: Decimal,
}

/// The rows of `content` as printed — an invoice, or (`credit_note`) its reversal with every
/// amount negated. Subtotal and tax always; credits only when some were applied; then
/// whatever is left between those rows and the stored total. On an invoice that is the
/// negative remainder carried forward as credit (DESIGN §5: the total never goes below 0);
/// on its credit note, that same credit withdrawn. The last row is derived from the total, not
/// from the sign of the other rows, so a credit note (all negative) never grows a
/// carried-forward row of its own.
pub(crate) fn sums(content: &InvoiceContent, credit_note: bool) -> Vec<Sum> {
    let c = content;
    let mut sums = vec![
        Sum { label: "Subtotal".to_owned(), amount: c.subtotal },
        Sum { label: format!("Tax ({})", format::percent(c.tax_rate)), amount: c.tax },
    ];
    if !c.credits_applied.is_zero() {
        let label = if credit_note { "Credits restored" } else { "Credits applied" };
        sums.push(Sum { label: label.to_owned(), amount: -c.credits_applied });
    }
    let remainder = c.total - (c.subtotal + c.tax - c.credits_applied);
    if !remainder.is_zero() {
        let label = if credit_note { "Credit carried forward, withdrawn" } else { "Carried forward as credit" };
        sums.push(Sum { label: label.to_owned(), amount: remainder });
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice::render::kind::{as_printed, DocumentKind};
    use crate::invoice::render::sample::{self, dec};

    fn credit_note(doc: &crate::domain::InvoiceDocument) -> InvoiceContent {
        let kind = DocumentKind::CreditNote { number: "CN-2026-000007".into(), issued_at: doc.content.issued_at };
        as_printed(doc, &kind).content
    }

    fn rows(sums: &[Sum]) -> Vec<(&str, String)> {
        sums.iter().map(|s| (s.label.as_str(), s.amount.to_string())).collect()
    }

    fn add_up(sums: &[Sum]) -> Decimal {
        sums.iter().map(|s| s.amount).sum()
    }

    #[test]
    fn an_invoices_rows_add_up_to_its_total() {
        let doc = sample::invoice();
        let sums = sums(&doc.content, false);
        assert_eq!(
            rows(&sums),
            [("Subtotal", "29.69".into()), ("Tax (8.875%)", "2.63".into()), ("Credits applied", "-5.00".into())]
        );
        assert_eq!(add_up(&sums), doc.content.total);
    }

    #[test]
    fn a_credit_note_of_a_positive_invoice_carries_nothing_forward_and_restores_its_credits() {
        let note = credit_note(&sample::invoice());
        let sums = sums(&note, true);
        assert_eq!(
            rows(&sums),
            [("Subtotal", "-29.69".into()), ("Tax (8.875%)", "-2.63".into()), ("Credits restored", "5.00".into())]
        );
        assert_eq!(add_up(&sums), dec("-27.32"));
    }

    #[test]
    fn a_negative_invoice_carries_its_remainder_forward_and_its_credit_note_withdraws_it() {
        let mut doc = sample::invoice();
        (doc.content.subtotal, doc.content.tax, doc.content.credits_applied, doc.content.total) =
            (dec("-2.73"), Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        let invoice = sums(&doc.content, false);
        assert_eq!(
            invoice.last().map(|s| (s.label.as_str(), s.amount)),
            Some(("Carried forward as credit", dec("2.73")))
        );
        assert_eq!(add_up(&invoice), Decimal::ZERO);
        let note = sums(&credit_note(&doc), true);
        assert_eq!(
            note.last().map(|s| (s.label.as_str(), s.amount)),
            Some(("Credit carried forward, withdrawn", dec("-2.73")))
        );
        assert_eq!(add_up(&note), Decimal::ZERO);
    }
}
