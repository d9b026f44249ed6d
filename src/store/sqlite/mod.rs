//! What only SQLite does: the ingest hot path on a connection of its own through SQLite's own
//! API, inside the process's one write turn and a `BEGIN IMMEDIATE`, and rollup updates summed
//! in Rust (SQLite's `+` would go through floating point).

mod ingest_connection;
mod rollups;
#[cfg(test)]
pub(super) mod testing;
mod usage;

pub(super) use ingest_connection::{writer_pragmas, IngestConnection, BUSY_TIMEOUT};
pub(super) use rollups::add_deltas;
pub(super) use usage::insert_usage;

/// How every SQLite write transaction starts: a deferred `begin` would fail with SQLITE_BUSY
/// when it upgrades to a write.
pub(super) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
