//! The fixed parts of each PDF page: the first page's head (title, status badge, number,
//! dates, issuer, customer and amount), the short head of continuation pages, the footer
//! with page numbers, and the VOID/DRAFT watermark.

use super::canvas::{Canvas, Rgb, Style, INK, MUTED, PAGE_HEIGHT, PAGE_WIDTH, RULE, SOFT};
use super::view::{InvoiceView, PartyView};
use super::wrap::wrap;
use crate::domain::InvoiceStatus;

/// Page margins, in points.
pub(crate) const LEFT: f32 = 50.0;
pub(crate) const RIGHT: f32 = PAGE_WIDTH - 50.0;
pub(crate) const TOP: f32 = PAGE_HEIGHT - 48.0;
/// Content stops here; the footer sits below.
pub(crate) const BOTTOM: f32 = 66.0;

/// The height the head of a continuation page takes.
pub(crate) const CONTINUATION_HEAD: f32 = 32.0;

/// Where the customer and amount columns start.
const SECOND_COLUMN: f32 = 320.0;
const LABEL: Style = Style::bold(7.0, MUTED);

/// Draws the head of the first page; returns the height where the lines table may start.
pub(crate) fn first_page(canvas: &mut Canvas, view: &InvoiceView) -> f32 {
    let title = Style::bold(26.0, INK);
    let baseline = TOP - 22.0;
    canvas.text(LEFT, baseline, title, view.title);
    badge(canvas, LEFT + title.width(view.title) + 12.0, baseline, view);
    let issuer_bottom = issuer(canvas, &view.issuer);
    let mut y = TOP - 58.0;
    for (label, value) in meta_rows(view) {
        canvas.text(LEFT, y, Style::regular(8.5, MUTED), label);
        canvas.text(LEFT + 82.0, y, Style::regular(9.0, INK), value);
        y -= 14.0;
    }
    let top = y.min(issuer_bottom) - 18.0;
    let customer_bottom = customer(canvas, top, &view.customer);
    let amount_bottom = amount(canvas, top, view);
    customer_bottom.min(amount_bottom) - 26.0
}

/// The labelled facts under the title: number, the invoice a credit note cancels, dates.
fn meta_rows(view: &InvoiceView) -> Vec<(&'static str, &str)> {
    let number_label = if view.reverses.is_some() { "Credit note no." } else { "Invoice number" };
    let mut rows = vec![(number_label, view.number.as_str())];
    if let Some(original) = &view.reverses {
        rows.push(("Credits invoice", original));
    }
    rows.push(("Date of issue", &view.issued_on));
    if let Some(due) = &view.due_on {
        rows.push(("Due date", due));
    }
    rows.push(("Billing period", view.period.as_str()));
    if let Some(covers) = view.covers {
        rows.push(("Covers", covers));
    }
    rows.push(("Time zone", &view.timezone));
    rows
}

fn badge(canvas: &mut Canvas, x: f32, baseline: f32, view: &InvoiceView) {
    let (background, foreground) = match view.status {
        InvoiceStatus::Draft => (Rgb(0.933, 0.941, 0.953), Rgb(0.235, 0.259, 0.341)),
        InvoiceStatus::Finalized => (Rgb(0.890, 0.910, 1.0), Rgb(0.184, 0.239, 0.600)),
        InvoiceStatus::Paid => (Rgb(0.851, 0.961, 0.816), Rgb(0.043, 0.365, 0.118)),
        InvoiceStatus::Void => (Rgb(1.0, 0.890, 0.918), Rgb(0.639, 0.027, 0.184)),
    };
    let style = Style::bold(7.5, foreground);
    let label = view.status_label.to_uppercase();
    canvas.fill(x, baseline + 1.0, style.width(&label) + 14.0, 15.0, background);
    canvas.text(x + 7.0, baseline + 6.0, style, &label);
}

