//! Authentication and authorization over HTTP: API keys, JWTs, roles and tenant isolation.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;
use crate::helpers::{operator, record, spawn_app_with, test_now, Backend, TestApp, JWT_SECRET};
use tally::auth::{issue_api_key, Principal, Role};
use tally::domain::TenantId;

/// A token signed with the test secret under kid `default`, with `claims` as given.
fn token_with(claims: Value, kid: Option<&str>, alg: Algorithm, secret: &str) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn claims(role: &str, tenant: Option<&str>) -> Value {
    let now = test_now().timestamp();
    let mut c = json!({"sub": "t", "role": role, "iat": now, "exp": now + 3600, "iss": "tally", "aud": "tally"});
    if let Some(tenant) = tenant {
        c["tenant"] = json!(tenant);
    }
    c
}

pub fn valid_token(role: &str, tenant: Option<&str>) -> String {
    token_with(claims(role, tenant), Some("default"), Algorithm::HS256, JWT_SECRET)
}

/// Unpadded base64url, for hand-built tokens jsonwebtoken refuses to encode.
fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0_u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// Forged tokens, each correctly built but not a credential for now: (why, token).
fn forged_tokens() -> Vec<(String, String)> {
    let now = test_now().timestamp();
    let signed = |why: &str, claim: &str, value: Value| {
        let mut c = claims("admin", None);
        c[claim] = value;
        (why.to_owned(), token_with(c, Some("default"), Algorithm::HS256, JWT_SECRET))
    };
    let mut forged = vec![
        signed("nbf an hour ahead", "nbf", json!(now + 3600)),
        signed("nbf ten years ahead", "nbf", json!(now + 10 * 365 * 86_400)),
        signed("iat an hour ahead", "iat", json!(now + 3600)),
        signed("iat ten years ahead", "iat", json!(now + 10 * 365 * 86_400)),
    ];
    let payload = b64url(claims("admin", None).to_string().as_bytes());
    for alg in ["none", "None", "NONE"] {
        let header = b64url(format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"default"}}"#).as_bytes());
        forged.push((format!("alg {alg}, no signature"), format!("{header}.{payload}.")));
        forged.push((format!("alg {alg}, junk signature"), format!("{header}.{payload}.c2ln")));
    }
    let tenant_token = valid_token("tenant", Some("globex"));
    let parts: Vec<&str> = tenant_token.split('.').collect();
    for (why, role, tenant) in [("role raised to admin", "admin", None), ("tenant swapped", "tenant", Some("acme"))] {
        let tampered = b64url(claims(role, tenant).to_string().as_bytes());
        forged.push((format!("tampered claims: {why}"), format!("{}.{tampered}.{}", parts[0], parts[2])));
    }
    for kid in ["nowhere", "", "../../../../dev/null", "default\u{0}"] {
        forged
            .push((format!("kid {kid:?}"), token_with(claims("admin", None), Some(kid), Algorithm::HS256, JWT_SECRET)));
    }
    forged
}

async fn status_of_tenant_read(app: &TestApp, credential: &str) -> StatusCode {
    app.get_as("/v1/tenants/acme", credential).await.status()
}

