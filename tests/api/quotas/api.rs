//! Setting quotas (operator) and budgets (tenant): the stored set comes back with limits as
//! strings and spend in the tenant's currency; the rules on budgets and ids hold.

use serde_json::json;

use super::entitlements::tenant_key;
use super::{create_tenant_on, put_as, set_quotas};
use crate::quota_tests;

quota_tests! {
    async fn the_operator_replaces_a_tenants_quota_set_and_reads_it_back(app) {
        // Arrange
        create_tenant_on(&app, "acme", "payg").await;
        let quotas = json!([
            {"id": "inv-cap", "meter": "invocations", "limit": "5000000", "thresholds": [100, 50, 80], "hard": true},
            {"id": "spend", "meter": "spend", "limit": "250", "thresholds": [80, 100], "hard": false},
        ]);
        // Act
        let stored = set_quotas(&app, "acme", quotas).await;
        let replaced = set_quotas(&app, "acme", json!([{"id": "mem", "meter": "memory_gb_seconds", "limit": "1.5"}])).await;
        let read = app.get_json("/v1/tenants/acme/quotas").await;
        // Assert
        assert_eq!(stored["currency"], "USD");
        assert_eq!(stored["quotas"], json!([
            {"id": "inv-cap", "meter": "invocations", "limit": "5000000", "thresholds": [50, 80, 100], "hard": true},
            {"id": "spend", "meter": "spend", "limit": "250.00", "thresholds": [80, 100], "hard": false},
        ]));
        assert_eq!(replaced["quotas"], json!([{"id": "mem", "meter": "memory_gb_seconds", "limit": "1.5", "thresholds": [], "hard": false}]));
        assert_eq!(read, replaced, "PUT replaces the whole set");
    }

    async fn invalid_quota_sets_are_refused_with_a_stable_code(app) {
        create_tenant_on(&app, "acme", "payg").await;
        let path = "/v1/tenants/acme/quotas";
        for (quotas, status, code) in [
            (json!([{"id": "x", "meter": "gpu", "limit": "1"}]), 422, "invalid_quota"),
            (json!([{"id": "x", "meter": "spend", "limit": "-1"}]), 422, "invalid_quota"),
            (json!([{"id": "x", "meter": "spend", "limit": "1.005"}]), 422, "invalid_quota"),
            (json!([{"id": "x", "meter": "invocations", "limit": "10.5"}]), 422, "invalid_quota"),
            (json!([{"id": "x", "meter": "cpu_cycles", "limit": "0.5"}]), 422, "invalid_quota"),
            (json!([{"id": "x", "meter": "memory_gb_seconds", "limit": "1.0000000001"}]), 422, "invalid_quota"),
            (json!([{"id": "x", "meter": "spend", "limit": "1", "thresholds": [0]}]), 422, "invalid_quota"),
            (json!([{"id": "x", "meter": "spend", "limit": "1"}, {"id": "x", "meter": "spend", "limit": "2"}]), 422, "invalid_quota"),
            (json!([{"id": "x", "meter": "spend", "limit": "1", "warn": true}]), 422, "invalid_body"),
        ] {
            let response = put_as(&app, path, &app.admin_key, &json!({"quotas": quotas})).await;
            let got = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{quotas}");
        }
        let whole = set_quotas(&app, "acme", json!([{"id": "x", "meter": "invocations", "limit": "10.00"}])).await;
        assert_eq!(whole["quotas"][0]["limit"], "10", "a whole number written with zero decimals is one");
        let acme = tenant_key(&app, "acme").await;
        let tenant_put = put_as(&app, path, &acme, &json!({"quotas": []})).await;
        assert_eq!(tenant_put.status(), 403, "the operator sets quotas, not the tenant");
    }

    async fn a_tenant_sets_its_own_spend_budgets_hard_only_where_its_plan_allows(app) {
        // Arrange
        create_tenant_on(&app, "acme", "payg").await;
        create_tenant_on(&app, "hooli", "committed").await;
        let (acme, hooli) = (tenant_key(&app, "acme").await, tenant_key(&app, "hooli").await);
        let budget = |hard: bool| json!({"budgets": [{"id": "monthly", "meter": "spend", "limit": "100.00", "thresholds": [50, 90], "hard": hard}]});
        // Act
        let soft = put_as(&app, "/v1/tenants/acme/budgets", &acme, &budget(false)).await;
        let hard_on_payg = put_as(&app, "/v1/tenants/acme/budgets", &acme, &budget(true)).await;
        let hard_on_committed = put_as(&app, "/v1/tenants/hooli/budgets", &hooli, &budget(true)).await;
        // Assert
        assert_eq!(soft.status(), 200);
        let soft: serde_json::Value = soft.json().await.unwrap();
        assert_eq!(soft["budgets"][0]["limit"], "100.00");
        assert_eq!(soft["allow_hard_budget"], false);
        assert_eq!(hard_on_payg.status(), 422);
        assert_eq!(hard_on_payg.json::<serde_json::Value>().await.unwrap()["error"]["code"], "hard_budget_not_allowed");
        assert_eq!(hard_on_committed.status(), 200);
        let read = app.get_as("/v1/tenants/acme/budgets", &acme).await.json::<serde_json::Value>().await.unwrap();
        assert_eq!(read["budgets"], soft["budgets"], "the soft budget stayed");
        let other = put_as(&app, "/v1/tenants/hooli/budgets", &acme, &budget(false)).await;
        assert_eq!(other.status(), 404, "another tenant's budgets are not there");
        let ingest = put_as(&app, "/v1/tenants/acme/budgets", &app.ingest_key, &budget(false)).await;
        assert_eq!(ingest.status(), 403);
    }

    async fn budgets_are_spend_quotas_and_never_take_a_quotas_id(app) {
        create_tenant_on(&app, "acme", "free").await;
        let acme = tenant_key(&app, "acme").await;
        set_quotas(&app, "acme", json!([{"id": "ops", "meter": "spend", "limit": "5"}])).await;
        for (budgets, status, code) in [
            (json!([{"id": "b", "meter": "invocations", "limit": "5"}]), 422, "invalid_quota"),
            (json!([{"id": "ops", "meter": "spend", "limit": "5"}]), 409, "quota_id_taken"),
            (json!([{"id": "free-memory", "meter": "spend", "limit": "5"}]), 409, "quota_id_taken"),
        ] {
            let response = put_as(&app, "/v1/tenants/acme/budgets", &acme, &json!({"budgets": budgets})).await;
            let got = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{budgets}");
        }
    }

    async fn a_spend_limit_is_an_amount_some_currency_can_hold_even_before_the_tenant_has_a_plan(app) {
        // Arrange: acme has no plan (no currency yet), hooli pays in USD
        let body = json!({"id": "acme", "name": "A", "billing_email": "billing@example.com"});
        let created = app.client.post(format!("{}/v1/tenants", app.address)).bearer_auth(&app.admin_key).json(&body);
        assert_eq!(created.send().await.unwrap().status(), 201);
        create_tenant_on(&app, "hooli", "payg").await;
        let spend = |limit: &str| json!({"quotas": [{"id": "s", "meter": "spend", "limit": limit, "thresholds": [100]}]});
        for (tenant, limit, status) in [
            ("acme", "1.0005", 422),
            ("acme", "1.005", 200),
            ("hooli", "1.005", 422),
            ("hooli", "1000000000000000000", 422),
            ("hooli", "79228162514264337593543950335", 422),
            ("hooli", "999999999999999999.99", 200),
        ] {
            // Act
            let response = put_as(&app, &format!("/v1/tenants/{tenant}/quotas"), &app.admin_key, &spend(limit)).await;
            // Assert
            let got = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(got, status, "{tenant} {limit}: {body}");
            if status == 422 {
                assert_eq!(body["error"]["code"], "invalid_quota", "{body}");
            }
        }
    }
}
