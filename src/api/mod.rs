//! Admin and tenant REST routes (tenants, usage, plans, quotes, subscriptions, billing runs,
//! invoices, credits, quotas, budgets, entitlements, the audit log) and their wire formats.
//!
//! Stage: the HTTP edge, on top. Inputs: requests (through `auth` extractors and `http`
//! plumbing); outputs: JSON, HTML and PDF answers. Each handler parses, calls one service
//! (`invoice`, `store`, `rate`) and answers. Nothing below may import `api`; `ingest`, the
//! other edge, must not either.

mod audit;
mod billing;
mod credits;
mod current_usage;
mod entitlements;
mod explain;
mod invoice_render;
mod invoice_wire;
mod invoices;
mod lookup;
mod money_wire;
mod outbox;
mod page;
mod plan_wire;
mod plans;
mod quota_wire;
mod quotas;
mod subscription;
mod tax_rate_wire;
mod tenant_wire;
mod tenants;
mod unbilled;
mod usage;
mod webhooks;

pub use audit::list_audit_events;
pub use billing::{get_billing_run, run_billing};
pub use credits::{grant_credit, list_credits, revoke_credit};
pub use current_usage::get_current_usage;
pub use entitlements::get_entitlements;
pub use explain::{explain_invoice_line, explain_line, invoice_tenant, LineExplanation};
pub use invoice_render::{get_invoice_html, get_invoice_pdf};
pub use invoices::{get_invoice, list_invoices, mark_invoice_paid, void_invoice};
pub use lookup::{find_invoice, ReadableInvoice, ReadableTenant};
pub use outbox::{list_outbox, retry_outbox};
pub use plans::{create_quote, get_plan, list_plans, quote_usage};
pub use quotas::{get_budgets, get_quotas, put_budgets, put_quotas};
pub use subscription::change_subscription;
pub use tenants::{create_tenant, get_tenant, list_tenants, update_tenant};
pub use unbilled::list_unbilled;
pub use usage::get_usage;
pub use webhooks::{create_webhook, delete_webhook, list_webhooks};
