//! The prepaid-credit ledger's entries (append-only: grants, consumptions, restorations).

use super::Money;
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

/// What a ledger entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditEntryKind {
    Grant,
    Consumption,
    Restoration,
}

impl CreditEntryKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::Consumption => "consumption",
            Self::Restoration => "restoration",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Grant, Self::Consumption, Self::Restoration].into_iter().find(|k| k.as_str() == text)
    }
}
