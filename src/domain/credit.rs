//! The prepaid-credit ledger's entries (append-only: grants, consumptions, restorations).

use super::{enum_with_stored_names, Money};
use chrono::{DateTime, Utc};

/// A credit ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditEntry {
    pub entry_id: String,
    pub kind: CreditEntryKind,
    /// The grant this entry draws on (its own id for a grant).
    pub grant_id: String,
    /// Always positive; the kind says which way it moves the balance.
    pub amount: Money,
    pub expires_at: Option<DateTime<Utc>>,
    pub reason: String,
    pub invoice_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

enum_with_stored_names! {
    /// What a ledger entry records.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum CreditEntryKind {
        Grant => "grant",
        Consumption => "consumption",
        Restoration => "restoration",
    }
}
