//! Webhooks end to end: endpoints registered through the API, events delivered through the
//! outbox to a real HTTP receiver that verifies `Tally-Signature`, on SQLite and PostgreSQL.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::billing::admin_post;
use crate::both_stores;
use crate::helpers::TestApp;
use crate::notify_support::{invoiced_tenant, outbox, WebhookReceiver};

/// Registers `receiver` for `events` and gives it the secret from the answer.
async fn register(app: &TestApp, receiver: &WebhookReceiver, events: &[&str]) -> Value {
    let response = admin_post(app, "/v1/webhooks", &json!({"url": receiver.url, "events": events})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    receiver.set_secret(created["secret"].as_str().expect("the secret is shown on creation"));
    created
}

async fn dispatch(app: &TestApp) -> tally::notify::DispatchReport {
    app.dispatcher.dispatch_due(app.clock_now()).await.expect("the outbox pass succeeds")
}

both_stores! {
    async fn a_receiver_failing_twice_gets_the_event_once_after_three_signed_attempts(app) {
        // Arrange
        let receiver = WebhookReceiver::start(&[500, 500, 200]);
        register(&app, &receiver, &["invoice.finalized"]).await;
        let invoice = invoiced_tenant(&app, "acme", &[]).await;
        // Act
        let first = dispatch(&app).await;
        app.clock.set(app.clock_now() + Duration::minutes(1));
        let second = dispatch(&app).await;
        app.clock.set(app.clock_now() + Duration::minutes(5));
        let third = dispatch(&app).await;
        app.clock.set(app.clock_now() + Duration::days(1));
        let later = dispatch(&app).await;
        // Assert
        assert_eq!((first.retried, second.retried, third.sent, later.sent), (1, 1, 1, 0));
        let calls = receiver.calls();
        assert_eq!(calls.len(), 3);
        assert!(calls.iter().all(|c| c.signature_valid), "every call is signed with the endpoint's secret");
        assert!(calls.iter().all(|c| c.body["id"] == calls[0].body["id"]), "one event id across retries");
        assert_eq!(calls[0].body["type"], "invoice.finalized");
        assert_eq!(calls[0].body["data"]["invoice_id"], invoice["id"]);
        assert_eq!(calls[0].body["data"]["number"], invoice["number"]);
        assert_eq!(calls[0].body["data"]["kind"], "period", "the period's invoice, not an adjustment invoice");
        let sent = outbox(&app, "status=sent&kind=invoice.finalized").await;
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0]["channel"].as_str(), sent[0]["attempts"].as_u64()), (Some("webhook"), Some(3)));
        assert!(sent[0]["last_error"].as_str().unwrap().contains("500"), "{sent:?}");
    }

    async fn a_client_error_fails_the_call_for_good(app) {
        // Arrange
        let receiver = WebhookReceiver::start(&[410]);
        register(&app, &receiver, &["invoice.finalized"]).await;
        invoiced_tenant(&app, "acme", &[]).await;
        // Act
        let first = dispatch(&app).await;
        app.clock.set(app.clock_now() + Duration::days(1));
        let later = dispatch(&app).await;
        // Assert
        assert_eq!((first.failed, later.sent, later.failed), (1, 0, 0));
        assert_eq!(receiver.calls().len(), 1);
        let failed = outbox(&app, "status=failed").await;
        assert!(failed[0]["last_error"].as_str().unwrap().contains("410"), "{failed:?}");
    }

    async fn marking_an_invoice_paid_and_voiding_it_notify_only_subscribed_endpoints(app) {
        // Arrange
        let paid_only = WebhookReceiver::start(&[]);
        let voided_only = WebhookReceiver::start(&[]);
        register(&app, &paid_only, &["invoice.paid"]).await;
        register(&app, &voided_only, &["invoice.voided"]).await;
        let invoice = invoiced_tenant(&app, "acme", &[]).await;
        let id = invoice["id"].as_str().unwrap();
        // Act
        assert_eq!(admin_post(&app, &format!("/v1/invoices/{id}/mark-paid"), &json!({})).await.status(), 200);
        assert_eq!(admin_post(&app, &format!("/v1/invoices/{id}/void"), &json!({})).await.status(), 200);
        let report = dispatch(&app).await;
        // Assert
        assert_eq!(report.sent, 2, "{report:?}");
        let (paid, voided) = (paid_only.calls(), voided_only.calls());
        assert_eq!((paid.len(), voided.len()), (1, 1));
        assert_eq!((paid[0].body["type"].as_str(), voided[0].body["type"].as_str()), (Some("invoice.paid"), Some("invoice.voided")));
        assert!(paid[0].signature_valid && voided[0].signature_valid);
        assert_ne!(paid[0].body["id"], voided[0].body["id"]);
    }

    async fn endpoints_are_listed_without_their_secret_and_can_be_deleted(app) {
        // Arrange
        let receiver = WebhookReceiver::start(&[]);
        let created = register(&app, &receiver, &["invoice.paid", "invoice.finalized"]).await;
        let id = created["id"].as_str().unwrap();
        // Act
        let listed = app.get_json("/v1/webhooks").await;
        let deleted = app.client.delete(format!("{}/v1/webhooks/{id}", app.address)).bearer_auth(&app.admin_key).send().await.unwrap();
        let again = app.client.delete(format!("{}/v1/webhooks/{id}", app.address)).bearer_auth(&app.admin_key).send().await.unwrap();
        // Assert
        assert_eq!(created["events"], json!(["invoice.finalized", "invoice.paid"]));
        assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
        assert_eq!(listed["data"][0]["id"], created["id"]);
        assert!(listed["data"][0].get("secret").is_none(), "the secret is shown once: {listed}");
        assert_eq!((deleted.status(), again.status()), (StatusCode::NO_CONTENT, StatusCode::NOT_FOUND));
        assert_eq!(app.get_json("/v1/webhooks").await["data"], json!([]));
    }
}
