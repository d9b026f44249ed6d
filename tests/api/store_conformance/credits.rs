//! `credit_entry`: grants read back exactly, oldest first; the credit a negative invoice
//! granted is taken back when it is voided. (Consumptions and restorations are written by
//! issuing and voiding; see `invoices.rs`.)

use chrono::Duration;
use rust_decimal::Decimal;

use super::{dec, id, issue, issued, month, new_invoice, tenant, usd};
use crate::both_stores;
use crate::helpers::{operator, spawn_app, test_now, Backend};
use tally::domain::{CreditEntryKind, InvoiceStatus, Money, RevocationRefused};
use tally::invoice::balances;
use tally::store::{
    CreditRevocation, DbError, IssueBatch, IssueInvoice, IssueOutcome, NewCreditGrant, StatusChange, Store,
};

/// What is left of every grant of `tenant`, in USD.
async fn remaining(store: &Store, tenant: &str) -> Vec<Decimal> {
    let ledger = store.credit_entries(&id(tenant)).await.unwrap();
    balances(&ledger, usd()).into_iter().map(|b| b.remaining).collect()
}

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

both_stores! {
    async fn voiding_a_negative_invoice_takes_back_the_credit_it_granted(app) {
        // Arrange: October's invoice is negative (−5.00 and −0.44 tax), so it granted 5.44.
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let negative = issued(store, &acme, month(10), "-5.00").await;
        assert_eq!(remaining(store, "acme").await, vec![dec("5.44")], "the remainder is spendable before the void");
        let later = test_now() + Duration::days(1);
        // Act
        let voided = store.void_invoice(&negative.document.id, "CN", later, &operator()).await.unwrap();
        let november = issued(store, &acme, month(11), "10.00").await;
        // Assert
        let StatusChange::Changed(voided) = voided else { panic!("the negative invoice is voided: {voided:?}") };
        assert_eq!(voided.document.status, InvoiceStatus::Void);
        assert_eq!(remaining(store, "acme").await, vec![dec("0")], "nothing of the remainder is left");
        let c = &november.document.content;
        assert_eq!((c.credits_applied, c.total), (dec("0"), dec("10.89")), "the next invoice pays in full");
        let ledger = store.credit_entries(&acme.id).await.unwrap();
        let seen: Vec<_> = ledger.iter().map(|e| (e.kind, e.amount.amount, e.invoice_id.as_deref(), e.created_at)).collect();
        let negative_id = Some(negative.document.id.as_str());
        assert_eq!(seen, vec![
            (CreditEntryKind::Grant, dec("5.44"), negative_id, test_now()),
            (CreditEntryKind::Revocation, dec("5.44"), negative_id, later),
        ], "the ledger stays append-only: the grant, then its revocation by the void");
        assert_eq!(ledger[1].grant_id, ledger[0].grant_id, "the revocation draws on the remainder grant");
    }

    async fn a_void_is_refused_while_another_invoice_holds_the_credit_it_granted(app) {
        // Arrange: October granted 5.44; November (2.00 + 0.18 tax) paid 2.18 of it.
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let negative = issued(store, &acme, month(10), "-5.00").await;
        let november = issued(store, &acme, month(11), "2.00").await;
        assert_eq!(november.document.content.credits_applied, dec("2.18"));
        let later = test_now() + Duration::days(1);
        // Act
        let refused = store.void_invoice(&negative.document.id, "CN", later, &operator()).await.unwrap();
        let ledger_after_refusal = store.credit_entries(&acme.id).await.unwrap();
        let spender_voided = store.void_invoice(&november.document.id, "CN", later, &operator()).await.unwrap();
        let retried = store.void_invoice(&negative.document.id, "CN", later + Duration::days(1), &operator()).await.unwrap();
        // Assert
        let spenders = vec![(november.document.id.clone(), november.document.number.clone())];
        assert_eq!(refused, StatusChange::GrantedCreditSpent(spenders), "names the invoice that used the credit");
        assert_eq!(ledger_after_refusal.len(), 2, "a refused void writes nothing: {ledger_after_refusal:?}");
        let StatusChange::Changed(spender_voided) = spender_voided else { panic!("November is voided: {spender_voided:?}") };
        assert_eq!(spender_voided.credit_note_number.as_deref(), Some("CN-2026-000001"), "the refusal took no number");
        let StatusChange::Changed(retried) = retried else { panic!("October is voided once November is: {retried:?}") };
        assert_eq!(retried.credit_note_number.as_deref(), Some("CN-2026-000002"));
        assert_eq!(remaining(store, "acme").await, vec![dec("0")], "granted 5.44 − 2.18 + 2.18 restored − 5.44 revoked");
        let ledger = store.credit_entries(&acme.id).await.unwrap();
        // October and November were issued at the same instant: order their entries by kind.
        let mut seen: Vec<_> = ledger.iter().map(|e| (e.created_at, e.kind.as_str(), e.amount.amount)).collect();
        seen.sort();
        let kinds: Vec<_> = seen.into_iter().map(|(_, kind, amount)| (kind, amount)).collect();
        assert_eq!(kinds, vec![
            ("consumption", dec("2.18")),
            ("grant", dec("5.44")),
            ("restoration", dec("2.18")),
            ("revocation", dec("5.44")),
        ]);
    }
}

