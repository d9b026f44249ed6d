//! The invoice as an A4 PDF (DESIGN §7: rendered in-process from the snapshot, outside the
//! finalize transaction). Text is shaped and set in the embedded fonts (`typeface`), each
//! embedded as the subset of glyphs the document draws; page content and font files are
//! deflate-compressed. CPU-bound: callers on the async runtime run it through
//! `spawn_blocking_with_tracing`.

use pdf_writer::{Filter, Finish, Name, Pdf, Rect, Ref, TextStr};

use super::canvas::{Canvas, PAGE_HEIGHT, PAGE_WIDTH};
use super::embed::{resource_name, write_fonts, EmbedError, UsedGlyphs};
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
    /// An embedded font could not be cut down to the glyphs drawn (a defect, not bad input).
    #[error(transparent)]
    Font(#[from] EmbedError),
}

/// Object numbers of the document-wide objects; pages and their content streams follow, then
/// the fonts.
const CATALOG: Ref = Ref::new(1);
const PAGE_TREE: Ref = Ref::new(2);
const INFO: Ref = Ref::new(3);
const FIRST_PAGE_OBJECT: i32 = 4;

/// Renders `doc` — the invoice, or as `kind` says its credit note — as an A4 PDF with the same content as [`render_html`](crate::invoice::render_html):
/// issuer and customer, number, status (and a VOID watermark when void), dates in the
/// customer's time zone, lines with tier breakdown, subtotal, tax, credits and total. Long
/// invoices continue on further pages, each with the table header and "Page n of m".
///
/// Names print in their own script (Latin, Greek, Cyrillic, Hebrew, Arabic, Devanagari,
/// Bengali, Tamil, Thai, Armenian, Georgian, Chinese, Japanese, Korean), right to left where
/// they read so; a character no embedded font has prints as a missing-glyph box.
///
/// # Errors
/// [`RenderError::TooLarge`] when the pages cannot be numbered within a PDF (hundreds of
/// millions of pages; no real invoice); [`RenderError::Font`] if an embedded font cannot be
/// subset (a defect of the embedded files).
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
    let (contents, used): (Vec<Vec<u8>>, Vec<UsedGlyphs>) = pages.into_iter().map(Canvas::finish).unzip();
    let used = used.into_iter().fold(UsedGlyphs::default(), |mut all, page| {
        all.merge(page);
        all
    });
    let mut pdf = Pdf::new();
    let first_font = refs.last().map_or(FIRST_PAGE_OBJECT, |(_, content)| content.get() + 1);
    let fonts = write_fonts(&mut pdf, &used, first_font)?;
    pdf.catalog(CATALOG).pages(PAGE_TREE);
    let page_count = i32::try_from(count).map_err(|_| RenderError::TooLarge { pages: count })?;
    pdf.pages(PAGE_TREE).kids(refs.iter().map(|(page, _)| *page)).count(page_count);
    for ((page_ref, content_ref), content) in refs.into_iter().zip(contents) {
        let mut page = pdf.page(page_ref);
        page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT)).parent(PAGE_TREE).contents(content_ref);
        let mut resources = page.resources();
        let mut page_fonts = resources.fonts();
        for (face, font_ref) in &fonts {
            page_fonts.pair(Name(resource_name(*face).as_bytes()), *font_ref);
        }
        page_fonts.finish();
        resources.finish();
        page.finish();
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&content, 6);
        pdf.stream(content_ref, &compressed).filter(Filter::FlateDecode);
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
        for expected in ["INV-2026-000123", "Tally Cloud Ltd", "Acme Functions Inc.", "USD 27.32", "Tax (8.875%)"] {
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
        assert!(text.contains("USD 27.32"), "the total ends the last page");
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
        assert!(yen.contains("JPY 1,870") && !yen.contains("1,870.0") && !yen.contains("1870"), "{yen}");
        let (_, dinar) =
            extract(&render_pdf(&sample::in_currency("KWD", "1234.5678"), &DocumentKind::Invoice).unwrap());
        assert!(dinar.contains("KWD 1,234.568"), "{dinar}");
    }

    #[test]
    fn a_void_invoice_is_marked_void_on_every_page() {
        let mut doc = sample::with_lines(60);
        doc.status = InvoiceStatus::Void;
        let (pages, text) = extract(&render_pdf(&doc, &DocumentKind::Invoice).unwrap());
        assert!(pages > 1);
        assert_eq!(text.matches("VOID").count(), pages + 1, "a watermark on each page and the badge:\n{text}");
    }

    /// The text of every page as a reader that honours `/ActualText` gives it (as copying,
    /// searching and screen readers do): a marked span's actual text instead of its glyphs'.
    fn read_as_written(pdf: &[u8]) -> String {
        let parsed = lopdf::Document::load_mem(pdf).expect("the PDF parses");
        let mut text = String::new();
        for page in parsed.get_pages().into_values() {
            let fonts = parsed.get_page_fonts(page).expect("page fonts");
            let encodings: std::collections::BTreeMap<Vec<u8>, lopdf::Encoding> = fonts
                .into_iter()
                .map(|(name, font)| (name, font.get_font_encoding(&parsed).expect("a font encoding")))
                .collect();
            let content = lopdf::content::Content::decode(&parsed.get_page_content(page).expect("content"))
                .expect("the content decodes");
            let (mut font, mut spans) = (Vec::new(), Vec::<bool>::new());
            for operation in &content.operations {
                let operand = |at: usize| operation.operands.get(at).expect("an operand");
                match operation.operator.as_str() {
                    "Tf" => font = operand(0).as_name().expect("a font name").to_vec(),
                    "BDC" => {
                        let actual = operand(1).as_dict().ok().and_then(|props| props.get(b"ActualText").ok());
                        if let Some(actual) = actual {
                            text.push_str(&lopdf::decode_text_string(actual).expect("actual text"));
                        }
                        spans.push(actual.is_some());
                    }
                    "EMC" => drop(spans.pop()),
                    "Tj" if !spans.contains(&true) => {
                        let bytes = operand(0).as_str().expect("a string");
                        text.push_str(&lopdf::Document::decode_text(&encodings[&font], bytes).expect("decodes"));
                    }
                    "ET" => text.push('\n'),
                    _ => {}
                }
            }
        }
        text
    }

    /// The base names of the fonts a PDF embeds, each with the size of its font file.
    fn embedded_fonts(pdf: &[u8]) -> Vec<(String, usize)> {
        let parsed = lopdf::Document::load_mem(pdf).expect("the PDF parses");
        let mut fonts: Vec<(String, usize)> = parsed
            .objects
            .values()
            .filter_map(|object| object.as_dict().ok())
            .filter(|dict| dict.get(b"Type").and_then(|t| t.as_name()).ok() == Some(b"FontDescriptor".as_slice()))
            .map(|descriptor| {
                let name = descriptor.get(b"FontName").and_then(|n| n.as_name()).expect("a font name");
                let file = descriptor.get(b"FontFile2").and_then(|f| f.as_reference()).expect("an embedded font file");
                let stream = parsed.get_object(file).and_then(|o| o.as_stream()).expect("a font stream");
                (String::from_utf8_lossy(name).into_owned(), stream.content.len())
            })
            .collect();
        fonts.sort();
        fonts
    }

    #[test]
    fn names_in_other_scripts_print_in_their_own_letters_and_copy_out_as_written() {
        let mut doc = sample::invoice();
        doc.content.customer.name = "株式会社 Müller (<script>)".to_owned();
        doc.content.issuer.name = "ООО «Ромашка» · Ωμέγα".to_owned();
        doc.content.lines[0].description = "मुंबई सेवाएँ — บริษัท ไทย".to_owned();
        let text = read_as_written(&render_pdf(&doc, &DocumentKind::Invoice).unwrap());
        for expected in ["株式会社 Müller (<script>)", "ООО «Ромашка» · Ωμέγα", "मुंबई सेवाएँ", "บริษัท ไทย"]
        {
            assert!(text.contains(expected), "the PDF text should contain {expected:?}:\n{text}");
        }
    }

    #[test]
    fn hebrew_and_arabic_names_are_drawn_right_to_left_letter_by_letter() {
        let mut doc = sample::invoice();
        doc.content.customer.name = "שלום בע״מ".to_owned();
        doc.content.issuer.name = "شركة الأمل".to_owned();
        let (_, drawn) = extract(&render_pdf(&doc, &DocumentKind::Invoice).unwrap());
        for name in ["שלום בע״מ", "شركة الأمل"] {
            // Readers put right-to-left text back in reading order themselves (`pdftotext`
            // prints these names as written).
            let leftwards: String = name.chars().rev().collect();
            assert!(drawn.contains(&leftwards), "glyph by glyph {name} runs leftwards:\n{drawn}");
        }
    }

    #[test]
    fn only_the_faces_drawn_are_embedded_and_each_holds_only_the_glyphs_drawn() {
        let latin = embedded_fonts(&render_pdf(&sample::invoice(), &DocumentKind::Invoice).unwrap());
        let mut names: Vec<&str> =
            latin.iter().map(|(name, _)| name.split_once('+').expect("a subset tag").1).collect();
        names.sort_unstable();
        assert_eq!(names, vec!["NotoSans-Bold", "NotoSans-Regular"], "{latin:?}");

        let mut doc = sample::invoice();
        doc.content.customer.name = "株式会社サンプル".to_owned();
        let pdf = render_pdf(&doc, &DocumentKind::Invoice).unwrap();
        let fonts = embedded_fonts(&pdf);
        let (_, cjk) = fonts.iter().find(|(name, _)| name.ends_with("+DroidSansFallbackFull")).expect("the CJK face");
        assert!(*cjk < 100_000, "8 glyphs of a 4 MB face embed small: {cjk} bytes");
        assert!(pdf.len() < 200_000, "a one-page invoice stays small: {} bytes", pdf.len());
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
        let mut international = sample::invoice();
        international.content.customer.name = "株式会社サンプル (شركة الأمل) שלום בע״מ".to_owned();
        international.content.issuer.name = "ООО «Ромашка» · Ωμέγα · मुंबई सेवाएँ · บริษัท ไทย".to_owned();
        let samples =
            [("", sample::invoice()), ("-void", void), ("-long", sample::with_lines(40)), ("-scripts", international)];
        for (name, doc) in samples {
            std::fs::write(
                dir.join(format!("sample-invoice{name}.pdf")),
                render_pdf(&doc, &DocumentKind::Invoice).unwrap(),
            )
            .unwrap();
            std::fs::write(dir.join(format!("sample-invoice{name}.html")), crate::invoice::render_html(&doc)).unwrap();
        }
    }
}
