//! The prepaid-credit ledger's entries (append-only: grants, consumptions, restorations,
//! revocations), and what the entries of one grant add up to.

use super::{enum_with_stored_names, Money};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

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
        /// An invoice paid with the grant (`invoice_id`).
        Consumption => "consumption",
        /// A voided invoice's consumption given back (`invoice_id`: the voided invoice).
        Restoration => "restoration",
        /// What was left of a grant a voided invoice had made (its negative remainder) taken
        /// back, so the void leaves no spendable credit behind (`invoice_id`: the voided one).
        Revocation => "revocation",
    }
}

impl CreditEntryKind {
    /// `amount` (positive, as stored) signed by the way this kind moves its grant's balance.
    pub fn signed(self, amount: Decimal) -> Decimal {
        match self {
            CreditEntryKind::Grant | CreditEntryKind::Restoration => amount,
            CreditEntryKind::Consumption | CreditEntryKind::Revocation => -amount,
        }
    }
}

/// Where one grant stands, from its ledger entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantStanding {
    /// Granted − consumed + restored − revoked.
    pub remaining: Decimal,
    /// Invoices holding a consumption of the grant that no void has restored, in ledger order.
    pub spent_by: Vec<String>,
}

/// Adds up the entries of `grant_id` among `entries` (the grant included).
pub fn grant_standing(entries: &[CreditEntry], grant_id: &str) -> GrantStanding {
    let mine: Vec<&CreditEntry> = entries.iter().filter(|e| e.grant_id == grant_id).collect();
    let remaining = mine.iter().map(|e| e.kind.signed(e.amount.amount)).sum();
    // A void restores every consumption of its invoice, so an invoice with a restoration on
    // this grant holds nothing of it any more.
    let restored = |invoice: &str| {
        mine.iter().any(|e| e.kind == CreditEntryKind::Restoration && e.invoice_id.as_deref() == Some(invoice))
    };
    let mut spent_by: Vec<String> = Vec::new();
    for consumption in mine.iter().filter(|e| e.kind == CreditEntryKind::Consumption) {
        if let Some(invoice) = consumption.invoice_id.as_deref() {
            if !restored(invoice) && !spent_by.iter().any(|s| s == invoice) {
                spent_by.push(invoice.to_owned());
            }
        }
    }
    GrantStanding { remaining, spent_by }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use crate::domain::Currency;

    fn entry(kind: CreditEntryKind, amount: &str, invoice: Option<&str>) -> CreditEntry {
        CreditEntry {
            entry_id: format!("{kind:?}-{amount}-{invoice:?}"),
            kind,
            grant_id: "g".into(),
            amount: Money::new(amount.parse().unwrap(), Currency::parse("USD").unwrap()),
            expires_at: None,
            reason: String::new(),
            invoice_id: invoice.map(str::to_owned),
            created_at: at("2026-11-01T00:00:00Z"),
        }
    }

    #[test]
    fn a_grant_is_held_by_the_invoices_whose_consumption_no_void_restored() {
        use CreditEntryKind::{Consumption, Grant, Restoration};
        let entries = [
            entry(Grant, "5.44", Some("neg")),
            entry(Consumption, "2.00", Some("voided")),
            entry(Consumption, "1.10", Some("kept")),
            entry(Restoration, "2.00", Some("voided")),
        ];
        let standing = grant_standing(&entries, "g");
        assert_eq!(standing, GrantStanding { remaining: "4.34".parse().unwrap(), spent_by: vec!["kept".into()] });
        assert_eq!(grant_standing(&entries, "other").remaining, Decimal::ZERO, "entries of other grants do not count");
    }

    #[test]
    fn a_revocation_takes_what_is_left_down_to_exactly_zero() {
        use CreditEntryKind::{Grant, Revocation};
        let entries = [entry(Grant, "5.44", Some("neg")), entry(Revocation, "5.44", Some("neg"))];
        let standing = grant_standing(&entries, "g");
        assert_eq!((standing.remaining, standing.spent_by.len()), (Decimal::ZERO, 0));
    }
}
