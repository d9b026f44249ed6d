//! The invoice as display text: every string the HTML and PDF renderings show, computed once
//! from the [`InvoiceDocument`] snapshot so the two cannot disagree. Amounts are formatted at
//! the currency's precision; dates are local to the customer's time zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::format;
use super::kind::{as_printed, DocumentKind};
use crate::domain::{Currency, Meter, Money};
use crate::domain::{InvoiceDocument, InvoiceKind, InvoiceStatus, LineSnapshot, LineType, TierSnapshot};

/// A party on the invoice: the issuer or the customer.
pub(crate) struct PartyView {
    pub name: String,
    pub address: Vec<String>,
    pub tax_id: Option<String>,
    pub emails: Vec<String>,
}

/// One row of the tier breakdown under a usage line.
pub(crate) struct TierView {
    /// `"0 – 500,000"`, or `"Above 1,000,000"` for the open-ended tier (net units; a single
    /// open tier reads `"All billable units"`).
    pub range: String,
    pub units: String,
    /// `"× 0.20 per 1,000,000"`, or `"× 0.0000166667"` when priced per single unit.
    pub price: String,
    /// `"+ 1.00 flat fee"` when the tier charges one.
    pub flat_fee: Option<String>,
    /// Exact (unrounded): the line amount is the rounded sum.
    pub amount: String,
}

/// One invoice line.
pub(crate) struct LineView {
    pub description: String,
    /// `Some("Adjustment")` for late changes to an earlier period.
    pub tag: Option<&'static str>,
    /// Smaller text under the description: plan, allowance, proration, adjusted period.
    pub details: Vec<String>,
    pub quantity: String,
    pub amount: String,
    pub tiers: Vec<TierView>,
}

/// A labelled amount in the totals block (subtotal, tax, credits).
pub(crate) struct SumView {
    pub label: String,
    pub amount: String,
}

/// Everything an invoice (or credit note) rendering shows, as text.
pub(crate) struct InvoiceView {
    /// `"Invoice"` or `"Credit note"`.
    pub title: &'static str,
    pub number: String,
    /// The number of the invoice a credit note cancels.
    pub reverses: Option<String>,
    pub status: InvoiceStatus,
    /// `"Paid"`, or `"Issued"` for a finalized invoice.
    pub status_label: &'static str,
    /// Large diagonal text over the page: `VOID`, or `DRAFT` for an unfinalized invoice.
    pub watermark: Option<&'static str>,
    pub issuer: PartyView,
    pub customer: PartyView,
    pub issued_on: String,
    /// Absent on credit notes and on invoices issued before due dates were recorded.
    pub due_on: Option<String>,
    pub period: String,
    /// On an adjustment invoice (late usage in a currency the tenant has left), what it bills
    /// instead of the period's usage.
    pub covers: Option<&'static str>,
    pub timezone: String,
    pub currency: &'static str,
    pub lines: Vec<LineView>,
    pub sums: Vec<SumView>,
    /// With its code, as every total people read: `"USD 1,234.50"`.
    pub total: String,
}

impl InvoiceView {
    /// Builds the display text of `doc` printed as `kind`.
    pub(crate) fn of(original: &InvoiceDocument, kind: &DocumentKind) -> InvoiceView {
        let doc = &as_printed(original, kind);
        let tz = format::zone(&doc.content.customer.timezone);
        let currency = doc.content.currency;
        let (title, reverses) = match kind {
            DocumentKind::Invoice => ("Invoice", None),
            DocumentKind::CreditNote { .. } => ("Credit note", Some(original.number.clone())),
        };
        let (status, status_label, watermark) = status(doc.status, kind);
        let number = if doc.number.trim().is_empty() { "Draft".to_owned() } else { doc.number.clone() };
        let context = LineContext { tz, currency, period: (doc.content.period_start, doc.content.period_end) };
        InvoiceView {
            title,
            number,
            reverses,
            status,
            status_label,
            watermark,
            issuer: party(&doc.content.issuer.name, &doc.content.issuer.address, &doc.content.issuer.tax_id, &[]),
            customer: party(
                &doc.content.customer.name,
                &doc.content.customer.address,
                &doc.content.customer.tax_id,
                &doc.content.customer.billing_emails,
            ),
            issued_on: format::date(doc.content.issued_at, tz),
            due_on: doc.content.due_at.map(|due| format::date(due, tz)),
            period: format::span(doc.content.period_start, doc.content.period_end, tz),
            covers: match doc.content.kind {
                InvoiceKind::Period => None,
                InvoiceKind::Adjustment => Some("Late usage of earlier periods"),
            },
            timezone: tz.name().to_owned(),
            currency: currency.code(),
            lines: doc.content.lines.iter().map(|line| context.line(line)).collect(),
            sums: sums(doc, kind),
            total: format::money(&Money::new(doc.content.total, currency)),
        }
    }
}

