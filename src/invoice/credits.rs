//! Prepaid credits (pure): which grants pay an invoice, and how much of each.
//! Eligible: granted before the period ended and unexpired at its end, same currency (the
//! caller filters currency). Consumed soonest-expiry first, no expiry last, ties by grant time.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::{CreditEntry, CreditEntryKind};

/// What is left of one grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditBalance {
    pub grant_id: String,
    pub remaining: Decimal,
    pub expires_at: Option<DateTime<Utc>>,
    pub granted_at: DateTime<Utc>,
}

/// Consumptions (grant id, amount) paying at most `due`, in consumption order.
pub fn allocate_credits(balances: &[CreditBalance], due: Decimal, period_end: DateTime<Utc>) -> Vec<(String, Decimal)> {
    let mut eligible: Vec<&CreditBalance> = balances
        .iter()
        .filter(|b| b.remaining > Decimal::ZERO)
        .filter(|b| b.granted_at < period_end && b.expires_at.is_none_or(|e| e > period_end))
        .collect();
    eligible.sort_by_key(|b| (b.expires_at.is_none(), b.expires_at, b.granted_at));
    let mut left = due.max(Decimal::ZERO);
    let mut out = Vec::new();
    for balance in eligible {
        if left.is_zero() {
            break;
        }
        let take = balance.remaining.min(left);
        left -= take;
        out.push((balance.grant_id.clone(), take));
    }
    out
}

/// Remaining balance per grant in `currency`: grant − consumptions + restorations − revocations.
pub fn balances(entries: &[CreditEntry], currency: crate::domain::Currency) -> Vec<CreditBalance> {
    let mut out: Vec<CreditBalance> = entries
        .iter()
        .filter(|e| e.kind == CreditEntryKind::Grant && e.amount.currency == currency)
        .map(|g| CreditBalance {
            grant_id: g.grant_id.clone(),
            remaining: g.amount.amount,
            expires_at: g.expires_at,
            granted_at: g.created_at,
        })
        .collect();
    for entry in entries.iter().filter(|e| e.kind != CreditEntryKind::Grant) {
        if let Some(balance) = out.iter_mut().find(|b| b.grant_id == entry.grant_id) {
            balance.remaining += entry.kind.signed(entry.amount.amount);
        }
    }
    out
}

/// The credit a tenant holds in one currency at an instant: what its unexpired grants have
/// left, and the soonest of their expiries with what is left of the grants expiring then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditOnHand {
    pub currency: crate::domain::Currency,
    pub available: Decimal,
    pub next_expiry: Option<(DateTime<Utc>, Decimal)>,
}

