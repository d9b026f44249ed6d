//! The usage API: rollups in buckets of the tenant's local calendar.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;

fn at(id: &str, timestamp: &str, function: &str) -> Value {
    json!({"id": id, "tenant_id": "acme", "timestamp": timestamp, "function": function, "invocations": 1})
}

both_stores! {
    async fn days_follow_the_tenants_time_zone_in_kolkata(app) {
        // Arrange: one record a minute before and one at local midnight (UTC+05:30).
        app.create_tenant("acme", "Asia/Kolkata").await;
        app.post_usage(&json!({"records": [
            at("a", "2026-11-26T18:29:00Z", "f"),
            at("b", "2026-11-26T18:30:00Z", "f"),
            at("c", "2026-11-27T05:00:00+05:30", "g"),
        ]})).await;
        // Act
        let usage = app.get_json("/v1/tenants/acme/usage?from=2026-11-25T18:30:00Z&to=2026-11-27T18:30:00Z&granularity=day").await;
        // Assert
        let buckets = usage["buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), 2);
        assert_eq!(buckets[0]["start"], "2026-11-25T18:30:00Z");
        assert_eq!(buckets[0]["end"], "2026-11-26T18:30:00Z");
        assert_eq!(buckets[0]["invocations"], "1");
        assert_eq!(buckets[1]["start"], "2026-11-26T18:30:00Z");
        assert_eq!(buckets[1]["invocations"], "2");
    }

    async fn hours_in_kolkata_start_at_half_past_utc_and_group_by_function(app) {
        app.create_tenant("acme", "Asia/Kolkata").await;
        app.post_usage(&json!({"records": [
            at("a", "2026-11-27T10:31:00Z", "f"),
            at("b", "2026-11-27T11:29:00Z", "g"),
            at("c", "2026-11-27T11:30:00Z", "f"),
        ]})).await;
        let usage = app
            .get_json("/v1/tenants/acme/usage?from=2026-11-27T10:30:00Z&to=2026-11-27T12:30:00Z&granularity=hour&group_by=function")
            .await;
        let rows: Vec<(String, String, String)> = usage["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["start"].as_str().unwrap().to_owned(), b["function"].as_str().unwrap().to_owned(), b["invocations"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(rows, vec![
            ("2026-11-27T10:30:00Z".to_owned(), "f".to_owned(), "1".to_owned()),
            ("2026-11-27T10:30:00Z".to_owned(), "g".to_owned(), "1".to_owned()),
            ("2026-11-27T11:30:00Z".to_owned(), "f".to_owned(), "1".to_owned()),
        ]);
    }

    async fn the_default_range_is_the_current_local_month(app) {
        app.create_tenant("acme", "America/Los_Angeles").await;
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month").await;
        assert_eq!(usage["from"], "2026-11-01T07:00:00Z", "November starts at PDT midnight (UTC-7)");
        assert_eq!(usage["to"], "2026-12-01T08:00:00Z", "and ends at PST midnight (UTC-8)");
    }

    async fn bad_usage_queries_are_400(app) {
        app.create_tenant("acme", "UTC").await;
        for query in ["granularity=week", "group_by=colour", "from=yesterday", "from=2026-11-27T10:07:00Z&to=2026-11-27T11:00:00Z", "from=2026-11-27T11:00:00Z&to=2026-11-27T10:00:00Z"] {
            let response = app.get_as(&format!("/v1/tenants/acme/usage?{query}"), &app.admin_key).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "invalid_query", "{query}");
        }
        let unparsed = app.get_as("/v1/tenants/acme/usage?from=2026-11-01T00:00:00Z&to=tomorrow", &app.admin_key).await;
        let message = unparsed.json::<Value>().await.unwrap()["error"]["message"].clone();
        assert_eq!(message, "to: \"tomorrow\" is not an RFC 3339 instant with offset", "names the bound it is about");
    }

    async fn a_range_refused_for_its_defaulted_bound_names_that_bound(app) {
        // Arrange: the current period is November; only `to` is given, and it is November 1.
        app.create_tenant("acme", "UTC").await;
        // Act
        let response = app.get_as("/v1/tenants/acme/usage?to=2026-11-01T00:00:00Z", &app.admin_key).await;
        // Assert
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let message = response.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with("from must be before to") && message.contains("from was not given"), "{message}");
        assert!(message.contains("2026-11-01T00:00:00+00:00"), "{message}");
    }
}

