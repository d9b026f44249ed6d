//! Corrections of stored usage records: append-only, by key.

use super::{Quantities, RecordKey};

/// What a correction does to a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorrectionAction {
    /// The record counts for nothing from now on.
    Void,
    /// The record counts as this content (at its original instant).
    Replace { function: String, region: String, quantities: Quantities },
}

/// A validated correction, not yet applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCorrection {
    pub key: RecordKey,
    pub action: CorrectionAction,
    pub reason: String,
    /// Records before this instant are in a closed period of a tenant whose late-usage policy
    /// is `reject`: they may not be corrected either.
    pub closed_before: Option<chrono::DateTime<chrono::Utc>>,
    /// Records stamped before this instant (now − the allowed lateness) are outside the
    /// accepted window, as a new record that old would be: refused, because the billing run
    /// re-rates closed periods only as far back as usage can still arrive (DESIGN §2, §7).
    pub accepted_from: Option<chrono::DateTime<chrono::Utc>>,
}
