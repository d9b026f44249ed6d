//! The billing run: periods close into exactly one correct, immutable invoice.

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;

use crate::both_stores;
use crate::helpers::TestApp;

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

pub async fn admin_post(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client.post(format!("{}{path}", app.address)).bearer_auth(&app.admin_key).json(body).send().await.unwrap()
}

pub async fn admin_patch(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client.patch(format!("{}{path}", app.address)).bearer_auth(&app.admin_key).json(body).send().await.unwrap()
}

/// Starts a billing run as of `as_of` through the API (202 and its `Location`), polls the run
/// until it ends, and returns its report, checking that it succeeded with no failures.
pub async fn run_billing_and_wait(app: &TestApp, as_of: &str) -> Value {
    let response = admin_post(app, "/v1/billing/run", &json!({ "as_of": as_of })).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let started: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/v1/billing/runs/{}", started["run_id"].as_str().unwrap()));
    let run = wait_for_run(app, &location).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let report = run["result"].clone();
    assert_eq!(report["failures"], json!([]), "{report}");
    report
}

/// Polls a run (at most 30 s) until it is neither queued nor running, and returns it.
pub async fn wait_for_run(app: &TestApp, location: &str) -> Value {
    for _ in 0..1500 {
        let run = app.get_json(location).await;
        if run["status"] != "queued" && run["status"] != "running" {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the run at {location} did not end within 30 s");
}

/// Creates a tenant on `plan` with the clock at `when`.
pub async fn tenant_on(app: &TestApp, id: &str, tz: &str, plan: &str, when: &str) {
    app.clock.set(at(when));
    let body = json!({"id": id, "name": format!("Tenant {id}"), "timezone": tz, "plan": plan, "tax_rate": "0"});
    assert_eq!(admin_post(app, "/v1/tenants", &body).await.status(), StatusCode::CREATED);
}

/// Posts records (id, timestamp, invocations) for a tenant with the clock at `when`.
pub async fn usage_at(app: &TestApp, tenant: &str, when: &str, records: &[(&str, &str, u64)]) {
    app.clock.set(at(when));
    let records: Vec<Value> = records
        .iter()
        .map(|(id, ts, n)| json!({"id": id, "tenant_id": tenant, "timestamp": ts, "invocations": n}))
        .collect();
    let response = app.post_usage(&json!({ "records": records })).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
}

/// Every invoice of a tenant, oldest first, in full.
pub async fn invoices_of(app: &TestApp, tenant: &str) -> Vec<Value> {
    let list = app.get_json(&format!("/v1/tenants/{tenant}/invoices?limit=200")).await;
    let mut full = Vec::new();
    for summary in list["data"].as_array().unwrap().iter().rev() {
        let invoice = app.get_json(&format!("/v1/invoices/{}", summary["id"].as_str().unwrap())).await;
        assert_adds_up(&invoice);
        full.push(invoice);
    }
    full
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("{v} is not a decimal string"))).unwrap()
}

/// total = Σ rounded lines + tax − credits, never below 0.
pub fn assert_adds_up(invoice: &Value) {
    let lines: Decimal = invoice["lines"].as_array().unwrap().iter().map(|l| dec(&l["amount"])).sum();
    assert_eq!(lines, dec(&invoice["subtotal"]), "subtotal = Σ lines: {invoice}");
    let total = dec(&invoice["subtotal"]) + dec(&invoice["tax"]) - dec(&invoice["credits_applied"]);
    assert_eq!(total.max(Decimal::ZERO), dec(&invoice["total"]), "total: {invoice}");
}

/// The quantity billed for `meter` on usage lines of an invoice.
pub fn billed_quantity(invoice: &Value, meter: &str) -> Decimal {
    invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["type"] == "usage" && l["meter"] == meter)
        .map(|l| dec(&l["quantity"]))
        .sum()
}

