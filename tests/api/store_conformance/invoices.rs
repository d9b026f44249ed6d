//! Closing periods (`billing_period`, `invoice`, `billed_line`, credit consumptions, outbox)
//! and moving an invoice's status.

use chrono::Duration;

use super::{dec, id, issue, issued, month, new_invoice, tenant, usd};
use crate::helpers::{count_rows, execute_sql, operator, spawn_app, test_now, Backend, TestApp};
use crate::{both_stores, server_stores};
use tally::domain::{CreditEntryKind, InvoiceId, InvoiceStatus, LineKey, LineType, Money};
use tally::store::{InvoiceFilter, IssueBatch, IssueOutcome, NewCreditGrant, StatusChange};

/// Outbox rows of `kind` for `acme`.
async fn outbox(app: &TestApp, kind: &str) -> i64 {
    count_rows(app, &format!("select count(*) from outbox where tenant_id = 'acme' and kind = '{kind}'")).await
}

both_stores! {
    async fn invoices_among_reads_the_named_invoices_of_every_tenant_and_skips_unknown_ones(app) {
        // Arrange
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let beta = store.create_tenant(&tenant("beta"), test_now(), &operator()).await.unwrap();
        issued(store, &acme, month(9), "1.00").await; // not named: not read
        let october = issued(store, &acme, month(10), "2.00").await;
        let beta_october = issued(store, &beta, month(10), "3.00").await;
        let unknown = InvoiceId::parse("acme.0123abcd").unwrap();
        let named = [october.document.id.clone(), unknown, beta_october.document.id.clone()];
        // Act
        let mut read = store.invoices_among(&named).await.unwrap();
        // Assert
        read.sort_by(|a, b| a.document.number.cmp(&b.document.number));
        assert_eq!(read, vec![october, beta_october], "the named ones, whole, and not September");
        assert!(store.invoices_among(&[]).await.unwrap().is_empty());
    }

    async fn issuing_numbers_invoices_gaplessly_and_closes_each_period(app) {
        // Arrange
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let beta = store.create_tenant(&tenant("beta"), test_now(), &operator()).await.unwrap();
        let september = new_invoice(store, &acme, month(9), "100.00").await;
        // Act
        let first = issue(store, &acme.id, &september).await;
        let second = issued(store, &acme, month(10), "0.10").await;
        let third = issued(store, &beta, month(10), "0.20").await;
        // Assert
        let IssueOutcome::Issued(first, _) = first else { panic!("September is issued: {first:?}") };
        let numbers = [first.number.as_str(), &second.document.number, &third.document.number];
        let gapless = ["INV-2026-000001", "INV-2026-000002", "INV-2026-000003"];
        assert_eq!(numbers, gapless, "one gapless counter per prefix and year, across tenants");
        assert_eq!(first.id.tenant(), &acme.id, "an invoice id names its tenant: {}", first.id);
        let stored = store.get_invoice(&first.id).await.unwrap().unwrap();
        assert_eq!(stored.document, *first, "the document reads back exactly as issued");
        let d = &stored.document;
        let c = &d.content;
        assert_eq!((c.subtotal, c.tax, c.total), (dec("100.00"), dec("8.88"), dec("108.88")));
        assert_eq!(d.status, InvoiceStatus::Finalized);
        assert_eq!((stored.paid_at, stored.voided_at, stored.credit_note_number), (None, None, None));
        assert_eq!(store.closed_periods(&acme.id).await.unwrap(), vec![month(9), month(10)]);
        assert_eq!(store.closed_periods(&beta.id).await.unwrap(), vec![month(10)]);
        let key = LineKey { segment_start: month(10).start(), line_type: LineType::BaseFee, meter: None };
        assert_eq!(store.billed_lines(&acme.id, month(10).start()).await.unwrap(), vec![(key, dec("0.1"))]);
        assert!(store.billed_lines(&acme.id, month(8).start()).await.unwrap().is_empty());
        assert_eq!(outbox(&app, "invoice.finalized").await, 2, "one outbox row per issued invoice");
    }

    async fn issuing_twice_for_one_period_is_already_closed(app) {
        // Arrange
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let first = issued(store, &acme, month(10), "10").await;
        let again = new_invoice(store, &acme, month(10), "99").await;
        // Act
        let outcome = issue(store, &acme.id, &again).await;
        // Assert
        assert_eq!(outcome, IssueOutcome::AlreadyClosed);
        assert_eq!(store.list_invoices(&acme.id, InvoiceFilter::default(), None, 10).await.unwrap(), vec![first], "nothing else was stored");
        assert_eq!(store.billed_lines(&acme.id, month(10).start()).await.unwrap().len(), 1);
        assert_eq!(outbox(&app, "invoice.finalized").await, 1);
        let next = issued(store, &acme, month(11), "10").await;
        assert_eq!(next.document.number, "INV-2026-000002", "a refused issue takes no number");
    }

    async fn issuing_consumes_credits_and_voiding_restores_them_under_a_credit_note(app) {
        // Arrange
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now() - Duration::days(90), &operator()).await.unwrap();
        let grant = NewCreditGrant { amount: Money::new(dec("10.10"), usd()), expires_at: None, reason: "promo".into() };
        let granted = store.grant_credit(&acme.id, &grant, test_now() - Duration::days(60), &operator()).await.unwrap();
        let invoice = issued(store, &acme, month(10), "100.00").await;
        let later = test_now() + Duration::days(1);
        // Act
        let voided = store.void_invoice(&invoice.document.id, "CN", later, &operator()).await.unwrap();
        let again = store.void_invoice(&invoice.document.id, "CN", later, &operator()).await.unwrap();
        let paid = store.mark_invoice_paid(&invoice.document.id, later, &operator()).await.unwrap();
        // Assert
        assert_eq!((invoice.document.content.credits_applied, invoice.document.content.total), (dec("10.10"), dec("98.78")));
        let StatusChange::Changed(voided) = voided else { panic!("the invoice is voided: {voided:?}") };
        assert_eq!((voided.document.status, voided.voided_at), (InvoiceStatus::Void, Some(later)));
        assert_eq!(voided.credit_note_number.as_deref(), Some("CN-2026-000001"));
        assert_eq!(voided.document.content.total, invoice.document.content.total, "the content stays as issued");
        assert_eq!(again, StatusChange::NotAllowed(InvoiceStatus::Void), "void twice");
        assert_eq!(paid, StatusChange::NotAllowed(InvoiceStatus::Void), "a void invoice is never paid");
        let ledger = store.credit_entries(&acme.id).await.unwrap();
        let seen: Vec<_> = ledger
            .iter()
            .map(|e| (e.kind, e.grant_id.as_str(), e.amount.amount, e.invoice_id.as_deref(), e.created_at))
            .collect();
        let invoice_id = Some(invoice.document.id.as_str());
        assert_eq!(seen, vec![
            (CreditEntryKind::Grant, granted.grant_id.as_str(), dec("10.1"), None, granted.created_at),
            (CreditEntryKind::Consumption, granted.grant_id.as_str(), dec("10.1"), invoice_id, test_now()),
            (CreditEntryKind::Restoration, granted.grant_id.as_str(), dec("10.1"), invoice_id, later),
        ]);
        assert_eq!(outbox(&app, "invoice.voided").await, 1);
        assert_eq!(store.closed_periods(&acme.id).await.unwrap(), vec![month(10)], "a void does not reopen the period");
    }

    async fn an_invoice_is_marked_paid_once(app) {
        // Arrange
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let invoice = issued(store, &acme, month(10), "10").await;
        let invoice_id = &invoice.document.id;
        let later = test_now() + Duration::days(3);
        // Act
        let paid = store.mark_invoice_paid(invoice_id, later, &operator()).await.unwrap();
        let again = store.mark_invoice_paid(invoice_id, later + Duration::days(1), &operator()).await.unwrap();
        let voided = store.void_invoice(invoice_id, "CN", later + Duration::days(2), &operator()).await.unwrap();
        // Assert
        let StatusChange::Changed(paid) = paid else { panic!("the invoice is paid: {paid:?}") };
        assert_eq!((paid.document.status, paid.paid_at), (InvoiceStatus::Paid, Some(later)));
        assert_eq!(again, StatusChange::NotAllowed(InvoiceStatus::Paid));
        let StatusChange::Changed(voided) = voided else { panic!("a paid invoice can be voided: {voided:?}") };
        let status = (voided.document.status, voided.paid_at);
        assert_eq!(status, (InvoiceStatus::Void, Some(later)), "the payment stays on record");
    }

    async fn status_changes_of_unknown_invoices_are_not_found(app) {
        // Arrange
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        store.create_tenant(&tenant("beta"), test_now(), &operator()).await.unwrap();
        let invoice = issued(store, &acme, month(10), "10").await;
        let unknown = InvoiceId::parse("acme.0123abcd").unwrap();
        // The same random part under another tenant's name: the tenant is the shard key, so
        // this is another tenant's (missing) invoice, never acme's.
        let (_, random) = invoice.document.id.as_str().split_once('.').unwrap();
        let theirs = InvoiceId::parse(&format!("beta.{random}")).unwrap();
        // Act
        let cases = [
            (store.mark_invoice_paid(&unknown, test_now(), &operator()).await.unwrap(), "paying an unknown id"),
            (store.void_invoice(&unknown, "CN", test_now(), &operator()).await.unwrap(), "voiding an unknown id"),
            (store.mark_invoice_paid(&theirs, test_now(), &operator()).await.unwrap(), "paying under another tenant's id"),
            (store.void_invoice(&theirs, "CN", test_now(), &operator()).await.unwrap(), "voiding under another tenant's id"),
        ];
        // Assert
        for (outcome, description) in cases {
            assert_eq!(outcome, StatusChange::NotFound, "{description}");
        }
        let unchanged = store.get_invoice(&invoice.document.id).await.unwrap();
        assert_eq!(unchanged, Some(invoice), "nothing changed");
    }

    async fn invoices_list_newest_period_first_after_a_cursor_within_their_tenant(app) {
        // Arrange
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        store.create_tenant(&tenant("beta"), test_now(), &operator()).await.unwrap();
        let mut issued_in_order = Vec::new();
        for m in [9, 8, 10] {
            issued_in_order.push(issued(store, &acme, month(m), "1").await);
        }
        let [september, august, october] = <[_; 3]>::try_from(issued_in_order).unwrap();
        // Act
        let first = store.list_invoices(&acme.id, InvoiceFilter::default(), None, 2).await.unwrap();
        let last = first.last().unwrap();
        let cursor = (last.document.content.period_start, last.document.id.clone());
        let rest = store.list_invoices(&acme.id, InvoiceFilter::default(), Some(cursor), 2).await.unwrap();
        // Assert
        assert_eq!(first, vec![october.clone(), september], "newest period first");
        assert_eq!(rest, vec![august], "after the cursor");
        assert!(store.list_invoices(&id("beta"), InvoiceFilter::default(), None, 10).await.unwrap().is_empty(), "another tenant's list is empty");
        let (_, random) = october.document.id.as_str().split_once('.').unwrap();
        let as_beta = store.get_invoice(&InvoiceId::parse(&format!("beta.{random}")).unwrap()).await.unwrap();
        assert!(as_beta.is_none(), "the same id under another tenant reads nothing");
        assert!(store.get_invoice(&InvoiceId::parse("acme.0123abcd").unwrap()).await.unwrap().is_none());
    }

    async fn a_negative_invoice_leaves_its_remainder_as_a_credit(app) {
        // Arrange
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        // Act
        let invoice = issued(store, &acme, month(10), "-5.00").await;
        // Assert
        assert_eq!((invoice.document.content.tax, invoice.document.content.total), (dec("-0.44"), dec("0")));
        let ledger = store.credit_entries(&acme.id).await.unwrap();
        let seen: Vec<_> = ledger.iter().map(|e| (e.kind, e.amount.amount.to_string(), e.invoice_id.clone())).collect();
        assert_eq!(seen, vec![(CreditEntryKind::Grant, "5.44".to_owned(), Some(invoice.document.id.to_string()))]);
        assert_eq!(ledger[0].grant_id, ledger[0].entry_id, "the remainder is a grant of its own");
    }

    async fn a_page_of_several_tenants_is_issued_in_one_transaction_numbered_in_its_order(app) {
        // Arrange: acme's August is closed already; acme has two periods in the page
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let beta = store.create_tenant(&tenant("beta"), test_now(), &operator()).await.unwrap();
        issued(store, &acme, month(8), "1").await;
        let august = new_invoice(store, &acme, month(8), "1").await;
        let (september, october) = (new_invoice(store, &acme, month(9), "9").await, new_invoice(store, &acme, month(10), "10").await);
        let beta_october = new_invoice(store, &beta, month(10), "20").await;
        let invoices = [(&acme.id, &october), (&beta.id, &beta_october), (&acme.id, &august), (&acme.id, &september)];
        let batch = IssueBatch { invoices: &invoices, invoice_prefix: "INV", now: test_now() };
        // Act: an error here is what makes a billing run fall back to issuing one by one
        let outcomes = store.issue_invoices(&batch).await.expect("the page is issued in one transaction");
        // Assert
        let numbers: Vec<_> = outcomes
            .iter()
            .map(|o| match o {
                IssueOutcome::Issued(d, _) => d.number.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(numbers, ["INV-2026-000002", "INV-2026-000003", "AlreadyClosed", "INV-2026-000004"]);
        assert_eq!(store.closed_periods(&acme.id).await.unwrap(), vec![month(8), month(9), month(10)]);
        assert_eq!(store.closed_periods(&beta.id).await.unwrap(), vec![month(10)]);
        assert_eq!(outbox(&app, "invoice.finalized").await, 3, "acme: August before, September and October now");
    }
}

/// PostgreSQL only: a period row another run holds is skipped, not awaited. (SQLite has one
/// writer, so a second run simply waits its turn.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuing_a_period_another_run_is_closing_is_busy_on_postgres() {
    // Arrange
    let app = spawn_app(Backend::Postgres).await;
    let store = &app.store;
    let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
    let invoice = new_invoice(store, &acme, month(10), "10").await;
    let other_run = another_run_holding_acmes_october(&app).await;
    // Act
    let busy = issue(store, &acme.id, &invoice).await;
    other_run.roll_back().await;
    let after = issue(store, &acme.id, &invoice).await;
    // Assert
    assert_eq!(busy, IssueOutcome::Busy);
    assert!(matches!(after, IssueOutcome::Issued(..)), "{after:?}");
}

