//! What a page of tenants raises is written together (`store/raised.rs`): a surge that crosses
//! many tenants' quotas at once raises each alert once with its one event, a row another
//! process recorded first is neither written nor announced again, and a tenant whose rows
//! cannot be written holds up no other tenant of its page.

use futures_util::future::join_all;
use rust_decimal::Decimal;
use tally::domain::{BillingPeriod, Meter, Quantities, QuotaAlert, QuotaMeter, TenantId};
use tally::store::{Announced, Raised, Recorded, UnbilledEntry};

use reqwest::StatusCode;
use serde_json::json;

use super::{alert_events, alert_rows, at, create_tenant_on, evaluator};
use crate::billing::admin_post;
use crate::helpers::{accept_rows_again, count_rows, refuse_rows_of, stored_record, TestApp};
use crate::quota_tests;

/// More than the evaluator's page of 500, so the surge spans two pages.
const SURGE: usize = 510;

fn surge_tenant(i: usize) -> String {
    format!("surge-{i:04}")
}

/// `count` tenants on `free` (alerts at 80 % and 100 % of 1 000 000 invocations), each billed
/// to an address of its own (`ap@{id}.test`), created through the API a few dozen at a time.
async fn free_tenants(app: &TestApp, count: usize) -> Vec<String> {
    let ids: Vec<String> = (0..count).map(surge_tenant).collect();
    let create = |id: &String| {
        let body = json!({"id": id, "name": "T", "billing_email": format!("ap@{id}.test"), "plan": "free"});
        async move { assert_eq!(admin_post(app, "/v1/tenants", &body).await.status(), StatusCode::CREATED) }
    };
    for chunk in ids.chunks(32) {
        join_all(chunk.iter().map(create)).await;
    }
    ids
}

/// Stores one record of 1 000 000 invocations (the whole allowance) for each tenant.
async fn use_the_whole_allowance(app: &TestApp, tenants: &[String]) {
    let quantities = Quantities { invocations: Decimal::from(1_000_000), ..Default::default() };
    let records: Vec<_> =
        tenants.iter().map(|t| stored_record(t, &format!("{t}-all"), at("2026-11-27T12:00:00Z"), quantities)).collect();
    app.store.insert_usage(&records, app.clock_now()).await.unwrap();
}

