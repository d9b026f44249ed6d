//! Invoice renderings (DESIGN §7): the HTML page and the PDF, both drawn in-process from the
//! finalized [`InvoiceDocument`](crate::domain::InvoiceDocument) snapshot and nothing else —
//! no store, no clock, no live tenant data. `view` turns the snapshot into display text once;
//! `html` and `pdf` only lay that text out.

mod canvas;
mod embed;
mod font_program;
pub(crate) mod format;
mod html;
mod kind;
mod layout;
mod masthead;
mod pdf;
#[cfg(test)]
mod sample;
mod shaping;
pub(crate) mod sums;
mod typeface;
mod view;
mod wrap;

pub use html::render_html;
pub use kind::DocumentKind;
pub use pdf::{render_pdf, RenderError};
/// A finalized sample invoice, for other modules' tests.
#[cfg(test)]
pub(crate) use sample::invoice as sample_invoice;
