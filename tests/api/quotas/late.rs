//! Late usage: records for a period already invoiced that cross one of its thresholds alert
//! once, marked late, for that period; the new period's thresholds are separate.

use super::{
    alert_events, alerted, at, cap, create_tenant_on, evaluate, invocation_cap, post_invocations_at, set_quotas,
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
}
