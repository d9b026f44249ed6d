//! The prepaid-credit ledger's entries (append-only: grants, consumptions, restorations,
//! revocations), and what the entries of one grant add up to.

use super::{enum_with_stored_names, Currency, Money};
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
        /// Credit taken back: what was left of a grant a voided invoice had made (its negative
        /// remainder), so the void leaves no spendable credit behind (`invoice_id`: the voided
        /// one); or an operator's revocation of a grant's balance, in part or whole (no
        /// `invoice_id`; the reason says why).
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

/// Why a grant's balance cannot be revoked as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevocationRefused {
    #[error("nothing is left of this grant to revoke")]
    NothingLeft,
    #[error("only {remaining} is left of this grant")]
    MoreThanLeft { remaining: Decimal },
    #[error("the amount has more decimals than its currency, {0}, has minor units")]
    FinerThanCurrency(Currency),
}

/// How much an operator's revocation takes from a grant that stands at `standing`: `wanted`,
/// or all that is left when `None`. Never more than is left — credit already consumed paid an
/// invoice and comes back only by voiding it — and never nothing, so every revocation entry
/// moves the balance.
///
/// # Errors
/// [`RevocationRefused`].
pub fn revocation_amount(
    standing: &GrantStanding,
    currency: Currency,
    wanted: Option<Decimal>,
) -> Result<Decimal, RevocationRefused> {
    let remaining = standing.remaining;
    match wanted {
        Some(amount) if amount.scale() > currency.minor_units() => Err(RevocationRefused::FinerThanCurrency(currency)),
        _ if remaining <= Decimal::ZERO => Err(RevocationRefused::NothingLeft),
        Some(amount) if amount > remaining => Err(RevocationRefused::MoreThanLeft { remaining }),
        Some(amount) => Ok(amount),
        None => Ok(remaining),
    }
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

    #[test]
    fn an_operator_revokes_what_is_asked_or_all_that_is_left_and_never_more() {
        let standing = |left: &str| GrantStanding { remaining: left.parse().unwrap(), spent_by: Vec::new() };
        let d = |s: &str| -> Decimal { s.parse().unwrap() };
        let usd = Currency::parse("USD").unwrap();
        type Case = (&'static str, Option<&'static str>, Result<Decimal, RevocationRefused>, &'static str);
        let cases: [Case; 7] = [
            ("30.00", Some("10.00"), Ok(d("10.00")), "a part of the balance"),
            ("30.00", Some("30.00"), Ok(d("30.00")), "exactly the balance"),
            ("30.00", None, Ok(d("30.00")), "no amount: all that is left"),
            ("30.00", Some("30.01"), Err(RevocationRefused::MoreThanLeft { remaining: d("30.00") }), "a cent too much"),
            ("0", None, Err(RevocationRefused::NothingLeft), "consumed or revoked already"),
            ("0", Some("1.00"), Err(RevocationRefused::NothingLeft), "nothing left says so before the amount"),
            ("30.00", Some("0.001"), Err(RevocationRefused::FinerThanCurrency(usd)), "a tenth of a cent"),
        ];
        for (left, wanted, expected, why) in cases {
            assert_eq!(revocation_amount(&standing(left), usd, wanted.map(d)), expected, "{why}");
        }
    }
}
