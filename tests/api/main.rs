//! The one integration test binary: the real application over real HTTP, on SQLite and on
//! PostgreSQL.

mod helpers;
mod on_stores;

mod api_spec;
mod architecture;
mod auth;
mod billing;
mod citus_placement;
mod concurrency;
mod credits;
mod demo;
mod due_dates;
mod events;
mod failures;
mod hostile_input;
mod idempotency;
mod ingest;
mod invoices;
mod isolation;
mod money;
mod notify_alerts;
mod notify_cluster;
mod notify_email;
mod notify_support;
mod notify_webhooks;
mod portal_login;
mod portal_pages;
mod portal_support;
mod pricing;
mod quotas;
mod store_conformance;
mod tenants;
mod usage;
mod validation;