/// An alert of `tenant`'s `free-invocations` quota at `threshold` in November 2026.
fn november_alert(tenant: &str, threshold: u32) -> Announced<QuotaAlert> {
    let period = BillingPeriod::new(at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")).unwrap();
    let alert = QuotaAlert {
        tenant_id: TenantId::parse(tenant).unwrap(),
        quota_id: "free-invocations".into(),
        threshold,
        period,
        meter: QuotaMeter::Usage(Meter::Invocations),
        used: Decimal::from(1_000_000),
        limit: Decimal::from(1_000_000),
        late: false,
    };
    let payload = format!(r#"{{"tenant_id":"{tenant}","quota_id":"free-invocations","threshold":{threshold}}}"#);
    Announced { row: alert, kind: "quota.threshold_crossed", payload }
}

/// `tenant`'s unbilled-usage entry for November 2026.
fn november_entry(tenant: &str) -> Announced<UnbilledEntry> {
    let period = BillingPeriod::new(at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")).unwrap();
    let entry = UnbilledEntry {
        tenant_id: TenantId::parse(tenant).unwrap(),
        period,
        reason: "no_plan".into(),
        quantities: Quantities { invocations: Decimal::from(3), ..Default::default() },
        records: 3,
        created_at: at("2026-11-27T12:00:00Z"),
    };
    Announced { row: entry, kind: "usage.unbilled", payload: format!(r#"{{"tenant_id":"{tenant}"}}"#) }
}

quota_tests! {
    async fn a_surge_across_two_pages_of_tenants_raises_each_alert_once_with_its_event(app) {
        // Arrange: every tenant reaches its whole allowance at once
        let tenants = free_tenants(&app, SURGE).await;
        use_the_whole_allowance(&app, &tenants).await;
        let evaluator = evaluator(&app.store).await;
        // Act
        let sweep = evaluator.evaluate_quotas(app.clock_now()).await.unwrap();
        let again = evaluator.evaluate_quotas(app.clock_now()).await.unwrap();
        // Assert
        assert_eq!((sweep.alerts_raised, sweep.failures), (2 * SURGE, 0), "80 % and 100 % for every tenant");
        assert_eq!(again.alerts_raised, 0, "each threshold alerts once");
        assert_eq!(alert_rows(&app).await, 2 * SURGE as i64);
        let mut announced: Vec<(String, u64)> = alert_events(&app)
            .await
            .iter()
            .map(|e| (e["tenant_id"].as_str().unwrap().to_owned(), e["threshold"].as_u64().unwrap()))
            .collect();
        announced.sort();
        let expected: Vec<(String, u64)> =
            tenants.iter().flat_map(|t| [(t.clone(), 80), (t.clone(), 100)]).collect();
        assert_eq!(announced, expected, "one event per alert, naming its tenant and threshold");
    }

    async fn a_surges_events_expand_page_by_page_to_each_tenants_own_address_and_the_endpoint(app) {
        // Arrange: 1 020 alert events (three pages of 500), and an endpoint subscribed to them
        let tenants = free_tenants(&app, SURGE).await;
        use_the_whole_allowance(&app, &tenants).await;
        let hook = json!({"url": "http://127.0.0.1:9/alerts", "events": ["quota.threshold_crossed"]});
        assert_eq!(admin_post(&app, "/v1/webhooks", &hook).await.status(), StatusCode::CREATED);
        evaluator(&app.store).await.evaluate_quotas(app.clock_now()).await.unwrap();
        // Act
        let expanded = app.dispatcher.expand_due(app.clock_now()).await.unwrap();
        let again = app.dispatcher.expand_due(app.clock_now()).await.unwrap();
        // Assert
        let alerts = 2 * SURGE as i64;
        assert_eq!((expanded, again), (2 * SURGE, 0), "every event once, none twice");
        let count = |sql: &'static str| count_rows(&app, sql);
        assert_eq!(count("select count(*) from outbox_delivery where channel = 'email'").await, alerts);
        let own = "select count(*) from outbox_delivery where channel = 'email' and recipient = 'ap@' || tenant_id || '.test'";
        assert_eq!(count(own).await, alerts, "each alert emails its own tenant's address");
        assert_eq!(count("select count(*) from outbox_delivery where channel = 'webhook'").await, alerts);
        let left = "select count(*) from outbox where kind = 'quota.threshold_crossed' and state <> 'expanded'";
        assert_eq!(count(left).await, 0);
    }

    async fn a_row_recorded_first_elsewhere_is_neither_written_nor_announced_again(app) {
        // Arrange: another process has recorded acme's 80 % alert and hooli's unbilled entry
        create_tenant_on(&app, "acme", "free").await;
        let first = Raised {
            alerts: vec![november_alert("acme", 80)],
            unbilled: vec![november_entry("hooli")],
            unbilled_changed: vec![],
        };
        let earlier = app.store.record_raised(&first, app.clock_now()).await.unwrap();
        // Act: a page raising both again, with 100 % once, a second time, and initech's entry
        let page = Raised {
            alerts: vec![november_alert("acme", 80), november_alert("acme", 100), november_alert("acme", 100)],
            unbilled: vec![november_entry("hooli"), november_entry("initech")],
            unbilled_changed: vec![],
        };
        let recorded = app.store.record_raised(&page, app.clock_now()).await.unwrap();
        // Assert
        assert_eq!(earlier, Recorded { alerts: vec![true], unbilled: vec![true] });
        assert_eq!(recorded, Recorded { alerts: vec![false, true, false], unbilled: vec![false, true] });
        assert_eq!(alert_rows(&app).await, 2);
        let thresholds: Vec<u64> = alert_events(&app).await.iter().map(|e| e["threshold"].as_u64().unwrap()).collect();
        assert_eq!(thresholds.len(), 2, "one event per alert: {thresholds:?}");
        let unbilled_events = count_rows(&app, "select count(*) from outbox where kind = 'usage.unbilled'").await;
        assert_eq!(unbilled_events, 2, "hooli's and initech's, once each");
    }

    async fn a_tenant_whose_alerts_cannot_be_written_holds_up_no_other_and_is_retried(app) {
        // Arrange: three tenants at their whole allowance; the middle one's alerts are refused
        let tenants = free_tenants(&app, 3).await;
        use_the_whole_allowance(&app, &tenants).await;
        refuse_rows_of(&app, "alert", &tenants[1]).await;
        let evaluator = evaluator(&app.store).await;
        // Act
        let sweep = evaluator.evaluate_quotas(app.clock_now()).await.unwrap();
        let rows_meanwhile = alert_rows(&app).await;
        accept_rows_again(&app, "alert").await;
        let retried = evaluator.evaluate_changed(app.clock_now()).await.unwrap();
        // Assert
        assert_eq!((sweep.alerts_raised, sweep.failures), (4, 1), "the other two tenants' alerts are written");
        assert_eq!(rows_meanwhile, 4);
        assert_eq!(retried.alerts_raised, 2, "the refused tenant is marked for the next changed pass");
        assert_eq!(alert_events(&app).await.len(), 6);
    }
}