both_stores! {
    async fn an_invoice_priced_with_credit_a_void_revoked_meanwhile_is_not_issued(app) {
        // Arrange: November is priced while October's 5.44 credit is still there, then
        // October is voided before November is issued (a billing run racing a void).
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let negative = issued(store, &acme, month(10), "-5.00").await;
        let stale = new_invoice(store, &acme, month(11), "2.00").await;
        assert_eq!(stale.content.credits_applied, dec("2.18"));
        let voided = store.void_invoice(&negative.document.id, "CN", test_now(), &operator()).await.unwrap();
        assert!(matches!(voided, StatusChange::Changed(_)), "{voided:?}");
        // Act
        let one = IssueInvoice { tenant: &acme.id, invoice: &stale, invoice_prefix: "INV", now: test_now() };
        let alone = store.issue_invoice(&one).await;
        let page = [(&acme.id, &stale)];
        let batched = store.issue_invoices(&IssueBatch { invoices: &page, invoice_prefix: "INV", now: test_now() }).await;
        let repriced = issue(store, &acme.id, &new_invoice(store, &acme, month(11), "2.00").await).await;
        // Assert
        assert!(matches!(alone, Err(DbError::CreditRevoked)), "{alone:?}");
        assert!(matches!(batched, Err(DbError::CreditRevoked)), "{batched:?}");
        let IssueOutcome::Issued(repriced, _) = repriced else { panic!("November, priced again, is issued: {repriced:?}") };
        let c = &repriced.content;
        assert_eq!((c.credits_applied, c.total), (dec("0"), dec("2.18")), "priced again, November pays in full");
        assert_eq!(repriced.number, "INV-2026-000002", "the refused issues took no number");
        assert_eq!(remaining(store, "acme").await, vec![dec("0")], "no revoked credit was spent");
    }
}

