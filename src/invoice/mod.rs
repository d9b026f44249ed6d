//! Invoices: billing periods and segments, and the pure draft (lines, subtotal, tax) shared
//! by "amount so far", projections and the billing run. `gather` is the one part that reads
//! the store.

mod adjust;
mod assemble;
mod billing_run;
mod credits;
mod draft;
mod gather;
mod lifecycle;
mod lines;
mod period;
mod projection;
mod render;
mod schedule;

pub use adjust::{adjustments, Adjustment};
pub use assemble::{assemble_invoice, InvoiceParts};
pub use billing_run::{BillingRun, IssuedInvoice, RunReport};
pub use credits::{allocate_credits, balances, CreditBalance};
pub use draft::{draft_invoice, DraftError, DraftSegment, InvoiceDraft, SegmentInput};
pub use gather::{gather_segments, segment_inputs};
pub use lifecycle::{transition, InvalidTransition, InvoiceAction};
pub use lines::{line_key, segment_lines, KeyedLine};
pub use period::{period_containing, segments, Segment};
pub use projection::project;
pub use render::{render_html, render_pdf, RenderError};
pub use schedule::due_periods;
