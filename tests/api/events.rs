//! The OpenMeter-compatible CloudEvents endpoint.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;

fn event(id: &str, source: &str) -> Value {
    json!({
        "specversion": "1.0", "id": id, "source": source, "type": "function.invocation",
        "subject": "acme", "time": "2026-11-27T11:30:00Z",
        "data": { "invocations": 1, "memory_gb_seconds": "0.5", "function": "resize" }
    })
}

both_stores! {
    async fn events_deduplicate_on_source_and_id(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        // Act
        let first = app.post_events("application/cloudevents+json", &event("e1", "lambda/eu")).await;
        let retry = app.post_events("application/cloudevents+json", &event("e1", "lambda/eu")).await;
        let other_source = app.post_events("application/cloudevents+json", &event("e1", "lambda/us")).await;
        // Assert
        for response in [first, retry, other_source] {
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
        }
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month").await;
        assert_eq!(usage["buckets"][0]["records"], 2, "same source+id counted once; another source is another event");
        assert_eq!(usage["buckets"][0]["memory_gb_seconds"], "1");
    }

    async fn a_batch_of_events_is_accepted_with_each_content_type(app) {
        app.create_tenant("acme", "UTC").await;
        let batch = json!([event("b1", "s"), event("b2", "s")]);
        assert_eq!(app.post_events("application/cloudevents-batch+json", &batch).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.post_events("application/json", &json!([event("b3", "s")])).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.post_events("application/json", &event("b4", "s")).await.status(), StatusCode::NO_CONTENT);
        let wrong = app.post_events("text/plain", &event("b5", "s")).await;
        assert_eq!(wrong.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month").await;
        assert_eq!(usage["buckets"][0]["records"], 4);
    }

    async fn a_retried_event_without_time_stays_a_duplicate(app) {
        app.create_tenant("acme", "UTC").await;
        let mut timeless = event("t1", "s");
        timeless.as_object_mut().unwrap().remove("time");
        app.post_events("application/cloudevents+json", &timeless).await;
        app.clock.set(app.clock_now() + chrono::Duration::seconds(30));
        let retry = app.post_events("application/cloudevents+json", &timeless).await;
        assert_eq!(retry.status(), StatusCode::NO_CONTENT, "a retry minutes later is still a duplicate, not a conflict");
    }

    async fn invalid_events_answer_422_with_the_native_body(app) {
        app.create_tenant("acme", "UTC").await;
        let mut unknown_tenant = event("u1", "s");
        unknown_tenant["subject"] = json!("nobody");
        let mut base64 = event("u2", "s");
        base64.as_object_mut().unwrap().remove("data");
        base64["data_base64"] = json!("AAAA");
        let mut leap_second = event("u3", "s");
        leap_second["time"] = json!("2026-11-26T23:59:60Z");
        let batch = json!([event("ok", "s"), unknown_tenant, base64, leap_second]);
        let response = app.post_events("application/cloudevents-batch+json", &batch).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["accepted"], 1);
        assert_eq!(body["errors"][0]["code"], "unknown_tenant");
        assert_eq!(body["errors"][1]["code"], "invalid_event");
        assert_eq!(body["errors"][2]["code"], "invalid_timestamp", "a leap second moves no usage into the next day");
    }
}
