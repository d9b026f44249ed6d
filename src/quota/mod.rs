//! Quotas, budgets, alerts and entitlements (DESIGN §9).
//!
//! Stage: on top of `invoice` (period usage and spend are drafted by the same code as the
//! invoice), beside the billing services. `policy`, `periods` and `alert_event` are pure;
//! `manage` (setting quota sets and budgets), `evaluator` (raising alerts, a page of tenants
//! read at once by `page_facts` and `page_usage`, each tenant's findings by
//! `tenant_evaluation`), `worker` (its schedule inside `tally
//! serve`), `change_feed` (reporting the tenants this process changed, for every evaluator) and
//! `entitlements` (the cached answer runtimes ask on their hot path) read and write through the
//! store.
//! Inputs: the store, the plan catalog, "now". Outputs: quota sets, alert rows with their
//! `quota.threshold_crossed` outbox events, unbilled-usage entries with their `usage.unbilled`
//! events (the evaluator's pass sees every tenant, with or without a plan, within minutes),
//! entitlement snapshots. Must not import `api`,
//! `http`, `auth`, `ingest` or `startup`; it never slows or blocks ingestion (it only reads
//! committed rollups) and never refuses usage.

mod alert_event;
mod change_feed;
mod entitlements;
mod evaluator;
mod manage;
mod page_facts;
mod page_usage;
mod periods;
mod policy;
mod tenant_evaluation;
mod unbilled_event;
mod worker;

pub use alert_event::{alert_payload, format_value, round_projection, THRESHOLD_CROSSED};
pub use change_feed::{report_changes, report_changes_every, REPORT_CHANGES_EVERY};
pub use entitlements::{EntitlementCache, EntitlementSnapshot, Refusal};
pub use evaluator::{EvaluationReport, QuotaEvaluator};
pub use manage::{quota_listing, set_quotas, set_quotas_by, QuotaListing, QuotaSetError, MAX_QUOTAS};
pub use periods::{periods_open_for_usage, plan_for_period};
pub use policy::{
    crossings, effective_quotas, entitlement, projected, reached, spend, spend_currency, used, Entitlement,
};
pub use unbilled_event::{unbilled_payload, USAGE_UNBILLED};
