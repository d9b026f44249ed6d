//! Admin tenant API.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;
use crate::helpers::{record, TestApp};

async fn post_tenant(app: &TestApp, body: &Value, idempotency_key: Option<&str>) -> reqwest::Response {
    let mut request = app.client.post(format!("{}/v1/tenants", app.address)).bearer_auth(&app.admin_key).json(body);
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

fn many_addresses(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("ap-{i}@acme.test")).collect()
}

async fn patch_tenant(app: &TestApp, id: &str, body: &Value) -> reqwest::Response {
    app.client
        .patch(format!("{}/v1/tenants/{id}", app.address))
        .bearer_auth(&app.admin_key)
        .json(body)
        .send()
        .await
        .unwrap()
}

both_stores! {
    async fn a_tenant_is_created_read_listed_and_patched(app) {
        // Arrange
        let body = json!({"id": "acme", "name": "Acme", "billing_email": "ap@acme.test",
            "timezone": "Asia/Kolkata", "tax_rate": "8.875", "address": ["1 Main St"], "tax_id": "DE123"});
        // Act
        let created = post_tenant(&app, &body, None).await;
        let patched = patch_tenant(&app, "acme", &json!({"name": "Acme Corp", "billing_emails": ["a@acme.test", "b@acme.test"]})).await;
        // Assert
        assert_eq!(created.status(), StatusCode::CREATED);
        let created: Value = created.json().await.unwrap();
        assert_eq!(created["billing_emails"], json!(["ap@acme.test"]));
        assert_eq!(created["tax_rate"], "8.875");
        assert_eq!(created["timezone"], "Asia/Kolkata");
        assert_eq!(patched.status(), StatusCode::OK);
        let read = app.get_json("/v1/tenants/acme").await;
        assert_eq!(read["name"], "Acme Corp");
        assert_eq!(read["billing_emails"], json!(["a@acme.test", "b@acme.test"]));
        assert_eq!(read["tax_id"], "DE123", "fields not in the patch are kept");
        let list = app.get_json("/v1/tenants?limit=10").await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
    }

    async fn invalid_tenants_are_refused_with_reasons(app) {
        let cases = [
            (json!({"id": "Bad Id", "name": "x"}), "invalid_tenant"),
            (json!({"id": "ok", "name": "x", "timezone": "Mars/Olympus"}), "invalid_tenant"),
            (json!({"id": "ok", "name": "x", "tax_rate": "101"}), "invalid_tenant"),
            (json!({"id": "ok", "name": "x", "billing_email": "not-an-email"}), "invalid_tenant"),
            (json!({"id": "ok", "name": "x", "billing_emails": ["ap@x.test", "AP@x.test"]}), "invalid_tenant"),
            (json!({"id": "ok", "name": "x", "billing_emails": many_addresses(21)}), "invalid_tenant"),
            (json!({"id": "ok", "name": "x", "billing_emails": ["ap@x.test", "<a@b.test>"]}), "invalid_tenant"),
            (json!({"id": "ok", "name": "x", "billing_email": "a@b.test,victim@evil.test"}), "invalid_tenant"),
            (json!({"id": "ok", "name": "x", "colour": "red"}), "invalid_body"),
        ];
        for (body, code) in cases {
            let response = post_tenant(&app, &body, None).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], code, "{body}");
        }
        let huge = post_tenant(&app, &json!({"id": "big", "name": "x".repeat(2 * 1024 * 1024)}), None).await;
        assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(huge.json::<Value>().await.unwrap()["error"]["code"], "payload_too_large");
        post_tenant(&app, &json!({"id": "dup", "name": "x"}), None).await;
        let again = post_tenant(&app, &json!({"id": "dup", "name": "y"}), None).await;
        assert_eq!(again.status(), StatusCode::CONFLICT);
    }

    async fn a_tenant_keeps_up_to_twenty_billing_addresses(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        // Act
        let twenty = patch_tenant(&app, "acme", &json!({"billing_emails": many_addresses(20)})).await;
        let more = patch_tenant(&app, "acme", &json!({"billing_emails": many_addresses(21)})).await;
        // Assert
        assert_eq!(twenty.status(), StatusCode::OK);
        assert_eq!(more.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let message = more.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains("at most 20"), "{message}");
        let read = app.get_json("/v1/tenants/acme").await;
        assert_eq!(read["billing_emails"].as_array().unwrap().len(), 20, "the refused patch changed nothing");
    }

    async fn a_retried_creation_with_the_same_idempotency_key_replays(app) {
        // Arrange
        let body = json!({"id": "acme", "name": "Acme"});
        // Act
        let first = post_tenant(&app, &body, Some("key-1")).await;
        let retry = post_tenant(&app, &body, Some("key-1")).await;
        let reused = post_tenant(&app, &json!({"id": "other", "name": "Other"}), Some("key-1")).await;
        // Assert
        assert_eq!(first.status(), StatusCode::CREATED);
        assert_eq!(retry.status(), StatusCode::CREATED, "the stored response is replayed, not a 409 tenant_exists");
        assert_eq!(retry.headers()["idempotent-replayed"], "true");
        assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reused.json::<Value>().await.unwrap()["error"]["code"], "idempotency_key_reused");
    }

    async fn a_deactivated_tenant_refuses_new_usage_and_keeps_its_data(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        app.post_usage(&record("acme", "before")).await;
        // Act
        patch_tenant(&app, "acme", &json!({"active": false})).await;
        let after = app.post_usage(&record("acme", "after")).await;
        // Assert
        assert_eq!(after.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let refused: Value = after.json().await.unwrap();
        assert_eq!(refused["errors"][0]["code"], "unknown_tenant");
        assert!(refused["errors"][0]["message"].as_str().unwrap().contains("deactivated"), "says why: {refused}");
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month").await;
        assert_eq!(usage["buckets"][0]["records"], 1);
    }

    async fn a_retry_of_usage_stored_before_the_deactivation_counts_it_as_a_duplicate(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let sent = record("acme", "before");
        assert_eq!(app.post_usage(&sent).await.status(), StatusCode::OK);
        patch_tenant(&app, "acme", &json!({"active": false})).await;
        // Act: the runtime, unsure the first answer arrived, sends the same record again.
        let retry = app.post_usage(&sent).await;
        // Assert
        assert_eq!(retry.status(), StatusCode::OK);
        let body: Value = retry.json().await.unwrap();
        assert_eq!((body["accepted"].as_u64(), body["duplicates"].as_u64()), (Some(0), Some(1)), "{body}");
    }
}
