//! The PostgreSQL store: the production backend.
//!
//! Hot paths use array binds (`unnest`) so a batch is one statement, never a round trip per
//! record. Coordination between several `tally serve` processes goes through keys and
//! transaction-scoped locks only.

mod api_keys;
mod billing;
mod connection;
mod corrections;
mod credits;
mod effects;
mod idempotency;
mod invoices;
mod plans;
mod rollups;
mod store;
mod subscriptions;
mod tenants;
mod usage;

pub use connection::PgStore;
