//! Unbilled usage (DESIGN §6): usage no subscription covers shows in `usage/current`, gets
//! exactly one admin-visible entry (kept to the period's usage as more arrives) and one
//! `usage.unbilled` event per tenant and period, and reaches a subscribed webhook receiver
//! once, signed.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{at, create_tenant_on, evaluate, post_invocations, post_invocations_at};
use crate::billing::admin_post;
use crate::helpers::{count_rows, TestApp};
use crate::notify_support::WebhookReceiver;
use crate::quota_tests;

async fn create_tenant_without_plan(app: &TestApp, tenant: &str) {
    let body = json!({"id": tenant, "name": "T", "billing_email": "billing@example.com"});
    let response = admin_post(app, "/v1/tenants", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "creating {tenant}");
}

async fn unbilled_of(app: &TestApp, tenant: &str) -> Value {
    app.get_json(&format!("/v1/tenants/{tenant}/usage/current")).await["unbilled"].clone()
}

async fn entries(app: &TestApp, tenant: &str) -> Vec<Value> {
    let listed = app.get_json(&format!("/v1/tenants/{tenant}/unbilled")).await;
    listed["entries"].as_array().unwrap().clone()
}

async fn unbilled_events(app: &TestApp) -> i64 {
    count_rows(app, "select count(*) from outbox where kind = 'usage.unbilled'").await
}

quota_tests! {
    async fn a_tenant_without_a_plan_has_its_usage_unbilled_once_per_period(app) {
        // Arrange
        create_tenant_without_plan(&app, "globex").await;
        create_tenant_on(&app, "acme", "payg").await;
        post_invocations(&app, "globex", "g1", 7).await;
        post_invocations(&app, "globex", "g2", 5).await;
        post_invocations(&app, "acme", "a1", 3).await;
        // Act
        let first = evaluate(&app).await;
        let second = evaluate(&app).await;
        post_invocations(&app, "globex", "g3", 1).await;
        let third = evaluate(&app).await;
        // Assert
        let unbilled = unbilled_of(&app, "globex").await;
        assert_eq!(unbilled["reason"], "no_plan");
        assert_eq!(unbilled["records"], 3);
        assert_eq!(unbilled["usage"]["invocations"], "13");
        assert!(unbilled_of(&app, "acme").await.is_null(), "a plan covers all of acme's usage");
        assert_eq!((first.unbilled_raised, second.unbilled_raised, third.unbilled_raised), (1, 0, 0));
        assert_eq!(third.unbilled_records, 3);
        let listed = entries(&app, "globex").await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["reason"], "no_plan");
        assert_eq!(listed[0]["records"], 3, "kept to the period's usage: g3 came after the entry");
        assert_eq!(listed[0]["usage"]["invocations"], "13");
        assert_eq!(listed[0]["period"], json!({"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}));
        assert!(entries(&app, "acme").await.is_empty());
        assert_eq!(count_rows(&app, "select count(*) from unbilled_usage").await, 1);
        assert_eq!(unbilled_events(&app).await, 1);
    }

    async fn an_entry_whose_usage_a_backdated_plan_now_covers_reads_zero(app) {
        // Arrange: globex, with no plan, used 7 invocations in November: an entry of 7.
        create_tenant_without_plan(&app, "globex").await;
        post_invocations(&app, "globex", "g1", 7).await;
        evaluate(&app).await;
        // Act: put on payg from November 1, so November's usage is billed after all.
        let body = json!({"plan": "payg", "timing": "immediately", "start": "2026-11-01T00:00:00Z"});
        let put = app.client.put(format!("{}/v1/tenants/globex/subscription", app.address))
            .bearer_auth(&app.admin_key).json(&body).send().await.unwrap();
        assert_eq!(put.status(), StatusCode::OK);
        let after = evaluate(&app).await;
        // Assert: the entry stays (it was announced) but reads what is unbilled now: nothing.
        let listed = entries(&app, "globex").await;
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0]["records"].as_i64(), listed[0]["usage"]["invocations"].as_str()), (Some(0), Some("0")));
        assert_eq!((after.unbilled_raised, after.unbilled_records), (0, 0));
        assert_eq!(unbilled_events(&app).await, 1, "no second event");
    }

    async fn a_deactivated_tenants_usage_after_the_end_is_unbilled(app) {
        // Arrange: on payg from 12:00; deactivated at 12:41, so usage is billed through the
        // 12:30 bucket (the one it ends in). A runtime whose clock runs ahead sent a record
        // stamped 12:45:30 just before (within the 5-minute future bound): after the end.
        create_tenant_on(&app, "acme", "payg").await;
        post_invocations(&app, "acme", "billed", 10).await;
        app.clock.set(at("2026-11-27T12:41:00Z"));
        post_invocations_at(&app, "acme", "in-the-last-bucket", 3, "2026-11-27T12:40:00Z").await;
        post_invocations_at(&app, "acme", "after-the-end", 4, "2026-11-27T12:45:30Z").await;
        let patch = app
            .client
            .patch(format!("{}/v1/tenants/acme", app.address))
            .bearer_auth(&app.admin_key)
            .json(&json!({"active": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(patch.status(), StatusCode::OK);
        // Act
        evaluate(&app).await;
        evaluate(&app).await;
        // Assert
        let unbilled = unbilled_of(&app, "acme").await;
        assert_eq!(unbilled["reason"], "after_subscription_ended");
        assert_eq!((unbilled["records"].as_i64(), unbilled["usage"]["invocations"].as_str()), (Some(1), Some("4")));
        let listed = entries(&app, "acme").await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["reason"], "after_subscription_ended");
        assert_eq!(unbilled_events(&app).await, 1);
        // The billing run's report names it too, for the period it closes.
        let report = crate::billing::run_billing_and_wait(&app, "2026-12-02T00:00:00Z").await;
        let reported = report["unbilled"].as_array().unwrap();
        assert_eq!(reported.len(), 1, "{report}");
        assert_eq!(reported[0]["tenant_id"], "acme");
        assert_eq!(reported[0]["reason"], "after_subscription_ended");
        assert_eq!(reported[0]["records"], 1);
    }

    async fn a_receiver_subscribed_to_usage_unbilled_gets_one_signed_call(app) {
        // Arrange
        let receiver = WebhookReceiver::start(&[]);
        let response =
            admin_post(&app, "/v1/webhooks", &json!({"url": receiver.url, "events": ["usage.unbilled"]})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: Value = response.json().await.unwrap();
        receiver.set_secret(created["secret"].as_str().unwrap());
        create_tenant_without_plan(&app, "globex").await;
        post_invocations(&app, "globex", "g1", 2).await;
        // Act
        evaluate(&app).await;
        evaluate(&app).await;
        app.dispatcher.dispatch_due(app.clock_now()).await.unwrap();
        app.clock.set(app.clock_now() + Duration::days(1));
        app.dispatcher.dispatch_due(app.clock_now()).await.unwrap();
        // Assert
        let calls = receiver.calls();
        assert_eq!(calls.len(), 1);
        assert!(calls[0].signature_valid);
        assert_eq!(calls[0].body["type"], "usage.unbilled");
        assert_eq!(calls[0].body["data"]["reason"], "no_plan");
        assert_eq!(calls[0].body["data"]["tenant_id"], "globex");
        assert_eq!(calls[0].body["data"]["event_id"], "usage.unbilled:globex:2026-11-01T00:00:00Z");
    }
}
