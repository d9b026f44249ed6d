//! The evaluator's changed pass reads only the tenants whose data changed since a pass last
//! took them, whichever process changed it; its sweep reads every tenant and finds what no
//! change told of (DESIGN §9: "the evaluator reads what changed since its last pass").

use std::time::Duration;

use serde_json::json;

use super::{alerted, cap, create_tenant_on, evaluator, invocation_cap, post_invocations, set_quotas};
use crate::helpers::{execute_sql, stored_record, TestApp};
use crate::quota_tests;
use rust_decimal::Decimal;
use tally::domain::{NewUsageRecord, Quantities, TenantId};
use tally::quota::{EvaluationReport, QuotaEvaluator};
use tally::store::open_store;

/// `acme` and `idle` on `payg`, each with the invocation cap, and an evaluator whose first
/// changed pass (returned) has taken what setting them up changed.
async fn two_capped_tenants(app: &TestApp) -> (QuotaEvaluator, EvaluationReport) {
    let evaluator = evaluator(&app.store).await;
    for tenant in ["acme", "idle"] {
        create_tenant_on(app, tenant, "payg").await;
        set_quotas(app, tenant, invocation_cap()).await;
    }
    let setup = evaluator.evaluate_changed(app.clock_now()).await.unwrap();
    (evaluator, setup)
}

