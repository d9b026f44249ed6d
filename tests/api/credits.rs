//! Credit grants: only in a currency the tenant's invoices can consume.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;
use crate::helpers::TestApp;

async fn grant(app: &TestApp, tenant: &str, currency: &str) -> reqwest::Response {
    let body = json!({"amount": "10.00", "currency": currency, "reason": "goodwill"});
    let url = format!("{}/v1/tenants/{tenant}/credits", app.address);
    app.client.post(url).bearer_auth(&app.admin_key).json(&body).send().await.unwrap()
}

both_stores! {
    async fn a_grant_in_a_currency_the_tenant_is_not_billed_in_is_refused(app) {
        // Arrange: acme is on payg (USD); globex has no plan, so no billing currency yet.
        let body = json!({"id": "acme", "name": "Acme", "plan": "payg"});
        let created = app.client.post(format!("{}/v1/tenants", app.address)).bearer_auth(&app.admin_key).json(&body);
        assert_eq!(created.send().await.unwrap().status(), StatusCode::CREATED);
        app.create_tenant("globex", "UTC").await;
        // Act
        let euros = grant(&app, "acme", "EUR").await;
        let dollars = grant(&app, "acme", "USD").await;
        let planless = grant(&app, "globex", "USD").await;
        // Assert
        assert_eq!(euros.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let error: Value = euros.json().await.unwrap();
        assert_eq!(error["error"]["code"], "credit_currency_mismatch", "{error}");
        assert!(error["error"]["message"].as_str().unwrap().contains("USD"), "says what it is billed in: {error}");
        assert_eq!(dollars.status(), StatusCode::CREATED, "its own currency is fine");
        assert_eq!(planless.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(planless.json::<Value>().await.unwrap()["error"]["code"], "credit_currency_mismatch");
        let ledger = app.get_json("/v1/tenants/acme/credits").await;
        assert_eq!(ledger["entries"].as_array().unwrap().len(), 1, "only the USD grant is in the ledger");
    }
}

both_stores! {
    async fn a_grant_that_has_already_expired_is_refused(app) {
        // Arrange: acme is on payg; the clock reads 2026-11-27.
        let body = json!({"id": "acme", "name": "Acme", "plan": "payg"});
        let created = app.client.post(format!("{}/v1/tenants", app.address)).bearer_auth(&app.admin_key).json(&body);
        assert_eq!(created.send().await.unwrap().status(), StatusCode::CREATED);
        let url = format!("{}/v1/tenants/acme/credits", app.address);
        let with_expiry = |at: &str| json!({"amount": "10.00", "currency": "USD", "reason": "goodwill", "expires_at": at});
        // Act
        let expired = app.client.post(&url).bearer_auth(&app.admin_key).json(&with_expiry("2026-01-01T00:00:00Z"));
        let expired = expired.send().await.unwrap();
        let future = app.client.post(&url).bearer_auth(&app.admin_key).json(&with_expiry("2027-01-01T00:00:00Z"));
        // Assert
        assert_eq!(expired.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(expired.json::<Value>().await.unwrap()["error"]["code"], "credit_expired");
        assert_eq!(future.send().await.unwrap().status(), StatusCode::CREATED);
    }
}
