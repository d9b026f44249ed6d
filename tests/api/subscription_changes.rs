//! Subscription changes close together, and the writes that must land together: a plan held
//! for minutes still bills its minutes; a tenant and its first plan, or a deactivation and the
//! end of its subscription, are stored in one commit or not at all.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::billing::{admin_patch, admin_post, at, invoices_of, run_billing_and_wait, tenant_on};
use crate::both_stores;
use crate::helpers::{accept_rows_again, refuse_rows_of, TestApp};

async fn put_subscription(app: &TestApp, tenant: &str, plan: &str) -> StatusCode {
    let body = json!({"plan": plan, "timing": "immediately"});
    let request = app.client.put(format!("{}/v1/tenants/{tenant}/subscription", app.address));
    request.bearer_auth(&app.admin_key).json(&body).send().await.unwrap().status()
}

/// `(plan, proration)` of each segment of the tenant's period so far.
async fn segments_so_far(app: &TestApp, tenant: &str) -> Vec<(String, String)> {
    let current = app.get_json(&format!("/v1/tenants/{tenant}/usage/current")).await;
    let segments = current["amount_so_far"]["segments"].as_array().cloned().unwrap_or_default();
    segments
        .iter()
        .map(|s| (s["plan"].as_str().unwrap().to_owned(), s["proration"].as_str().unwrap().to_owned()))
        .collect()
}

both_stores! {
    async fn a_plan_held_for_minutes_inside_one_bucket_bills_its_minutes_of_fees(app) {
        // Arrange: on payg (no fixed fee) since November 1
        tenant_on(&app, "acme", "UTC", "payg", "2026-11-01T00:00:00Z").await;
        // Act: on committed (base 500, minimum 2000 a month) from 10:03 to 10:09 — both
        // changes inside the 10:00 bucket — then on free
        app.clock.set(at("2026-11-10T10:03:00Z"));
        assert_eq!(put_subscription(&app, "acme", "committed").await, StatusCode::OK);
        app.clock.set(at("2026-11-10T10:09:00Z"));
        assert_eq!(put_subscription(&app, "acme", "free").await, StatusCode::OK);
        let segments = segments_so_far(&app, "acme").await;
        run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        // Assert: six minutes of a 30-day month are 1/7200 of committed's fees: base
        // 500/7200 = 0.069 and the minimum's top-up (2000 − 500)/7200 = 0.208 — the bucket's
        // usage goes to free, the last change in it.
        let plans: Vec<&str> = segments.iter().map(|(plan, _)| plan.as_str()).collect();
        assert_eq!(plans, vec!["payg", "committed", "free"], "{segments:?}");
        let invoices = invoices_of(&app, "acme").await;
        assert_eq!(invoices.len(), 1);
        assert_eq!(invoices[0]["total"], "0.28", "{}", invoices[0]);
    }

    async fn a_tenant_deactivated_and_reactivated_inside_one_bucket_pays_no_fees_between(app) {
        // Arrange: on committed (base 500, minimum 2000) since November 1
        tenant_on(&app, "acme", "UTC", "committed", "2026-11-01T00:00:00Z").await;
        // Act: deactivated at 10:03, back on committed at 10:09 — the same 10:00 bucket
        app.clock.set(at("2026-11-10T10:03:00Z"));
        assert_eq!(admin_patch(&app, "/v1/tenants/acme", &json!({"active": false})).await.status(), StatusCode::OK);
        app.clock.set(at("2026-11-10T10:09:00Z"));
        assert_eq!(admin_patch(&app, "/v1/tenants/acme", &json!({"active": true})).await.status(), StatusCode::OK);
        assert_eq!(put_subscription(&app, "acme", "committed").await, StatusCode::OK);
        let segments = segments_so_far(&app, "acme").await;
        run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        // Assert: two stretches of committed with the six minutes between them unbilled:
        // 2000 × (1 − 1/7200) = 1999.72, its four fee lines each rounded: 1999.73.
        let plans: Vec<&str> = segments.iter().map(|(plan, _)| plan.as_str()).collect();
        assert_eq!(plans, vec!["committed", "committed"], "{segments:?}");
        let invoices = invoices_of(&app, "acme").await;
        assert_eq!(invoices.len(), 1);
        assert_eq!(invoices[0]["total"], "1999.73", "{}", invoices[0]);
    }

    async fn a_tenant_whose_first_plan_cannot_be_stored_is_not_created_and_can_be_created_again(app) {
        // Arrange: the subscription table refuses acme's rows
        refuse_rows_of(&app, "subscription", "acme").await;
        // Act
        let refused = admin_post(&app, "/v1/tenants", &json!({"id": "acme", "name": "Acme", "plan": "payg"})).await;
        let after_refusal = app.get_as("/v1/tenants/acme", &app.admin_key).await.status();
        accept_rows_again(&app, "subscription").await;
        let again = admin_post(&app, "/v1/tenants", &json!({"id": "acme", "name": "Acme", "plan": "payg"})).await;
        // Assert: nothing of the first attempt stayed, so the retry creates the tenant on its plan
        assert!(refused.status().is_server_error(), "{}", refused.status());
        assert_eq!(after_refusal, StatusCode::NOT_FOUND, "no tenant without its plan");
        assert_eq!(again.status(), StatusCode::CREATED);
        assert_eq!(app.get_json("/v1/tenants/acme").await["plan"], "payg");
    }

    async fn a_deactivation_whose_subscription_end_cannot_be_stored_leaves_the_tenant_as_it_was(app) {
        // Arrange: acme on committed; then its subscription rows are refused
        tenant_on(&app, "acme", "UTC", "committed", "2026-11-01T00:00:00Z").await;
        app.clock.set(at("2026-11-16T00:00:00Z"));
        refuse_rows_of(&app, "subscription", "acme").await;
        // Act
        let refused = admin_patch(&app, "/v1/tenants/acme", &json!({"active": false})).await;
        let after_refusal = app.get_json("/v1/tenants/acme").await;
        accept_rows_again(&app, "subscription").await;
        let again = admin_patch(&app, "/v1/tenants/acme", &json!({"active": false})).await;
        // Assert: an inactive tenant still on its plan would accrue fees it cannot use
        assert!(refused.status().is_server_error(), "{}", refused.status());
        assert_eq!((&after_refusal["active"], &after_refusal["plan"]), (&json!(true), &json!("committed")));
        assert_eq!(again.status(), StatusCode::OK);
        let deactivated: Value = again.json().await.unwrap();
        assert_eq!((&deactivated["active"], &deactivated["plan"]), (&json!(false), &Value::Null));
    }
}