/// Changed passes of `evaluator` until one raises an alert (at most 5 s: another process
/// writes its changes each second); the report of that pass.
async fn until_a_changed_pass_alerts(app: &TestApp, evaluator: &QuotaEvaluator) -> EvaluationReport {
    for _ in 0..50 {
        let report = evaluator.evaluate_changed(app.clock_now()).await.unwrap();
        if report.alerts_raised > 0 {
            return report;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no changed pass raised an alert within 5 s");
}

/// A record of `invocations` for `tenant` at the test's "now", as the writer would store it.
fn invocations_record(tenant: &str, id: &str, invocations: u64) -> NewUsageRecord {
    let quantities = Quantities { invocations: Decimal::from(invocations), ..Default::default() };
    stored_record(tenant, id, super::at("2026-11-27T12:00:00Z"), quantities)
}

quota_tests! {
    async fn a_changed_pass_reads_only_the_tenants_whose_usage_changed(app) {
        // Arrange
        let (evaluator, setup) = two_capped_tenants(&app).await;
        // Act
        post_invocations(&app, "acme", "u1", 60).await;
        let pass = evaluator.evaluate_changed(app.clock_now()).await.unwrap();
        let quiet = evaluator.evaluate_changed(app.clock_now()).await.unwrap();
        // Assert
        assert_eq!(setup.tenants, 2, "creating tenants and setting quotas are changes");
        assert_eq!((pass.tenants, pass.alerts_raised), (1, 1), "acme alone is read, and alerted at 50 %");
        assert_eq!(quiet.tenants, 0, "nothing changed since");
        assert_eq!(alerted(&app).await, cap(&[50]));
    }

    async fn a_duplicate_record_is_no_change(app) {
        // Arrange
        let (evaluator, _) = two_capped_tenants(&app).await;
        post_invocations(&app, "acme", "u1", 10).await;
        evaluator.evaluate_changed(app.clock_now()).await.unwrap();
        // Act: the runtime retries the same record
        post_invocations(&app, "acme", "u1", 10).await;
        let pass = evaluator.evaluate_changed(app.clock_now()).await.unwrap();
        // Assert
        assert_eq!(pass.tenants, 0);
    }

    async fn lowering_a_limit_is_a_change_that_alerts(app) {
        // Arrange
        let (evaluator, _) = two_capped_tenants(&app).await;
        post_invocations(&app, "idle", "u1", 30).await;
        assert_eq!(evaluator.evaluate_changed(app.clock_now()).await.unwrap().alerts_raised, 0);
        // Act: 30 of 50 is 60 %
        let lowered = json!([{"id": "inv-cap", "meter": "invocations", "limit": "50", "thresholds": [50, 80, 100], "hard": true}]);
        set_quotas(&app, "idle", lowered).await;
        let pass = evaluator.evaluate_changed(app.clock_now()).await.unwrap();
        // Assert
        assert_eq!((pass.tenants, pass.alerts_raised), (1, 1));
    }

    async fn usage_another_process_stored_is_read_by_this_processs_changed_pass(app) {
        // Arrange: a second `tally serve` on the same database, its own evaluator off
        let (evaluator, _) = two_capped_tenants(&app).await;
        let (address, stop) = crate::helpers::instance_beside(&app, |s| s.quota.evaluate_every = Duration::ZERO).await;
        // Act: the usage goes to the other process
        let body = json!({"id": "u1", "tenant_id": "acme", "timestamp": "2026-11-27T12:00:00Z", "invocations": 85});
        let posted = app.client.post(format!("{address}/v1/usage")).bearer_auth(&app.ingest_key).json(&body).send().await.unwrap();
        assert_eq!(posted.status(), 200);
        let pass = until_a_changed_pass_alerts(&app, &evaluator).await;
        // Assert
        assert_eq!((pass.tenants, pass.alerts_raised), (1, 2), "50 % and 80 %, from the other process's report");
        stop.stop(true).await;
    }

    async fn a_sweep_finds_a_crossing_no_change_told_of(app) {
        // Arrange: usage stored by a store whose changes are never written (a process that
        // stopped before its report)
        let (evaluator, _) = two_capped_tenants(&app).await;
        let silent = open_store(&app.database.url, 1).await.unwrap();
        silent.insert_usage(&[invocations_record("idle", "u1", 55)], app.clock_now()).await.unwrap();
        // Act
        let changed = evaluator.evaluate_changed(app.clock_now()).await.unwrap();
        let sweep = evaluator.evaluate_quotas(app.clock_now()).await.unwrap();
        // Assert
        assert_eq!((changed.tenants, changed.alerts_raised), (0, 0), "no change was reported");
        assert_eq!((sweep.tenants, sweep.alerts_raised), (2, 1), "the sweep reads every tenant");
        assert_eq!(alerted(&app).await, cap(&[50]));
    }

    async fn a_store_reports_each_tenant_it_stored_records_of_once_until_taken(app) {
        // Arrange: a store of its own (the app's reports its own changes each second), once
        // the app's report of the tenants it created is in and taken
        for tenant in ["t1", "t2"] {
            create_tenant_on(&app, tenant, "payg").await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let store = open_store(&app.database.url, 1).await.unwrap();
        store.take_changed_tenants().await.unwrap();
        let records = [invocations_record("t2", "a", 1), invocations_record("t1", "b", 1), invocations_record("t2", "c", 1)];
        // Act
        store.insert_usage(&records, app.clock_now()).await.unwrap();
        store.insert_usage(&records[..1], app.clock_now()).await.unwrap();
        let flushed = store.flush_changed_tenants().await.unwrap();
        store.insert_usage(&records[..1], app.clock_now()).await.unwrap();
        let again = store.flush_changed_tenants().await.unwrap();
        let taken = store.take_changed_tenants().await.unwrap();
        let after = store.take_changed_tenants().await.unwrap();
        // Assert
        assert_eq!(flushed, 2, "t1 and t2, each once");
        assert_eq!(again, 0, "a duplicate is no change");
        assert_eq!(taken, [TenantId::parse("t1").unwrap(), TenantId::parse("t2").unwrap()]);
        assert!(after.is_empty(), "taken rows are gone");
    }

    async fn a_report_that_fails_keeps_its_tenants_for_the_next(app) {
        // Arrange: a store of its own (no background report), its tenant's usage stored
        create_tenant_on(&app, "acme", "payg").await;
        let store = open_store(&app.database.url, 1).await.unwrap();
        store.insert_usage(&[invocations_record("acme", "u1", 1)], app.clock_now()).await.unwrap();
        // Act: the table is gone for the first report, back for the second
        execute_sql(&app, "alter table tenant_change rename to tenant_change_away").await.unwrap();
        let failed = store.flush_changed_tenants().await;
        execute_sql(&app, "alter table tenant_change_away rename to tenant_change").await.unwrap();
        let retried = store.flush_changed_tenants().await.unwrap();
        // Assert
        assert!(failed.is_err(), "the first report fails");
        assert_eq!(retried, 1, "acme is reported by the next");
        assert!(store.take_changed_tenants().await.unwrap().contains(&TenantId::parse("acme").unwrap()));
    }

    async fn a_fixed_fee_over_a_spend_quota_alerts_with_no_usage_read(app) {
        // Arrange: `committed` charges a monthly fee (prorated from today), no usage at all
        let evaluator = evaluator(&app.store).await;
        create_tenant_on(&app, "hooli", "committed").await;
        let spend = json!([{"id": "spend-cap", "meter": "spend", "limit": "10.00", "thresholds": [50, 100], "hard": false}]);
        set_quotas(&app, "hooli", spend).await;
        // Act
        let pass = evaluator.evaluate_changed(app.clock_now()).await.unwrap();
        // Assert
        assert_eq!((pass.tenants, pass.alerts_raised), (1, 2), "the fee alone is over 100 % of $10");
        let thresholds: Vec<(String, u64)> = [50, 100].iter().map(|t| ("spend-cap".to_owned(), *t)).collect();
        assert_eq!(alerted(&app).await, thresholds);
    }
}
