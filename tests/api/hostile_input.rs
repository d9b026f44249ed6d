//! Bodies, headers and text an attacker (or a buggy client) sends: each is refused in the
//! error shape with a named code, never half-read, never a 5xx, on both stores.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

use crate::both_stores;
use crate::helpers::{record, spawn_app, test_now, Backend, TestApp, JWT_SECRET};

/// Sends `body` exactly as written (so it can repeat keys) with `credential`.
async fn send(app: &TestApp, method: Method, path: &str, credential: &str, body: &str) -> reqwest::Response {
    let content_type = if path == "/api/v1/events" { "application/cloudevents+json" } else { "application/json" };
    app.client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(credential)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .expect("the request reaches the server")
}

/// `value` with `field` set to a text holding a NUL (and, for variety, other controls).
fn with_nul(mut value: Value, pointer: &str) -> String {
    *value.pointer_mut(pointer).unwrap_or_else(|| panic!("no {pointer}")) = json!("a\u{0}b");
    value.to_string()
}

/// An admin token whose subject holds a NUL, correctly signed.
fn token_with_nul_subject() -> String {
    let now = test_now().timestamp();
    let claims =
        json!({"sub": "ops\u{0}", "role": "admin", "iat": now, "exp": now + 3600, "iss": "tally", "aud": "tally"});
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("default".into());
    encode(&header, &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap()
}

/// A native record's JSON text whose `invocations` key appears twice.
fn record_with_repeated_key(id: &str) -> String {
    record("acme", id).to_string().replace("\"invocations\":1", "\"invocations\":1,\"invocations\":5")
}

both_stores! {
    async fn a_repeated_records_key_refuses_the_whole_batch_and_stores_nothing(app) {
        // Arrange: serde would keep only the last "records" and answer 200 accepted: 1.
        app.create_tenant("acme", "UTC").await;
        let body = format!(r#"{{"records":[{}],"records":[{}]}}"#, record("acme", "a"), record("acme", "b"));
        // Act
        let response = app.post_usage_raw(body).await;
        // Assert
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "duplicate_json_key", "{error}");
        assert!(error["error"]["message"].as_str().unwrap().contains("\"records\""), "names the key: {error}");
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month").await;
        assert_eq!(usage["buckets"][0]["records"], 0, "nothing was stored");
    }

    async fn a_record_or_event_repeating_a_key_is_rejected_by_index_and_the_rest_stored(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let batch = format!(r#"{{"records":[{},{}]}}"#, record("acme", "good"), record_with_repeated_key("twice"));
        let event = json!({"specversion": "1.0", "id": "e1", "source": "s", "type": "t", "subject": "acme",
            "time": "2026-11-27T11:30:00Z", "data": {"invocations": 1}})
        .to_string();
        let events = [
            event.replace("\"invocations\":1", "\"invocations\":1,\"invocations\":2"),
            event.replace("\"source\":\"s\"", "\"source\":\"s\",\"source\":\"other\""),
            event.replace("\"type\":\"t\"", "\"type\":\"t\",\"ext\":{\"k\":1,\"k\":2}"),
        ];
        // Act
        let native = app.post_usage_raw(batch).await;
        let single = app.post_usage_raw(record_with_repeated_key("alone")).await;
        // Assert
        assert_eq!(native.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let native: Value = native.json().await.unwrap();
        assert_eq!(native["accepted"], 1, "{native}");
        assert_eq!(native["errors"][0]["index"], 1, "{native}");
        assert_eq!(native["errors"][0]["code"], "duplicate_json_key", "{native}");
        assert!(native["errors"][0]["message"].as_str().unwrap().contains("\"invocations\""), "{native}");
        let single: Value = single.json().await.unwrap();
        assert_eq!(single["errors"][0]["index"], 0, "{single}");
        assert_eq!(single["errors"][0]["code"], "duplicate_json_key", "{single}");
        for (i, body) in events.iter().enumerate() {
            let response = send(&app, Method::POST, "/api/v1/events", &app.ingest_key, body).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "event case {i}");
            let report: Value = response.json().await.unwrap();
            assert_eq!(report["errors"][0]["code"], "duplicate_json_key", "event case {i}: {report}");
        }
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month").await;
        assert_eq!(usage["buckets"][0]["records"], 1, "only the good record is stored");
    }

    async fn every_admin_json_route_refuses_a_repeated_key_with_400_naming_it(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let admin = app.admin_key.clone();
        let cases = [
            (Method::POST, "/v1/tenants", r#"{"id":"globex","name":"Globex","name":"Evil"}"#, "name"),
            (Method::PATCH, "/v1/tenants/acme", r#"{"address":["a"],"tax_id":"x","tax_id":"y"}"#, "tax_id"),
            (Method::PUT, "/v1/tenants/acme/subscription", r#"{"plan":"payg","plan":"free"}"#, "plan"),
            (
                Method::POST,
                "/v1/tenants/acme/credits",
                r#"{"amount":"1.00","currency":"USD","reason":"r","amount":"1000.00"}"#,
                "amount",
            ),
            (Method::POST, "/v1/quotes", r#"{"plan":"payg","usage":{"invocations":"1","invocations":"9"}}"#, "invocations"),
            (
                Method::POST,
                "/v1/usage/corrections",
                r#"{"tenant_id":"acme","id":"r1","action":"replace","reason":"fix",
                    "replacement":{"invocations":2,"invocations":3}}"#,
                "invocations",
            ),
            (
                Method::POST,
                "/v1/billing/run",
                r#"{"as_of":"2026-11-27T12:00:00Z","as_of":"2030-01-01T00:00:00Z"}"#,
                "as_of",
            ),
        ];
        for (method, path, body, key) in cases {
            // Act
            let response = send(&app, method.clone(), path, &admin, body).await;
            // Assert
            let why = format!("{method} {path}");
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"]["code"], "duplicate_json_key", "{why}: {error}");
            let message = error["error"]["message"].as_str().unwrap();
            assert!(message.contains(&format!("\"{key}\"")), "{why}: names the key: {message}");
        }
        let tenant = app.get_json("/v1/tenants/acme").await;
        assert_eq!(tenant["name"], "Tenant acme", "no refused request changed anything");
        assert_eq!(app.get_json("/v1/tenants/acme/credits").await["entries"], json!([]));
    }

    async fn a_405_says_in_allow_which_methods_the_resource_serves(app) {
        // Arrange
        let cases = [
            (Method::GET, "/v1/usage", "POST"),
            (Method::DELETE, "/v1/tenants", "GET, HEAD, POST"),
            (Method::PUT, "/v1/tenants/acme", "GET, HEAD, PATCH"),
            (Method::POST, "/v1/tenants/acme/usage/current", "GET, HEAD"),
        ];
        for (method, path, allow) in cases {
            // Act
            let response = send(&app, method.clone(), path, &app.admin_key, "").await;
            // Assert
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            let header = response.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(header.as_deref(), Some(allow), "{method} {path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "method_not_allowed", "{method} {path}");
        }
    }
}

/// `case → status code` for a refused request; panics on anything but a 4xx in the error shape.
async fn answer_line(case: &str, response: reqwest::Response) -> String {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_client_error(), "{case}: {status} {text}");
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{case}: not JSON: {text}"));
    let code = answer["errors"][0]["code"].as_str().or(answer["error"]["code"].as_str());
    format!("{case} → {} {}", status.as_u16(), code.unwrap_or_else(|| panic!("{case}: no code in {answer}")))
}

/// Sends a NUL (in JSON as \u0000, in a URL as %00) in every text input of every route —
/// body fields, query parameters, path segments, a token's subject — and returns how each was
/// answered, after checking it was a 4xx in the error shape.
async fn answers_to_nul_inputs(app: &TestApp) -> Vec<String> {
    // Arrange: acme on payg with one stored record (so corrections reach the lookup).
    let created = json!({"id": "acme", "name": "Acme", "plan": "payg"});
    let response = send(app, Method::POST, "/v1/tenants", &app.admin_key, &created.to_string()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(app.post_usage(&record("acme", "r1")).await.status(), StatusCode::OK);
    let (admin, ingest) = (app.admin_key.clone(), app.ingest_key.clone());
    let event = json!({"specversion": "1.0", "id": "e1", "source": "s", "type": "t", "subject": "acme",
            "time": "2026-11-27T11:30:00Z", "datacontenttype": "application/json", "data": {"invocations": 1, "function": "f"}});
    let correction = json!({"tenant_id": "acme", "source": "", "id": "r1", "action": "replace", "reason": "fix",
            "replacement": {"invocations": 2, "function": "f", "region": "r"}});
    let tenant = json!({"id": "globex", "name": "Globex", "billing_emails": ["a@globex.test"], "timezone": "UTC",
            "tax_rate": "1", "address": ["1 Road"], "tax_id": "T1", "late_usage_policy": "reject", "plan": "payg"});
    let patch = json!({"name": "Acme", "billing_email": "a@acme.test", "timezone": "UTC", "address": ["x"],
            "tax_id": "T", "late_usage_policy": "reject"});
    let credit = json!({"amount": "1.00", "currency": "USD", "reason": "r", "expires_at": "2027-01-01T00:00:00Z"});
    let mut bodies: Vec<(Method, &str, &str, String)> = Vec::new();
    for field in ["/id", "/tenant_id", "/timestamp", "/function", "/region", "/memory_gb_seconds"] {
        bodies.push((Method::POST, "/v1/usage", &ingest, with_nul(record("acme", "n1"), field)));
    }
    for field in ["/id", "/source", "/type", "/subject", "/time", "/datacontenttype", "/specversion", "/data/function"]
    {
        bodies.push((Method::POST, "/api/v1/events", &ingest, with_nul(event.clone(), field)));
    }
    for field in ["/tenant_id", "/source", "/id", "/action", "/reason", "/replacement/function", "/replacement/region"]
    {
        bodies.push((Method::POST, "/v1/usage/corrections", &ingest, with_nul(correction.clone(), field)));
    }
    for field in [
        "/id",
        "/name",
        "/billing_emails/0",
        "/timezone",
        "/tax_rate",
        "/address/0",
        "/tax_id",
        "/late_usage_policy",
        "/plan",
    ] {
        bodies.push((Method::POST, "/v1/tenants", &admin, with_nul(tenant.clone(), field)));
    }
    for field in ["/name", "/billing_email", "/timezone", "/address/0", "/tax_id", "/late_usage_policy"] {
        bodies.push((Method::PATCH, "/v1/tenants/acme", &admin, with_nul(patch.clone(), field)));
    }
    for field in ["/plan", "/timing"] {
        let change = json!({"plan": "payg", "timing": "immediately"});
        bodies.push((Method::PUT, "/v1/tenants/acme/subscription", &admin, with_nul(change, field)));
    }
    for field in ["/amount", "/currency", "/reason", "/expires_at"] {
        bodies.push((Method::POST, "/v1/tenants/acme/credits", &admin, with_nul(credit.clone(), field)));
    }
    bodies.push((Method::POST, "/v1/quotes", &admin, with_nul(json!({"plan": "payg", "usage": {}}), "/plan")));
    bodies.push((Method::POST, "/v1/quotes", &admin, r#"{"plan":"payg","usage":{"invo\u0000cations":"1"}}"#.into()));
    bodies.push((Method::POST, "/v1/billing/run", &admin, with_nul(json!({"as_of": "x"}), "/as_of")));
    let gets = [
        "/v1/tenants?cursor=a%00b",
        "/v1/tenants?limit=%00",
        "/v1/tenants/acme/invoices?cursor=a%00b",
        "/v1/tenants/acme/usage?from=2026-11-01T00:00:00Z%00",
        "/v1/tenants/acme/usage?granularity=day%00",
        "/v1/tenants/acme/usage?group_by=%00",
        "/v1/tenants/acme%00",
        "/v1/tenants/acme%00/usage/current",
        "/v1/tenants/acme%00/credits",
        "/v1/plans/payg%00",
        "/v1/invoices/a%00b",
        "/v1/invoices/a%00b/pdf",
        "/v1/invoices/a%00b/lines/1/explain",
        "/v1/billing/runs/run_%00",
        "/v1/audit?action=tenant.created%00",
        "/v1/audit?tenant=acme%00",
        "/v1/audit?cursor=1%00",
    ];
    let mut answers = Vec::new();
    for (method, path, credential, body) in bodies {
        let response = send(app, method.clone(), path, credential, &body).await;
        answers.push(answer_line(&format!("{method} {path} {body}"), response).await);
    }
    for path in gets {
        answers.push(answer_line(&format!("GET {path}"), app.get_as(path, &admin).await).await);
    }
    let nul_subject = token_with_nul_subject();
    let keyed = app
        .client
        .post(format!("{}/v1/tenants/acme/credits", app.address))
        .bearer_auth(&nul_subject)
        .header("Idempotency-Key", "k1")
        .json(&credit)
        .send()
        .await
        .unwrap();
    answers.push(answer_line("POST credits as a subject with a NUL", keyed).await);
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_any_text_input_is_a_4xx_answered_alike_on_both_stores() {
    // Arrange
    let sqlite = spawn_app(Backend::Sqlite).await;
    let postgres = spawn_app(Backend::Postgres).await;
    // Act
    let on_sqlite = answers_to_nul_inputs(&sqlite).await;
    let on_postgres = answers_to_nul_inputs(&postgres).await;
    // Assert: each is a 4xx (checked inside), and the two stores answer every case alike.
    assert_eq!(on_sqlite.len(), on_postgres.len());
    for (sqlite, postgres) in on_sqlite.iter().zip(&on_postgres) {
        assert_eq!(sqlite, postgres, "SQLite and PostgreSQL answer alike");
    }
}