/// The issuer, right-aligned in the top corner; returns the lowest baseline used.
fn issuer(canvas: &mut Canvas, issuer: &PartyView) -> f32 {
    let mut y = TOP - 10.0;
    canvas.text_right(RIGHT, y, Style::bold(11.0, INK), &issuer.name);
    let tax_id = issuer.tax_id.as_ref().map(|id| format!("Tax ID {id}"));
    for line in issuer.address.iter().chain(tax_id.as_ref()) {
        y -= 11.5;
        canvas.text_right(RIGHT, y, Style::regular(8.5, MUTED), line);
    }
    y
}

/// "Bill to": name, address, tax id and billing emails; returns the lowest baseline used.
fn customer(canvas: &mut Canvas, top: f32, customer: &PartyView) -> f32 {
    let width = SECOND_COLUMN - LEFT - 20.0;
    canvas.text(LEFT, top, LABEL, "BILL TO");
    let mut y = top - 4.0;
    let mut put = |canvas: &mut Canvas, style: Style, text: &str| {
        for line in wrap(text, style.font, style.size, width) {
            y -= style.size + 3.0;
            canvas.text(LEFT, y, style, &line);
        }
    };
    put(canvas, Style::bold(10.5, INK), &customer.name);
    for line in &customer.address {
        put(canvas, Style::regular(9.0, INK), line);
    }
    if let Some(tax_id) = &customer.tax_id {
        put(canvas, Style::regular(8.5, MUTED), &format!("Tax ID {tax_id}"));
    }
    for email in &customer.emails {
        put(canvas, Style::regular(8.5, MUTED), email);
    }
    y
}

/// The total in a shaded box; returns the box's bottom edge.
fn amount(canvas: &mut Canvas, top: f32, view: &InvoiceView) -> f32 {
    canvas.text(SECOND_COLUMN, top, LABEL, "AMOUNT");
    let bottom = top - 62.0;
    canvas.fill(SECOND_COLUMN, bottom, RIGHT - SECOND_COLUMN, 54.0, SOFT);
    let figure = Style::bold(20.0, INK).fitted(&view.total, RIGHT - SECOND_COLUMN - 2.0 * 14.0);
    canvas.text(SECOND_COLUMN + 14.0, bottom + 28.0, figure, &view.total);
    canvas.text(SECOND_COLUMN + 14.0, bottom + 12.0, Style::regular(8.5, MUTED), &format!("for {}", view.period));
    bottom
}

/// Draws the head of a continuation page; returns the height where the table resumes.
pub(crate) fn continuation_page(canvas: &mut Canvas, view: &InvoiceView) -> f32 {
    let baseline = TOP - 10.0;
    canvas.text(LEFT, baseline, Style::bold(12.0, INK), &format!("{} {}", view.title, view.number));
    canvas.text_right(RIGHT, baseline, Style::regular(8.5, MUTED), &view.issuer.name);
    TOP - CONTINUATION_HEAD
}

/// Draws the footer: who issued which invoice, and "Page 2 of 3".
pub(crate) fn footer(canvas: &mut Canvas, view: &InvoiceView, page: usize, pages: usize) {
    let style = Style::regular(7.5, MUTED);
    canvas.rule(LEFT, RIGHT, 46.0, 0.6, RULE);
    let left = format!(
        "{} · {} {} · Amounts in {} · Dates in {}",
        view.issuer.name, view.title, view.number, view.currency, view.timezone
    );
    canvas.text(LEFT, 34.0, style, &left);
    canvas.text_right(RIGHT, 34.0, style, &format!("Page {page} of {pages}"));
}

/// Draws VOID or DRAFT across the page, under everything drawn after it.
pub(crate) fn watermark(canvas: &mut Canvas, view: &InvoiceView) {
    if let Some(mark) = view.watermark {
        let color = match view.status {
            InvoiceStatus::Void => Rgb(1.0, 0.900, 0.918),
            _ => Rgb(0.935, 0.941, 0.953),
        };
        canvas.text_rotated(PAGE_WIDTH / 2.0, PAGE_HEIGHT / 2.0, 35.0, Style::bold(140.0, color), mark);
    }
}
