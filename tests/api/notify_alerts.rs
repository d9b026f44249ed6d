//! Quota alerts reach people (DESIGN §8, §9): the evaluator's `quota.threshold_crossed`
//! events, delivered by the outbox worker as one email per billing address through a real
//! SMTP server (aiosmtpd over TCP) and one signed call per subscribed webhook endpoint, on
//! SQLite and PostgreSQL. The evaluator and the worker run only when a test says so.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::billing::{admin_post, run_billing_and_wait};
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::notify_support::{outbox, ReceivedMail, SmtpServer, WebhookReceiver};
use crate::quotas::{at, evaluate, invocation_cap, post_invocations, post_invocations_at, set_quotas};

crate::each_store!(
    thresholds_crossed_one_by_one_email_each_billing_address_once_per_threshold,
    a_subscribed_receiver_gets_one_signed_call_per_alert_with_its_payload,
    a_spend_alert_states_the_limit_in_the_tenants_currency,
    late_usage_crossing_a_threshold_of_an_invoiced_period_is_emailed_as_late,
);

const ADDRESSES: [&str; 2] = ["ap@acme.test", "cto@acme.test"];

/// The app sending through `smtp`, its background evaluator and entitlement cache off.
async fn spawn_alerting_app(backend: Backend, smtp: &SmtpServer) -> TestApp {
    let url = smtp.url();
    spawn_app_with(backend, move |s| {
        s.smtp.url = Some(url.into());
        s.smtp.mail_from = "billing@tally.test".into();
        s.issuer.name = "Tally Test Issuer".into();
        s.issuer.address = vec!["1 Example Street".into(), "Example City".into()];
        s.public_url = Some("https://billing.example.test".into());
        s.quota.evaluate_every = std::time::Duration::ZERO;
        s.quota.entitlement_max_age = std::time::Duration::ZERO;
    })
    .await
}

/// Creates `acme` (UTC, on `payg`) billed to [`ADDRESSES`].
async fn create_acme(app: &TestApp) {
    let body = json!({"id": "acme", "name": "Acme Inc.", "plan": "payg", "billing_emails": ADDRESSES});
    assert_eq!(admin_post(app, "/v1/tenants", &body).await.status(), StatusCode::CREATED);
}

/// One evaluator pass, then one outbox pass, at the app's "now".
async fn evaluate_and_dispatch(app: &TestApp) -> tally::notify::DispatchReport {
    evaluate(app).await;
    app.dispatcher.dispatch_due(app.clock_now()).await.expect("the outbox pass succeeds")
}

fn subject(mail: &ReceivedMail) -> String {
    mail.parsed().subject().expect("a subject").to_owned()
}

async fn thresholds_crossed_one_by_one_email_each_billing_address_once_per_threshold(backend: Backend) {
    // Arrange
    let smtp = SmtpServer::start(&[]);
    let app = spawn_alerting_app(backend, &smtp).await;
    create_acme(&app).await;
    set_quotas(&app, "acme", invocation_cap()).await;
    for (id, invocations, threshold) in [("u1", 50, 50), ("u2", 30, 80), ("u3", 20, 100)] {
        // Act
        post_invocations(&app, "acme", id, invocations).await;
        let report = evaluate_and_dispatch(&app).await;
        // Assert: one new email per address, about this threshold
        assert_eq!(report.sent, 2, "after {id}: {report:?}");
        let mails = smtp.messages();
        let new: Vec<&ReceivedMail> =
            mails.iter().filter(|m| subject(m).contains(&format!(" {threshold} %"))).collect();
        let mut recipients: Vec<String> = new.iter().flat_map(|m| m.recipients.clone()).collect();
        recipients.sort();
        assert_eq!(recipients, ADDRESSES, "the {threshold} % alert reaches each billing address once");
        for mail in new {
            assert_eq!(subject(mail), format!("Usage alert: Invocations at {threshold} % of your limit"));
            let parsed = mail.parsed();
            assert_eq!(parsed.from().unwrap().first().unwrap().address().unwrap(), "billing@tally.test");
            assert!(mail.attachments().is_empty(), "an alert has no attachment");
            let used = (50 + if threshold >= 80 { 30 } else { 0 } + if threshold == 100 { 20 } else { 0 }).to_string();
            for body in [mail.text(), mail.html()] {
                for expected in [
                    "Invocations",
                    &format!("{threshold} %"),
                    &used,
                    "100",
                    "1 Nov 2026 – 30 Nov 2026",
                    "Projected",
                    "hard limit",
                    "https://billing.example.test/portal",
                    "Tally Test Issuer",
                    "1 Example Street",
                    "Acme Inc.",
                ] {
                    assert!(body.contains(expected), "{expected:?} in the {threshold} % alert:\n{body}");
                }
                assert!(!body.contains("late"), "an on-time alert says nothing of lateness:\n{body}");
            }
        }
    }
    // Act: again, and once more a day later
    let again = evaluate_and_dispatch(&app).await;
    app.clock.set(app.clock_now() + chrono::Duration::days(1));
    let later = evaluate_and_dispatch(&app).await;
    // Assert
    assert_eq!((again.expanded, again.sent, later.expanded, later.sent), (0, 0, 0, 0));
    let mails = smtp.messages();
    assert_eq!(mails.len(), 6, "three alerts × two addresses, nothing more");
    let mut ids: Vec<String> = mails.iter().map(ReceivedMail::message_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "each email has its own Message-ID");
    let sent = outbox(&app, "status=sent&tenant=acme&kind=quota.threshold_crossed").await;
    assert_eq!(sent.len(), 6, "{sent:?}");
    for delivery in &sent {
        let id = delivery["id"].as_str().unwrap();
        assert!(ids.contains(&format!("{id}@tally.test")), "the Message-ID is derived from delivery {id}: {ids:?}");
    }
}

