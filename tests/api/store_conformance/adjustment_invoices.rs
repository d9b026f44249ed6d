//! Adjustment invoices (late usage billed in a currency the tenant has left) are issued beside
//! their period's invoice: in its transaction, numbered right after it, or not at all.

use super::{issue, month, new_invoice, tenant};
use crate::both_stores;
use crate::helpers::{count_rows, operator, test_now};
use tally::domain::{Currency, InvoiceKind, NewInvoice, TenantId};
use tally::store::{IssueBatch, IssueInvoice, IssueOutcome};

/// `invoice` as an adjustment invoice in `code`.
fn as_adjustment(mut invoice: NewInvoice, code: &str) -> NewInvoice {
    invoice.content.kind = InvoiceKind::Adjustment;
    invoice.content.currency = Currency::parse(code).unwrap();
    invoice
}

fn issuing<'a>(tenant: &'a TenantId, invoice: &'a NewInvoice) -> IssueInvoice<'a> {
    IssueInvoice { tenant, invoice, invoice_prefix: "INV", now: test_now() }
}

both_stores! {
    async fn an_adjustment_invoice_is_issued_with_its_period_invoice_and_numbered_next(app) {
        // Arrange: acme's October invoice in USD carries one in EUR; beta's too, issued alone.
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let beta = store.create_tenant(&tenant("beta"), test_now(), &operator()).await.unwrap();
        let mut october = new_invoice(store, &acme, month(10), "10.00").await;
        october.adjustment_invoices.push(as_adjustment(new_invoice(store, &acme, month(10), "2.00").await, "EUR"));
        let mut betas = new_invoice(store, &beta, month(10), "1.00").await;
        betas.adjustment_invoices.push(as_adjustment(new_invoice(store, &beta, month(10), "3.00").await, "EUR"));
        // Act: a page of one, then one alone, then both again
        let invoices = [(&acme.id, &october)];
        let page = IssueBatch { invoices: &invoices, invoice_prefix: "INV", now: test_now() };
        let paged = store.issue_invoices(&page).await.unwrap();
        let alone = issue(store, &beta.id, &betas).await;
        let again = (issue(store, &acme.id, &october).await, store.issue_invoices(&page).await.unwrap());
        // Assert
        let issued = |outcome: &IssueOutcome| match outcome {
            IssueOutcome::Issued(period, adjustments) => {
                let mut all = vec![(**period).clone()];
                all.extend(adjustments.iter().cloned());
                all
            }
            other => panic!("issued: {other:?}"),
        };
        let (acmes, betas) = (issued(&paged[0]), issued(&alone));
        let numbers: Vec<&str> = acmes.iter().chain(&betas).map(|d| d.number.as_str()).collect();
        assert_eq!(numbers, ["INV-2026-000001", "INV-2026-000002", "INV-2026-000003", "INV-2026-000004"]);
        for document in acmes.iter().chain(&betas) {
            let stored = store.get_invoice(&document.id).await.unwrap().expect("each reads back");
            assert_eq!(&stored.document, document, "as issued, kind and currency included");
        }
        let kinds: Vec<(InvoiceKind, &str)> = acmes.iter().map(|d| (d.content.kind, d.content.currency.code())).collect();
        assert_eq!(kinds, [(InvoiceKind::Period, "USD"), (InvoiceKind::Adjustment, "EUR")]);
        assert_eq!(again.0, IssueOutcome::AlreadyClosed, "the period is closed: neither is issued again");
        assert_eq!(again.1, [IssueOutcome::AlreadyClosed]);
        assert_eq!(count_rows(&app, "select count(*) from invoice").await, 4);
        let finalized = "select count(*) from outbox where kind = 'invoice.finalized'";
        assert_eq!(count_rows(&app, finalized).await, 4, "each is emailed");
        let named = format!("select count(*) from billing_period where invoice_id = '{}'", acmes[0].id);
        assert_eq!(count_rows(&app, &named).await, 1, "the period names its period invoice");
        let billed = format!("select count(*) from billed_line where invoice_id = '{}'", acmes[1].id);
        assert_eq!(count_rows(&app, &billed).await, 1, "what the adjustment invoice billed counts as billed");
    }

    async fn a_second_adjustment_invoice_in_one_currency_for_one_period_is_refused_and_leaves_nothing(app) {
        // Arrange: two EUR adjustment invoices beside acme's October (a run never drafts it).
        let store = &app.store;
        let acme = store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let mut october = new_invoice(store, &acme, month(10), "10.00").await;
        let euros = as_adjustment(new_invoice(store, &acme, month(10), "2.00").await, "EUR");
        october.adjustment_invoices = vec![euros.clone(), euros];
        // Act
        let refused = store.issue_invoice(&issuing(&acme.id, &october)).await;
        // Assert
        assert!(refused.is_err(), "the database refuses the second: {refused:?}");
        assert_eq!(count_rows(&app, "select count(*) from invoice").await, 0, "nor the period's invoice");
        assert!(store.closed_periods(&acme.id).await.unwrap().is_empty(), "the period stays open");
        october.adjustment_invoices.pop();
        let IssueOutcome::Issued(period, _) = store.issue_invoice(&issuing(&acme.id, &october)).await.unwrap() else {
            panic!("issued once the second is gone")
        };
        assert_eq!(period.number, "INV-2026-000001", "the refused numbers were given back");
    }
}
