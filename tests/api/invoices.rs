//! Issued invoices as users see them: rendered, explained, and corrected usage settled.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::billing::{admin_post, invoices_of, run_billing_and_wait, tenant_on, usage_at};
use crate::both_stores;
use crate::helpers::TestApp;

async fn correct(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/usage/corrections", app.address))
        .bearer_auth(&app.ingest_key)
        .json(body)
        .send()
        .await
        .unwrap()
}

both_stores! {
    async fn a_record_older_than_the_allowed_lateness_cannot_be_corrected(app) {
        // Arrange: a record of October 19, then 36 days pass (the lateness is 35).
        tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        usage_at(&app, "acme", "2026-10-20T00:00:00Z", &[("old", "2026-10-19T00:00:00Z", 3_000_000)]).await;
        app.clock.set(crate::billing::at("2026-11-24T00:00:00Z"));
        // Act
        let response = correct(&app, &json!({"tenant_id": "acme", "id": "old", "action": "void", "reason": "double-counted"})).await;
        // Assert: refused as a record that old is, and the usage stays.
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "timestamp_too_old", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("35 days"), "{body}");
        let october = app.get_json("/v1/tenants/acme/usage?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z&granularity=month").await;
        assert_eq!(october["buckets"][0]["invocations"], "3000000", "{october}");
    }

    async fn the_pdf_parses_back_and_shows_the_total_and_a_name_in_its_own_script(app) {
        // Arrange
        app.clock.set(crate::billing::at("2026-10-01T00:00:00Z"));
        let tenant = json!({"id": "acme", "name": "Acme Functions 株式会社 «Ромашка»", "plan": "committed", "tax_rate": "8.875"});
        admin_post(&app, "/v1/tenants", &tenant).await;
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        let invoice = invoices_of(&app, "acme").await.pop().unwrap();
        let id = invoice["id"].as_str().unwrap();
        // Act
        let pdf = app.get_as(&format!("/v1/invoices/{id}/pdf"), &app.admin_key).await;
        let html = app.get_as(&format!("/v1/invoices/{id}/html"), &app.admin_key).await;
        // Assert
        assert_eq!(pdf.status(), StatusCode::OK);
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
        let bytes = pdf.bytes().await.unwrap();
        let parsed = lopdf::Document::load_mem(&bytes).expect("the PDF parses");
        let pages: Vec<u32> = parsed.get_pages().keys().copied().collect();
        let text = parsed.extract_text(&pages).unwrap();
        assert_eq!(invoice["total"], "2177.50", "the API's total, ungrouped");
        let total = format!("USD {}", crate::notify_support::grouped(invoice["total"].as_str().unwrap()));
        for expected in [invoice["number"].as_str().unwrap(), "Acme Functions 株式会社 «Ромашка»", &total] {
            assert!(text.contains(expected), "the PDF shows {expected:?}:\n{text}");
        }
        let html = html.text().await.unwrap();
        assert!(html.contains(&total) && html.contains(invoice["number"].as_str().unwrap()));
    }

    async fn a_package_line_counts_started_packages_and_says_what_a_package_holds(app) {
        // Arrange: the committed plan sells CPU in packages of 10^12 cycles at 0.015.
        tenant_on(&app, "acme", "UTC", "committed", "2026-10-01T00:00:00Z").await;
        app.clock.set(crate::billing::at("2026-10-20T00:00:00Z"));
        let record = json!({"id": "cpu", "tenant_id": "acme", "timestamp": "2026-10-10T00:00:00Z", "cpu_cycles": 2_500_000_000_000_u64});
        assert_eq!(app.post_usage(&json!({"records": [record]})).await.status(), StatusCode::OK);
        // Act
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        let invoice = invoices_of(&app, "acme").await.pop().unwrap();
        let id = invoice["id"].as_str().unwrap();
        let html = app.get_as(&format!("/v1/invoices/{id}/html"), &app.admin_key).await.text().await.unwrap();
        // Assert: 2.5 packages start 3, and every reader is told what one holds.
        let cpu = invoice["lines"].as_array().unwrap().iter().find(|l| l["meter"] == "cpu_cycles").unwrap();
        let tier = &cpu["tiers"][0];
        assert_eq!((tier["units"].as_str(), tier["package_size"].as_str()), (Some("3"), Some("1000000000000")), "{cpu}");
        assert_eq!((cpu["amount_precise"].as_str(), cpu["amount"].as_str()), (Some("0.045"), Some("0.05")), "3 × 0.015: {cpu}");
        assert!(html.contains("3 packages") && html.contains("× 0.015 per package of 1,000,000,000,000 CPU cycles"), "{html}");
        let explained = app.get_json(&format!("/v1/invoices/{id}/lines/{}/explain", cpu["number"])).await;
        assert!(explained["arithmetic"].to_string().contains("in packages of 1000000000000 = 3 packages"), "{explained}");
    }

    async fn an_invoice_line_is_explained_by_its_daily_usage_and_records(app) {
        // Arrange
        tenant_on(&app, "acme", "Asia/Kolkata", "payg", "2026-10-01T00:00:00Z").await;
        usage_at(&app, "acme", "2026-10-20T00:00:00Z", &[("a", "2026-10-10T12:00:00Z", 1_500_000), ("b", "2026-10-11T12:00:00Z", 700_000)]).await;
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        let invoice = invoices_of(&app, "acme").await.pop().unwrap();
        let line = invoice["lines"].as_array().unwrap().iter().find(|l| l["meter"] == "invocations").unwrap().clone();
        // Act
        let path = format!("/v1/invoices/{}/lines/{}/explain", invoice["id"].as_str().unwrap(), line["number"]);
        let explained = app.get_json(&path).await;
        // Assert
        let days = explained["daily_usage"].as_array().unwrap();
        let used: Vec<&Value> = days.iter().filter(|d| d["quantity"] != "0").collect();
        assert_eq!(used.len(), 2, "{explained}");
        assert_eq!(used[0]["start"], "2026-10-09T18:30:00Z", "days are Kolkata days");
        assert_eq!(explained["arithmetic"][0], "2200000 used − 1000000 included = 1200000 billable");
        let mut ids: Vec<&str> = explained["sample_record_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        ids.sort();
        assert_eq!(ids, vec!["a", "b"]);
        let memory = invoice["lines"].as_array().unwrap().iter().find(|l| l["meter"] == "memory_gb_seconds").unwrap();
        let path = format!("/v1/invoices/{}/lines/{}/explain", invoice["id"].as_str().unwrap(), memory["number"]);
        let memory = app.get_json(&path).await;
        assert_eq!(memory["sample_record_ids"], serde_json::json!([]), "no record used memory: {memory}");
        let missing = app.get_as(&format!("/v1/invoices/{}/lines/99/explain", invoice["id"].as_str().unwrap()), &app.admin_key).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }

    async fn a_correction_of_an_invoiced_period_is_settled_on_the_next_invoice(app) {
        // Arrange: October billed with 4M invocations (3M billable → 0.60).
        tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        usage_at(&app, "acme", "2026-10-20T00:00:00Z", &[("big", "2026-10-10T00:00:00Z", 3_000_000), ("small", "2026-10-11T00:00:00Z", 1_000_000)]).await;
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        // Act: the big record is replaced by 1M, the small one voided.
        app.clock.set(crate::billing::at("2026-11-05T00:00:00Z"));
        let replaced = correct(&app, &json!({"tenant_id": "acme", "id": "big", "action": "replace",
            "replacement": {"invocations": 1000000}, "reason": "runtime double counted"})).await;
        let voided = correct(&app, &json!({"tenant_id": "acme", "id": "small", "action": "void", "reason": "test traffic"})).await;
        let again = correct(&app, &json!({"tenant_id": "acme", "id": "small", "action": "void", "reason": "twice"})).await;
        let unknown = correct(&app, &json!({"tenant_id": "acme", "id": "nope", "action": "void", "reason": "x"})).await;
        run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        // Assert
        assert_eq!(replaced.status(), StatusCode::OK);
        assert_eq!(replaced.json::<Value>().await.unwrap()["after"]["invocations"], "1000000");
        assert_eq!(voided.status(), StatusCode::OK);
        assert_eq!(again.status(), StatusCode::CONFLICT);
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        let invoices = invoices_of(&app, "acme").await;
        let adjustment: Vec<&Value> = invoices[1]["lines"].as_array().unwrap().iter().filter(|l| l["type"] == "adjustment").collect();
        assert_eq!(adjustment.len(), 1);
        assert_eq!(adjustment[0]["amount"], "-0.60", "October now has 1M, all free");
        assert_eq!(invoices[1]["total"], "0.00", "a negative remainder never makes a negative total");
        let credits = app.get_json("/v1/tenants/acme/credits").await;
        assert_eq!(credits["grants"][0]["remaining"], "0.60", "it becomes a credit instead: {credits}");
        let before = app.rollups_of("acme").await;
        app.store.rebuild_rollups().await.unwrap();
        assert_eq!(app.rollups_of("acme").await, before, "a rebuild honours corrections");
    }
}
