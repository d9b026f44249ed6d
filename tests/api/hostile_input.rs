//! Bodies, headers and text an attacker (or a buggy client) sends: each is refused in the
//! error shape with a named code, never half-read, never a 5xx, on both stores.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_stores;
use crate::helpers::{record, TestApp};

/// Sends `body` exactly as written (so it can repeat keys) with `credential`.
async fn send(app: &TestApp, method: Method, path: &str, credential: &str, body: &str) -> reqwest::Response {
    let content_type = if path == "/api/v1/events" { "application/cloudevents+json" } else { "application/json" };
    app.client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(credential)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .expect("the request reaches the server")
}

/// A native record's JSON text whose `invocations` key appears twice.
fn record_with_repeated_key(id: &str) -> String {
    record("acme", id).to_string().replace("\"invocations\":1", "\"invocations\":1,\"invocations\":5")
}

both_stores! {
    async fn a_repeated_records_key_refuses_the_whole_batch_and_stores_nothing(app) {
        // Arrange: serde would keep only the last "records" and answer 200 accepted: 1.
        app.create_tenant("acme", "UTC").await;
        let body = format!(r#"{{"records":[{}],"records":[{}]}}"#, record("acme", "a"), record("acme", "b"));
        // Act
        let response = app.post_usage_raw(body).await;
        // Assert
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "duplicate_json_key", "{error}");
        assert!(error["error"]["message"].as_str().unwrap().contains("\"records\""), "names the key: {error}");
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month").await;
        assert_eq!(usage["buckets"][0]["records"], 0, "nothing was stored");
    }

    async fn a_record_or_event_repeating_a_key_is_rejected_by_index_and_the_rest_stored(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let batch = format!(r#"{{"records":[{},{}]}}"#, record("acme", "good"), record_with_repeated_key("twice"));
        let event = json!({"specversion": "1.0", "id": "e1", "source": "s", "type": "t", "subject": "acme",
            "time": "2026-11-27T11:30:00Z", "data": {"invocations": 1}})
        .to_string();
        let events = [
            event.replace("\"invocations\":1", "\"invocations\":1,\"invocations\":2"),
            event.replace("\"source\":\"s\"", "\"source\":\"s\",\"source\":\"other\""),
            event.replace("\"type\":\"t\"", "\"type\":\"t\",\"ext\":{\"k\":1,\"k\":2}"),
        ];
        // Act
        let native = app.post_usage_raw(batch).await;
        let single = app.post_usage_raw(record_with_repeated_key("alone")).await;
        // Assert
        assert_eq!(native.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let native: Value = native.json().await.unwrap();
        assert_eq!(native["accepted"], 1, "{native}");
        assert_eq!(native["errors"][0]["index"], 1, "{native}");
        assert_eq!(native["errors"][0]["code"], "duplicate_json_key", "{native}");
        assert!(native["errors"][0]["message"].as_str().unwrap().contains("\"invocations\""), "{native}");
        let single: Value = single.json().await.unwrap();
        assert_eq!(single["errors"][0]["index"], 0, "{single}");
        assert_eq!(single["errors"][0]["code"], "duplicate_json_key", "{single}");
        for (i, body) in events.iter().enumerate() {
            let response = send(&app, Method::POST, "/api/v1/events", &app.ingest_key, body).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "event case {i}");
            let report: Value = response.json().await.unwrap();
            assert_eq!(report["errors"][0]["code"], "duplicate_json_key", "event case {i}: {report}");
        }
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month").await;
        assert_eq!(usage["buckets"][0]["records"], 1, "only the good record is stored");
    }

    async fn every_admin_json_route_refuses_a_repeated_key_with_400_naming_it(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let admin = app.admin_key.clone();
        let cases = [
            (Method::POST, "/v1/tenants", r#"{"id":"globex","name":"Globex","name":"Evil"}"#, "name"),
            (Method::PATCH, "/v1/tenants/acme", r#"{"address":["a"],"tax_id":"x","tax_id":"y"}"#, "tax_id"),
            (Method::PUT, "/v1/tenants/acme/subscription", r#"{"plan":"payg","plan":"free"}"#, "plan"),
            (
                Method::POST,
                "/v1/tenants/acme/credits",
                r#"{"amount":"1.00","currency":"USD","reason":"r","amount":"1000.00"}"#,
                "amount",
            ),
            (Method::POST, "/v1/quotes", r#"{"plan":"payg","usage":{"invocations":"1","invocations":"9"}}"#, "invocations"),
            (
                Method::POST,
                "/v1/usage/corrections",
                r#"{"tenant_id":"acme","id":"r1","action":"replace","reason":"fix",
                    "replacement":{"invocations":2,"invocations":3}}"#,
                "invocations",
            ),
            (
                Method::POST,
                "/v1/billing/run",
                r#"{"as_of":"2026-11-27T12:00:00Z","as_of":"2030-01-01T00:00:00Z"}"#,
                "as_of",
            ),
        ];
        for (method, path, body, key) in cases {
            // Act
            let response = send(&app, method.clone(), path, &admin, body).await;
            // Assert
            let why = format!("{method} {path}");
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"]["code"], "duplicate_json_key", "{why}: {error}");
            let message = error["error"]["message"].as_str().unwrap();
            assert!(message.contains(&format!("\"{key}\"")), "{why}: names the key: {message}");
        }
        let tenant = app.get_json("/v1/tenants/acme").await;
        assert_eq!(tenant["name"], "Tenant acme", "no refused request changed anything");
        assert_eq!(app.get_json("/v1/tenants/acme/credits").await["entries"], json!([]));
    }

    async fn a_405_says_in_allow_which_methods_the_resource_serves(app) {
        // Arrange
        let cases = [
            (Method::GET, "/v1/usage", "POST"),
            (Method::DELETE, "/v1/tenants", "GET, POST"),
            (Method::PUT, "/v1/tenants/acme", "GET, PATCH"),
            (Method::POST, "/v1/tenants/acme/usage/current", "GET"),
        ];
        for (method, path, allow) in cases {
            // Act
            let response = send(&app, method.clone(), path, &app.admin_key, "").await;
            // Assert
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            let header = response.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(header.as_deref(), Some(allow), "{method} {path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "method_not_allowed", "{method} {path}");
        }
    }
}
