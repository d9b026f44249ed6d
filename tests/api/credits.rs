//! Credit grants: only in a currency the tenant's invoices can consume; the credit a negative
//! invoice granted goes when that invoice is voided.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::billing::{admin_post, invoices_of, negative_november, run_billing_and_wait, usage_at};
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

/// December: 3M invocations (2M billable, 0.40), billed on January 1.
async fn bill_december(app: &TestApp) -> Value {
    usage_at(app, "acme", "2026-12-10T00:00:00Z", &[("dec", "2026-12-09T00:00:00Z", 3_000_000)]).await;
    run_billing_and_wait(app, "2027-01-01T02:00:00Z").await;
    invoices_of(app, "acme").await.pop().unwrap()
}

async fn void(app: &TestApp, invoice_id: &str) -> reqwest::Response {
    admin_post(app, &format!("/v1/invoices/{invoice_id}/void"), &json!({})).await
}

both_stores! {
    async fn a_voided_negative_invoice_leaves_no_credit_for_the_next_invoice(app) {
        // Arrange
        let november = negative_november(&app).await;
        let granted = app.get_json("/v1/tenants/acme/credits").await;
        assert_eq!(granted["grants"][0]["remaining"], "0.60", "{granted}");
        // Act
        app.clock.set(crate::billing::at("2026-12-02T00:00:00Z"));
        let voided = void(&app, &november).await;
        let december = bill_december(&app).await;
        // Assert
        assert_eq!(voided.status(), StatusCode::OK);
        let credits = app.get_json("/v1/tenants/acme/credits").await;
        assert_eq!(credits["grants"][0]["remaining"], "0.00", "the void took the remainder back: {credits}");
        let kinds: Vec<&str> = credits["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["grant", "revocation"], "{credits}");
        assert_eq!(credits["entries"][1]["amount"], "0.60");
        assert_eq!(credits["entries"][1]["invoice_id"], november.as_str(), "the revocation names the voided invoice");
        assert_eq!((december["credits_applied"].as_str(), december["total"].as_str()), (Some("0.00"), Some("0.40")), "{december}");
    }

    async fn voiding_a_negative_invoice_whose_credit_paid_another_is_refused_until_that_one_is_voided(app) {
        // Arrange: December's 0.40 is paid with November's 0.60 credit.
        let november = negative_november(&app).await;
        let december = bill_december(&app).await;
        assert_eq!((december["credits_applied"].as_str(), december["total"].as_str()), (Some("0.40"), Some("0.00")), "{december}");
        let december_id = december["id"].as_str().unwrap();
        // Act
        app.clock.set(crate::billing::at("2027-01-05T00:00:00Z"));
        let refused = void(&app, &november).await;
        let spender = void(&app, december_id).await;
        app.clock.set(crate::billing::at("2027-01-06T00:00:00Z"));
        let retried = void(&app, &november).await;
        // Assert
        assert_eq!(refused.status(), StatusCode::CONFLICT);
        let error: Value = refused.json().await.unwrap();
        assert_eq!(error["error"]["code"], "granted_credit_spent", "{error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(december["number"].as_str().unwrap()) && message.contains(december_id), "names December: {message}");
        assert_eq!(spender.status(), StatusCode::OK, "the invoice that used the credit can be voided");
        assert_eq!(retried.status(), StatusCode::OK, "then so can the one that granted it");
        let credits = app.get_json("/v1/tenants/acme/credits").await;
        assert_eq!(credits["grants"][0]["remaining"], "0.00", "0.60 − 0.40 + 0.40 restored − 0.60 revoked: {credits}");
        let kinds: Vec<&str> = credits["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["grant", "consumption", "restoration", "revocation"], "{credits}");
        let spec = crate::api_spec::spec();
        for (schema, body) in [("CreditLedger", &credits), ("Error", &error)] {
            let violations = crate::api_spec::spec_schema::validate(&spec, &spec["components"]["schemas"][schema], body);
            assert!(violations.is_empty(), "api-spec describes the {schema}: {violations:?}");
        }
    }
}

async fn revoke(app: &TestApp, tenant: &str, grant_id: &str, body: &Value) -> reqwest::Response {
    admin_post(app, &format!("/v1/tenants/{tenant}/credits/{grant_id}/revoke"), body).await
}

both_stores! {
    async fn an_operator_revokes_part_then_the_rest_of_a_grant_and_the_next_invoice_pays_with_what_is_left(app) {
        // Arrange: acme on payg since December, granted 10.00
        crate::billing::tenant_on(&app, "acme", "UTC", "payg", "2026-12-01T00:00:00Z").await;
        app.create_tenant("globex", "UTC").await;
        let granted: Value = grant(&app, "acme", "USD").await.json().await.unwrap();
        let grant_id = granted["grant_id"].as_str().unwrap();
        // Act: on December 2, 9.70 revoked, a cent too much refused; then December (0.40) billed
        app.clock.set(crate::billing::at("2026-12-02T00:00:00Z"));
        let part = revoke(&app, "acme", grant_id, &json!({"amount": "9.70", "reason": "granted twice by mistake"})).await;
        let too_much = revoke(&app, "acme", grant_id, &json!({"amount": "0.31", "reason": "owed no more"})).await;
        let too_fine = revoke(&app, "acme", grant_id, &json!({"amount": "0.001", "reason": "owed no more"})).await;
        let elsewhere = revoke(&app, "globex", grant_id, &json!({"reason": "owed no more"})).await;
        let december = bill_december(&app).await;
        let the_rest = revoke(&app, "acme", grant_id, &json!({"reason": "owed no more"})).await;
        let nothing_left = revoke(&app, "acme", grant_id, &json!({"reason": "owed no more"})).await;
        // Assert
        assert_eq!(part.status(), StatusCode::CREATED);
        let part: Value = part.json().await.unwrap();
        assert_eq!((&part["kind"], &part["amount"], &part["invoice_id"]), (&json!("revocation"), &json!("9.70"), &Value::Null), "{part}");
        assert_eq!(part["reason"], "granted twice by mistake");
        for (refused, code) in [(too_much, "credit_exhausted"), (too_fine, "invalid_credit")] {
            assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
            let error: Value = refused.json().await.unwrap();
            assert_eq!(error["error"]["code"], code, "{error}");
        }
        assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND, "a grant is found only under its own tenant");
        assert_eq!((december["credits_applied"].as_str(), december["total"].as_str()), (Some("0.30"), Some("0.10")), "{december}");
        assert_eq!(the_rest.status(), StatusCode::UNPROCESSABLE_ENTITY, "the 0.30 left paid December");
        assert_eq!(nothing_left.json::<Value>().await.unwrap()["error"]["code"], "credit_exhausted");
        let credits = app.get_json("/v1/tenants/acme/credits").await;
        let kinds: Vec<&str> = credits["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["grant", "revocation", "consumption"], "{credits}");
        let spec = crate::api_spec::spec();
        for (schema, body) in [("CreditLedger", &credits), ("CreditEntry", &part)] {
            let violations = crate::api_spec::spec_schema::validate(&spec, &spec["components"]["schemas"][schema], body);
            assert!(violations.is_empty(), "api-spec describes the {schema}: {violations:?}");
        }
    }
}
