//! The SQLite store: the embedded default (`sqlite://tally-data/tally.db`).
//!
//! WAL, `synchronous=FULL`, foreign keys, a busy timeout. One writer connection: every write
//! transaction is `BEGIN IMMEDIATE` on it, so writers queue instead of failing with
//! SQLITE_BUSY on upgrade. Reads use a separate pool. Decimals are text and are summed in
//! Rust, never in SQL (SQLite would coerce them to floating point).

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

pub use connection::SqliteStore;
