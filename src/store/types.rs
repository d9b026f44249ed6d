//! Values the store hands back that are not domain entities of their own.

use chrono::{DateTime, Utc};

use crate::domain::{ContentHash, TenantId};

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

/// A stored API key: its public id, the SHA-256 of its secret, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub key_id: String,
    pub secret_hash: [u8; 32],
    pub role: String,
    pub tenant: Option<TenantId>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
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
