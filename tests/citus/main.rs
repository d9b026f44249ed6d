//! The Citus test target (issue 12): the store conformance suite and the ingest, billing,
//! invoice, usage, quota, notify (email through the real SMTP server, webhooks) and portal
//! tests — the same files `tests/api` runs on SQLite and PostgreSQL — each body run on a Citus
//! cluster (`TALLY_TEST_CITUS_URL`, the coordinator) over a database cloned on every node;
//! three `tally serve` processes on one cluster (exact counts, one invoice per tenant and
//! period, every message sent once); and checks that the tables are distributed and that one
//! tenant's reads touch one shard.
//!
//! Not part of the default `cargo test` (`test = false` in Cargo.toml: it needs a running
//! cluster); `.ci/run` runs it as its own stage, filtered to the Citus tests:
//! `cargo test --test citus on_citus`. The included files also hold a few tests pinned to
//! SQLite or PostgreSQL; the filter leaves them to `cargo test`. Every Citus test is named
//! `…::on_citus`, and none is skipped: without a cluster they fail.

#[path = "../api/helpers.rs"]
#[allow(dead_code)] // shared with tests/api; this target uses part of it
mod helpers;
mod on_citus;

#[path = "../api/billing.rs"]
#[allow(dead_code)]
mod billing;
#[path = "../api/billing_pages.rs"]
mod billing_pages;
#[path = "../api/ingest.rs"]
mod ingest;
#[path = "../api/invoices.rs"]
mod invoices;
#[path = "../api/lifecycle.rs"]
mod lifecycle;
#[path = "../api/pricing.rs"]
mod pricing;
#[path = "../api/store_conformance/mod.rs"]
mod store_conformance;
#[path = "../api/subscription_changes.rs"]
mod subscription_changes;
#[path = "../api/time_zone_change.rs"]
mod time_zone_change;
#[path = "../api/unbilled_runs.rs"]
mod unbilled_runs;
#[path = "../api/usage.rs"]
mod usage;

#[path = "../api/quotas/mod.rs"]
#[allow(dead_code)]
mod quotas;

#[path = "../api/notify_alerts.rs"]
mod notify_alerts;
#[path = "../api/notify_email.rs"]
mod notify_email;
#[path = "../api/notify_support.rs"]
#[allow(dead_code)]
mod notify_support;
#[path = "../api/notify_webhooks.rs"]
mod notify_webhooks;
#[path = "../api/overdue_reminders.rs"]
mod overdue_reminders;

#[path = "../api/portal_login.rs"]
mod portal_login;
#[path = "../api/portal_pages.rs"]
mod portal_pages;
#[path = "../api/portal_support.rs"]
#[allow(dead_code)]
mod portal_support;

#[path = "../api/concurrency.rs"]
mod concurrency;
#[path = "../api/cross_month_race.rs"]
mod cross_month_race;
#[path = "../api/gate_changes.rs"]
mod gate_changes;
#[path = "../api/notify_cluster.rs"]
mod notify_cluster;

mod distribution;
