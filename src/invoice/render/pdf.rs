//! The invoice as an A4 PDF (DESIGN §7: rendered in-process from the snapshot, outside the
//! finalize transaction). Text is set in the PDF base-14 Helvetica fonts, so no font file is
//! read or embedded; page content is deflate-compressed. CPU-bound: callers on the async
//! runtime run it through `spawn_blocking_with_tracing`.

use pdf_writer::{Filter, Finish, Name, Pdf, Rect, Ref, TextStr};

use super::canvas::{Canvas, PAGE_HEIGHT, PAGE_WIDTH};
use super::helvetica::Font;
use super::kind::DocumentKind;
use super::layout::lay_out;
use super::view::InvoiceView;
use crate::domain::InvoiceDocument;

/// Why an invoice could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The invoice needs more pages than one PDF file can number objects for.
    #[error("invoice too large to render: {pages} pages")]
    TooLarge {
        /// Pages the layout needed.
        pages: usize,
    },
}

/// Object numbers of the document-wide objects; pages and their content streams follow.
const CATALOG: Ref = Ref::new(1);
const PAGE_TREE: Ref = Ref::new(2);
const INFO: Ref = Ref::new(3);
const FONTS: [(Font, Ref); 2] = [(Font::Regular, Ref::new(4)), (Font::Bold, Ref::new(5))];
const FIRST_PAGE_OBJECT: i32 = 6;

/// Renders `doc` — the invoice, or as `kind` says its credit note — as an A4 PDF with the same content as [`render_html`](crate::invoice::render_html):
/// issuer and customer, number, status (and a VOID watermark when void), dates in the
/// customer's time zone, lines with tier breakdown, subtotal, tax, credits and total. Long
/// invoices continue on further pages, each with the table header and "Page n of m".
///
/// Text outside WinAnsi (Latin-1 and common punctuation) prints as `?`: the base-14 fonts
/// cover nothing else.
///
/// # Errors
/// [`RenderError::TooLarge`] when the pages cannot be numbered within a PDF (hundreds of
/// millions of pages; no real invoice).
pub fn render_pdf(doc: &InvoiceDocument, kind: &DocumentKind) -> Result<Vec<u8>, RenderError> {
    let view = InvoiceView::of(doc, kind);
    let pages = lay_out(&view);
    write(&view, pages)
}

/// The object numbers of one page and of its content stream.
fn page_refs(index: usize, pages: usize) -> Result<(Ref, Ref), RenderError> {
    let too_large = || RenderError::TooLarge { pages };
    let offset = index.checked_mul(2).and_then(|n| i32::try_from(n).ok()).ok_or_else(too_large)?;
    let page = FIRST_PAGE_OBJECT.checked_add(offset).ok_or_else(too_large)?;
    let content = page.checked_add(1).ok_or_else(too_large)?;
    Ok((Ref::new(page), Ref::new(content)))
}