both_stores! {
    async fn a_first_days_usage_is_projected_as_a_days_worth_not_by_the_seconds_it_took(app) {
        // Arrange: a payg tenant created at 12:00 on the 27th uses 86 invocations at once.
        let body = json!({"id": "acme", "name": "Acme", "plan": "payg"});
        let created = app.client.post(format!("{}/v1/tenants", app.address)).bearer_auth(&app.admin_key).json(&body);
        assert_eq!(created.send().await.unwrap().status(), StatusCode::CREATED);
        let record = json!({"id": "r", "tenant_id": "acme", "timestamp": "2026-11-27T12:00:00Z", "invocations": 86});
        app.post_usage(&json!({"records": [record]})).await;
        app.clock.set(chrono::DateTime::parse_from_rfc3339("2026-11-27T12:00:20Z").unwrap().to_utc());
        // Act
        let current = app.get_json("/v1/tenants/acme/usage/current").await;
        // Assert: 3.5 days are left from the creation; 86 a day makes 301, not 86 per 20 s.
        assert_eq!(current["usage"]["invocations"], "86", "{current}");
        assert_eq!(current["projection"]["usage"]["invocations"], "301", "{current}");
    }
}

/// A plan whose invocations cost 10^10 each: a few records of the largest quantity are worth
/// more than `Decimal` holds (about 7.9 × 10^28).
const DEAR_PLAN: &str = "id = \"dear\"\nname = \"Dear\"\ncurrency = \"USD\"\n\n[[charge]]\nmeter = \"invocations\"\n\
    model = \"per_unit\"\nunit_price = \"10000000000\"\n";

async fn spawn_with_the_dear_plan(backend: crate::helpers::Backend) -> crate::helpers::TestApp {
    let dir = std::env::temp_dir().join(format!("tally-pricing-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dear.toml"), DEAR_PLAN).unwrap();
    crate::helpers::spawn_app_with(backend, |settings| settings.pricing_dir = dir).await
}

both_stores! {
    spawn = spawn_with_the_dear_plan;

    async fn current_usage_too_large_to_price_is_a_named_422_not_a_500(app) {
        // Arrange: ten records of the largest quantity on the dear plan: 9.2 × 10^29 to pay.
        let body = json!({"id": "big", "name": "Big", "plan": "dear"});
        let created = app.client.post(format!("{}/v1/tenants", app.address)).bearer_auth(&app.admin_key).json(&body);
        assert_eq!(created.send().await.unwrap().status(), StatusCode::CREATED);
        let max = i64::MAX;
        let records: Vec<Value> = (0..10)
            .map(|i| json!({"id": format!("r{i}"), "tenant_id": "big", "timestamp": "2026-11-27T00:00:00Z",
                "invocations": max}))
            .collect();
        let stored = app.post_usage(&json!({ "records": records })).await;
        assert_eq!(stored.status(), StatusCode::OK, "{}", stored.text().await.unwrap());
        // Act
        let response = app.get_as("/v1/tenants/big/usage/current", &app.admin_key).await;
        // Assert
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "amount_overflow", "{body}");
        let usage = app.get_as("/v1/tenants/big/usage?granularity=month", &app.admin_key).await;
        assert_eq!(usage.status(), StatusCode::OK, "the quantities themselves still read");
    }
}

/// PostgreSQL sums rollups per unit in SQL; SQLite folds the rows in Rust. Both must give the
/// same answer to every query: hour, day and month, ungrouped and by either dimension, across
/// a DST change and a range that starts and ends inside units.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_answer_every_usage_query_alike() {
    // Arrange: the same records on both engines; the clock (2026-11-27) allows 35 days back
    let apps = [
        crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await,
        crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await,
    ];
    let records: Vec<Value> = (0..400)
        .map(|i| {
            let minute = i * 127 % (30 * 24 * 60);
            let at = chrono::DateTime::parse_from_rfc3339("2026-10-24T00:00:00Z").unwrap()
                + chrono::Duration::minutes(minute);
            let (function, region) = (["resize", "encode", "api"][i as usize % 3], ["eu", "us"][i as usize % 2]);
            json!({"id": format!("r{i}"), "tenant_id": "acme", "timestamp": at.to_rfc3339(),
                "function": function, "region": region,
                "invocations": i + 1, "memory_gb_seconds": format!("0.{:03}", i), "cpu_cycles": i * 1_000})
        })
        .collect();
    for app in &apps {
        app.create_tenant("acme", "Europe/Paris").await;
        assert_eq!(app.post_usage(&json!({ "records": records })).await.status(), StatusCode::OK);
    }
    // Act + Assert: Paris leaves summer time on 2026-10-25
    let range = "from=2026-10-24T09:15:00Z&to=2026-11-22T13:45:00Z";
    for granularity in ["hour", "day", "month"] {
        for group in ["", "&group_by=function", "&group_by=region"] {
            let path = format!("/v1/tenants/acme/usage?{range}&granularity={granularity}{group}");
            let (sqlite, postgres) = (apps[0].get_json(&path).await, apps[1].get_json(&path).await);
            assert!(!sqlite["buckets"].as_array().unwrap().is_empty(), "{path}");
            assert_eq!(sqlite, postgres, "{path}");
        }
    }
}
