//! Due dates (DESIGN §7): finalization + payment terms — `TALLY_PAYMENT_TERMS` (14 days by
//! default) unless the tenant has its own — snapshotted on the invoice and shown on its JSON,
//! HTML and PDF. (The email shows it too: see `notify_email`.)

use serde_json::json;

use crate::billing::{admin_post, at, invoices_of, run_billing_and_wait};
use crate::both_stores;
use crate::helpers::TestApp;
use crate::notify_support::pdf_text;

/// Creates tenant `body` on 1 Oct 2026 and closes October as of 2 Nov 2026 02:00 UTC.
async fn october_invoice(app: &TestApp, body: serde_json::Value) -> serde_json::Value {
    app.clock.set(at("2026-10-01T00:00:00Z"));
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(admin_post(app, "/v1/tenants", &body).await.status(), 201);
    run_billing_and_wait(app, "2026-11-02T02:00:00Z").await;
    invoices_of(app, &id).await.pop().expect("October is invoiced")
}

both_stores! {
    async fn an_invoice_is_due_fourteen_days_after_issue_by_default_as_its_pdf_and_html_say(app) {
        // Arrange
        let invoice = october_invoice(&app, json!({"id": "acme", "name": "Acme", "plan": "committed"})).await;
        let id = invoice["id"].as_str().unwrap();
        // Act
        let pdf = app.get_as(&format!("/v1/invoices/{id}/pdf"), &app.admin_key).await.bytes().await.unwrap();
        let html = app.get_as(&format!("/v1/invoices/{id}/html"), &app.admin_key).await.text().await.unwrap();
        // Assert
        assert_eq!(invoice["issued_at"], "2026-11-02T02:00:00Z");
        assert_eq!(invoice["due_at"], "2026-11-16T02:00:00Z", "issue + 14 days");
        let text = pdf_text(&pdf);
        assert!(text.contains("Due date") && text.contains("16 Nov 2026"), "{text}");
        assert!(html.contains("<dt>Due date</dt><dd>16 Nov 2026</dd>"), "{html}");
    }

    async fn a_tenants_own_payment_terms_override_the_default(app) {
        // Arrange
        let body = json!({"id": "acme", "name": "Acme", "plan": "committed", "payment_terms": "30d"});
        // Act
        let invoice = october_invoice(&app, body).await;
        let tenant = app.get_json("/v1/tenants/acme").await;
        // Assert
        assert_eq!(tenant["payment_terms"], "30d");
        assert_eq!(invoice["due_at"], "2026-12-02T02:00:00Z", "issue + the tenant's 30 days");
        let pdf = app.get_as(&format!("/v1/invoices/{}/pdf", invoice["id"].as_str().unwrap()), &app.admin_key).await;
        assert!(pdf_text(&pdf.bytes().await.unwrap()).contains("2 Dec 2026"));
    }

    async fn payment_terms_are_patched_and_must_be_a_duration_of_at_most_a_year(app) {
        // Arrange
        app.clock.set(at("2026-10-01T00:00:00Z"));
        admin_post(&app, "/v1/tenants", &json!({"id": "acme", "name": "Acme"})).await;
        let patch = |terms: &str| {
            app.client
                .patch(format!("{}/v1/tenants/acme", app.address))
                .bearer_auth(&app.admin_key)
                .json(&json!({"payment_terms": terms}))
                .send()
        };
        // Act
        let before = app.get_json("/v1/tenants/acme").await;
        let patched: serde_json::Value = patch("168h").await.unwrap().json().await.unwrap();
        let statuses = [patch("30").await.unwrap().status(), patch("400d").await.unwrap().status()];
        let refused = admin_post(&app, "/v1/tenants", &json!({"id": "b", "name": "B", "payment_terms": "net 30"})).await;
        // Assert
        assert_eq!(before["payment_terms"], serde_json::Value::Null, "no terms of its own: the default applies");
        assert_eq!(patched["payment_terms"], "7d", "shown in the largest whole unit");
        assert_eq!(statuses.map(|s| s.as_u16()), [422, 422]);
        assert_eq!(refused.status(), 422);
        assert_eq!(app.get_json("/v1/tenants/acme").await["payment_terms"], "7d");
    }
}