/// The badge's status and label, and the watermark. A credit note is an issued document of
/// its own: the VOID mark belongs on the invoice it cancels, not on it.
fn status(status: InvoiceStatus, kind: &DocumentKind) -> (InvoiceStatus, &'static str, Option<&'static str>) {
    if let DocumentKind::CreditNote { .. } = kind {
        return (InvoiceStatus::Finalized, "Issued", None);
    }
    match status {
        InvoiceStatus::Draft => (status, "Draft", Some("DRAFT")),
        InvoiceStatus::Finalized => (status, "Issued", None),
        InvoiceStatus::Paid => (status, "Paid", None),
        InvoiceStatus::Void => (status, "Void", Some("VOID")),
    }
}

fn party(name: &str, address: &[String], tax_id: &str, emails: &[String]) -> PartyView {
    let present = |lines: &[String]| lines.iter().filter(|l| !l.trim().is_empty()).cloned().collect();
    PartyView {
        name: name.to_owned(),
        address: present(address),
        tax_id: Some(tax_id.trim()).filter(|t| !t.is_empty()).map(str::to_owned),
        emails: present(emails),
    }
}

/// The totals block at the currency's precision (rows decided in [`sums`](super::sums)).
fn sums(doc: &InvoiceDocument, kind: &DocumentKind) -> Vec<SumView> {
    let credit_note = matches!(kind, DocumentKind::CreditNote { .. });
    super::sums::sums(&doc.content, credit_note)
        .into_iter()
        .map(|sum| SumView { label: sum.label, amount: format::amount(sum.amount, doc.content.currency) })
        .collect()
}

/// What every line needs to know about its invoice.
struct LineContext {
    tz: Tz,
    currency: Currency,
    period: (DateTime<Utc>, DateTime<Utc>),
}

impl LineContext {
    fn line(&self, line: &LineSnapshot) -> LineView {
        LineView {
            description: line.description.clone(),
            tag: match line.line_type {
                LineType::Adjustment => Some("Adjustment"),
                LineType::UnbilledUsage => Some("Not billed"),
                LineType::Usage | LineType::BaseFee | LineType::MinimumSpendTopUp => None,
            },
            details: self.details(line),
            quantity: line.quantity.map(format::quantity).unwrap_or_default(),
            amount: format::amount(line.amount, self.currency),
            tiers: line.tiers.iter().map(|tier| self.tier(tier, line.meter)).collect(),
        }
    }

    fn details(&self, line: &LineSnapshot) -> Vec<String> {
        // A note about unbilled usage belongs to no plan.
        let plan = (!line.plan_id.is_empty()).then(|| format!("Plan {} v{}", line.plan_id, line.plan_version));
        let mut details: Vec<String> = plan.into_iter().collect();
        if let (Some(meter), Some(included)) = (line.meter, line.included) {
            if !included.is_zero() {
                details.push(format!("{} {} included", format::quantity(included), unit(meter)));
            }
        }
        if let Some(proration) = line.proration.filter(|p| *p != Decimal::ONE) {
            details.push(format!("Prorated: {} of the period", format::fraction_as_percent(proration)));
        }
        let span = format::span(line.start, line.end, self.tz);
        if line.line_type == LineType::Adjustment {
            details.push(format!("Adjusts {span}"));
            // The quantity and tiers shown are the whole re-rated line; the amount is only what
            // it adds to what was billed, so the line says both sides of that difference.
            if let Some(rerated) = crate::invoice::rerated_amount(line, self.currency) {
                let before = rerated.amount - line.amount;
                details.push(format!(
                    "Re-rated to {}, less {} billed before",
                    format::amount(rerated.amount, self.currency),
                    format::amount(before, self.currency)
                ));
            }
        } else if (line.start, line.end) != self.period {
            details.push(span);
        }
        details
    }