/// Every currency's [`CreditOnHand`] at `at`, in currency order; currencies with nothing left
/// are left out. What pays the next invoices, as far as `at` can tell (a grant expiring before
/// a period ends pays nothing of it).
pub fn credit_on_hand(entries: &[CreditEntry], at: DateTime<Utc>) -> Vec<CreditOnHand> {
    let mut currencies: Vec<crate::domain::Currency> = entries.iter().map(|e| e.amount.currency).collect();
    currencies.sort();
    currencies.dedup();
    currencies
        .into_iter()
        .filter_map(|currency| {
            let live: Vec<CreditBalance> = balances(entries, currency)
                .into_iter()
                .filter(|b| b.remaining > Decimal::ZERO && b.expires_at.is_none_or(|e| e > at))
                .collect();
            let available: Decimal = live.iter().map(|b| b.remaining).sum();
            let soonest = live.iter().filter_map(|b| b.expires_at).min();
            let next_expiry = soonest
                .map(|when| (when, live.iter().filter(|b| b.expires_at == Some(when)).map(|b| b.remaining).sum()));
            (available > Decimal::ZERO).then_some(CreditOnHand { currency, available, next_expiry })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;

    fn grant(id: &str, amount: i64, expires: Option<&str>, granted: &str) -> CreditBalance {
        CreditBalance {
            grant_id: id.into(),
            remaining: Decimal::from(amount),
            expires_at: expires.map(at),
            granted_at: at(granted),
        }
    }

    #[test]
    fn the_soonest_expiring_grant_is_used_first_and_never_more_than_due() {
        let end = at("2026-12-01T00:00:00Z");
        let balances = [
            grant("forever", 100, None, "2026-01-01T00:00:00Z"),
            grant("late", 10, Some("2027-06-01T00:00:00Z"), "2026-02-01T00:00:00Z"),
            grant("soon", 10, Some("2026-12-15T00:00:00Z"), "2026-03-01T00:00:00Z"),
            grant("expired", 50, Some("2026-11-30T00:00:00Z"), "2026-03-01T00:00:00Z"),
            grant("after-period", 50, None, "2026-12-02T00:00:00Z"),
        ];
        let used = allocate_credits(&balances, Decimal::from(25), end);
        assert_eq!(
            used,
            vec![
                ("soon".into(), Decimal::from(10)),
                ("late".into(), Decimal::from(10)),
                ("forever".into(), Decimal::from(5))
            ]
        );
        assert!(allocate_credits(&balances, Decimal::ZERO, end).is_empty());
    }

    #[test]
    fn a_revoked_grant_has_nothing_left_to_pay_with() {
        use crate::domain::{Currency, Money};
        let usd = Currency::parse("USD").expect("USD is a currency");
        let entry = |id: &str, kind: CreditEntryKind, amount: i64| CreditEntry {
            entry_id: id.into(),
            kind,
            grant_id: "remainder".into(),
            amount: Money::new(Decimal::new(amount, 2), usd),
            expires_at: None,
            reason: String::new(),
            invoice_id: Some("voided".into()),
            created_at: at("2026-11-01T00:00:00Z"),
        };
        let ledger = [entry("remainder", CreditEntryKind::Grant, 544), entry("r", CreditEntryKind::Revocation, 544)];
        let left = balances(&ledger, usd);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].remaining, Decimal::ZERO, "granted 5.44, revoked 5.44");
        assert!(allocate_credits(&left, Decimal::from(10), at("2026-12-01T00:00:00Z")).is_empty());
    }

    #[test]
    fn credit_on_hand_counts_what_unexpired_grants_have_left_and_names_the_next_expiry() {
        use crate::domain::{Currency, Money};
        let (usd, eur) = (Currency::parse("USD").unwrap(), Currency::parse("EUR").unwrap());
        let entry =
            |id: &str, kind: CreditEntryKind, grant: &str, amount: i64, currency, expires: Option<&str>| CreditEntry {
                entry_id: id.into(),
                kind,
                grant_id: grant.into(),
                amount: Money::new(Decimal::new(amount, 2), currency),
                expires_at: expires.map(at),
                reason: String::new(),
                invoice_id: None,
                created_at: at("2026-11-01T00:00:00Z"),
            };
        use CreditEntryKind::{Consumption, Grant, Revocation};
        let ledger = [
            entry("forever", Grant, "forever", 5000, usd, None),
            entry("soon", Grant, "soon", 1000, usd, Some("2026-12-31T00:00:00Z")),
            entry("also-soon", Grant, "also-soon", 250, usd, Some("2026-12-31T00:00:00Z")),
            entry("gone", Grant, "gone", 9900, usd, Some("2026-11-15T00:00:00Z")),
            entry("c1", Consumption, "soon", 400, usd, None),
            entry("euro", Grant, "euro", 700, eur, None),
            entry("r1", Revocation, "euro", 700, eur, None),
        ];
        let held = credit_on_hand(&ledger, at("2026-12-02T00:00:00Z"));
        assert_eq!(
            held,
            vec![CreditOnHand {
                currency: usd,
                available: Decimal::new(5850, 2),
                next_expiry: Some((at("2026-12-31T00:00:00Z"), Decimal::new(850, 2))),
            }],
            "50.00 + (10.00 − 4.00) + 2.50; the expired grant and the revoked euros are not on hand"
        );
    }
}
