//! The one integration test binary: the real application over real HTTP, on SQLite and on
//! PostgreSQL.

mod helpers;

mod api_spec;
mod auth;
mod events;
mod failures;
mod ingest;
mod tenants;
mod usage;
mod validation;