    fn tier(&self, tier: &TierSnapshot, meter: Option<Meter>) -> TierView {
        let range = match tier.to {
            Some(to) => format!("{} – {}", format::quantity(tier.from), format::quantity(to)),
            None if tier.from.is_zero() => "All billable units".to_owned(),
            None => format!("Above {}", format::quantity(tier.from)),
        };
        let unit_price = format::exact(tier.unit_price, self.currency);
        // Every unit price says its unit (DESIGN §7): "× 0.20 per 1,000,000 invocations", and a
        // package price what a package holds: "× 5.00 per package of 1,000 invocations".
        let price = match (meter, tier.package_size, tier.price_per == Decimal::ONE) {
            (Some(meter), Some(size), _) => {
                let unit = if size == Decimal::ONE { unit_singular(meter) } else { unit(meter) };
                format!("× {unit_price} per package of {} {unit}", format::quantity(size))
            }
            (Some(meter), None, true) => format!("× {unit_price} per {}", unit_singular(meter)),
            (Some(meter), None, false) => {
                format!("× {unit_price} per {} {}", format::quantity(tier.price_per), unit(meter))
            }
            (None, _, true) => format!("× {unit_price}"),
            (None, _, false) => format!("× {unit_price} per {}", format::quantity(tier.price_per)),
        };
        let flat_fee =
            (!tier.flat_fee.is_zero()).then(|| format!("+ {} flat fee", format::exact(tier.flat_fee, self.currency)));
        let packages = match tier.package_size {
            Some(_) if tier.units == Decimal::ONE => " package",
            Some(_) => " packages",
            None => "",
        };
        TierView {
            range,
            units: format!("{}{packages}", format::quantity(tier.units)),
            price,
            flat_fee,
            amount: format::exact(tier.amount, self.currency),
        }
    }
}

/// One unit of a meter, as a reader says it.
fn unit_singular(meter: Meter) -> &'static str {
    match meter {
        Meter::CpuCycles => "CPU cycle",
        Meter::MemoryGbSeconds => "GB-second",
        Meter::Invocations => "invocation",
    }
}