both_stores! {
    async fn records_at_local_period_boundaries_land_in_the_right_invoice(app) {
        // Arrange: one record a second before local midnight of November 1 and one at it.
        let zones = [("la", "America/Los_Angeles", "2026-11-01T07:00:00Z"), ("paris", "Europe/Paris", "2026-10-31T23:00:00Z"),
            ("kolkata", "Asia/Kolkata", "2026-10-31T18:30:00Z"), ("auckland", "Pacific/Auckland", "2026-10-31T11:00:00Z"),
            ("utc", "UTC", "2026-11-01T00:00:00Z")];
        for (id, tz, _) in zones {
            tenant_on(&app, id, tz, "payg", "2026-10-05T00:00:00Z").await;
        }
        for (id, _, midnight) in zones {
            let before = (at(midnight) - chrono::Duration::seconds(1)).to_rfc3339();
            usage_at(&app, id, "2026-11-02T00:00:00Z", &[("before", &before, 3), ("at", midnight, 5)]).await;
        }
        // Act
        run_billing_and_wait(&app, "2026-12-02T12:00:00Z").await;
        // Assert
        for (id, _, midnight) in zones {
            let invoices = invoices_of(&app, id).await;
            assert_eq!(invoices.len(), 2, "{id}: October and November");
            assert_eq!(invoices[0]["period_end"], json!(at(midnight)), "{id}: October ends at local midnight");
            assert_eq!(billed_quantity(&invoices[0], "invocations"), Decimal::from(3), "{id} October");
            assert_eq!(billed_quantity(&invoices[1], "invocations"), Decimal::from(5), "{id} November");
        }
    }

    async fn hourly_and_concurrent_runs_across_midnight_make_exactly_one_invoice(app) {
        // Arrange: November in Kolkata ends at 18:30 UTC; grace is 1 hour.
        tenant_on(&app, "acme", "Asia/Kolkata", "payg", "2026-11-01T00:00:00Z").await;
        // Act: every hour from 16:00 to 22:00 UTC, two runs at once.
        for hour in 16..23 {
            let as_of = format!("2026-11-30T{hour:02}:00:00Z");
            join_all([run_billing_and_wait(&app, &as_of), run_billing_and_wait(&app, &as_of)]).await;
        }
        // Assert
        let invoices = invoices_of(&app, "acme").await;
        let periods: Vec<&Value> = invoices.iter().map(|i| &i["period_start"]).collect();
        assert_eq!(invoices.len(), 1, "exactly one invoice for November: {periods:?}");
        assert_eq!(invoices[0]["issued_at"], "2026-11-30T20:00:00Z", "closed by the first run after end + grace");
        assert_eq!(invoices[0]["number"], "INV-2026-000001");
    }

    async fn a_finalized_invoice_cannot_change_even_by_direct_sql(app) {
        // Arrange
        tenant_on(&app, "acme", "UTC", "committed", "2026-10-01T00:00:00Z").await;
        run_billing_and_wait(&app, "2026-11-02T00:00:00Z").await;
        let invoice = &invoices_of(&app, "acme").await[0];
        let id = invoice["id"].as_str().unwrap();
        // Act + Assert
        let tampering = [
            format!("update invoice set total = 0 where invoice_id = '{id}'"),
            format!("update invoice set document = '{{}}' where invoice_id = '{id}'"),
            format!("delete from invoice where invoice_id = '{id}'"),
            "update billed_line set amount = 0".to_owned(),
        ];
        for sql in &tampering {
            assert!(crate::helpers::execute_sql(&app, sql).await.is_err(), "refused: {sql}");
        }
        crate::helpers::execute_sql(&app, &format!("update invoice set status = 'paid' where invoice_id = '{id}'"))
            .await
            .expect("the status may still move");
        assert_eq!(app.get_json(&format!("/v1/invoices/{id}")).await["total"], invoice["total"]);
    }

    async fn a_committed_plan_is_topped_up_to_its_minimum_and_taxed_once(app) {
        // Arrange: a full October on "committed": base 500 + usage, minimum 2000; tax 8.875 %.
        app.clock.set(at("2026-09-20T00:00:00Z"));
        let body = json!({"id": "acme", "name": "Acme", "plan": "committed", "tax_rate": "8.875"});
        admin_post(&app, "/v1/tenants", &body).await;
        usage_at(&app, "acme", "2026-10-10T00:00:00Z", &[("a", "2026-10-09T00:00:00Z", 20_000_000)]).await;
        // Act
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        // Assert: (20M − 10M) × 0.18/M = 1.80; 500 + 1.80 → top-up 1498.20 → 2000.00; tax 177.50.
        let october = invoices_of(&app, "acme").await.pop().unwrap();
        assert_eq!(october["period_start"], "2026-10-01T00:00:00Z");
        assert_eq!(october["subtotal"], "2000.00");
        assert_eq!(october["tax"], "177.50");
        assert_eq!(october["total"], "2177.50");
    }
}