/// Another billing run, on its own connection, in the middle of a transaction that holds
/// acme's October period (which it opened).
struct OtherRun(sqlx::PgConnection);

async fn another_run_holding_acmes_october(app: &TestApp) -> OtherRun {
    use sqlx::{Connection, Executor};
    let open = "insert into billing_period (tenant_id, period_start, period_end, state) \
        values ('acme', '2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z', 'open')";
    execute_sql(app, open).await.unwrap();
    let mut connection = sqlx::PgConnection::connect(&app.database.url).await.unwrap();
    connection.execute("begin").await.unwrap();
    connection.execute("select * from billing_period where tenant_id = 'acme' for update").await.unwrap();
    OtherRun(connection)
}

impl OtherRun {
    /// Ends the other run's transaction, releasing the period (answered before this returns).
    async fn roll_back(mut self) {
        use sqlx::Executor;
        self.0.execute("rollback").await.unwrap();
    }
}

server_stores!(a_page_skips_the_periods_another_run_holds_and_issues_the_rest);

/// PostgreSQL (and Citus) only, as above: in a page, the period another run holds is `Busy`
/// and the other tenants' are issued.
async fn a_page_skips_the_periods_another_run_holds_and_issues_the_rest(backend: Backend) {
    // Arrange
    let app = spawn_app(backend).await;
    let store = &app.store;
    let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
    let beta = store.create_tenant(&tenant("beta"), test_now(), &operator()).await.unwrap();
    let (held, free) =
        (new_invoice(store, &acme, month(10), "10").await, new_invoice(store, &beta, month(10), "20").await);
    let other_run = another_run_holding_acmes_october(&app).await;
    let invoices = [(&acme.id, &held), (&beta.id, &free)];
    let batch = IssueBatch { invoices: &invoices, invoice_prefix: "INV", now: test_now() };
    // Act
    let outcomes = store.issue_invoices(&batch).await.expect("the page is issued in one transaction");
    other_run.roll_back().await;
    // Assert
    assert_eq!(outcomes[0], IssueOutcome::Busy, "acme's period is held by the other run");
    assert!(matches!(&outcomes[1], IssueOutcome::Issued(d, _) if d.number == "INV-2026-000001"), "{:?}", outcomes[1]);
    assert!(store.closed_periods(&acme.id).await.unwrap().is_empty());
    assert_eq!(store.closed_periods(&beta.id).await.unwrap(), vec![month(10)]);
}