/// The unit a meter counts, as a reader says it.
fn unit(meter: Meter) -> &'static str {
    match meter {
        Meter::CpuCycles => "CPU cycles",
        Meter::MemoryGbSeconds => "GB-seconds",
        Meter::Invocations => "invocations",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice::render::sample;

    #[test]
    fn a_void_invoice_carries_a_void_watermark_and_a_draft_a_draft_one() {
        let mut doc = sample::invoice();
        doc.status = InvoiceStatus::Void;
        assert_eq!(InvoiceView::of(&doc, &DocumentKind::Invoice).watermark, Some("VOID"));
        doc.status = InvoiceStatus::Draft;
        assert_eq!(InvoiceView::of(&doc, &DocumentKind::Invoice).watermark, Some("DRAFT"));
        doc.status = InvoiceStatus::Paid;
        assert_eq!(InvoiceView::of(&doc, &DocumentKind::Invoice).watermark, None);
    }

    #[test]
    fn a_negative_remainder_is_shown_carried_forward_so_the_sums_reach_the_total() {
        let mut doc = sample::invoice();
        (doc.content.subtotal, doc.content.tax, doc.content.credits_applied, doc.content.total) =
            (Decimal::new(-273, 2), Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        let sums = InvoiceView::of(&doc, &DocumentKind::Invoice).sums;
        let last = sums.last().unwrap();
        assert_eq!((last.label.as_str(), last.amount.as_str()), ("Carried forward as credit", "2.73"));
        let positive = InvoiceView::of(&sample::invoice(), &DocumentKind::Invoice).sums;
        assert!(positive.iter().all(|s| s.label != "Carried forward as credit"));
    }

    #[test]
    fn a_credit_note_shows_its_invoice_reversed_with_nothing_carried_forward() {
        let kind = DocumentKind::CreditNote {
            number: "CN-2026-000007".into(),
            issued_at: sample::invoice().content.issued_at,
        };
        let view = InvoiceView::of(&sample::invoice(), &kind);
        let sums: Vec<(&str, &str)> = view.sums.iter().map(|s| (s.label.as_str(), s.amount.as_str())).collect();
        assert_eq!(sums, [("Subtotal", "-29.69"), ("Tax (8.875%)", "-2.63"), ("Credits restored", "5.00")]);
        assert_eq!(view.total, "USD -27.32");
    }

    #[test]
    fn a_package_line_counts_packages_and_says_what_a_package_holds() {
        let mut doc = sample::invoice();
        let tier = &mut doc.content.lines[0].tiers[0];
        (tier.units, tier.unit_price, tier.price_per, tier.package_size) =
            (sample::dec("3"), sample::dec("5"), Decimal::ONE, Some(sample::dec("1000")));
        let view = InvoiceView::of(&doc, &DocumentKind::Invoice);
        assert_eq!(view.lines[0].tiers[0].units, "3 packages");
        assert_eq!(view.lines[0].tiers[0].price, "× 5.00 per package of 1,000 invocations");
        let tier = &mut doc.content.lines[0].tiers[0];
        (tier.units, tier.package_size) = (Decimal::ONE, Some(Decimal::ONE));
        let view = InvoiceView::of(&doc, &DocumentKind::Invoice);
        assert_eq!(view.lines[0].tiers[0].units, "1 package");
        assert_eq!(view.lines[0].tiers[0].price, "× 5.00 per package of 1 invocation");
    }

    #[test]
    fn usage_lines_show_their_allowance_and_adjustments_the_period_they_adjust() {
        let view = InvoiceView::of(&sample::invoice(), &DocumentKind::Invoice);
        let invocations = &view.lines[0];
        assert!(invocations.details.contains(&"1,000,000 invocations included".to_owned()));
        assert_eq!(invocations.tiers[0].price, "× 0.20 per 1,000,000 invocations", "every unit price says its unit");
        let adjustment = view.lines.iter().find(|l| l.tag == Some("Adjustment")).unwrap();
        assert!(
            adjustment.details.contains(&"Adjusts 1 Feb 2026 – 28 Feb 2026".to_owned()),
            "{:?}",
            adjustment.details
        );
        assert_eq!(adjustment.amount, "0.12", "the line bills only the difference");
        assert_eq!(adjustment.tiers[0].amount, "0.32", "its tiers are the whole re-rated line");
        assert!(
            adjustment.details.contains(&"Re-rated to 0.32, less 0.20 billed before".to_owned()),
            "so the line says both sides of the difference: {:?}",
            adjustment.details
        );
    }

    #[test]
    fn an_unbilled_usage_note_is_tagged_and_names_no_plan() {
        let mut doc = sample::invoice();
        let (start, end) = (doc.content.period_start, doc.content.period_end);
        let description = "Invocations not billed: usage before the first subscription (2 records)".to_owned();
        let note = LineSnapshot {
            meter: Some(Meter::Invocations),
            quantity: Some(sample::dec("7")),
            ..LineSnapshot::blank(LineType::UnbilledUsage, description.clone(), start, end)
        };
        doc.content.lines.push(note);
        let view = InvoiceView::of(&doc, &DocumentKind::Invoice);
        let shown = view.lines.last().expect("the note is shown");
        assert_eq!(
            (shown.tag, shown.description.as_str(), shown.amount.as_str()),
            (Some("Not billed"), &*description, "0.00")
        );
        assert!(shown.details.iter().all(|d| !d.starts_with("Plan")), "{:?}", shown.details);
    }

    #[test]
    fn credits_appear_in_the_sums_only_when_some_were_applied() {
        let mut doc = sample::invoice();
        assert!(InvoiceView::of(&doc, &DocumentKind::Invoice)
            .sums
            .iter()
            .any(|s| s.label == "Credits applied" && s.amount == "-5.00"));
        doc.content.credits_applied = Decimal::ZERO;
        assert!(InvoiceView::of(&doc, &DocumentKind::Invoice).sums.iter().all(|s| s.label != "Credits applied"));
    }

    #[test]
    fn the_open_ended_tier_reads_as_above_its_lower_bound() {
        let view = InvoiceView::of(&sample::invoice(), &DocumentKind::Invoice);
        let memory = &view.lines[1];
        let ranges: Vec<&str> = memory.tiers.iter().map(|t| t.range.as_str()).collect();
        assert_eq!(ranges, ["0 – 500,000", "500,000 – 1,000,000", "Above 1,000,000"]);
        assert_eq!(view.lines[0].tiers[0].range, "All billable units", "a single open tier from zero");
    }

    #[test]
    fn flat_fees_and_proration_are_spelled_out() {
        let mut doc = sample::invoice();
        doc.content.lines[1].tiers[0].flat_fee = sample::dec("1.5");
        doc.content.lines[2].proration = Some(sample::dec("0.516129"));
        let view = InvoiceView::of(&doc, &DocumentKind::Invoice);
        assert_eq!(view.lines[1].tiers[0].flat_fee.as_deref(), Some("+ 1.50 flat fee"));
        assert!(view.lines[2].details.contains(&"Prorated: 51.61% of the period".to_owned()));
    }

    #[test]
    fn a_line_for_part_of_the_period_shows_its_own_span_in_local_time() {
        let mut doc = sample::invoice();
        // 15 March 14:15 in New York (EDT, UTC−4) to the end of the period.
        doc.content.lines[2].start = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 15, 18, 15, 0).unwrap();
        let view = InvoiceView::of(&doc, &DocumentKind::Invoice);
        assert!(view.lines[2].details.contains(&"15 Mar 2026 14:15 – 1 Apr 2026 00:00".to_owned()));
        assert_eq!(view.lines[0].details.len(), 2, "a line for the whole period shows no span");
    }
}
