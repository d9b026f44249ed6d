//! Late usage: records for a period already invoiced that cross one of its thresholds alert
//! once, marked late, for that period; the new period's thresholds are separate. Only a quota
//! in force while the period ran can alert for it: one set or changed since does not.

use serde_json::json;

use super::entitlements::tenant_key;
use super::{
    alert_events, alerted, at, cap, create_tenant_on, evaluate, invocation_cap, post_invocations_at, put_as, set_quotas,
};
use crate::billing::run_billing_and_wait;
use crate::quota_tests;

quota_tests! {
    async fn late_usage_crossing_a_threshold_of_an_invoiced_period_alerts_once_marked_late(app) {
        // Arrange: 40 of 100 in November, then November is invoiced
        create_tenant_on(&app, "acme", "payg").await;
        set_quotas(&app, "acme", invocation_cap()).await;
        post_invocations_at(&app, "acme", "nov", 40, "2026-11-27T12:00:00Z").await;
        evaluate(&app).await;
        app.clock.set(at("2026-12-02T00:00:00Z"));
        run_billing_and_wait(&app, "2026-12-02T00:00:00Z").await;
        evaluate(&app).await;
        assert_eq!(alerted(&app).await, vec![], "40 % crossed nothing");
        // Act: a record for November 30 arrives in December
        post_invocations_at(&app, "acme", "nov-late", 15, "2026-11-30T23:00:00Z").await;
        evaluate(&app).await;
        evaluate(&app).await;
        // Assert
        let events = alert_events(&app).await;
        assert_eq!(alerted(&app).await, cap(&[50]));
        assert_eq!(events[0]["late"], true);
        assert_eq!(events[0]["period"]["start"], "2026-11-01T00:00:00Z");
        assert_eq!(events[0]["used"], "55");
        assert_eq!(events[0]["projected"], "55", "a period that has ended projects to what it used");
        // And December has its own thresholds
        post_invocations_at(&app, "acme", "dec", 50, "2026-12-01T12:00:00Z").await;
        evaluate(&app).await;
        let events = alert_events(&app).await;
        assert_eq!(events.len(), 2);
        assert_eq!((events[1]["period"]["start"].as_str(), events[1]["late"].as_bool()), (Some("2026-12-01T00:00:00Z"), Some(false)));
    }

    async fn a_budget_saved_after_a_period_was_invoiced_raises_no_late_alert_for_that_period(app) {
        // Arrange: November (a committed plan's 2000.00 minimum) is invoiced
        create_tenant_on(&app, "acme", "committed").await;
        post_invocations_at(&app, "acme", "nov", 40, "2026-11-27T12:00:00Z").await;
        app.clock.set(at("2026-12-02T00:00:00Z"));
        run_billing_and_wait(&app, "2026-12-02T00:00:00Z").await;
        // Act: on December 2 the tenant saves a budget of 6.00
        let acme = tenant_key(&app, "acme").await;
        let budget = json!({"budgets": [{"id": "monthly", "meter": "spend", "limit": "6.00", "thresholds": [50, 100]}]});
        assert_eq!(put_as(&app, "/v1/tenants/acme/budgets", &acme, &budget).await.status(), 200);
        evaluate(&app).await;
        evaluate(&app).await;
        // Assert: November's spend is far past 6.00, but the budget did not exist then
        let events = alert_events(&app).await;
        let periods: Vec<(&str, bool)> =
            events.iter().map(|e| (e["period"]["start"].as_str().unwrap(), e["late"].as_bool().unwrap())).collect();
        assert_eq!(periods, [("2026-12-01T00:00:00Z", false); 2], "December's 50 % and 100 % only, not late");
    }

    async fn a_quota_saved_again_unchanged_still_alerts_late_usage_of_a_period_it_covered_but_a_changed_one_does_not(app) {
        // Arrange: 40 of 100 in November, then November is invoiced
        create_tenant_on(&app, "acme", "payg").await;
        set_quotas(&app, "acme", invocation_cap()).await;
        post_invocations_at(&app, "acme", "nov", 40, "2026-11-27T12:00:00Z").await;
        app.clock.set(at("2026-12-02T00:00:00Z"));
        run_billing_and_wait(&app, "2026-12-02T00:00:00Z").await;
        // Act: the operator saves the set again, the cap unchanged beside a new quota; late usage follows
        let mem = json!({"id": "mem", "meter": "memory_gb_seconds", "limit": "1"});
        let mut resaved = invocation_cap();
        resaved.as_array_mut().unwrap().push(mem.clone());
        set_quotas(&app, "acme", resaved).await;
        post_invocations_at(&app, "acme", "nov-late", 15, "2026-11-30T23:00:00Z").await;
        evaluate(&app).await;
        // Assert: the cap was in force in November, so its late crossing alerts, marked late
        let events = alert_events(&app).await;
        assert_eq!(alerted(&app).await, cap(&[50]));
        assert_eq!((events[0]["late"].as_bool(), events[0]["period"]["start"].as_str()), (Some(true), Some("2026-11-01T00:00:00Z")));
        // Act: the operator lowers the cap to 50, and more November usage arrives
        let lowered = json!([{"id": "inv-cap", "meter": "invocations", "limit": "50", "thresholds": [50, 80, 100]}, mem]);
        set_quotas(&app, "acme", lowered).await;
        post_invocations_at(&app, "acme", "nov-later", 1, "2026-11-30T23:30:00Z").await;
        evaluate(&app).await;
        // Assert: 56 is past 100 % of 50, but that cap was not November's
        assert_eq!(alerted(&app).await, cap(&[50]), "no new alert for November");
        // And the lowered cap concerns December
        post_invocations_at(&app, "acme", "dec", 30, "2026-12-01T12:00:00Z").await;
        evaluate(&app).await;
        assert_eq!(alerted(&app).await, cap(&[50, 50]), "30 of 50 in December crosses 50 %");
    }
}
