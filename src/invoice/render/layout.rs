//! Flows an invoice onto A4 pages: the first page's head, then the lines table row by row
//! (a line and its tier rows stay together when they fit on one page; the table header is
//! repeated on every page), then the totals, then a footer with page numbers on each page.

use super::canvas::{Canvas, Rgb, Style, INK, MUTED, RULE};
use super::masthead::{self, BOTTOM, LEFT, RIGHT, TOP};
use super::view::{InvoiceView, LineView, TierView};
use super::wrap::wrap;

/// Right edges of the number columns, and the width the description may take.
const QUANTITY_RIGHT: f32 = 332.0;
const PRICE_RIGHT: f32 = 452.0;
const DESCRIPTION_WIDTH: f32 = 200.0;

const DESCRIPTION: Style = Style::bold(9.5, INK);
const NUMBER: Style = Style::regular(9.5, INK);
const DETAIL: Style = Style::regular(8.0, MUTED);
const TIER: Style = Style::regular(7.5, MUTED);
const TAG: Style = Style::bold(6.5, Rgb(0.478, 0.290, 0.0));
const TAG_FILL: Rgb = Rgb(1.0, 0.945, 0.839);

/// Leading of the rows, in points.
const DESCRIPTION_STEP: f32 = 12.0;
const DETAIL_STEP: f32 = 10.5;
const TIER_STEP: f32 = 10.5;
const ROW_PADDING: f32 = 8.0;
const SUM_STEP: f32 = 14.0;
/// The least space between two texts on a row, in points.
const GAP: f32 = 6.0;

/// The pages of `view`, ready to be written.
pub(crate) fn lay_out(view: &InvoiceView) -> Vec<Canvas> {
    let mut first = Canvas::new();
    masthead::watermark(&mut first, view);
    let y = masthead::first_page(&mut first, view);
    let mut flow = Flow { view, done: Vec::new(), page: first, y };
    flow.table_header();
    for line in &view.lines {
        flow.line(line);
    }
    flow.totals();
    let mut pages = flow.done;
    pages.push(flow.page);
    let count = pages.len();
    for (index, page) in pages.iter_mut().enumerate() {
        masthead::footer(page, view, index + 1, count);
    }
    pages
}

/// The room a continuation page has for table rows.
const FRESH_PAGE_ROOM: f32 = TOP - masthead::CONTINUATION_HEAD - TABLE_HEADER - BOTTOM;
const TABLE_HEADER: f32 = 16.0;

/// The full pages, the page being drawn and the height reached on it.
struct Flow<'a> {
    view: &'a InvoiceView,
    done: Vec<Canvas>,
    page: Canvas,
    y: f32,
}

/// A line's description wrapped to fit beside its tag.
struct LineText {
    description: Vec<String>,
    height: f32,
}

impl Flow<'_> {
    /// Starts a new page unless `height` still fits on this one.
    fn make_room(&mut self, height: f32) {
        if self.y - height >= BOTTOM {
            return;
        }
        let mut next = Canvas::new();
        masthead::watermark(&mut next, self.view);
        self.y = masthead::continuation_page(&mut next, self.view);
        self.done.push(std::mem::replace(&mut self.page, next));
        self.table_header();
    }

    fn table_header(&mut self) {
        let (y, currency) = (self.y - 10.0, self.view.currency);
        let style = Style::bold(7.0, MUTED);
        let canvas = &mut self.page;
        canvas.text(LEFT, y, style, "DESCRIPTION");
        canvas.text_right(QUANTITY_RIGHT, y, style, "QUANTITY");
        canvas.text_right(PRICE_RIGHT, y, style, "UNIT PRICE");
        canvas.text_right(RIGHT, y, style, &format!("AMOUNT ({currency})"));
        canvas.rule(LEFT, RIGHT, self.y - TABLE_HEADER, 1.0, INK);
        self.y -= TABLE_HEADER;
    }

    fn line(&mut self, line: &LineView) {
        let text = line_text(line);
        let main_row = ROW_PADDING + text.height;
        let whole = main_row + line.tiers.iter().map(tier_height).sum::<f32>() + ROW_PADDING;
        // Keep a line with its tiers unless they would not fit even on a page of their own.
        if whole <= FRESH_PAGE_ROOM {
            self.make_room(whole);
        }
        self.make_room(main_row);
        self.line_row(line, &text);
        for tier in &line.tiers {
            self.make_room(tier_height(tier));
            self.tier_row(tier);
        }
        self.y -= ROW_PADDING;
        self.page.rule(LEFT, RIGHT, self.y, 0.6, RULE);
    }

    fn line_row(&mut self, line: &LineView, text: &LineText) {
        let top = self.y - ROW_PADDING;
        let mut y = top;
        let canvas = &mut self.page;
        for row in &text.description {
            y -= DESCRIPTION_STEP;
            canvas.text(LEFT, y, DESCRIPTION, row);
        }
        if let (Some(tag), Some(last)) = (line.tag, text.description.last()) {
            let x = LEFT + DESCRIPTION.width(last) + 6.0;
            let label = tag.to_uppercase();
            canvas.fill(x, y - 2.5, TAG.width(&label) + 8.0, 10.0, TAG_FILL);
            canvas.text(x + 4.0, y, TAG, &label);
        }
        let first_baseline = top - DESCRIPTION_STEP;
        canvas.text_right(QUANTITY_RIGHT, first_baseline, NUMBER, &line.quantity);
        canvas.text_right(RIGHT, first_baseline, Style::bold(9.5, INK), &line.amount);
        for detail in &line.details {
            y -= DETAIL_STEP;
            canvas.text(LEFT, y, DETAIL, detail);
        }
        self.y = top - text.height;
    }

    fn tier_row(&mut self, tier: &TierView) {
        let y = self.y - TIER_STEP;
        let canvas = &mut self.page;
        canvas.text(LEFT + 12.0, y, TIER, &tier.range);
        canvas.text_right(QUANTITY_RIGHT, y, TIER, &tier.units);
        canvas.text_right(PRICE_RIGHT, y, TIER, &tier.price);
        canvas.text_right(RIGHT, y, TIER.fitted(&tier.amount, RIGHT - PRICE_RIGHT - GAP), &tier.amount);
        if let Some(fee) = &tier.flat_fee {
            canvas.text_right(PRICE_RIGHT, y - TIER_STEP, TIER, fee);
        }
        self.y -= tier_height(tier);
    }

    /// Subtotal, tax, credits and the total, right-aligned under the table.
    fn totals(&mut self) {
        let height: f32 = self.view.sums.iter().map(|_| SUM_STEP).sum::<f32>() + 40.0;
        self.make_room(height);
        let left = RIGHT - 215.0;
        let mut y = self.y - 8.0;
        let view = self.view;
        let canvas = &mut self.page;
        // Amounts right-aligned, shrunk only if one would reach its label.
        let beside = |label: &str, style: Style| RIGHT - left - style.width(label) - GAP;
        for sum in &view.sums {
            y -= SUM_STEP;
            let label = Style::regular(9.0, MUTED);
            canvas.text(left, y, label, &sum.label);
            canvas.text_right(RIGHT, y, NUMBER.fitted(&sum.amount, beside(&sum.label, label)), &sum.amount);
        }
        canvas.rule(left, RIGHT, y - 8.0, 1.0, INK);
        y -= 24.0;
        let total = Style::bold(11.0, INK);
        canvas.text(left, y, total, "Total");
        canvas.text_right(RIGHT, y, total.fitted(&view.total, beside("Total", total)), &view.total);
        self.y = y - 8.0;
    }
}