both_stores! {
    async fn late_usage_is_billed_as_an_adjustment_on_the_next_invoice(app) {
        // Arrange: October billed with 2M invocations (1M free at 0.20/M → 0.20).
        tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        usage_at(&app, "acme", "2026-10-20T00:00:00Z", &[("a", "2026-10-19T00:00:00Z", 2_000_000)]).await;
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        // Act: 3M more October invocations arrive late, then November closes.
        usage_at(&app, "acme", "2026-11-10T00:00:00Z", &[("late", "2026-10-31T23:00:00Z", 3_000_000)]).await;
        run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        // Assert
        let invoices = invoices_of(&app, "acme").await;
        assert_eq!(invoices[0]["total"], "0.20", "the October invoice never changes");
        let adjustments: Vec<&Value> = invoices[1]["lines"].as_array().unwrap().iter().filter(|l| l["type"] == "adjustment").collect();
        assert_eq!(adjustments.len(), 1, "{}", invoices[1]);
        assert_eq!(adjustments[0]["amount"], "0.60", "3M more at 0.20/M");
        assert_eq!(adjustments[0]["start"], "2026-10-01T00:00:00Z");
        assert_eq!(invoices[1]["total"], "0.60");
    }

    async fn late_usage_under_the_minimum_spend_is_not_charged_twice(app) {
        // Arrange: October on "committed" (minimum 2000) with little usage: topped up.
        tenant_on(&app, "acme", "UTC", "committed", "2026-10-01T00:00:00Z").await;
        usage_at(&app, "acme", "2026-10-20T00:00:00Z", &[("a", "2026-10-19T00:00:00Z", 20_000_000)]).await;
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        // Act: late October usage worth 18.00 arrives; November closes.
        usage_at(&app, "acme", "2026-11-10T00:00:00Z", &[("late", "2026-10-30T00:00:00Z", 100_000_000)]).await;
        run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        // Assert: usage +18.00 and top-up −18.00 for October: nothing more to pay for it.
        let invoices = invoices_of(&app, "acme").await;
        let november = &invoices[1];
        let adjustments: Vec<String> = november["lines"].as_array().unwrap().iter()
            .filter(|l| l["type"] == "adjustment").map(|l| l["amount"].as_str().unwrap().to_owned()).collect();
        assert_eq!(adjustments, vec!["18.00".to_owned(), "-18.00".to_owned()], "{november}");
        assert_eq!(november["subtotal"], "2000.00", "November alone is at its minimum");
    }

    async fn the_invoice_equals_the_amount_so_far_at_period_end(app) {
        // Arrange
        app.clock.set(at("2026-10-01T00:00:00Z"));
        admin_post(&app, "/v1/tenants", &json!({"id": "acme", "name": "Acme", "plan": "payg", "tax_rate": "8.875"})).await;
        usage_at(&app, "acme", "2026-10-31T23:59:00Z", &[("a", "2026-10-15T00:00:00Z", 7_654_321), ("b", "2026-10-31T23:58:00Z", 1_000_001)]).await;
        let so_far = app.get_json("/v1/tenants/acme/usage/current").await;
        // Act
        run_billing_and_wait(&app, "2026-11-01T01:00:00Z").await;
        // Assert
        let invoice = invoices_of(&app, "acme").await.pop().unwrap();
        assert_eq!(invoice["total"], so_far["amount_so_far"]["total"]);
        assert_eq!(invoice["tax"], so_far["amount_so_far"]["tax"]);
    }

    async fn credits_pay_after_tax_and_come_back_when_the_invoice_is_voided(app) {
        // Arrange: committed, October total 2177.50 with tax; a 100.00 credit granted in October.
        app.clock.set(at("2026-10-01T00:00:00Z"));
        admin_post(&app, "/v1/tenants", &json!({"id": "acme", "name": "Acme", "plan": "committed", "tax_rate": "8.875"})).await;
        let grant = json!({"amount": "100.00", "currency": "USD", "reason": "goodwill"});
        let first = app.client.post(format!("{}/v1/tenants/acme/credits", app.address)).bearer_auth(&app.admin_key)
            .header("Idempotency-Key", "grant-1").json(&grant).send().await.unwrap();
        let retry = app.client.post(format!("{}/v1/tenants/acme/credits", app.address)).bearer_auth(&app.admin_key)
            .header("Idempotency-Key", "grant-1").json(&grant).send().await.unwrap();
        assert_eq!((first.status(), retry.status()), (StatusCode::CREATED, StatusCode::CREATED));
        // Act
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        let invoice = invoices_of(&app, "acme").await.pop().unwrap();
        let id = invoice["id"].as_str().unwrap();
        let void = admin_post(&app, &format!("/v1/invoices/{id}/void"), &json!({})).await;
        // Assert
        assert_eq!(invoice["credits_applied"], "100.00", "granted once, despite the retry");
        assert_eq!(invoice["total"], "2077.50");
        assert_eq!(void.status(), StatusCode::OK);
        let voided: Value = void.json().await.unwrap();
        assert_eq!(voided["status"], "void");
        assert_eq!(voided["credit_note_number"], "CN-2026-000001");
        let credits = app.get_json("/v1/tenants/acme/credits").await;
        assert_eq!(credits["grants"][0]["remaining"], "100.00", "restored: {credits}");
        let again = admin_post(&app, &format!("/v1/invoices/{id}/mark-paid"), &json!({})).await;
        assert_eq!(again.status(), StatusCode::CONFLICT, "a void invoice cannot be paid");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_between_invoices_resumes_without_duplicates_or_gaps() {
    // Arrange: 40 tenants due for October.
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await;
    for i in 0..40 {
        tenant_on(&app, &format!("t{i:02}"), "UTC", "payg", "2026-10-01T00:00:00Z").await;
    }
    let config = tally::startup::billing_config(&{
        let mut s = tally::config::Settings::from_sources("", |_| None).unwrap();
        s.allow_time_travel = true;
        s
    });
    let catalog = std::sync::Arc::new(tally::plans::load_catalog(&app.store).await.unwrap());
    // Act: a run is killed part way, then a full run follows.
    let store = app.store.clone();
    let killed = tokio::spawn({
        let (config, catalog) = (config.clone(), catalog.clone());
        async move {
            // Pages of 7 tenants: the kill lands between pages, or inside one's transaction.
            let mut run = config.run(&store, &catalog);
            run.page_size = 7;
            run.run(at("2026-11-02T00:00:00Z")).await.map(|r| r.invoices_issued.len())
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    killed.abort();
    let partial = killed.await.ok();
    let resumed = config.run(&app.store, &catalog).run(at("2026-11-02T00:00:00Z")).await.unwrap();
    // Assert
    let mut numbers = Vec::new();
    for i in 0..40 {
        let invoices = invoices_of(&app, &format!("t{i:02}")).await;
        assert_eq!(invoices.len(), 1, "exactly one October invoice for t{i:02}");
        numbers.push(invoices[0]["number"].as_str().unwrap().to_owned());
    }
    numbers.sort();
    let expected: Vec<String> = (1..=40).map(|n| format!("INV-2026-{n:06}")).collect();
    assert_eq!(
        numbers,
        expected,
        "no gaps, no duplicates (killed run finished {partial:?}, resumed issued {})",
        resumed.invoices_issued.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_in_the_future_needs_time_travel_to_be_allowed() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Backend::Sqlite, |s| s.allow_time_travel = false).await;
    let response = admin_post(&app, "/v1/billing/run", &json!({"as_of": "2030-01-01T00:00:00Z"})).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "time_travel_not_allowed");
    let now = admin_post(&app, "/v1/billing/run", &json!({})).await;
    assert_eq!(now.status(), StatusCode::ACCEPTED);
}

/// acme on payg with the `reject` late-usage policy, one record "a" of October 19 stored, and
/// October closed.
async fn rejecting_tenant_with_october_closed(app: &TestApp) {
    app.clock.set(at("2026-10-01T00:00:00Z"));
    let body = json!({"id": "acme", "name": "Acme", "plan": "payg", "late_usage_policy": "reject"});
    admin_post(app, "/v1/tenants", &body).await;
    usage_at(app, "acme", "2026-10-20T00:00:00Z", &[("a", "2026-10-19T00:00:00Z", 1)]).await;
    run_billing_and_wait(app, "2026-11-01T02:00:00Z").await;
}

both_stores! {
    async fn a_reject_policy_refuses_records_for_a_closed_period(app) {
        // Arrange
        rejecting_tenant_with_october_closed(&app).await;
        // Act
        app.clock.set(at("2026-11-02T00:00:00Z"));
        let late = json!({"records": [
            {"id": "late", "tenant_id": "acme", "timestamp": "2026-10-31T23:00:00Z", "invocations": 1},
            {"id": "fine", "tenant_id": "acme", "timestamp": "2026-11-01T00:00:00Z", "invocations": 1}]});
        let response = app.post_usage(&late).await;
        // Assert
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["accepted"], 1);
        assert_eq!(body["errors"], json!([{"index": 0, "code": "period_closed",
            "message": "the billing period of this timestamp is closed and the tenant's policy is reject"}]));
    }
}

both_stores! {
    async fn a_retry_of_records_stored_before_their_period_closed_counts_them_as_duplicates(app) {
        // Arrange: acme rejects late usage; record "a" is stored, then October closes.
        rejecting_tenant_with_october_closed(&app).await;
        // Act: the runtime retries "a" as sent, "a" with other content, and a new record "b".
        app.clock.set(at("2026-11-02T00:00:00Z"));
        let retry = json!({"records": [
            {"id": "a", "tenant_id": "acme", "timestamp": "2026-10-19T00:00:00Z", "invocations": 1},
            {"id": "a", "tenant_id": "acme", "timestamp": "2026-10-19T00:00:00Z", "invocations": 2},
            {"id": "b", "tenant_id": "acme", "timestamp": "2026-10-19T00:00:00Z", "invocations": 1}]});
        let response = app.post_usage(&retry).await;
        // Assert: the stored record is a duplicate; the others are refused as the period is closed.
        let body: Value = response.json().await.unwrap();
        assert_eq!((body["accepted"].as_u64(), body["duplicates"].as_u64()), (Some(0), Some(1)), "{body}");
        let codes: Vec<(u64, &str)> =
            body["errors"].as_array().unwrap().iter().map(|e| (e["index"].as_u64().unwrap(), e["code"].as_str().unwrap())).collect();
        assert_eq!(codes, vec![(1, "period_closed"), (2, "period_closed")]);
    }
}

both_stores! {
    async fn a_batch_spanning_tenants_gates_each_record_by_its_own_tenant(app) {
        // Arrange: acme rejects late usage and October is closed; beta bills it next invoice;
        // gone is deactivated; ghost does not exist
        app.clock.set(at("2026-10-01T00:00:00Z"));
        admin_post(&app, "/v1/tenants", &json!({"id": "acme", "name": "Acme", "plan": "payg", "late_usage_policy": "reject"})).await;
        admin_post(&app, "/v1/tenants", &json!({"id": "beta", "name": "Beta", "plan": "payg"})).await;
        admin_post(&app, "/v1/tenants", &json!({"id": "gone", "name": "Gone", "plan": "payg"})).await;
        usage_at(&app, "acme", "2026-10-20T00:00:00Z", &[("a", "2026-10-19T00:00:00Z", 1)]).await;
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        app.clock.set(at("2026-11-02T00:00:00Z"));
        let deactivate = app.client.patch(format!("{}/v1/tenants/gone", app.address)).bearer_auth(&app.admin_key);
        assert!(deactivate.json(&json!({"active": false})).send().await.unwrap().status().is_success());
        // Act: one batch for the four, late and current records
        let record = |id: &str, tenant: &str, at: &str| json!({"id": id, "tenant_id": tenant, "timestamp": at, "invocations": 1});
        let batch = json!({"records": [
            record("late", "acme", "2026-10-31T23:00:00Z"),
            record("fine", "acme", "2026-11-01T00:00:00Z"),
            record("late", "beta", "2026-10-31T23:00:00Z"),
            record("now", "gone", "2026-11-01T00:00:00Z"),
            record("now", "ghost", "2026-11-01T00:00:00Z")]});
        let response = app.post_usage(&batch).await;
        // Assert
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["accepted"], 2, "acme's current record and beta's late one: {body}");
        let codes: Vec<(u64, &str)> =
            body["errors"].as_array().unwrap().iter().map(|e| (e["index"].as_u64().unwrap(), e["code"].as_str().unwrap())).collect();
        assert_eq!(codes, vec![(0, "period_closed"), (3, "unknown_tenant"), (4, "unknown_tenant")]);
    }
}

both_stores! {
    async fn a_record_arriving_late_after_the_next_period_closed_is_billed_on_the_invoice_after(app) {
        // Arrange: October's 1M invocations (all free) invoiced, then November's invoice issued.
        tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        usage_at(&app, "acme", "2026-10-20T00:00:00Z", &[("base", "2026-10-19T00:00:00Z", 1_000_000)]).await;
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        // Act: on December 3 a record of October 31 arrives, 33 days late (the lateness is 35):
        // 2M more October invocations, 0.40 billable. December closes.
        usage_at(&app, "acme", "2026-12-03T12:00:00Z", &[("late", "2026-10-31T12:00:00Z", 2_000_000)]).await;
        run_billing_and_wait(&app, "2027-01-01T02:00:00Z").await;
        // Assert: December's invoice settles October.
        let invoices = invoices_of(&app, "acme").await;
        assert_eq!(invoices.len(), 3);
        let october: Vec<(&str, &str)> = invoices[2]["lines"].as_array().unwrap().iter()
            .filter(|l| l["type"] == "adjustment" && l["start"] == "2026-10-01T00:00:00Z")
            .map(|l| (l["meter"].as_str().unwrap(), l["amount"].as_str().unwrap()))
            .collect();
        assert_eq!(october, vec![("invocations", "0.40")], "{}", invoices[2]);
    }
}

/// acme on payg in October (2M invocations, 1M free: 0.20), deactivated on the 20th and back
/// on the 25th with no plan.
async fn on_payg_in_october_then_back_without_a_plan(app: &TestApp) {
    tenant_on(app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
    usage_at(app, "acme", "2026-10-10T00:00:00Z", &[("a", "2026-10-09T00:00:00Z", 2_000_000)]).await;
    for (when, active) in [("2026-10-20T00:00:00Z", false), ("2026-10-25T00:00:00Z", true)] {
        app.clock.set(at(when));
        assert_eq!(admin_patch(app, "/v1/tenants/acme", &json!({ "active": active })).await.status(), StatusCode::OK);
    }
}

both_stores! {
    async fn late_usage_of_a_final_invoice_is_billed_on_an_invoice_of_adjustments_for_the_next_period(app) {
        // Arrange: October's invoice is acme's last on a plan.
        on_payg_in_october_then_back_without_a_plan(&app).await;
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        // Act: 3M more invocations of October 15 (on payg then) arrive on November 10, beside
        // 7 of November's own that no plan covers; November closes, then December.
        usage_at(&app, "acme", "2026-11-10T00:00:00Z", &[("late", "2026-10-15T00:00:00Z", 3_000_000), ("nov", "2026-11-09T00:00:00Z", 7)]).await;
        let november = run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        let december = run_billing_and_wait(&app, "2027-01-01T02:00:00Z").await;
        // Assert: November's invoice bills October's 0.60 alone, and notes its own 7 as
        // unbilled; December (nothing late to carry) has none.
        let invoices = invoices_of(&app, "acme").await;
        assert_eq!(invoices.len(), 2, "October's, then November's");
        let lines: Vec<(&str, &str, &str)> = invoices[1]["lines"].as_array().unwrap().iter()
            .map(|l| (l["type"].as_str().unwrap(), l["start"].as_str().unwrap_or(""), l["amount"].as_str().unwrap()))
            .collect();
        assert_eq!(lines[0], ("adjustment", "2026-10-01T00:00:00Z", "0.60"), "{}", invoices[1]);
        assert_eq!(lines.len(), 2, "the adjustment and November's note: {lines:?}");
        assert_eq!(lines[1].2, "0.00", "a note bills nothing");
        assert_eq!(invoices[1]["total"], "0.60");
        assert_eq!(invoices[1]["period_start"], "2026-11-01T00:00:00Z");
        for format in ["html", "pdf"] {
            let rendered = app.get_as(&format!("/v1/invoices/{}/{format}", invoices[1]["id"].as_str().unwrap()), &app.admin_key).await;
            assert_eq!(rendered.status(), StatusCode::OK, "{format}");
        }
        let reported: Vec<&Value> = november["unbilled"].as_array().unwrap().iter().collect();
        assert_eq!(reported.len(), 1, "November's own usage, once: {november}");
        assert_eq!(reported[0]["usage"]["invocations"], "7");
        assert_eq!(december["invoices_issued"], json!([]), "{december}");
        assert_eq!(december["skipped"], 0, "a period with nothing to carry is not another run's: {december}");
    }

    async fn a_period_no_plan_covers_gets_no_invoice_without_late_usage_to_carry(app) {
        // Arrange
        on_payg_in_october_then_back_without_a_plan(&app).await;
        // Act: October, November and December close; nothing arrives late.
        for as_of in ["2026-11-01T02:00:00Z", "2026-12-01T02:00:00Z", "2027-01-01T02:00:00Z"] {
            run_billing_and_wait(&app, as_of).await;
        }
        // Assert: October's invoice alone.
        assert_eq!(invoices_of(&app, "acme").await.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_committing_during_a_run_are_billed_once_either_on_the_invoice_or_as_an_adjustment() {
    // Arrange: October on payg with 1M invocations (all free) already stored.
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await;
    tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
    usage_at(&app, "acme", "2026-10-20T00:00:00Z", &[("base", "2026-10-19T00:00:00Z", 1_000_000)]).await;
    app.clock.set(at("2026-11-01T01:30:00Z"));
    // Act: 40 October records of 1M each are posted while the run closes October.
    let posting = {
        let (client, url, key) = (app.client.clone(), format!("{}/v1/usage", app.address), app.ingest_key.clone());
        tokio::spawn(async move {
            for i in 0..40 {
                let record = json!({"id": format!("racing-{i}"), "tenant_id": "acme",
                    "timestamp": "2026-10-31T23:00:00Z", "invocations": 1_000_000});
                let status = client.post(&url).bearer_auth(&key).json(&record).send().await.unwrap().status();
                assert_eq!(status, StatusCode::OK);
            }
        })
    };
    run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
    posting.await.unwrap();
    run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
    // Assert: October's 40M billable invocations are billed exactly once in total (8.00).
    let invoices = invoices_of(&app, "acme").await;
    let october_adjustments: Decimal = invoices[1]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["type"] == "adjustment" && l["start"] == "2026-10-01T00:00:00Z")
        .map(|l| dec(&l["amount"]))
        .sum();
    let billed = dec(&invoices[0]["total"]) + october_adjustments;
    assert_eq!(
        billed,
        Decimal::new(800, 2),
        "October invoice {} + adjustments {october_adjustments}",
        invoices[0]["total"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_inside_serve_closes_periods_by_itself() {
    // Arrange: the scheduler ticks every 100 ms; the clock is past October's end + grace.
    let app = crate::helpers::spawn_app_with(crate::helpers::Backend::Sqlite, |s| {
        s.billing.schedule_every = std::time::Duration::from_millis(100);
    })
    .await;
    tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
    app.clock.set(at("2026-11-01T01:00:01Z"));
    // Act: wait (bounded) for the scheduler.
    let mut invoices = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        invoices = invoices_of(&app, "acme").await;
        if !invoices.is_empty() {
            break;
        }
    }
    // Assert
    assert_eq!(invoices.len(), 1, "October was closed without anyone asking");
    assert_eq!(invoices[0]["period_start"], "2026-10-01T00:00:00Z");
}

both_stores! {
    async fn a_deactivated_tenant_gets_a_final_prorated_invoice_and_no_more(app) {
        // Arrange: on "committed" (base 500, minimum 2000) since October.
        tenant_on(&app, "acme", "UTC", "committed", "2026-10-01T00:00:00Z").await;
        // Act: deactivated on November 16 (half the month), then two more months pass.
        app.clock.set(at("2026-11-16T00:00:00Z"));
        let patch = app.client.patch(format!("{}/v1/tenants/acme", app.address)).bearer_auth(&app.admin_key)
            .json(&json!({"active": false})).send().await.unwrap();
        assert_eq!(patch.status(), StatusCode::OK);
        assert!(patch.json::<Value>().await.unwrap()["plan"].is_null(), "no plan after deactivation");
        run_billing_and_wait(&app, "2027-01-02T00:00:00Z").await;
        // Assert: October in full, November's first half (500 × ½ base, topped up to 2000 × ½), then nothing.
        let invoices = invoices_of(&app, "acme").await;
        let totals: Vec<&str> = invoices.iter().map(|i| i["total"].as_str().unwrap()).collect();
        assert_eq!(totals, vec!["2000.00", "1000.00"]);
        assert_eq!(invoices[1]["lines"][3]["proration"], "0.5", "{}", invoices[1]);
    }
}

both_stores! {
    async fn a_tenant_deactivated_minutes_after_it_was_created_still_gets_its_final_invoice(app) {
        // Arrange: created on "payg" at 12:02 (a subscription starting inside the 12:00 bucket),
        // 3 000 000 invocations sent at 12:05: 2 000 000 over the allowance at 0.20 a million.
        tenant_on(&app, "acme", "UTC", "payg", "2026-11-10T12:02:00Z").await;
        usage_at(&app, "acme", "2026-11-10T12:05:00Z", &[("a", "2026-11-10T12:04:00Z", 3_000_000)]).await;
        // Act: deactivated at 12:09, in the bucket it was created in; November closes.
        app.clock.set(at("2026-11-10T12:09:00Z"));
        let patch = app.client.patch(format!("{}/v1/tenants/acme", app.address)).bearer_auth(&app.admin_key)
            .json(&json!({"active": false})).send().await.unwrap();
        assert_eq!(patch.status(), StatusCode::OK);
        let report = run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        // Assert: the final invoice bills the usage sent before the deactivation, nothing unbilled.
        assert_eq!(report["unbilled"], json!([]), "{report}");
        let invoices = invoices_of(&app, "acme").await;
        assert_eq!(invoices.len(), 1, "one final invoice");
        assert_eq!(invoices[0]["total"], "0.40", "{}", invoices[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_ingested_records_and_billing_runs() {
    // Arrange
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
    tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
    usage_at(
        &app,
        "acme",
        "2026-10-20T00:00:00Z",
        &[("a", "2026-10-19T00:00:00Z", 1), ("b", "2026-10-19T00:00:00Z", 2)],
    )
    .await;
    usage_at(&app, "acme", "2026-10-20T00:00:00Z", &[("a", "2026-10-19T00:00:00Z", 1)]).await;
    // Act
    run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
    let metrics = app.metrics().await;
    // Assert
    for line in [
        "tally_ingested_records_total 2",
        "tally_duplicate_records_total 1",
        "tally_write_wait_seconds_count 2",
        "tally_billing_runs_total 1",
        "tally_invoices_issued_total 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "/metrics has {line:?}:\n{metrics}");
    }
}

/// acme on payg: October billed 0.60 (4M invocations, 1M free), then its 3M record voided,
/// so November's invoice is negative (−0.60), totals 0.00 and grants 0.60. Returns November's id.
pub(crate) async fn negative_november(app: &TestApp) -> String {
    tenant_on(app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
    usage_at(
        app,
        "acme",
        "2026-10-20T00:00:00Z",
        &[("big", "2026-10-10T00:00:00Z", 3_000_000), ("small", "2026-10-11T00:00:00Z", 1_000_000)],
    )
    .await;
    run_billing_and_wait(app, "2026-11-01T02:00:00Z").await;
    app.clock.set(at("2026-11-05T00:00:00Z"));
    let body = json!({"tenant_id": "acme", "id": "big", "action": "void", "reason": "double-counted"});
    let url = format!("{}/v1/usage/corrections", app.address);
    let corrected = app.client.post(url).bearer_auth(&app.ingest_key).json(&body).send().await.unwrap();
    assert_eq!(corrected.status(), StatusCode::OK);
    run_billing_and_wait(app, "2026-12-01T02:00:00Z").await;
    let november = invoices_of(app, "acme").await.pop().unwrap();
    assert_eq!(
        (november["subtotal"].as_str(), november["total"].as_str()),
        (Some("-0.60"), Some("0.00")),
        "{november}"
    );
    november["id"].as_str().unwrap().to_owned()
}
