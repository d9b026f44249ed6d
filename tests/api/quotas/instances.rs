//! Alerts survive restarts and several processes: a new instance on the same database and
//! three instances evaluating one PostgreSQL concurrently still raise each alert once; the
//! worker inside `serve` raises them by itself.

use std::time::Duration;

use super::{
    alert_rows, alerted, cap, create_tenant_on, evaluate, evaluator, invocation_cap, post_invocations, set_quotas,
    spawn_quota_app,
};
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::quota_tests;
use tally::store::open_store;

/// Another `tally serve` on the app's database, its quota worker running every `every` (zero:
/// off); returns its address and stop handle.
async fn instance_beside(app: &TestApp, every: Duration) -> (String, actix_web::dev::ServerHandle) {
    crate::helpers::instance_beside(app, |settings| settings.quota.evaluate_every = every).await
}

/// Waits (up to 10 s) until the alert events are `expected`, then a little longer to see that
/// no more come.
async fn settles_at(app: &TestApp, expected: &[u64]) {
    for _ in 0..200 {
        if alerted(app).await.len() >= expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(alerted(app).await, cap(expected));
}

quota_tests! {
    async fn a_restarted_instance_does_not_alert_again_for_thresholds_already_crossed(app) {
        // Arrange
        create_tenant_on(&app, "acme", "payg").await;
        set_quotas(&app, "acme", invocation_cap()).await;
        post_invocations(&app, "acme", "u1", 60).await;
        evaluate(&app).await;
        // Act: the first instance stops; a new one serves the same database
        app.stop.stop(true).await;
        let (address, stop) = instance_beside(&app, Duration::ZERO).await;
        let fresh = evaluator(&open_store(&app.database.url, 2).await.unwrap()).await;
        fresh.evaluate_quotas(app.clock_now()).await.unwrap();
        let body = serde_json::json!({"id": "u2", "tenant_id": "acme", "timestamp": "2026-11-27T12:00:00Z", "invocations": 25});
        let posted = app.client.post(format!("{address}/v1/usage")).bearer_auth(&app.ingest_key).json(&body).send().await.unwrap();
        assert_eq!(posted.status(), 200);
        let report = fresh.evaluate_quotas(app.clock_now()).await.unwrap();
        // Assert
        assert_eq!(report.alerts_raised, 1, "only 80 is new");
        assert_eq!(alerted(&app).await, cap(&[50, 80]));
        assert_eq!(alert_rows(&app).await, 2);
        stop.stop(true).await;
    }

    async fn the_worker_inside_serve_raises_alerts_by_itself(app) {
        // Arrange
        create_tenant_on(&app, "acme", "payg").await;
        set_quotas(&app, "acme", invocation_cap()).await;
        let (_, stop) = instance_beside(&app, Duration::from_millis(50)).await;
        // Act
        post_invocations(&app, "acme", "u1", 80).await;
        // Assert
        settles_at(&app, &[50, 80]).await;
        stop.stop(true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_one_postgresql_raise_each_alert_once() {
    // Arrange: three services on one database, their workers evaluating every 20 ms, plus
    // three more evaluators racing each step by hand
    let app = spawn_quota_app(Backend::Postgres).await;
    create_tenant_on(&app, "acme", "payg").await;
    set_quotas(&app, "acme", invocation_cap()).await;
    let mut stops = Vec::new();
    for _ in 0..3 {
        stops.push(instance_beside(&app, Duration::from_millis(20)).await.1);
    }
    let mut racers = Vec::new();
    for _ in 0..3 {
        racers.push(evaluator(&open_store(&app.database.url, 2).await.unwrap()).await);
    }
    let mut raised_by_hand = 0;
    for (id, invocations, expected) in [("u1", 50, &[50][..]), ("u2", 30, &[50, 80]), ("u3", 25, &[50, 80, 100])] {
        // Act
        post_invocations(&app, "acme", id, invocations).await;
        let now = app.clock_now();
        let (a, b, c) = tokio::join!(
            racers[0].evaluate_quotas(now),
            racers[1].evaluate_quotas(now),
            racers[2].evaluate_quotas(now)
        );
        raised_by_hand += a.unwrap().alerts_raised + b.unwrap().alerts_raised + c.unwrap().alerts_raised;
        // Assert
        settles_at(&app, expected).await;
    }
    assert_eq!(alert_rows(&app).await, 3);
    assert!(raised_by_hand <= 3, "each alert is raised by exactly one evaluator");
    for stop in stops {
        stop.stop(true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_alerts_and_time_the_evaluator_passes() {
    // Arrange: the default settings, so the worker makes its first pass at startup
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    // Act
    let metrics = app.metrics().await;
    // Assert
    for name in [
        "tally_quota_alerts_raised",
        "tally_quota_evaluation_seconds",
        "tally_quota_evaluation_last_pass_timestamp_seconds",
        "tally_quota_sweep_seconds",
        "tally_quota_changed_tenants_evaluated",
    ] {
        assert!(metrics.contains(name), "{name} in {metrics}");
    }
}