/// Wraps the description (leaving room for the tag) and measures the main row.
fn line_text(line: &LineView) -> LineText {
    let tag_room = line.tag.map_or(0.0, |tag| TAG.width(&tag.to_uppercase()) + 16.0);
    let description = wrap(&line.description, DESCRIPTION.font, DESCRIPTION.size, DESCRIPTION_WIDTH - tag_room);
    let height = description.iter().map(|_| DESCRIPTION_STEP).sum::<f32>()
        + line.details.iter().map(|_| DETAIL_STEP).sum::<f32>();
    LineText { description, height }
}

fn tier_height(tier: &TierView) -> f32 {
    if tier.flat_fee.is_some() {
        2.0 * TIER_STEP
    } else {
        TIER_STEP
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice::render::kind::DocumentKind;
    use crate::invoice::render::sample;

    /// Every upright text of every page of `doc` printed as `kind`, checked to stay inside the
    /// margins and clear of every other text.
    fn assert_laid_out_apart(doc: &crate::domain::InvoiceDocument, kind: &DocumentKind) -> Vec<String> {
        let pages = lay_out(&InvoiceView::of(doc, kind));
        let mut texts = Vec::new();
        for page in &pages {
            let placed = page.placed();
            for (i, a) in placed.iter().enumerate() {
                assert!(a.x >= LEFT - 0.01 && a.x + a.width <= RIGHT + 0.01, "{a:?} leaves the margins");
                for b in &placed[i + 1..] {
                    assert!(!a.overlaps(b), "{kind:?}: {:?} runs into {:?}", a, b);
                }
            }
            texts.extend(placed.iter().map(|p| p.text.clone()));
        }
        texts
    }

    #[test]
    fn the_sample_invoice_and_its_credit_note_draw_no_text_over_another() {
        let note = DocumentKind::CreditNote {
            number: "CN-2026-000007".into(),
            issued_at: sample::invoice().content.issued_at,
        };
        for kind in [DocumentKind::Invoice, note] {
            assert_laid_out_apart(&sample::invoice(), &kind);
        }
    }

    #[test]
    fn grouped_amounts_near_a_quadrillion_fit_their_columns_in_yen_and_dinars() {
        let note = DocumentKind::CreditNote {
            number: "CN-2026-000007".into(),
            issued_at: sample::invoice().content.issued_at,
        };
        for code in ["JPY", "KWD"] {
            for kind in [DocumentKind::Invoice, note.clone()] {
                let texts = assert_laid_out_apart(&sample::near_a_quadrillion(code), &kind);
                let total = if kind == DocumentKind::Invoice { "819,600,000,000,000" } else { "-819,600,000,000,000" };
                let total = format!("{code} {total}{}", if code == "KWD" { ".000" } else { "" });
                assert_eq!(
                    texts.iter().filter(|t| **t == total).count(),
                    2,
                    "{code}: masthead and total row, {texts:?}"
                );
            }
        }
        let texts = assert_laid_out_apart(&sample::near_a_quadrillion("KWD"), &DocumentKind::Invoice);
        assert!(
            texts.iter().any(|t| t == "250,000,500,000,000.00005"),
            "an exact tier amount groups its whole part only"
        );
    }
}
