//! Assembles a finalized invoice (pure), in the order of DESIGN §5: this period's lines
//! (charges, base fee, top-up per segment), late adjustments, subtotal = Σ rounded lines,
//! tax once, credits after tax, total never below 0 (a negative remainder becomes a credit);
//! then zero-amount notes.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::adjust::Adjustment;
use super::credits::{allocate_credits, CreditBalance};
use super::draft::{tax, DraftError};
use super::lines::KeyedLine;
use crate::domain::{
    BilledLine, BillingPeriod, Currency, CustomerSnapshot, InvoiceContent, InvoiceKind, IssuerSnapshot, LineSnapshot,
    NewInvoice, PaymentTerms,
};

/// What an invoice is made of.
#[derive(Debug, Clone)]
pub struct InvoiceParts<'a> {
    /// `Adjustment`: only `adjustments`, in a currency the tenant has switched away from.
    pub kind: InvoiceKind,
    pub issuer: IssuerSnapshot,
    pub customer: CustomerSnapshot,
    pub period: BillingPeriod,
    pub issued_at: DateTime<Utc>,
    /// The tenant's own terms, or the configured ones: the invoice is due this long after issue.
    pub payment_terms: PaymentTerms,
    pub currency: Currency,
    pub tax_rate: Decimal,
    pub period_lines: Vec<KeyedLine>,
    pub adjustments: Vec<Adjustment>,
    /// Zero-amount notes shown after the billed lines (usage no subscription covered); they
    /// bill nothing, so they are not recorded as billed.
    pub notes: Vec<LineSnapshot>,
    pub credits: &'a [CreditBalance],
}

/// Numbers the lines and totals the invoice.
///
/// # Errors
/// [`DraftError::Overflow`].
pub fn assemble_invoice(parts: InvoiceParts<'_>) -> Result<NewInvoice, DraftError> {
    let period_start = parts.period.start();
    let mut billed: Vec<BilledLine> =
        parts.period_lines.iter().map(|l| BilledLine { period_start, key: l.key, amount: l.line.amount }).collect();
    billed.extend(parts.adjustments.iter().map(|a| BilledLine {
        period_start: a.period.start(),
        key: a.key,
        amount: a.line.amount,
    }));
    let mut lines: Vec<_> = parts.period_lines.into_iter().map(|l| l.line).collect();
    lines.extend(parts.adjustments.into_iter().map(|a| a.line));
    lines.extend(parts.notes);
    for (i, line) in lines.iter_mut().enumerate() {
        line.number = u32::try_from(i + 1).map_err(|_| DraftError::Overflow)?;
    }
    let subtotal =
        lines.iter().try_fold(Decimal::ZERO, |sum, l| sum.checked_add(l.amount)).ok_or(DraftError::Overflow)?;
    let tax = tax(subtotal, parts.tax_rate, parts.currency)?;
    let gross = subtotal + tax;
    let (consumptions, remainder_credit) = if gross < Decimal::ZERO {
        (Vec::new(), Some(-gross))
    } else {
        (allocate_credits(parts.credits, gross, parts.period.end()), None)
    };
    let credits_applied: Decimal = consumptions.iter().map(|(_, amount)| *amount).sum();
    let content = InvoiceContent {
        kind: parts.kind,
        issuer: parts.issuer,
        customer: parts.customer,
        period_start,
        period_end: parts.period.end(),
        issued_at: parts.issued_at,
        due_at: Some(parts.payment_terms.due_after(parts.issued_at)),
        currency: parts.currency,
        lines,
        subtotal,
        tax_rate: parts.tax_rate,
        tax,
        credits_applied,
        total: (gross - credits_applied).max(Decimal::ZERO),
    };
    Ok(NewInvoice { content, billed, consumptions, remainder_credit, adjustment_invoices: Vec::new() })
}
