//! `tally demo`: a month of usage through the real API, closed into one invoice per tenant,
//! emailed; running it again changes nothing.

use chrono::{DateTime, Utc};

use crate::helpers::{Backend, TestDatabase, JWT_SECRET};
use tally::config::Settings;
use tally::demo::{run_demo, DemoOptions, DemoReport};

fn settings(database: &TestDatabase) -> Settings {
    let mut settings = Settings::from_sources("", |_| None).expect("default settings load");
    settings.data_dir = database.data_dir.clone();
    settings.database_url = Some(database.url.clone().into());
    settings.jwt.secret = Some(JWT_SECRET.to_owned().into());
    settings
}

async fn demo(database: &TestDatabase) -> DemoReport {
    let now: DateTime<Utc> = "2026-11-27T12:00:00Z".parse().unwrap();
    // Two-hour buckets: the same month, an eighth of the records.
    let options = DemoOptions { now, bucket_minutes: 120, progress: false };
    run_demo(settings(database), options).await.expect("the demo runs")
}

fn invoices(report: &DemoReport) -> Vec<Option<(String, String)>> {
    report.tenants.iter().map(|t| t.invoice.clone()).collect()
}

async fn a_demo_month_is_invoiced_and_emailed_once_however_often_it_runs(backend: Backend) {
    // Arrange
    let database = TestDatabase::create(backend).await;
    // Act
    let first = demo(&database).await;
    let again = demo(&database).await;
    // Assert: every record new the first time, a duplicate the second
    assert!(first.records_sent > 1_000, "a month of usage: {}", first.records_sent);
    assert_eq!((first.accepted, first.duplicates), (first.records_sent, 0));
    assert_eq!((again.accepted, again.duplicates), (0, first.records_sent), "the second run sends the same records");
    // …one invoice per tenant for October, the same both times
    assert_eq!(first.tenants.len(), 3);
    for tenant in &first.tenants {
        let (number, total) =
            tenant.invoice.clone().unwrap_or_else(|| panic!("{} has last month's invoice", tenant.id));
        assert!(number.starts_with("INV-2026-"), "{number}");
        assert!(total.ends_with(" USD"), "{total}");
    }
    assert_eq!(invoices(&first), invoices(&again), "no second invoice");
    let payg = &first.tenants[0];
    assert_ne!(payg.invoice.as_ref().unwrap().1, "0.00 USD", "usage past the free allowance is billed");
    // …and emailed: an invoice to each tenant, a quota alert to the free one; nothing new after
    let written: Vec<String> = std::fs::read_dir(&first.outbox_dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(again.emails, first.emails, "no email twice");
    for tenant in &first.tenants {
        let number = &tenant.invoice.as_ref().unwrap().0;
        assert_eq!(
            written.iter().filter(|m| m.contains(number.as_str()) && m.contains("JVBERi0")).count(),
            1,
            "{number} once, with its PDF (base64 of %PDF-)"
        );
    }
    assert!(
        written.iter().any(|m| m.contains("peter@initech.example") && m.contains("Subject: Usage alert")),
        "the free tenant is alerted"
    );
    assert!(first.public_url.starts_with("http://127.0.0.1:8080"), "links point where `tally serve` listens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_month_is_invoiced_and_emailed_once_however_often_it_runs_on_sqlite() {
    a_demo_month_is_invoiced_and_emailed_once_however_often_it_runs(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_month_is_invoiced_and_emailed_once_however_often_it_runs_on_postgres() {
    a_demo_month_is_invoiced_and_emailed_once_however_often_it_runs(Backend::Postgres).await;
}
