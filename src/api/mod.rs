//! Admin and tenant REST routes (tenants, usage, plans, quotes, subscriptions, billing,
//! invoices, credits), and the HTTP plumbing they share:
//! idempotency, JSON parsing, and our error shape for actix's own extractor errors.

mod billing;
mod credits;
mod current_usage;
mod explain;
mod idempotency;
mod invoice_render;
mod invoice_wire;
mod invoices;
mod json;
mod money_wire;
mod plan_wire;
mod plans;
mod plumbing;
mod subscription;
mod tenant_wire;
mod tenants;
mod usage;

pub use billing::{run_billing, Biller, BillingConfig};
pub use credits::{grant_credit, list_credits};
pub use current_usage::get_current_usage;
pub use explain::explain_invoice_line;
pub use idempotency::{run_idempotent, JsonReply};
pub use invoice_render::{get_invoice_html, get_invoice_pdf};
pub use invoices::{find_invoice, get_invoice, list_invoices, mark_invoice_paid, void_invoice};
pub use json::{parse_json, JsonBody};
pub use plans::{create_quote, get_plan, list_plans, quote_usage};
pub use plumbing::{not_found, path_config, query_config, resource};
pub use subscription::{change_subscription, plan_change};
pub use tenants::{create_tenant, get_tenant, list_tenants, update_tenant};
pub use usage::get_usage;

/// A store failure a handler cannot do anything about: 503 when the database is
/// unreachable (retry), else logged and answered 500.
fn unexpected(error: crate::store::DbError) -> crate::error::ApiError {
    error.into()
}