both_stores! {
    async fn requests_without_valid_credentials_are_401(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let now = test_now().timestamp();
        let mut expired = claims("admin", None);
        expired["exp"] = json!(now - 3600);
        let mut wrong_aud = claims("admin", None);
        wrong_aud["aud"] = json!("someone-else");
        let mut wrong_iss = claims("admin", None);
        wrong_iss["iss"] = json!("evil");
        let mut no_aud = claims("admin", None);
        no_aud.as_object_mut().unwrap().remove("aud");
        let mut no_iss = claims("admin", None);
        no_iss.as_object_mut().unwrap().remove("iss");
        let mut no_exp = claims("admin", None);
        no_exp.as_object_mut().unwrap().remove("exp");
        let cases = [
            ("missing credential", String::new()),
            ("garbage", "not-a-token".to_owned()),
            ("expired", token_with(expired, Some("default"), Algorithm::HS256, JWT_SECRET)),
            ("wrong audience", token_with(wrong_aud, Some("default"), Algorithm::HS256, JWT_SECRET)),
            ("wrong issuer", token_with(wrong_iss, Some("default"), Algorithm::HS256, JWT_SECRET)),
            ("missing audience", token_with(no_aud, Some("default"), Algorithm::HS256, JWT_SECRET)),
            ("missing issuer", token_with(no_iss, Some("default"), Algorithm::HS256, JWT_SECRET)),
            ("missing exp", token_with(no_exp, Some("default"), Algorithm::HS256, JWT_SECRET)),
            ("algorithm mismatch", token_with(claims("admin", None), Some("default"), Algorithm::HS384, JWT_SECRET)),
            ("unknown kid", token_with(claims("admin", None), Some("other"), Algorithm::HS256, JWT_SECRET)),
            ("missing kid", token_with(claims("admin", None), None, Algorithm::HS256, JWT_SECRET)),
            ("wrong secret", token_with(claims("admin", None), Some("default"), Algorithm::HS256, "another-secret-of-at-least-32-bytes!!")),
            ("unknown api key", format!("tly_{}_{}", "0".repeat(12), "0".repeat(64))),
        ];
        // Act + Assert
        for (why, credential) in cases {
            let response = app.get_as("/v1/tenants/acme", &credential).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized", "{why}");
        }
        assert_eq!(status_of_tenant_read(&app, &valid_token("admin", None)).await, StatusCode::OK, "the valid token works");
    }

    async fn forged_and_not_yet_valid_tokens_are_401(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        app.create_tenant("globex", "UTC").await;
        // Act + Assert
        for (why, token) in forged_tokens() {
            let response = app.get_as("/v1/tenants/acme", &token).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized", "{why}");
        }
        let mut on_time = claims("admin", None);
        on_time["nbf"] = json!(test_now().timestamp() - 60);
        let on_time = token_with(on_time, Some("default"), Algorithm::HS256, JWT_SECRET);
        assert_eq!(status_of_tenant_read(&app, &on_time).await, StatusCode::OK, "a past nbf is fine");
    }

    async fn the_wrong_role_is_403(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let tenant_token = valid_token("tenant", Some("acme"));
        // Act
        let ingest_as_tenant = app
            .client
            .post(format!("{}/v1/usage", app.address))
            .bearer_auth(&tenant_token)
            .json(&record("acme", "r1"))
            .send()
            .await
            .unwrap();
        let create_as_ingest = app
            .client
            .post(format!("{}/v1/tenants", app.address))
            .bearer_auth(&app.ingest_key)
            .json(&json!({"id": "new", "name": "New"}))
            .send()
            .await
            .unwrap();
        // Assert
        assert_eq!(ingest_as_tenant.status(), StatusCode::FORBIDDEN);
        assert_eq!(create_as_ingest.status(), StatusCode::FORBIDDEN);
        assert_eq!(create_as_ingest.json::<Value>().await.unwrap()["error"]["code"], "forbidden");
    }

    async fn a_bad_query_string_is_checked_only_after_the_credential(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let routes = ["/v1/outbox", "/v1/webhooks", "/v1/tenants", "/v1/audit",
            "/v1/tenants/acme/entitlements", "/v1/tenants/acme/usage", "/v1/tenants/acme/invoices"];
        let unknown_key = format!("tly_{}_{}", "0".repeat(12), "0".repeat(64));
        // Act + Assert
        for route in routes {
            let path = format!("{route}?x=1");
            let anonymous = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
            assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "anonymous {path}");
            let body: Value = anonymous.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized", "the parameters are not named to anonymous callers: {path}");
            assert_eq!(app.get_as(&path, &unknown_key).await.status(), StatusCode::UNAUTHORIZED, "unknown key {path}");
            assert_eq!(app.get_as(&path, &app.admin_key).await.status(), StatusCode::BAD_REQUEST, "admin {path}");
        }
        for route in ["/v1/outbox", "/v1/webhooks", "/v1/tenants", "/v1/audit"] {
            let path = format!("{route}?x=1");
            assert_eq!(app.get_as(&path, &app.ingest_key).await.status(), StatusCode::FORBIDDEN, "ingest key {path}");
        }
        let other_tenant = valid_token("tenant", Some("globex"));
        let hidden = app.get_as("/v1/tenants/acme/usage?x=1", &other_tenant).await;
        assert_eq!(hidden.status(), StatusCode::NOT_FOUND, "another tenant's routes stay hidden");
    }

    async fn a_tenant_credential_sees_only_its_own_tenant(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        app.create_tenant("globex", "UTC").await;
        let acme = valid_token("tenant", Some("acme"));
        // Act + Assert
        assert_eq!(app.get_as("/v1/tenants/acme", &acme).await.status(), StatusCode::OK);
        assert_eq!(app.get_as("/v1/tenants/acme/usage", &acme).await.status(), StatusCode::OK);
        let other = app.get_as("/v1/tenants/globex/usage", &acme).await;
        assert_eq!(other.status(), StatusCode::NOT_FOUND, "another tenant's data is 404, not 403");
        let missing = app.get_as("/v1/tenants/nobody", &acme).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND, "no existence oracle");
    }

    async fn a_tenant_scoped_ingest_key_posts_only_for_its_tenant(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        app.create_tenant("globex", "UTC").await;
        let scoped = Principal::new(Role::Ingest, Some(TenantId::parse("acme").unwrap()), "runtime").unwrap();
        let key = issue_api_key(&app.store, &scoped, test_now(), &operator()).await.unwrap();
        // Act
        let response = app
            .client
            .post(format!("{}/v1/usage", app.address))
            .bearer_auth(&key)
            .json(&json!({"records": [record("acme", "a"), record("globex", "g")]}))
            .send()
            .await
            .unwrap();
        // Assert
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["accepted"], 1);
        assert_eq!(body["errors"][0]["index"], 1);
        assert_eq!(body["errors"][0]["code"], "unknown_tenant");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_api_key_stops_working_within_the_cache_ttl() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        // Arrange: verified keys are trusted for one second.
        let app = spawn_app_with(backend, |s| s.api_key_cache_ttl = std::time::Duration::from_secs(1)).await;
        app.create_tenant("acme", "UTC").await;
        let admin = Principal::new(Role::Admin, None, "ops").unwrap();
        let key = issue_api_key(&app.store, &admin, test_now(), &operator()).await.unwrap();
        assert_eq!(status_of_tenant_read(&app, &key).await, StatusCode::OK);
        let forged = format!("{}_{}", key.rsplit_once('_').unwrap().0, "f".repeat(64));
        assert_eq!(
            status_of_tenant_read(&app, &forged).await,
            StatusCode::UNAUTHORIZED,
            "a cached key still checks its secret"
        );
        // Act: revoked in the database (as `tally api-key revoke` does, from another process).
        let key_id = tally::auth::key_id_of(&key);
        assert!(app.store.revoke_api_key(&key_id, test_now(), &operator()).await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        // Assert
        assert_eq!(status_of_tenant_read(&app, &key).await, StatusCode::UNAUTHORIZED, "{backend:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_scoped_admin_key_is_refused_on_global_routes() {
    // Arrange: an admin key scoped to acme.
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    app.create_tenant("acme", "UTC").await;
    let scoped = Principal::new(Role::Admin, Some(TenantId::parse("acme").unwrap()), "acme-ops").unwrap();
    let key = issue_api_key(&app.store, &scoped, test_now(), &operator()).await.unwrap();
    let post = |path: &str, body: Value| {
        app.client.post(format!("{}{path}", app.address)).bearer_auth(&key).json(&body).send()
    };
    // Act
    let refused = [
        ("run billing", post("/v1/billing/run", json!({})).await.unwrap()),
        ("create a tenant", post("/v1/tenants", json!({"id": "globex", "name": "Globex"})).await.unwrap()),
        ("list tenants", app.get_as("/v1/tenants", &key).await),
    ];
    // Assert
    for (route, response) in refused {
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{route}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "forbidden", "{route}");
    }
    assert_eq!(status_of_tenant_read(&app, &key).await, StatusCode::OK, "its own tenant stays readable");
}
