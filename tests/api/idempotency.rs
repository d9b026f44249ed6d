//! `Idempotency-Key` scoping: a key belongs to one principal on one route.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

use crate::both_stores;
use crate::helpers::{test_now, TestApp, JWT_SECRET};

/// An admin token scoped to `tenant` whose subject is `cli` (what `tally token issue`
/// defaults to), so only the tenant tells two of them apart.
fn cli_admin_of(tenant: &str) -> String {
    let now = test_now().timestamp();
    let claims = json!({"sub": "cli", "role": "admin", "tenant": tenant, "iat": now, "exp": now + 3600,
        "iss": "tally", "aud": "tally"});
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("default".into());
    encode(&header, &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap()
}

/// Creates `id` on the USD plan `payg` (credits are granted in the tenant's billing currency).
async fn create_tenant_on_payg(app: &TestApp, id: &str) {
    let body = json!({"id": id, "name": format!("Tenant {id}"), "plan": "payg"});
    let response = app.client.post(format!("{}/v1/tenants", app.address)).bearer_auth(&app.admin_key).json(&body);
    assert_eq!(response.send().await.unwrap().status(), StatusCode::CREATED);
}

async fn send_keyed(app: &TestApp, method: Method, path: &str, credential: &str, body: &Value) -> reqwest::Response {
    app.client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(credential)
        .header("Idempotency-Key", "order-42")
        .json(body)
        .send()
        .await
        .unwrap()
}

fn grant(amount: &str) -> Value {
    json!({"amount": amount, "currency": "USD", "reason": "goodwill"})
}

both_stores! {
    async fn two_tenants_admins_with_the_same_subject_and_key_do_not_collide(app) {
        // Arrange
        create_tenant_on_payg(&app, "acme").await;
        create_tenant_on_payg(&app, "globex").await;
        let (acme, globex) = (cli_admin_of("acme"), cli_admin_of("globex"));
        // Act
        let first = send_keyed(&app, Method::PATCH, "/v1/tenants/acme", &acme, &json!({"name": "Acme Corp"})).await;
        let second = send_keyed(&app, Method::PATCH, "/v1/tenants/globex", &globex, &json!({"name": "Globex Corp"})).await;
        let third = send_keyed(&app, Method::POST, "/v1/tenants/acme/credits", &acme, &grant("10.00")).await;
        let fourth = send_keyed(&app, Method::POST, "/v1/tenants/globex/credits", &globex, &grant("25.00")).await;
        // Assert
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(second.status(), StatusCode::OK, "{}", second.text().await.unwrap());
        assert_eq!(app.get_json("/v1/tenants/globex").await["name"], "Globex Corp");
        assert_eq!(third.status(), StatusCode::CREATED);
        assert_eq!(fourth.status(), StatusCode::CREATED, "{}", fourth.text().await.unwrap());
        let globex_credits = app.get_json("/v1/tenants/globex/credits").await;
        assert_eq!(globex_credits["entries"][0]["amount"], "25.00", "globex's own grant, not a replay of acme's");
    }

    async fn the_same_key_on_another_route_is_another_key_and_on_the_same_route_a_reuse(app) {
        // Arrange
        create_tenant_on_payg(&app, "acme").await;
        let acme = cli_admin_of("acme");
        // Act
        let credit = send_keyed(&app, Method::POST, "/v1/tenants/acme/credits", &acme, &grant("10.00")).await;
        let patch = send_keyed(&app, Method::PATCH, "/v1/tenants/acme", &acme, &json!({"name": "Acme Corp"})).await;
        let replay = send_keyed(&app, Method::POST, "/v1/tenants/acme/credits", &acme, &grant("10.00")).await;
        let reuse = send_keyed(&app, Method::POST, "/v1/tenants/acme/credits", &acme, &grant("99.00")).await;
        // Assert
        assert_eq!(credit.status(), StatusCode::CREATED);
        assert_eq!(patch.status(), StatusCode::OK, "another route: {}", patch.text().await.unwrap());
        assert_eq!(app.get_json("/v1/tenants/acme").await["name"], "Acme Corp");
        assert_eq!(replay.status(), StatusCode::CREATED);
        assert_eq!(replay.headers()["idempotent-replayed"], "true");
        assert_eq!(reuse.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reuse.json::<Value>().await.unwrap()["error"]["code"], "idempotency_key_reused");
        assert_eq!(app.get_json("/v1/tenants/acme/credits").await["entries"].as_array().unwrap().len(), 1);
    }
}
