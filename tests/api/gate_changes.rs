//! Two `tally serve` processes on one PostgreSQL database: a tenant gate one of them holds in
//! its cache is dropped the moment another process's change commits (`store/gate_changes.rs`),
//! not when the entry ages out — which takes minutes once a process follows the changes, and
//! took up to 5 s before.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::billing::{admin_post, at, run_billing_and_wait};
use crate::helpers::{execute_sql, instance_beside, record, spawn_app, Backend, TestApp};
use crate::server_stores;

server_stores!(
    a_tenant_deactivated_through_one_process_refuses_usage_at_once_on_another,
    a_period_closed_by_one_processs_billing_run_refuses_late_usage_at_once_on_another,
    a_process_whose_listening_connection_was_cut_reads_every_gate_again,
);

/// How long the other process may take to hear of a change: far below the 2.5 s after which
/// a cached gate was re-read before.
const AT_ONCE: Duration = Duration::from_secs(1);

/// Posts `body` to `address` until it is refused with `code` (each try with its own id, from
/// `body_of`), within [`AT_ONCE`]; panics with the last answer if it never is.
async fn refused_at_once(app: &TestApp, address: &str, body_of: impl Fn(usize) -> Value, code: &str) {
    let started = Instant::now();
    let mut tries = 0;
    loop {
        let response = app
            .client
            .post(format!("{address}/v1/usage"))
            .bearer_auth(&app.ingest_key)
            .json(&body_of(tries))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if status == StatusCode::UNPROCESSABLE_ENTITY && body["errors"][0]["code"] == code {
            return;
        }
        tries += 1;
        assert!(started.elapsed() < AT_ONCE, "still {status} {body} after {tries} tries");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_tenant_deactivated_through_one_process_refuses_usage_at_once_on_another(backend: Backend) {
    // Arrange: the other process has acme's gate in its cache
    let app = spawn_app(backend).await;
    app.create_tenant("acme", "UTC").await;
    let (other, stop) = instance_beside(&app, |_| {}).await;
    let post = app.client.post(format!("{other}/v1/usage")).bearer_auth(&app.ingest_key);
    assert_eq!(post.json(&record("acme", "before")).send().await.unwrap().status(), StatusCode::OK);
    // Act
    let patch = app.client.patch(format!("{}/v1/tenants/acme", app.address)).bearer_auth(&app.admin_key);
    assert!(patch.json(&json!({"active": false})).send().await.unwrap().status().is_success());
    // Assert
    refused_at_once(&app, &other, |n| record("acme", &format!("after-{n}")), "unknown_tenant").await;
    stop.stop(true).await;
}

async fn a_period_closed_by_one_processs_billing_run_refuses_late_usage_at_once_on_another(backend: Backend) {
    // Arrange: acme rejects late usage; the other process has its gate (nothing closed) cached
    let app = spawn_app(backend).await;
    app.clock.set(at("2026-10-01T00:00:00Z"));
    let body = json!({"id": "acme", "name": "Acme", "plan": "payg", "late_usage_policy": "reject"});
    assert!(admin_post(&app, "/v1/tenants", &body).await.status().is_success());
    let (other, stop) = instance_beside(&app, |_| {}).await;
    let october =
        |id: String| json!({"id": id, "tenant_id": "acme", "timestamp": "2026-10-31T23:00:00Z", "invocations": 1});
    let post = app.client.post(format!("{other}/v1/usage")).bearer_auth(&app.ingest_key);
    app.clock.set(at("2026-10-31T23:30:00Z"));
    assert_eq!(post.json(&october("before".into())).send().await.unwrap().status(), StatusCode::OK);
    // Act: this process closes October
    run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
    app.clock.set(at("2026-11-02T00:00:00Z"));
    // Assert
    refused_at_once(&app, &other, |n| october(format!("late-{n}")), "period_closed").await;
    stop.stop(true).await;
}

async fn a_process_whose_listening_connection_was_cut_reads_every_gate_again(backend: Backend) {
    // Arrange: acme's gate cached, then acme deactivated by hand: no process is told
    let app = spawn_app(backend).await;
    app.create_tenant("acme", "UTC").await;
    assert_eq!(app.post_usage(&record("acme", "before")).await.status(), StatusCode::OK);
    execute_sql(&app, "update tenant set active = false where tenant_id = 'acme'").await.unwrap();
    // Act: the listening connection is cut; what was told while it was gone is unknown
    let cut = "select pg_terminate_backend(pid) from pg_stat_activity \
        where datname = current_database() and query like 'LISTEN%'";
    execute_sql(&app, cut).await.unwrap();
    // Assert: once it listens again, the process reads acme's gate anew
    refused_at_once(&app, &app.address, |n| record("acme", &format!("after-{n}")), "unknown_tenant").await;
}
