//! Invoices: billing periods and segments, and the pure draft (lines, subtotal, tax) shared
//! by "amount so far", projections and the billing run. `gather` is the one part that reads
//! the store.

mod document;
mod draft;
mod gather;
mod period;
mod projection;
mod render;

pub use document::{
    CustomerSnapshot, InvoiceDocument, InvoiceStatus, IssuerSnapshot, LineSnapshot, LineType, TierSnapshot,
};
pub use draft::{draft_invoice, DraftError, DraftSegment, InvoiceDraft, SegmentInput};
pub use gather::gather_segments;
pub use period::{segments, BillingPeriod, Segment};
pub use projection::project;
pub use render::{render_html, render_pdf, RenderError};
