//! The one integration test binary: the real application over real HTTP, on SQLite and on
//! PostgreSQL.

mod helpers;

mod api_spec;
mod architecture;
mod auth;
mod billing;
mod concurrency;
mod events;
mod failures;
mod ingest;
mod invoices;
mod pricing;
mod quotas;
mod store_conformance;
mod tenants;
mod usage;
mod validation;
