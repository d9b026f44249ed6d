//! Billing runs started over HTTP are jobs (DESIGN §12): 202 and a run id at once, progress
//! and the report on `GET /v1/billing/runs/{id}`, `as_of` bounded, runs left by a killed
//! process marked failed.

use std::time::{Duration, Instant};

use chrono::Months;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::billing::{admin_post, at, invoices_of, run_billing_and_wait, tenant_on, usage_at, wait_for_run};
use crate::both_stores;
use crate::helpers::{instance_beside, operator, spawn_app_with, test_now, Backend};
use tally::auth::{issue_api_key, Principal, Role};
use tally::domain::TenantId;

both_stores! {
    async fn a_run_answers_202_at_once_and_polling_finds_it_succeeded_with_the_invoices(app) {
        // Arrange: two tenants with October usage.
        tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        tenant_on(&app, "globex", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        usage_at(&app, "acme", "2026-10-20T00:00:00Z", &[("a", "2026-10-19T00:00:00Z", 2_000_000)]).await;
        app.clock.set(test_now());
        // Act
        let response = admin_post(&app, "/v1/billing/run", &json!({"as_of": "2026-11-01T02:00:00Z"})).await;
        // Assert: queued at once, then succeeded with the report the synchronous run gave.
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let queued: Value = response.json().await.unwrap();
        assert_eq!(queued["status"], "queued", "{queued}");
        assert_eq!(queued["as_of"], "2026-11-01T02:00:00Z");
        assert!(queued["requested_by"].as_str().unwrap().starts_with("key:"), "{queued}");
        assert!(queued["result"].is_null() && queued["error"].is_null(), "{queued}");
        let run = wait_for_run(&app, &location).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["progress"], json!({"tenants_done": 2, "tenants_total": 2}));
        assert!(run["started_at"].is_string() && run["finished_at"].is_string(), "{run}");
        let report = &run["result"];
        let issued = report["invoices_issued"].as_array().unwrap();
        assert_eq!(issued.len(), 2, "{report}");
        assert_eq!((report["skipped"].clone(), report["failures"].clone()), (json!(0), json!([])));
        let acme = invoices_of(&app, "acme").await;
        let reported = issued.iter().find(|i| i["tenant_id"] == "acme").unwrap();
        assert_eq!(reported["invoice_id"], acme[0]["id"]);
        assert_eq!(reported["number"], acme[0]["number"]);
        assert_eq!((reported["total"].as_str(), acme[0]["total"].as_str()), (Some("0.20"), Some("0.20")));
    }

    async fn an_as_of_centuries_ahead_is_refused_at_once_even_with_time_travel(app) {
        // Arrange: time travel is allowed in tests.
        let limit = test_now().checked_add_months(Months::new(tally::invoice::MAX_AS_OF_AHEAD_MONTHS)).unwrap();
        let cases = [
            ("2381-09-09T12:04:21-12:26".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
            ((limit + chrono::Duration::seconds(1)).to_rfc3339(), StatusCode::UNPROCESSABLE_ENTITY),
            (limit.to_rfc3339(), StatusCode::ACCEPTED),
        ];
        for (as_of, expected) in cases {
            // Act
            let started = Instant::now();
            let response = admin_post(&app, "/v1/billing/run", &json!({ "as_of": as_of })).await;
            // Assert
            assert!(started.elapsed() < Duration::from_secs(2), "{as_of}: answered at once");
            assert_eq!(response.status(), expected, "{as_of}");
            if expected == StatusCode::UNPROCESSABLE_ENTITY {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "as_of_too_far_ahead", "{as_of}: {body}");
            }
        }
        let runs = app.get_json("/v1/audit?action=billing_run.requested").await;
        assert_eq!(runs["data"].as_array().unwrap().len(), 1, "only the accepted run was stored: {runs}");
    }

    async fn an_unknown_run_id_is_not_found(app) {
        for path in ["/v1/billing/runs/run_0123456789abcdef0123456789abcdef", "/v1/billing/runs/nothing%00"] {
            // Act
            let response = app.get_as(path, &app.admin_key).await;
            // Assert
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "not_found", "{path}");
        }
    }

    async fn a_tenant_token_can_neither_start_nor_read_a_run(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let acme = Principal::new(Role::Tenant, Some(TenantId::parse("acme").unwrap()), "acme-user").unwrap();
        let tenant_key = issue_api_key(&app.store, &acme, test_now(), &operator()).await.unwrap();
        let started = admin_post(&app, "/v1/billing/run", &json!({})).await;
        let location = started.headers()["location"].to_str().unwrap().to_owned();
        // Act
        let post = app.client.post(format!("{}/v1/billing/run", app.address)).bearer_auth(&tenant_key)
            .json(&json!({})).send().await.unwrap();
        let get = app.get_as(&location, &tenant_key).await;
        // Assert
        assert_eq!(post.status(), StatusCode::FORBIDDEN);
        assert_eq!(get.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.get_as(&location, &app.ingest_key).await.status(), StatusCode::FORBIDDEN);
        wait_for_run(&app, &location).await;
    }

    async fn the_same_idempotency_key_answers_the_same_run(app) {
        // Arrange
        let post = || app.client.post(format!("{}/v1/billing/run", app.address)).bearer_auth(&app.admin_key)
            .header("Idempotency-Key", "close-october").json(&json!({"as_of": "2026-11-01T02:00:00Z"})).send();
        // Act
        let first = post().await.unwrap();
        let retry = post().await.unwrap();
        // Assert
        assert_eq!((first.status(), retry.status()), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
        assert_eq!(retry.headers()["idempotent-replayed"], "true");
        assert_eq!(first.headers()["location"], retry.headers()["location"], "the replay names the same run");
        let (first, retry): (Value, Value) = (first.json().await.unwrap(), retry.json().await.unwrap());
        assert_eq!(first["run_id"], retry["run_id"]);
        let runs = app.get_json("/v1/audit?action=billing_run.requested").await;
        assert_eq!(runs["data"].as_array().unwrap().len(), 1, "one run: {runs}");
        wait_for_run(&app, &format!("/v1/billing/runs/{}", first["run_id"].as_str().unwrap())).await;
    }

    async fn a_run_left_running_by_a_killed_process_is_marked_failed_before_a_server_starts_serving(app) {
        // Arrange: a run claimed two minutes ago by a process that then died (no heartbeat since).
        // It is stored as requested now: a run queued two minutes ago is abandoned too, and the
        // app's own reaper could mark it failed before this test claims it.
        let two_minutes_ago = test_now() - chrono::Duration::minutes(2);
        let run = app.store.create_billing_run("run_0123456789abcdef0123456789abcdef", test_now(), &operator(), test_now()).await.unwrap();
        app.store.claim_billing_run(&run.run_id, two_minutes_ago).await.unwrap().expect("the run is claimed");
        let location = format!("/v1/billing/runs/{}", run.run_id);
        assert_eq!(app.get_json(&location).await["status"], "running");
        // Act: a server starts on the database.
        let (_, stop) = instance_beside(&app, |_| {}).await;
        // Assert: already failed, with no waiting; the server's own clock reading came before
        // anything it serves, so no run started through it can be judged by an older "now".
        let failed = app.get_json(&location).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        assert!(failed["error"].as_str().unwrap().starts_with("abandoned:"), "{failed}");
        assert!(failed["result"].is_null());
        stop.stop(true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_read_the_tenants_fails_with_its_error_and_a_later_run_bills_them() {
    // Arrange: a tenant due for October, and the tenant table out of the way.
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
    crate::helpers::execute_sql(&app, "alter table tenant rename to tenant_gone").await.unwrap();
    // Act
    let response = admin_post(&app, "/v1/billing/run", &json!({"as_of": "2026-11-01T02:00:00Z"})).await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let failed = wait_for_run(&app, &location).await;
    crate::helpers::execute_sql(&app, "alter table tenant_gone rename to tenant").await.unwrap();
    // Assert
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["error"].as_str().is_some_and(|e| !e.is_empty()), "{failed}");
    let report = run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
    assert_eq!(report["invoices_issued"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(invoices_of(&app, "acme").await[0]["period_start"], json!(at("2026-10-01T00:00:00Z")));
}
