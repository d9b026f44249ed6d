//! Quotas, budgets, alerts and entitlements (DESIGN §9), on both stores. The background
//! evaluator is off and entitlements are never cached in these apps, so each test decides when
//! a pass runs (`evaluate`) and reads committed data directly; `worker.rs` checks the worker.

mod alerts;
mod api;
mod changes;
mod entitlements;
mod instances;
mod late;
mod pages;
mod spend;
mod unbilled;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

use crate::helpers::{spawn_app_with, Backend, TestApp};
use tally::metrics::Metrics;
use tally::plans::{load_catalog, SharedCatalog};
use tally::quota::{EvaluationReport, QuotaEvaluator};
use tally::store::Store;

/// Declares a test body once and runs it on both stores, like `both_stores!`, on an app
/// whose evaluator only runs when the test says so.
#[macro_export]
macro_rules! quota_tests {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $crate::both_stores! { spawn = $crate::quotas::spawn_quota_app; $(async fn $name($app) $body)* }
    };
}

/// The app with the background evaluator off and uncached entitlements.
pub async fn spawn_quota_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.quota.evaluate_every = std::time::Duration::ZERO;
        s.quota.entitlement_max_age = std::time::Duration::ZERO;
    })
    .await
}

/// An evaluator over `store` with its own catalog and metrics, as a fresh process would have.
pub async fn evaluator(store: &Store) -> QuotaEvaluator {
    QuotaEvaluator::new(
        store.clone(),
        SharedCatalog::new(load_catalog(store).await.unwrap()),
        Arc::new(Metrics::default()),
        chrono::Duration::days(35),
    )
}

/// One evaluator pass over the app's store as of the app's clock.
pub async fn evaluate(app: &TestApp) -> EvaluationReport {
    evaluator(&app.store).await.evaluate_quotas(app.clock_now()).await.unwrap()
}

/// Creates `tenant` (UTC) on `plan` through the API.
pub async fn create_tenant_on(app: &TestApp, tenant: &str, plan: &str) {
    let body = json!({"id": tenant, "name": "T", "billing_email": "billing@example.com", "plan": plan});
    let response = app.client.post(format!("{}/v1/tenants", app.address)).bearer_auth(&app.admin_key).json(&body);
    assert_eq!(response.send().await.unwrap().status(), StatusCode::CREATED, "creating {tenant}");
}

/// A PUT with a bearer credential and a JSON body.
pub async fn put_as(app: &TestApp, path: &str, credential: &str, body: &Value) -> reqwest::Response {
    app.client.put(format!("{}{path}", app.address)).bearer_auth(credential).json(body).send().await.unwrap()
}

/// Sets the operator's quotas, expecting 200.
pub async fn set_quotas(app: &TestApp, tenant: &str, quotas: Value) -> Value {
    let response =
        put_as(app, &format!("/v1/tenants/{tenant}/quotas"), &app.admin_key, &json!({"quotas": quotas})).await;
    assert_eq!(response.status(), StatusCode::OK, "PUT quotas");
    response.json().await.unwrap()
}

/// The invocation cap every alert test uses: 100 invocations, alerts at 50/80/100 %.
pub fn invocation_cap() -> Value {
    json!([{"id": "inv-cap", "meter": "invocations", "limit": "100", "thresholds": [50, 80, 100], "hard": true}])
}

/// Posts one record of `invocations` for `tenant` at `at`, expecting it stored.
pub async fn post_invocations_at(app: &TestApp, tenant: &str, id: &str, invocations: u64, at: &str) {
    let body = json!({"id": id, "tenant_id": tenant, "timestamp": at, "invocations": invocations});
    let response = app.post_usage(&body).await;
    assert_eq!(response.status(), StatusCode::OK, "posting {id}: {}", response.text().await.unwrap());
}

/// Posts one record of `invocations` for `tenant` at the test's "now" (when its tenant's subscription starts).
pub async fn post_invocations(app: &TestApp, tenant: &str, id: &str, invocations: u64) {
    post_invocations_at(app, tenant, id, invocations, "2026-11-27T12:00:00Z").await;
}

/// Alert events in the outbox, oldest first, as parsed payloads.
pub async fn alert_events(app: &TestApp) -> Vec<Value> {
    let sql = "select payload from outbox where kind = 'quota.threshold_crossed' order by created_at, payload";
    let payloads: Vec<String> = match app.database.pg_name {
        Some(_) => {
            let mut connection = PgConnection::connect(&app.database.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut connection).await.unwrap()
        }
        None => {
            let mut connection = sqlx::SqliteConnection::connect(&app.database.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut connection).await.unwrap()
        }
    };
    payloads.iter().map(|p| serde_json::from_str(p).unwrap()).collect()
}

/// `(quota_id, threshold)` of every alert event, sorted.
pub async fn alerted(app: &TestApp) -> Vec<(String, u64)> {
    let mut found: Vec<(String, u64)> = alert_events(app)
        .await
        .iter()
        .map(|e| (e["quota_id"].as_str().unwrap().to_owned(), e["threshold"].as_u64().unwrap()))
        .collect();
    found.sort();
    found
}

/// Rows of the `alert` table.
pub async fn alert_rows(app: &TestApp) -> i64 {
    crate::helpers::count_rows(app, "select count(*) from alert").await
}

/// `(quota, threshold)` pairs for `inv-cap`.
pub fn cap(thresholds: &[u64]) -> Vec<(String, u64)> {
    thresholds.iter().map(|t| ("inv-cap".to_owned(), *t)).collect()
}

/// Parses an RFC 3339 instant.
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}