async fn a_subscribed_receiver_gets_one_signed_call_per_alert_with_its_payload(backend: Backend) {
    // Arrange
    let smtp = SmtpServer::start(&[]);
    let app = spawn_alerting_app(backend, &smtp).await;
    let receiver = WebhookReceiver::start(&[]);
    let other = WebhookReceiver::start(&[]);
    for (hook, events) in [(&receiver, json!(["quota.threshold_crossed"])), (&other, json!(["invoice.finalized"]))] {
        let response = admin_post(&app, "/v1/webhooks", &json!({"url": hook.url, "events": events})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: Value = response.json().await.unwrap();
        assert_eq!(created["events"], events);
        hook.set_secret(created["secret"].as_str().unwrap());
    }
    create_acme(&app).await;
    set_quotas(&app, "acme", invocation_cap()).await;
    // Act
    for (id, invocations) in [("u1", 50), ("u2", 30), ("u3", 20)] {
        post_invocations(&app, "acme", id, invocations).await;
        evaluate_and_dispatch(&app).await;
    }
    evaluate_and_dispatch(&app).await;
    // Assert
    let calls = receiver.calls();
    assert_eq!(calls.len(), 3, "one call per alert: {calls:?}");
    assert!(calls.iter().all(|c| c.signature_valid), "every call is signed with the endpoint's secret");
    assert!(other.calls().is_empty(), "an endpoint not subscribed to alerts hears nothing");
    let thresholds: Vec<u64> = calls.iter().map(|c| c.body["data"]["threshold"].as_u64().unwrap()).collect();
    assert_eq!(thresholds, [50, 80, 100]);
    let eighty = &calls[1].body;
    assert_eq!(eighty["type"], "quota.threshold_crossed");
    assert_eq!(eighty["data"]["event_id"], "quota.threshold_crossed:acme:inv-cap:80:2026-11-01T00:00:00Z");
    assert_eq!((eighty["data"]["used"].as_str(), eighty["data"]["limit"].as_str()), (Some("80"), Some("100")));
    assert_eq!(
        (eighty["data"]["tenant_id"].as_str(), eighty["data"]["quota_id"].as_str()),
        (Some("acme"), Some("inv-cap"))
    );
    assert_eq!((eighty["data"]["hard"].as_bool(), eighty["data"]["late"].as_bool()), (Some(true), Some(false)));
    let ids: std::collections::BTreeSet<&str> = calls.iter().map(|c| c.body["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3, "each alert has its own event id");
    assert_eq!(smtp.messages().len(), 6, "and the emails went out too");
}

async fn a_spend_alert_states_the_limit_in_the_tenants_currency(backend: Backend) {
    // Arrange: payg memory is graduated, 400 000 GB-s included, then 0.0000166667 per GB-s
    let smtp = SmtpServer::start(&[]);
    let app = spawn_alerting_app(backend, &smtp).await;
    create_acme(&app).await;
    set_quotas(&app, "acme", json!([{"id": "spend", "meter": "spend", "limit": "10000.00", "thresholds": [50]}])).await;
    let record =
        json!({"id": "m1", "tenant_id": "acme", "timestamp": "2026-11-27T12:00:00Z", "memory_gb_seconds": "300400000"});
    assert_eq!(app.post_usage(&record).await.status(), StatusCode::OK);
    // Act
    let report = evaluate_and_dispatch(&app).await;
    // Assert: 300 000 000 net GB-s × 0.0000166667 = 5 000.01, grouped as every amount shown
    assert_eq!(report.sent, 2, "{report:?}");
    for mail in smtp.messages() {
        assert_eq!(subject(&mail), "Usage alert: Spend at 50 % of USD 10,000.00");
        for body in [mail.text(), mail.html()] {
            assert!(body.contains("USD 5,000.01") && body.contains("USD 10,000.00"), "used and limit in USD:\n{body}");
            assert!(!body.contains("hard limit"), "a soft limit says nothing of refusals:\n{body}");
        }
    }
}

async fn late_usage_crossing_a_threshold_of_an_invoiced_period_is_emailed_as_late(backend: Backend) {
    // Arrange: 40 of 100 in November, then November is invoiced (and its invoice emailed)
    let smtp = SmtpServer::start(&[]);
    let app = spawn_alerting_app(backend, &smtp).await;
    create_acme(&app).await;
    set_quotas(&app, "acme", invocation_cap()).await;
    post_invocations_at(&app, "acme", "nov", 40, "2026-11-27T12:00:00Z").await;
    evaluate_and_dispatch(&app).await;
    app.clock.set(at("2026-12-02T00:00:00Z"));
    run_billing_and_wait(&app, "2026-12-02T00:00:00Z").await;
    evaluate_and_dispatch(&app).await;
    let before = smtp.messages().len();
    // Act: a record for November 30 arrives in December
    post_invocations_at(&app, "acme", "nov-late", 15, "2026-11-30T23:00:00Z").await;
    let report = evaluate_and_dispatch(&app).await;
    // Assert
    assert_eq!(report.sent, 2, "{report:?}");
    let mails = smtp.messages();
    assert_eq!(mails.len(), before + 2);
    for mail in &mails[before..] {
        assert_eq!(subject(mail), "Late usage alert: Invocations at 50 % of your limit");
        for body in [mail.text(), mail.html()] {
            assert!(body.contains("This alert is late"), "the late wording:\n{body}");
            assert!(body.contains("1 Nov 2026 – 30 Nov 2026"), "November's period:\n{body}");
            assert!(body.contains("55"), "55 used:\n{body}");
        }
    }
}
