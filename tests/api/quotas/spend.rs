//! Spend as quotas and budgets count it: the usage and fees accrued so far, never the plan's
//! minimum-spend top-up, which the invoice adds only when the period closes.

use serde_json::{json, Value};

use super::entitlements::tenant_key;
use super::{alerted, create_tenant_on, evaluate, post_invocations, put_as};
use crate::quota_tests;

/// The `monthly` budget's entitlement, as the ingest key reads it.
async fn monthly(app: &crate::helpers::TestApp) -> Value {
    let response = app.get_as("/v1/tenants/hooli/entitlements?meter=spend", &app.ingest_key).await;
    let body: Value = response.json().await.unwrap();
    body["entitlements"][0].clone()
}

quota_tests! {
    async fn a_minimum_spend_above_a_hard_budget_does_not_block_until_usage_and_fees_pass_it(app) {
        // Arrange: `committed` from Nov 27 12:00 (3.5 of 30 days): base fee 58.33, minimum
        // 233.33, so the draft is topped up to 233.33 — over a hard budget of 100.00
        create_tenant_on(&app, "hooli", "committed").await;
        let hooli = tenant_key(&app, "hooli").await;
        let budget = json!({"budgets": [{"id": "monthly", "meter": "spend", "limit": "100.00", "thresholds": [50, 100], "hard": true}]});
        assert_eq!(put_as(&app, "/v1/tenants/hooli/budgets", &hooli, &budget).await.status(), 200);
        // Act: 60M invocations, 10M included: 50M at 0.18 per million = 9.00
        post_invocations(&app, "hooli", "u1", 60_000_000).await;
        let below = monthly(&app).await;
        evaluate(&app).await;
        let alerted_below = alerted(&app).await;
        // 200M more: 250M net at 0.18 = 45.00, and 58.33 of base fee
        post_invocations(&app, "hooli", "u2", 200_000_000).await;
        let past = monthly(&app).await;
        evaluate(&app).await;
        // Assert
        assert_eq!(below, json!({"quota_id": "monthly", "meter": "spend", "used": "67.33", "limit": "100.00",
            "remaining": "32.67", "hard": true, "blocked": false}), "the base fee and usage, not the minimum");
        assert_eq!(alerted_below, [("monthly".to_owned(), 50)], "67.33 is past 50 %, not 100 %");
        assert_eq!((past["used"].as_str(), past["blocked"].as_bool()), (Some("103.33"), Some(true)));
        assert_eq!(alerted(&app).await, [("monthly".to_owned(), 50), ("monthly".to_owned(), 100)]);
        let current = app.get_json("/v1/tenants/hooli/usage/current").await;
        assert_eq!(current["amount_so_far"]["subtotal"], "233.33", "usage/current still drafts the invoice, top-up included");
    }
}
