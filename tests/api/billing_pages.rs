//! The billing run bills tenants a page at a time (one read per table, one transaction per
//! page), and a tenant's failure stays its own: the rest of its page is invoiced, numbers
//! gapless.

use serde_json::Value;

use crate::billing::{at, invoices_of, tenant_on};
use crate::both_stores;
use crate::helpers::TestApp;

/// Bills as of November 2 in pages of `page_size`, as the scheduler would.
async fn bill_in_pages(app: &TestApp, page_size: usize) -> tally::invoice::RunReport {
    let config = tally::startup::billing_config(&{
        let mut s = tally::config::Settings::from_sources("", |_| None).unwrap();
        s.allow_time_travel = true;
        s
    });
    let catalog = tally::plans::load_catalog(&app.store).await.unwrap();
    let mut run = config.run(&app.store, &catalog);
    run.page_size = page_size;
    run.run(at("2026-11-02T00:00:00Z")).await.unwrap()
}

async fn numbers(app: &TestApp, tenants: &[&str]) -> Vec<String> {
    let mut numbers = Vec::new();
    for tenant in tenants {
        let invoices: Vec<Value> = invoices_of(app, tenant).await;
        numbers.extend(invoices.iter().map(|i| i["number"].as_str().unwrap().to_owned()));
    }
    numbers.sort();
    numbers
}

both_stores! {
    async fn a_tenant_that_cannot_be_priced_fails_alone_and_the_rest_of_its_page_is_invoiced(app) {
        // Arrange: five tenants on payg; t2 is moved to a plan no catalog has.
        for i in 0..5 {
            tenant_on(&app, &format!("t{i}"), "UTC", "payg", "2026-10-01T00:00:00Z").await;
        }
        let ghost = tally::domain::SubscriptionChange::to_plan(at("2026-10-01T00:00:00Z"), "ghost");
        let t2 = tally::domain::TenantId::parse("t2").unwrap();
        let actor = tally::domain::Actor::command_line("test");
        app.store.change_subscription(&t2, &ghost, at("2026-10-01T00:00:00Z"), &actor).await.unwrap();
        // Act
        let report = bill_in_pages(&app, 500).await;
        // Assert
        assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
        assert!(report.failures[0].starts_with("t2: "), "{:?}", report.failures);
        assert_eq!(report.invoices_issued.len(), 4);
        let expected: Vec<String> = (1..=4).map(|n| format!("INV-2026-{n:06}")).collect();
        assert_eq!(numbers(&app, &["t0", "t1", "t3", "t4"]).await, expected);
    }

    async fn an_invoice_the_pages_transaction_cannot_write_fails_alone_and_the_others_are_issued_one_by_one(app) {
        // Arrange: four tenants; an October invoice for t1 is already stored (its period open),
        // so the page's transaction breaks the one-invoice-per-period index.
        for i in 0..4 {
            tenant_on(&app, &format!("t{i}"), "UTC", "payg", "2026-10-01T00:00:00Z").await;
        }
        let (start, end) = match app.database.pg_name {
            Some(_) => ("'2026-10-01T00:00:00Z'", "'2026-11-01T00:00:00Z'"),
            None => ("1790812800000000", "1793491200000000"),
        };
        let stray = format!(
            "insert into invoice (tenant_id, invoice_id, kind, number, status, period_start, period_end, currency, \
             subtotal, tax, credits_applied, total, document, issued_at, created_at) \
             values ('t1', 'stray', 'period', 'X-1', 'finalized', {start}, {end}, 'USD', 0, 0, 0, 0, '{{}}', {end}, {end})"
        );
        crate::helpers::execute_sql(&app, &stray).await.unwrap();
        // Act
        let report = bill_in_pages(&app, 500).await;
        // Assert
        assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
        assert!(report.failures[0].starts_with("t1: "), "{:?}", report.failures);
        let expected: Vec<String> = (1..=3).map(|n| format!("INV-2026-{n:06}")).collect();
        assert_eq!(numbers(&app, &["t0", "t2", "t3"]).await, expected, "no number lost to the failed page");
    }

    async fn tenants_with_several_due_periods_get_each_once_in_order_beside_tenants_with_one(app) {
        // Arrange: t0 on payg since August (three months due), t1 since October (one).
        tenant_on(&app, "t0", "UTC", "committed", "2026-08-01T00:00:00Z").await;
        tenant_on(&app, "t1", "UTC", "committed", "2026-10-01T00:00:00Z").await;
        // Act: billed together, then again (nothing left).
        let first = bill_in_pages(&app, 500).await;
        let again = bill_in_pages(&app, 500).await;
        // Assert
        assert_eq!(first.failures, Vec::<String>::new());
        assert_eq!((first.invoices_issued.len(), again.invoices_issued.len()), (4, 0));
        let starts: Vec<String> =
            invoices_of(&app, "t0").await.iter().map(|i| i["period_start"].as_str().unwrap().to_owned()).collect();
        assert_eq!(starts.len(), 3);
        assert!(starts.contains(&"2026-08-01T00:00:00Z".to_owned()) && starts.contains(&"2026-10-01T00:00:00Z".to_owned()));
        assert_eq!(numbers(&app, &["t0", "t1"]).await, (1..=4).map(|n| format!("INV-2026-{n:06}")).collect::<Vec<_>>());
    }
}
