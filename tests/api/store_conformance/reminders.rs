//! Overdue reminders in the store: each finalized invoice due in the window is reminded once —
//! also by two runs at once — with its `invoice.overdue` outbox row in the same transaction.

use chrono::Duration;

use super::{issued, month, tenant};
use crate::both_stores;
use crate::helpers::{count_rows, execute_sql, operator, test_now, TestApp};
use tally::store::{Store, StoredInvoice};

/// October invoices of `names`, each with a 1.00 fee, issued at `test_now()` (due 14 days later).
async fn octobers(store: &Store, names: &[&str]) -> Vec<StoredInvoice> {
    let mut out = Vec::new();
    for name in names {
        let created = store.create_tenant(&tenant(name), test_now(), &operator()).await.unwrap();
        out.push(issued(store, &created, month(10), "1.00").await);
    }
    out
}

/// The statement of the overdue-reminders migration that copies each stored document's due
/// date into `invoice.due_at`, for `app`'s engine.
fn due_date_backfill(app: &TestApp) -> String {
    let engine = if app.database.pg_name.is_some() { "postgres" } else { "sqlite" };
    let path = format!("migrations/{engine}/20261208120000_overdue_reminders.sql");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("update invoice set due_at").expect("the migration back-fills due_at");
    let end = start + text[start..].find(';').unwrap();
    text[start..=end].to_owned()
}

both_stores! {
    async fn two_runs_at_once_remind_each_unpaid_invoice_once_and_a_paid_one_never(app) {
        // Arrange
        let store = &app.store;
        let invoices = octobers(store, &["acme", "beta", "gamma"]).await;
        store.mark_invoice_paid(&invoices[2].document.id, test_now(), &operator()).await.unwrap();
        let due = invoices[0].document.content.due_at.expect("issued with a due date");
        let (from, until, now) = (due - Duration::days(7), due + Duration::seconds(1), due + Duration::days(3));
        // Act
        let (a, b) = tokio::join!(store.remind_overdue(from, until, now, 500), store.remind_overdue(from, until, now, 500));
        let later = store.remind_overdue(from, until, now, 500).await.unwrap();
        // Assert
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut reminded: Vec<&str> = a.reminded.iter().chain(&b.reminded).map(|i| i.document.number.as_str()).collect();
        reminded.sort_unstable();
        let expected: Vec<&str> = invoices[..2].iter().map(|i| i.document.number.as_str()).collect();
        assert_eq!(reminded, expected, "acme's and beta's, each by one of the two runs");
        assert!(later.reminded.is_empty(), "{later:?}");
        let events = "select count(*) from outbox where kind = 'invoice.overdue'";
        assert_eq!(count_rows(&app, events).await, 2, "one event per reminder");
        for (invoice, expected) in invoices.iter().zip([Some(now), Some(now), None]) {
            let stored = store.get_invoice(&invoice.document.id).await.unwrap().unwrap();
            assert_eq!(stored.reminded_at, expected, "{}", invoice.document.number);
        }
    }

    async fn reminders_come_a_page_at_a_time_and_only_for_due_dates_in_the_window(app) {
        // Arrange
        let store = &app.store;
        let invoices = octobers(store, &["acme", "beta"]).await;
        let due = invoices[0].document.content.due_at.unwrap();
        let now = due + Duration::days(1);
        // Act
        let outside = store.remind_overdue(due + Duration::seconds(1), now, now, 1).await.unwrap();
        let pages = [
            store.remind_overdue(due, now, now, 1).await.unwrap(),
            store.remind_overdue(due, now, now, 1).await.unwrap(),
            store.remind_overdue(due, now, now, 1).await.unwrap(),
        ];
        // Assert
        assert!(outside.reminded.is_empty() && !outside.full, "due before the window: {outside:?}");
        let seen: Vec<(usize, bool)> = pages.iter().map(|p| (p.reminded.len(), p.full)).collect();
        assert_eq!(seen, [(1, true), (1, true), (0, false)], "a full page says more may wait");
        assert_eq!(pages[0].reminded[0].document.number, invoices[0].document.number, "earliest due, then by tenant");
    }

    async fn the_migration_copies_each_stored_documents_due_date_to_the_millisecond(app) {
        // Arrange: two invoices whose copied due dates are cleared, as before the migration
        let store = &app.store;
        let invoices = octobers(store, &["acme", "beta"]).await;
        let paid = &invoices[1].document.id;
        store.mark_invoice_paid(paid, test_now(), &operator()).await.unwrap();
        execute_sql(&app, "update invoice set due_at = null").await.unwrap();
        let due = invoices[0].document.content.due_at.unwrap();
        let ms = Duration::milliseconds(1);
        let cleared = store.remind_overdue(due - ms, due + ms, due, 10).await.unwrap();
        // Act
        execute_sql(&app, &due_date_backfill(&app)).await.unwrap();
        let after = store.remind_overdue(due + ms, due + Duration::days(1), due, 10).await.unwrap();
        let reminded = store.remind_overdue(due - ms, due + ms, due, 10).await.unwrap();
        // Assert
        assert!(cleared.reminded.is_empty(), "without a copied due date nothing is found");
        assert!(after.reminded.is_empty(), "not later than the document says");
        let numbers: Vec<&str> = reminded.reminded.iter().map(|i| i.document.number.as_str()).collect();
        assert_eq!(numbers, [invoices[0].document.number.as_str()], "acme's, as its document says; beta's is paid");
        let copied = "select count(*) from invoice where due_at is not null";
        assert_eq!(count_rows(&app, copied).await, 2, "both copied, paid or not");
    }
}
