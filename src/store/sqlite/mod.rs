//! What only SQLite does: the ingest hot path with multi-row inserts inside the one writer's
//! `BEGIN IMMEDIATE`, and rollup updates summed in Rust (SQLite's `+` would go through
//! floating point).

mod chunks;
#[cfg(test)]
mod plan;
mod rollups;
mod usage;

pub(super) use rollups::add_deltas;
pub(super) use usage::insert_usage;

/// How every SQLite write transaction starts: a deferred `begin` would fail with SQLITE_BUSY
/// when it upgrades to a write.
pub(super) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