/// PostgreSQL only (SQLite has one writer, so a void and an issue never overlap): an issue that
/// would consume a granting invoice's credit waits for a void of that invoice in flight, then
/// sees it and refuses, rather than spend credit the void is taking back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_waits_for_a_void_in_flight_of_the_invoice_that_granted_its_credit_on_postgres() {
    use sqlx::{Connection, Executor};
    // Arrange: November priced with October's credit; a void of October holds its row.
    let app = spawn_app(Backend::Postgres).await;
    let store = app.store.clone();
    let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
    let negative = issued(&store, &acme, month(10), "-5.00").await;
    let november = new_invoice(&store, &acme, month(11), "2.00").await;
    let mut void = sqlx::PgConnection::connect(&app.database.url).await.unwrap();
    void.execute("begin").await.unwrap();
    let voiding = "update invoice set status = 'void' where tenant_id = 'acme' and invoice_id = $1";
    void.execute(sqlx::query(voiding).bind(negative.document.id.as_str())).await.unwrap();
    // Act: issue November while the void is in flight, then let the void commit.
    let issuing = tokio::spawn(async move {
        let issue = IssueInvoice { tenant: &acme.id, invoice: &november, invoice_prefix: "INV", now: test_now() };
        store.issue_invoice(&issue).await
    });
    wait_until_blocked_or_done(&app.database.url, &issuing).await;
    void.execute("commit").await.unwrap();
    let issued_november = issuing.await.unwrap();
    // Assert
    assert!(matches!(issued_november, Err(DbError::CreditRevoked)), "{issued_november:?}");
}

both_stores! {
    async fn an_invoice_priced_with_credit_an_operator_revoked_meanwhile_is_not_issued(app) {
        // Arrange: 5.00 granted; November (2.00 + 0.18 tax) is priced to take 2.18 of it, then
        // the operator revokes 4.00 before it is issued: 1.00 is left.
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let granted = store.grant_credit(&acme.id, &grant("5.00", None), test_now(), &operator()).await.unwrap();
        let stale = new_invoice(store, &acme, month(11), "2.00").await;
        assert_eq!(stale.content.credits_applied, dec("2.18"));
        let revoked = store.revoke_credit(&acme.id, &granted.grant_id, Some(dec("4.00")), "granted by mistake", test_now(), &operator()).await;
        assert!(matches!(revoked.unwrap(), CreditRevocation::Revoked(_)));
        // Act
        let refused = store.issue_invoice(&IssueInvoice { tenant: &acme.id, invoice: &stale, invoice_prefix: "INV", now: test_now() }).await;
        let repriced = issue(store, &acme.id, &new_invoice(store, &acme, month(11), "2.00").await).await;
        // Assert
        assert!(matches!(refused, Err(DbError::CreditRevoked)), "{refused:?}");
        let IssueOutcome::Issued(repriced, _) = repriced else { panic!("November, priced again, is issued: {repriced:?}") };
        let c = &repriced.content;
        assert_eq!((c.credits_applied, c.total), (dec("1.00"), dec("1.18")), "priced again, it takes what is left");
        assert_eq!(remaining(store, "acme").await, vec![dec("0.00")], "never more than was granted");
    }

    async fn a_revocation_leaving_enough_for_an_invoice_priced_before_it_lets_it_be_issued(app) {
        // Arrange: 5.00 granted; November priced to take 2.18; then 1.00 revoked: 4.00 left.
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let granted = store.grant_credit(&acme.id, &grant("5.00", None), test_now(), &operator()).await.unwrap();
        let priced = new_invoice(store, &acme, month(11), "2.00").await;
        let revoked = store.revoke_credit(&acme.id, &granted.grant_id, Some(dec("1.00")), "partly owed", test_now(), &operator()).await;
        assert!(matches!(revoked.unwrap(), CreditRevocation::Revoked(_)));
        // Act
        let issued = issue(store, &acme.id, &priced).await;
        // Assert
        assert!(matches!(issued, IssueOutcome::Issued(..)), "{issued:?}");
        assert_eq!(remaining(store, "acme").await, vec![dec("1.82")], "5.00 − 1.00 revoked − 2.18 consumed");
    }

    async fn an_operator_revokes_only_what_is_left_of_a_grant_of_its_own_tenant(app) {
        // Arrange: acme's 5.00 grant paid 2.18 of November
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        store.create_tenant(&tenant("beta"), test_now(), &operator()).await.unwrap();
        let granted = store.grant_credit(&acme.id, &grant("5.00", None), test_now(), &operator()).await.unwrap();
        issued(store, &acme, month(11), "2.00").await;
        let revoke = |tenant: &'static str, amount: Option<&str>| {
            let amount = amount.map(dec);
            let grant_id = granted.grant_id.clone();
            async move { store.revoke_credit(&id(tenant), &grant_id, amount, "owed no more", test_now(), &operator()).await.unwrap() }
        };
        // Act
        let too_much = revoke("acme", Some("2.83")).await;
        let from_beta = revoke("beta", None).await;
        let the_rest = revoke("acme", None).await;
        let again = revoke("acme", None).await;
        // Assert
        assert_eq!(too_much, CreditRevocation::Refused(RevocationRefused::MoreThanLeft { remaining: dec("2.82") }));
        assert_eq!(from_beta, CreditRevocation::UnknownGrant, "another tenant's grant is not found");
        let CreditRevocation::Revoked(entry) = the_rest else { panic!("the rest is revoked: {the_rest:?}") };
        assert_eq!((entry.kind, entry.amount.amount, entry.invoice_id.as_deref()), (CreditEntryKind::Revocation, dec("2.82"), None));
        assert_eq!(again, CreditRevocation::Refused(RevocationRefused::NothingLeft));
        assert_eq!(remaining(store, "acme").await, vec![dec("0.00")]);
    }
}

