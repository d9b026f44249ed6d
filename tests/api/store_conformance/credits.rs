//! `credit_entry`: grants read back exactly, oldest first. (Consumptions and restorations are
//! written by issuing and voiding; see `invoices.rs`.)

use chrono::Duration;
use rust_decimal::Decimal;

use super::{dec, id, tenant, usd};
use crate::both_stores;
use crate::helpers::{operator, test_now};
use tally::domain::{CreditEntryKind, Money};
use tally::store::NewCreditGrant;

fn grant(amount: &str, expires_in_days: Option<i64>) -> NewCreditGrant {
    NewCreditGrant {
        amount: Money::new(dec(amount), usd()),
        expires_at: expires_in_days.map(|d| test_now() + Duration::days(d)),
        reason: format!("grant of {amount}"),
    }
}

both_stores! {
    async fn credit_grants_keep_exact_amounts_and_expiry_oldest_first(app) {
        // Arrange
        let store = &app.store;
        store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let cases = [
            ("0.20", Some(30), "0.2"),
            ("0.10", None, "0.1"),
            ("12345678901234.567891", Some(1), "12345678901234.567891"),
            ("0.000001", None, "0.000001"),
        ];
        // Act
        let mut granted = Vec::new();
        for (i, (amount, expiry, _)) in cases.iter().enumerate() {
            let when = test_now() + Duration::seconds(i as i64);
            granted.push(store.grant_credit(&id("acme"), &grant(amount, *expiry), when, &operator()).await.unwrap());
        }
        let stored = store.credit_entries(&id("acme")).await.unwrap();
        // Assert
        assert_eq!(stored, granted, "every grant reads back as returned, oldest first");
        for (entry, (amount, expiry, normalized)) in stored.iter().zip(cases) {
            assert_eq!(entry.kind, CreditEntryKind::Grant, "{amount}");
            assert_eq!(entry.grant_id, entry.entry_id, "a grant is its own grant id ({amount})");
            assert_eq!(entry.amount.amount.to_string(), normalized, "{amount} reads back exactly, normalized");
            assert_eq!(entry.expires_at, expiry.map(|d| test_now() + Duration::days(d)), "{amount} keeps its expiry");
            assert_eq!((entry.amount.currency, entry.invoice_id.as_deref()), (usd(), None), "{amount}");
        }
        let small: Decimal = stored[..2].iter().map(|e| e.amount.amount).sum();
        assert_eq!(small.to_string(), "0.3", "0.10 + 0.20 is exactly 0.30");
        assert!(store.credit_entries(&id("beta")).await.unwrap().is_empty(), "ledgers are per tenant");
    }
}