fn write(view: &InvoiceView, pages: Vec<Canvas>) -> Result<Vec<u8>, RenderError> {
    let count = pages.len();
    let refs = (0..count).map(|index| page_refs(index, count)).collect::<Result<Vec<_>, _>>()?;
    let mut pdf = Pdf::new();
    pdf.catalog(CATALOG).pages(PAGE_TREE);
    let page_count = i32::try_from(count).map_err(|_| RenderError::TooLarge { pages: count })?;
    pdf.pages(PAGE_TREE).kids(refs.iter().map(|(page, _)| *page)).count(page_count);
    for ((page_ref, content_ref), canvas) in refs.into_iter().zip(pages) {
        let mut page = pdf.page(page_ref);
        page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT)).parent(PAGE_TREE).contents(content_ref);
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        for (font, font_ref) in FONTS {
            fonts.pair(Name(font.resource_name()), font_ref);
        }
        fonts.finish();
        resources.finish();
        page.finish();
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&canvas.finish(), 6);
        pdf.stream(content_ref, &compressed).filter(Filter::FlateDecode);
    }
    for (font, font_ref) in FONTS {
        pdf.type1_font(font_ref).base_font(Name(font.base_name())).encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    let mut info = pdf.document_info(INFO);
    info.title(TextStr(&format!("{} {}", view.title, view.number)));
    info.author(TextStr(&view.issuer.name));
    info.subject(TextStr(&format!("{} for {}", view.customer.name, view.period)));
    info.creator(TextStr("Tally"));
    info.finish();
    Ok(pdf.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::InvoiceStatus;
    use crate::invoice::render::sample;

    /// The text of every page, as a PDF reader extracts it.
    fn extract(pdf: &[u8]) -> (usize, String) {
        let parsed = lopdf::Document::load_mem(pdf).expect("the PDF parses");
        let pages: Vec<u32> = parsed.get_pages().keys().copied().collect();
        let text = parsed.extract_text(&pages).expect("the text extracts");
        (pages.len(), text)
    }

    #[test]
    fn the_pdf_parses_back_and_shows_the_number_the_parties_and_the_total() {
        let (pages, text) = extract(&render_pdf(&sample::invoice(), &DocumentKind::Invoice).unwrap());
        assert_eq!(pages, 1);
        for expected in ["INV-2026-000123", "Tally Cloud Ltd", "Acme Functions Inc.", "27.32 USD", "Tax (8.875%)"] {
            assert!(text.contains(expected), "the PDF text should contain {expected:?}:\n{text}");
        }
    }

    #[test]
    fn the_pdf_shows_tier_rows_and_the_period_in_the_customers_time_zone() {
        let (_, text) = extract(&render_pdf(&sample::invoice(), &DocumentKind::Invoice).unwrap());
        for expected in ["1 Mar 2026 – 31 Mar 2026", "Above 1,000,000", "× 0.0000166667", "8.33335", "ADJUSTMENT"] {
            assert!(text.contains(expected), "the PDF text should contain {expected:?}:\n{text}");
        }
    }

    #[test]
    fn a_two_hundred_line_invoice_continues_over_pages_that_all_parse() {
        let pdf = render_pdf(&sample::with_lines(200), &DocumentKind::Invoice).unwrap();
        let (pages, text) = extract(&pdf);
        assert!(pages > 5, "200 lines with 3 tiers each take several pages, got {pages}");
        assert!(text.contains(&format!("Page {pages} of {pages}")));
        assert!(text.contains("CPU cycles, function #1") && text.contains("CPU cycles, function #200"));
        assert!(text.contains("27.32 USD"), "the total ends the last page");
    }

    #[test]
    fn a_line_with_more_tiers_than_a_page_holds_continues_on_the_next_page() {
        let mut doc = sample::with_lines(1);
        let tier = doc.content.lines[0].tiers[0].clone();
        doc.content.lines[0].tiers = vec![tier; 120];
        let (pages, text) = extract(&render_pdf(&doc, &DocumentKind::Invoice).unwrap());
        assert!(pages >= 2, "120 tier rows do not fit one page");
        assert_eq!(text.matches("0 – 1,000,000").count(), 120, "every tier row is drawn once");
    }

    #[test]
    fn amounts_use_the_precision_of_the_currency() {
        let (_, yen) = extract(&render_pdf(&sample::in_currency("JPY", "1870"), &DocumentKind::Invoice).unwrap());
        assert!(yen.contains("1870 JPY") && !yen.contains("1870.0"), "{yen}");
        let (_, dinar) = extract(&render_pdf(&sample::in_currency("KWD", "1.234"), &DocumentKind::Invoice).unwrap());
        assert!(dinar.contains("1.234 KWD"), "{dinar}");
    }

    #[test]
    fn a_void_invoice_is_marked_void_on_every_page() {
        let mut doc = sample::with_lines(60);
        doc.status = InvoiceStatus::Void;
        let (pages, text) = extract(&render_pdf(&doc, &DocumentKind::Invoice).unwrap());
        assert!(pages > 1);
        assert_eq!(text.matches("VOID").count(), pages + 1, "a watermark on each page and the badge:\n{text}");
    }

    #[test]
    fn text_the_base_fonts_lack_prints_as_question_marks_without_failing() {
        let mut doc = sample::invoice();
        doc.content.customer.name = "株式会社 Müller (<script>)".to_owned();
        let (_, text) = extract(&render_pdf(&doc, &DocumentKind::Invoice).unwrap());
        assert!(text.contains("???? Müller (<script>)"), "{text}");
    }

    /// Writes the sample invoice for a visual check:
    /// `cargo test --lib render::pdf -- --ignored`, then open `sample-invoice.pdf` and
    /// `sample-invoice.html` in the temporary directory (`/tmp`).
    #[test]
    #[ignore = "writes files for a visual check"]
    fn writes_the_sample_invoice_to_the_temporary_directory() {
        let dir = std::env::temp_dir();
        let mut void = sample::invoice();
        void.status = InvoiceStatus::Void;
        for (name, doc) in [("", sample::invoice()), ("-void", void), ("-long", sample::with_lines(40))] {
            std::fs::write(
                dir.join(format!("sample-invoice{name}.pdf")),
                render_pdf(&doc, &DocumentKind::Invoice).unwrap(),
            )
            .unwrap();
            std::fs::write(dir.join(format!("sample-invoice{name}.html")), crate::invoice::render_html(&doc)).unwrap();
        }
    }
}
