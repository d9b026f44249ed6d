//! The tenant billing portal (DESIGN §11): server-rendered HTML pages (askama), no JavaScript
//! needed, every asset served by Tally. Sign-in by a single-use link sent through the outbox,
//! then a server-side session in an `HttpOnly` cookie; a CSRF token on every form.
//!
//! Stage: the HTTP edge, beside `api`. Inputs: browser requests; outputs: HTML, the PDF, a
//! stylesheet. Every read after sign-in goes through the same tenant-scoped calls as the
//! tenant API (`api::find_invoice`, `invoice::current_usage`, `quota::quota_listing`, the
//! store's per-tenant reads), with a tenant-role principal built from the session, so a
//! session never sees another tenant's data. `chart`, `cookie`, `csrf`, `function_costs`,
//! `rate_limit`, `usage_query`, `usage_view` and `view` are pure; nothing imports `portal`
//! but `startup` and `cli`.

mod assets;
mod budgets;
mod chart;
mod context;
mod cookie;
mod csrf;
mod dashboard;
mod error;
mod explain;
mod function_costs;
mod invoices;
mod link;
mod login;
mod login_queue;
mod page;
mod plans;
mod rate_limit;
mod session;
mod usage;
mod usage_query;
mod usage_view;
mod view;

pub use assets::get_portal_css;
pub use budgets::{get_portal_budgets, save_portal_budgets};
pub use context::Portal;
pub use dashboard::get_portal_dashboard;
pub use error::PortalError;
pub use explain::explain_portal_invoice_line;
pub use invoices::{get_portal_invoice, get_portal_invoice_pdf, list_portal_invoices, PortalInvoice};
pub use link::create_portal_link;
pub use login::{finish_portal_login, get_portal_login, logout_portal, request_portal_login};
pub use login_queue::LoginQueue;
pub use plans::get_portal_plans;
pub use session::{PortalSession, SessionForm};
pub use usage::{get_portal_usage, get_portal_usage_csv};