/// PostgreSQL only (SQLite has one writer): an issue that would consume a grant waits for an
/// operator's revocation of it in flight (which holds the grant's row), then sees it and
/// refuses, rather than spend credit the revocation took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_waits_for_a_revocation_in_flight_of_the_grant_it_would_consume_on_postgres() {
    use sqlx::{Connection, Executor};
    // Arrange: November priced with 2.18 of a 5.00 grant; a revocation of 4.00 holds its row.
    let app = spawn_app(Backend::Postgres).await;
    let store = app.store.clone();
    let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
    let granted = store.grant_credit(&acme.id, &grant("5.00", None), test_now(), &operator()).await.unwrap();
    let november = new_invoice(&store, &acme, month(11), "2.00").await;
    let mut revocation = sqlx::PgConnection::connect(&app.database.url).await.unwrap();
    revocation.execute("begin").await.unwrap();
    let lock = "select entry_id from credit_entry where tenant_id = 'acme' and entry_id = $1 for update";
    revocation.execute(sqlx::query(lock).bind(&granted.grant_id)).await.unwrap();
    let revoke = "insert into credit_entry (tenant_id, entry_id, kind, grant_id, amount, currency, reason, created_at)
        values ('acme', 'operator-revocation', 'revocation', $1, 4.00, 'USD', 'granted by mistake', $2)";
    revocation.execute(sqlx::query(revoke).bind(&granted.grant_id).bind(test_now())).await.unwrap();
    // Act: issue November while the revocation is in flight, then let the revocation commit.
    let issuing = tokio::spawn(async move {
        let issue = IssueInvoice { tenant: &acme.id, invoice: &november, invoice_prefix: "INV", now: test_now() };
        store.issue_invoice(&issue).await
    });
    wait_until_blocked_or_done(&app.database.url, &issuing).await;
    revocation.execute("commit").await.unwrap();
    let issued_november = issuing.await.unwrap();
    // Assert
    assert!(matches!(issued_november, Err(DbError::CreditRevoked)), "{issued_november:?}");
    assert_eq!(remaining(&app.store, "acme").await, vec![dec("1.00")], "the revocation stands, nothing consumed");
}

/// Waits (at most 5 s) until a session of the test database waits on a lock, or `task` ended.
async fn wait_until_blocked_or_done<T>(url: &str, task: &tokio::task::JoinHandle<T>) {
    use sqlx::Connection;
    let waiting =
        "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'";
    let mut probe = sqlx::PgConnection::connect(url).await.unwrap();
    for _ in 0..500 {
        let (blocked,): (i64,) = sqlx::query_as(waiting).fetch_one(&mut probe).await.unwrap();
        if blocked > 0 || task.is_finished() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
