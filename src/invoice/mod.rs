//! Invoices: billing periods and segments, the pure draft (lines, subtotal, tax) shared by
//! "amount so far", projections and the billing run, and the services built on them.
//!
//! Stage: `store → aggregate → rate → invoice`. Pure parts (`draft`, `lines`, `period`,
//! `schedule`, `projection`, `assemble`, `lifecycle`, `render`) take values and return values.
//! The services — `billing_run` and `biller` (billing), `current_usage`, `subscription` — and
//! `gather` read and write through the store. Inputs: domain values, the plan catalog, "now"
//! passed in. Outputs: drafts, invoices, reports, and this module's own error enums. Must not
//! import `api`, `http`, `ingest`, `auth` or `startup` (the edges convert its errors).

mod adjust;
mod assemble;
mod biller;
mod billing_jobs;
mod billing_page;
mod billing_run;
mod credits;
mod current_usage;
mod draft;
mod gather;
mod lifecycle;
mod lines;
mod note;
mod overdue;
mod period;
mod projection;
mod render;
mod schedule;
mod subscription;
mod unbilled;
mod uncovered_page;
mod unit_usage;

pub use adjust::{adjustments, rerated_amount, Adjustment};
pub use assemble::{assemble_invoice, InvoiceParts};
pub use biller::{AsOfError, Biller, BillingConfig, InvoiceIssued, MAX_AS_OF_AHEAD_MONTHS};
pub use billing_jobs::{BillingJobs, ABANDONED_AFTER, HEARTBEAT_EVERY};
pub use billing_run::{BillingRun, IssuedInvoice, RunReport, UnbilledPeriod, BILLING_PAGE};
pub use credits::{allocate_credits, balances, credit_on_hand, CreditBalance, CreditOnHand};
pub use current_usage::{current_usage, period_usage, usage_of_rollups, CurrentUsage, CurrentUsageError, Projection};
pub use draft::{draft_invoice, DraftError, DraftSegment, InvoiceDraft, SegmentInput};
pub use gather::segment_inputs;
pub use lifecycle::{transition, InvalidTransition, InvoiceAction};
pub use lines::{segment_lines, KeyedLine};
pub use note::unbilled_note;
pub use period::{period_containing, period_units, segments, Segment};
pub use projection::project;
/// Text forms of amounts, quantities and dates, shared with the emails (`notify`).
pub(crate) use render::format as display_format;
#[cfg(test)]
pub(crate) use render::sample_invoice;
pub(crate) use render::sums::sums as document_sums;
pub use render::{render_html, render_pdf, DocumentKind, RenderError};
pub use schedule::{carrier_periods, due_periods, uncovered_periods};
pub use subscription::{
    apply_tenant_patch, change_plan, check_credit_currency, known_plan, onboard_tenant, plan_change, SubscriptionError,
};
pub use unbilled::{covered_until, unbilled_usage, Unbilled, UnbilledReason};
