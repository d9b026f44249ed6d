//! Values the store hands back that are not domain entities of their own.

use crate::domain::ContentHash;

/// What happened to one record of an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored now.
    Inserted,
    /// A record with this key was already stored, with this content hash.
    Existing(ContentHash),
}

/// Counts from a rollup rebuild.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebuildReport {
    pub records: u64,
    pub rollups: u64,
}

/// A response saved for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The state of an idempotency key when a request tries to claim it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyStart {
    /// Claimed for this request: run it, then finish or abandon.
    Claimed,
    /// Same key and same request, already answered: replay this.
    Replay(StoredResponse),
    /// Same key, still being processed by another request.
    InFlight,
    /// Same key used for a different request.
    Mismatch,
}

/// A plan's content to record as a version.
#[derive(Debug, Clone, Copy)]
pub struct NewPlanVersion<'a> {
    pub plan_id: &'a str,
    pub content_hash: &'a str,
    /// Canonical TOML of the parsed plan.
    pub definition: &'a str,
    pub currency: &'a str,
}

/// A stored plan version, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlanVersion {
    pub plan_id: String,
    pub version: i32,
    pub content_hash: String,
    pub definition: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}
