//! Every validation rule of DESIGN §3.1, and the error shape of bad bodies.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;
use crate::helpers::{count_rows, record, spawn_app_with, Backend};

fn with(field: &str, value: Value) -> Value {
    let mut r = record("acme", "v1");
    r[field] = value;
    r
}

both_stores! {
    async fn each_invalid_record_is_rejected_by_index_with_its_code(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let cases = [
            (with("timestamp", json!("2026-11-27T12:05:01Z")), "timestamp_in_future"),
            (with("timestamp", json!("2026-10-01T00:00:00Z")), "timestamp_too_old"),
            (with("timestamp", json!("2026-11-27 11:00")), "invalid_timestamp"),
            (with("timestamp", json!("2026-11-26T23:59:60Z")), "invalid_timestamp"),
            (with("timestamp", json!("2026-11-27T11:59:60.999Z")), "invalid_timestamp"),
            (with("invocations", json!(-1)), "invalid_quantity"),
            (with("invocations", json!(1.5)), "invalid_quantity"),
            (with("cpu_cycles", json!(1e19)), "invalid_quantity"),
            (with("cpu_cycles", json!(9_223_372_036_854_775_808_u64)), "invalid_quantity"),
            (with("memory_gb_seconds", json!("0.0000000001")), "invalid_quantity"),
            (with("memory_gb_seconds", json!("1000000000000001")), "invalid_quantity"),
            (with("tenant_id", json!("nobody")), "unknown_tenant"),
            (with("id", json!("")), "invalid_id"),
            (with("function", json!("")), "invalid_dimension"),
            (with("cpu_typo", json!(1)), "unknown_field"),
            (json!({"id": "z", "tenant_id": "acme", "timestamp": "2026-11-27T11:00:00Z"}), "no_quantity"),
            // A record's fields in order, as an array: never bound by position.
            (json!(["p", "acme", "2026-11-27T11:00:00Z", "fn", null, null, "0.5", 3]), "invalid_record"),
        ];
        let mut records: Vec<Value> = cases.iter().map(|(r, _)| r.clone()).collect();
        records.push(record("acme", "good"));
        // Act
        let response = app.post_usage(&json!({ "records": records })).await;
        // Assert
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["accepted"], 1, "the valid record of the batch is stored");
        assert_eq!(body["rejected"], cases.len());
        for (index, (_, code)) in cases.iter().enumerate() {
            assert_eq!(body["errors"][index]["index"], index, "{body}");
            assert_eq!(body["errors"][index]["code"], *code, "case {index}: {}", cases[index].0);
        }
    }

    async fn a_single_invalid_record_answers_422_with_index_0(app) {
        app.create_tenant("acme", "UTC").await;
        let response = app.post_usage(&with("invocations", json!(-5))).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"], json!([{"index": 0, "code": "invalid_quantity", "message": "invocations must not be negative"}]));
    }

    async fn a_quantity_too_fine_for_a_decimal_is_refused_for_its_decimal_places_not_as_too_big(app) {
        // Arrange: 1e-400 underflows every decimal type; it is a value with 400 decimal places.
        app.create_tenant("acme", "UTC").await;
        let body = r#"{"id": "tiny", "tenant_id": "acme", "timestamp": "2026-11-27T11:00:00Z", "memory_gb_seconds": 1e-400}"#;
        // Act
        let response = app.post_usage_raw(body.into()).await;
        // Assert
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        let expected = "memory_gb_seconds must have at most 9 decimal places";
        assert_eq!(body["errors"], json!([{"index": 0, "code": "invalid_quantity", "message": expected}]));
    }

    async fn negative_zero_is_a_quantity_of_zero(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let body = r#"{"id": "z", "tenant_id": "acme", "timestamp": "2026-11-27T11:00:00Z", "invocations": 2, "cpu_cycles": -0, "memory_gb_seconds": -0.0}"#;
        // Act
        let response = app.post_usage_raw(body.into()).await;
        // Assert
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["accepted"], 1, "{body}");
        let stored = count_rows(&app, "select count(*) from usage_record where cpu_cycles = 0 and invocations = 2").await;
        assert_eq!(stored, 1, "stored with zero CPU cycles");
    }

    async fn malformed_json_is_a_400_in_the_error_shape(app) {
        let response = app.post_usage_raw("{\"records\": [".into()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "malformed_json");
        assert!(body["error"]["message"].as_str().unwrap().contains("JSON"));
    }

    async fn a_body_field_of_the_wrong_type_is_named_by_its_path(app) {
        app.create_tenant("acme", "UTC").await;
        let quotas = json!({"quotas": [
            {"id": "calls", "meter": "invocations", "limit": "5"},
            {"id": "more", "meter": "invocations", "limit": 100}]});
        let response = app.client.put(format!("{}/v1/tenants/acme/quotas", app.address))
            .bearer_auth(&app.admin_key).json(&quotas).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let error = response.json::<Value>().await.unwrap()["error"].clone();
        assert_eq!(error["code"], "invalid_body");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with("quotas[1].limit: invalid type: integer `100`, expected a string"), "{message}");
    }

    async fn a_body_that_is_not_a_record_or_batch_is_a_400(app) {
        for body in ["[]", "42", "{\"records\": {}}", "{\"records\": [], \"extra\": 1}"] {
            let response = app.post_usage_raw(body.into()).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        }
    }

    async fn a_query_parameter_that_does_not_parse_is_named_in_the_400(app) {
        let cases = [
            ("/v1/tenants?limit=abc", "limit: invalid digit found in string", "which of limit and cursor"),
            ("/v1/tenants?limit=99999999999", "limit: number too large to fit in target type", "past u32"),
            ("/v1/audit?since=yesterday", "since: ", "an instant among many parameters"),
            ("/v1/tenants?colour=red", "unknown field `colour`, expected `limit` or `cursor`", "named once"),
        ];
        for (path, message, why) in cases {
            let response = app.get_as(path, &app.admin_key).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
            let error = response.json::<Value>().await.unwrap()["error"].clone();
            assert_eq!(error["code"], "invalid_query", "{path}");
            assert!(error["message"].as_str().unwrap().starts_with(message), "{why}: {error}");
        }
    }

    async fn unknown_routes_and_methods_answer_in_the_error_shape(app) {
        let missing = app.get_as("/v1/nothing", &app.admin_key).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(missing.json::<Value>().await.unwrap()["error"]["code"], "not_found");
        let wrong_method = app.get_as("/v1/usage", &app.ingest_key).await;
        assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(wrong_method.json::<Value>().await.unwrap()["error"]["code"], "method_not_allowed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_and_batches_answer_413() {
    // Arrange: small limits so the test stays small.
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.ingest.max_body_bytes = 4_096;
        s.ingest.max_records_per_request = 5;
    })
    .await;
    app.create_tenant("acme", "UTC").await;
    let too_many = json!({ "records": (0..6).map(|i| record("acme", &format!("b{i}"))).collect::<Vec<_>>() });
    let too_big = json!({ "records": [record("acme", &"x".repeat(100))], "pad": "y".repeat(5_000) });
    // Act
    let many = app.post_usage(&too_many).await;
    let big = app.post_usage(&too_big).await;
    // Assert
    assert_eq!(many.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(many.json::<Value>().await.unwrap()["error"]["code"], "payload_too_large");
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(big.json::<Value>().await.unwrap()["error"]["code"], "payload_too_large");
}
