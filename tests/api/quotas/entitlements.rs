//! Entitlements: what runtimes ask on their hot path. Plan defaults and the operator's
//! overrides, `blocked` once a hard limit is reached and clear again in the next period, or
//! while the tenant is deactivated, and who may ask.

use serde_json::{json, Value};

use super::{at, create_tenant_on, post_invocations, set_quotas};
use crate::helpers::{operator, spawn_app_with, Backend, TestApp};
use crate::quota_tests;
use tally::auth::{issue_api_key, Principal, Role};
use tally::domain::TenantId;

async fn entitlements_as(app: &TestApp, tenant: &str, credential: &str, query: &str) -> (u16, Value) {
    let response = app.get_as(&format!("/v1/tenants/{tenant}/entitlements{query}"), credential).await;
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

/// The entitlement of `quota_id`, as the ingest key reads it.
async fn entitlement(app: &TestApp, tenant: &str, quota_id: &str) -> Value {
    let (status, body) = entitlements_as(app, tenant, &app.ingest_key, "").await;
    assert_eq!(status, 200, "{body}");
    body["entitlements"].as_array().unwrap().iter().find(|e| e["quota_id"] == quota_id).cloned().unwrap_or(Value::Null)
}

/// PATCHes the tenant as admin, expecting 200.
async fn patch(app: &TestApp, tenant: &str, body: Value) {
    let response =
        app.client.patch(format!("{}/v1/tenants/{tenant}", app.address)).bearer_auth(&app.admin_key).json(&body);
    assert_eq!(response.send().await.unwrap().status(), 200, "PATCH {body}");
}

pub async fn tenant_key(app: &TestApp, tenant: &str) -> String {
    let principal = Principal::new(Role::Tenant, Some(TenantId::parse(tenant).unwrap()), "tenant-test").unwrap();
    issue_api_key(&app.store, &principal, app.clock_now(), &operator()).await.unwrap()
}

quota_tests! {
    async fn a_hard_limit_blocks_once_reached_and_clears_in_the_next_period(app) {
        // Arrange: the free plan's default invocation quota is 1 000 000, hard
        create_tenant_on(&app, "acme", "free").await;
        post_invocations(&app, "acme", "u1", 999_999).await;
        let before = entitlement(&app, "acme", "free-invocations").await;
        assert_eq!(before, json!({"quota_id": "free-invocations", "meter": "invocations", "used": "999999",
            "limit": "1000000", "remaining": "1", "hard": true, "blocked": false}));
        // Act
        post_invocations(&app, "acme", "u2", 2).await;
        let reached = entitlement(&app, "acme", "free-invocations").await;
        app.clock.set(at("2026-12-01T00:00:00Z"));
        let next_period = entitlement(&app, "acme", "free-invocations").await;
        // Assert
        assert_eq!((reached["used"].as_str(), reached["remaining"].as_str(), reached["blocked"].as_bool()),
            (Some("1000001"), Some("0"), Some(true)));
        assert_eq!((next_period["used"].as_str(), next_period["blocked"].as_bool()), (Some("0"), Some(false)));
        let (_, body) = entitlements_as(&app, "acme", &app.ingest_key, "").await;
        assert_eq!(body["period"], json!({"start": "2026-12-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}));
        assert_eq!(body["as_of"], "2026-12-01T00:00:00Z");
    }

    async fn the_operators_quota_overrides_the_plan_default_with_the_same_id(app) {
        // Arrange
        create_tenant_on(&app, "acme", "free").await;
        post_invocations(&app, "acme", "u1", 1_500_000).await;
        assert_eq!(entitlement(&app, "acme", "free-invocations").await["blocked"], true);
        // Act: this tenant may use 2 000 000 and is never blocked
        let cap = json!([{"id": "free-invocations", "meter": "invocations", "limit": "2000000", "thresholds": [90], "hard": false}]);
        let stored = set_quotas(&app, "acme", cap).await;
        // Assert
        let overridden = entitlement(&app, "acme", "free-invocations").await;
        assert_eq!((overridden["limit"].as_str(), overridden["blocked"].as_bool()), (Some("2000000"), Some(false)));
        assert_eq!(entitlement(&app, "acme", "free-memory").await["limit"], "400000", "other defaults stay");
        assert_eq!(stored["quotas"].as_array().unwrap().len(), 1);
        assert_eq!(stored["plan_quotas"].as_array().unwrap().len(), 3, "the plan's defaults are listed too");
    }

    async fn a_deactivated_tenant_reads_blocked_until_it_is_reactivated(app) {
        // Arrange
        create_tenant_on(&app, "acme", "free").await;
        post_invocations(&app, "acme", "u1", 10).await;
        let (_, active) = entitlements_as(&app, "acme", &app.ingest_key, "").await;
        // Act: deactivated an hour after it subscribed
        app.clock.set(at("2026-11-27T13:00:00Z"));
        patch(&app, "acme", json!({"active": false})).await;
        let (_, inactive) = entitlements_as(&app, "acme", &app.ingest_key, "?meter=invocations").await;
        patch(&app, "acme", json!({"active": true})).await;
        let subscribed = app.client.put(format!("{}/v1/tenants/acme/subscription", app.address))
            .bearer_auth(&app.admin_key).json(&json!({"plan": "free", "timing": "immediately"})).send().await.unwrap();
        assert_eq!(subscribed.status(), 200, "back on free");
        let (_, reactivated) = entitlements_as(&app, "acme", &app.ingest_key, "").await;
        // Assert
        assert_eq!((&active["blocked"], &active["blocked_reason"]), (&json!(false), &Value::Null));
        assert_eq!((&inactive["blocked"], &inactive["blocked_reason"]), (&json!(true), &json!("tenant_inactive")));
        assert_eq!(inactive["entitlements"], json!([{"quota_id": "free-invocations", "meter": "invocations",
            "used": "10", "limit": "1000000", "remaining": "999990", "hard": true, "blocked": true}]),
            "the plan's quota is still there, and blocked: ingest refuses the usage");
        assert_eq!((&reactivated["blocked"], &reactivated["blocked_reason"]), (&json!(false), &Value::Null));
        let blocked: Vec<&Value> = reactivated["entitlements"].as_array().unwrap().iter().map(|e| &e["blocked"]).collect();
        assert_eq!(blocked, [&json!(false); 3], "every quota of the plan, none blocked");
    }

    async fn entitlements_answer_ingest_keys_admins_and_the_tenant_itself_and_nobody_else(app) {
        // Arrange
        create_tenant_on(&app, "acme", "free").await;
        create_tenant_on(&app, "globex", "free").await;
        let acme = tenant_key(&app, "acme").await;
        // Act / Assert
        for (who, credential, tenant, status) in [
            ("ingest key", app.ingest_key.clone(), "acme", 200),
            ("admin", app.admin_key.clone(), "acme", 200),
            ("the tenant", acme.clone(), "acme", 200),
            ("another tenant", acme.clone(), "globex", 404),
            ("an unknown tenant", app.admin_key.clone(), "nobody", 404),
        ] {
            let (got, body) = entitlements_as(&app, tenant, &credential, "").await;
            assert_eq!(got, status, "{who}: {body}");
        }
        let (_, one) = entitlements_as(&app, "acme", &app.ingest_key, "?meter=memory_gb_seconds").await;
        let ids: Vec<&str> = one["entitlements"].as_array().unwrap().iter().map(|e| e["quota_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["free-memory"]);
        let (bad, body) = entitlements_as(&app, "acme", &app.ingest_key, "?meter=gpu").await;
        assert_eq!((bad, body["error"]["code"].as_str()), (400, Some("invalid_query")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_entitlements_are_at_most_a_second_old() {
    // Arrange: the default cache (1 s)
    let app = spawn_app_with(Backend::Sqlite, |s| s.quota.evaluate_every = std::time::Duration::ZERO).await;
    create_tenant_on(&app, "acme", "free").await;
    assert_eq!(entitlement(&app, "acme", "free-invocations").await["used"], "0");
    // Act
    post_invocations(&app, "acme", "u1", 7).await;
    let cached = entitlement(&app, "acme", "free-invocations").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let refreshed = entitlement(&app, "acme", "free-invocations").await;
    // Assert
    assert_eq!(cached["used"], "0", "served from the cache within the second");
    assert_eq!(refreshed["used"], "7", "refreshed after a second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_past_half_its_life_is_refreshed_behind_the_request_that_served_it() {
    // Arrange: a 4 s cache, read once, then usage arrives
    let max_age = std::time::Duration::from_secs(4);
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.quota.evaluate_every = std::time::Duration::ZERO;
        s.quota.entitlement_max_age = max_age;
    })
    .await;
    create_tenant_on(&app, "acme", "free").await;
    let first_read = std::time::Instant::now();
    assert_eq!(entitlement(&app, "acme", "free-invocations").await["used"], "0");
    post_invocations(&app, "acme", "u1", 7).await;
    // Act: past half the life, a request is served the cached snapshot at once…
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let served = entitlement(&app, "acme", "free-invocations").await;
    // …and the snapshot it leaves behind is the new one, well before the old one expires
    let mut refreshed = served.clone();
    while refreshed["used"] != "7" && first_read.elapsed() < max_age - std::time::Duration::from_millis(300) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        refreshed = entitlement(&app, "acme", "free-invocations").await;
    }
    // Assert
    assert_eq!(served["used"], "0", "the request past half-life is answered from the cache");
    assert_eq!(refreshed["used"], "7", "a background read replaced the snapshot before it expired");
    assert!(first_read.elapsed() < max_age, "seen within the first snapshot's life");
}
