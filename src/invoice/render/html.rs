//! The invoice as one self-contained HTML page (inline CSS, no scripts, no external assets),
//! for `GET /v1/invoices/{id}/html` and the portal. It prints on A4. The layout lives in
//! `invoice.html` beside this file, compiled in by askama, which escapes every value.

use askama::Template;

use super::kind::DocumentKind;
use super::view::InvoiceView;
use crate::domain::InvoiceDocument;

#[derive(Template)]
#[template(path = "invoice/render/invoice.html")]
struct InvoicePage<'a> {
    v: &'a InvoiceView,
}

/// Renders `doc` as a complete HTML page: issuer and customer, number, status, issue date,
/// billing period in the customer's time zone, lines with their tier breakdown, subtotal,
/// tax, credits and total at the currency's precision. Every text from the snapshot is
/// HTML-escaped.
///
/// # Panics
/// Never in practice: the template writes only strings into a `String`, which cannot fail.
pub fn render_html(doc: &InvoiceDocument) -> String {
    let view = InvoiceView::of(doc, &DocumentKind::Invoice);
    InvoicePage { v: &view }
        .render()
        .expect("the invoice template only writes strings into a String, which cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::InvoiceStatus;
    use crate::invoice::render::sample;

    #[test]
    fn the_page_shows_the_number_the_parties_and_the_period_in_the_customers_time_zone() {
        let html = render_html(&sample::invoice());
        for expected in [
            "INV-2026-000123",
            "Tally Cloud Ltd",
            "Acme Functions Inc.",
            "billing@acme.test",
            "Tax ID US 98-7654321",
            "1 Mar 2026 – 31 Mar 2026",
            "America/New_York",
            "1 Apr 2026",
        ] {
            assert!(html.contains(expected), "the page should contain {expected:?}");
        }
    }

    #[test]
    fn an_adjustment_invoice_says_it_covers_late_usage_of_earlier_periods() {
        let mut doc = sample::invoice();
        let covers = "<dt>Covers</dt><dd>Late usage of earlier periods</dd>";
        assert!(!render_html(&doc).contains(covers), "a period invoice bills its period");
        doc.content.kind = crate::domain::InvoiceKind::Adjustment;
        assert!(render_html(&doc).contains(covers));
    }

    #[test]
    fn the_page_shows_subtotal_tax_with_its_rate_credits_and_total_with_the_currency() {
        let html = render_html(&sample::invoice());
        for expected in ["29.69", "Tax (8.875%)", "2.63", "Credits applied", "-5.00", "USD 27.32"] {
            assert!(html.contains(expected), "the page should contain {expected:?}");
        }
    }

    #[test]
    fn usage_lines_show_one_row_per_tier_with_units_price_and_exact_amount() {
        let html = render_html(&sample::invoice());
        assert_eq!(html.matches(r#"<tr class="tier"#).count(), 5, "1 + 3 + 1 tier rows");
        for expected in ["500,000 – 1,000,000", "Above 1,000,000", "× 0.0000166667", "8.33335", "× 0.20 per 1,000,000"]
        {
            assert!(html.contains(expected), "the page should contain {expected:?}");
        }
    }

    #[test]
    fn adjustment_lines_are_tagged_with_the_period_they_adjust() {
        let html = render_html(&sample::invoice());
        assert!(html.contains(r#"<span class="tag">Adjustment</span>"#));
        assert!(html.contains("Adjusts 1 Feb 2026 – 28 Feb 2026"));
    }

    #[test]
    fn text_from_the_snapshot_is_escaped() {
        let mut doc = sample::invoice();
        doc.content.customer.name = "<script>alert('x')</script> & Co".to_owned();
        doc.content.lines[0].description = "<img src=x onerror=alert(1)>".to_owned();
        let html = render_html(&doc);
        assert!(!html.contains("<script>"), "a tenant name must not open a script element");
        assert!(!html.contains("<img"), "a line description must not inject markup");
        assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"), "the name is shown escaped");
        assert!(html.contains("&#38; Co") || html.contains("&amp; Co"));
    }

    #[test]
    fn a_void_invoice_shows_a_void_watermark_and_badge() {
        let mut doc = sample::invoice();
        doc.status = InvoiceStatus::Void;
        let html = render_html(&doc);
        assert!(html.contains(r#"<div class="watermark void" aria-hidden="true">VOID</div>"#));
        assert!(html.contains(r#"<span class="badge void">Void</span>"#));
        assert!(!render_html(&sample::invoice()).contains("class=\"watermark"));
    }

    #[test]
    fn amounts_use_the_precision_of_the_currency() {
        let yen = render_html(&sample::in_currency("JPY", "1870"));
        assert!(yen.contains("JPY 1,870"), "yen have no minor unit, and a thousand is grouped");
        assert!(!yen.contains("1,870.0") && !yen.contains("1870"), "{yen}");
        let dinar = render_html(&sample::in_currency("KWD", "1234.5678"));
        assert!(dinar.contains("KWD 1,234.568"), "dinars have three decimals, rounded half away from zero");
    }

    #[test]
    fn the_page_has_no_scripts_and_no_external_assets() {
        let html = render_html(&sample::invoice());
        assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("src="));
    }
}
