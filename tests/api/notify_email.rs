//! Invoice and credit-note emails end to end: the real app, the outbox worker driven with
//! `dispatch_due(now)`, and a real SMTP server (aiosmtpd over TCP) whose received messages
//! the tests read. Every test runs on SQLite and on PostgreSQL.

use std::sync::Arc;

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;
use tally::metrics::Metrics;
use tally::notify::{Dispatcher, MailTransport, NotifyConfig};

use crate::billing::{admin_post, at, run_billing_and_wait};
use crate::helpers::{Backend, TestApp};
use crate::notify_support::{grouped, invoiced_tenant, outbox, pdf_text, spawn_with_smtp, SmtpServer};

crate::each_store!(
    the_invoice_email_reaches_each_billing_address_with_both_alternatives_and_its_pdf,
    a_billing_rerun_sends_nothing_new,
    invoices_finalized_while_smtp_is_down_are_each_emailed_once_when_it_returns,
    a_permanent_refusal_is_not_retried_and_the_other_address_still_gets_its_email,
    a_temporary_refusal_is_retried_after_a_minute,
    a_crash_between_send_and_mark_resends_once_with_the_same_message_id,
    a_voided_invoice_sends_its_credit_note_with_the_pdf,
    header_injection_in_names_and_addresses_is_refused_and_changes_no_header,
    a_send_the_relay_holds_up_holds_up_no_other_delivery,
    the_relay_sees_at_most_the_configured_connections_and_each_is_kept_for_the_next_pass,
);

async fn dispatch(app: &TestApp) -> tally::notify::DispatchReport {
    app.dispatcher.dispatch_due(app.clock_now()).await.expect("the outbox pass succeeds")
}

async fn the_invoice_email_reaches_each_billing_address_with_both_alternatives_and_its_pdf(backend: Backend) {
    // Arrange
    let smtp = SmtpServer::start(&[]);
    let app = spawn_with_smtp(backend, &smtp).await;
    let invoice = invoiced_tenant(&app, "acme", &["ap@acme.test", "cfo@acme.test"]).await;
    let number = invoice["number"].as_str().unwrap();
    let total = format!("USD {}", grouped(invoice["total"].as_str().unwrap()));
    // Act
    let report = dispatch(&app).await;
    // Assert
    assert_eq!(report.sent, 2, "{report:?}");
    let mails = smtp.messages();
    let mut recipients: Vec<_> = mails.iter().flat_map(|m| m.recipients.clone()).collect();
    recipients.sort();
    assert_eq!(recipients, ["ap@acme.test", "cfo@acme.test"], "one message per address");
    assert_ne!(mails[0].message_id(), mails[1].message_id());
    for mail in &mails {
        let parsed = mail.parsed();
        assert_eq!(parsed.subject().unwrap(), format!("Invoice {number} from Tally Test Issuer ({total})"));
        assert_eq!(parsed.from().unwrap().first().unwrap().address().unwrap(), "billing@tally.test");
        let (text, html) = (mail.text(), mail.html());
        for body in [&text, &html] {
            assert!(body.contains(number) && body.contains(&total), "number and total in {body}");
            assert!(body.contains(&format!(
                "https://billing.example.test/portal/invoices/{}",
                invoice["id"].as_str().unwrap()
            )));
            assert!(body.contains("Invocations"), "the per-meter summary: {body}");
            assert!(body.contains("Due date") && body.contains("15 Nov 2026"), "issue + 14 days: {body}");
        }
        assert!(text.lines().any(|l| l == "."), "a line holding a single dot arrives intact:\n{text}");
        let attachments = mail.attachments();
        assert_eq!(attachments.len(), 1);
        assert_eq!(attachments[0].0, format!("{number}.pdf"));
        let pdf = pdf_text(&attachments[0].1);
        assert!(pdf.contains(number) && pdf.contains(&total), "the PDF shows number and total:\n{pdf}");
        assert!(pdf.contains("15 Nov 2026"), "the PDF shows the due date:\n{pdf}");
    }
    let sent = outbox(&app, "status=sent&tenant=acme&kind=invoice.finalized").await;
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|d| d["attempts"] == 1 && d["channel"] == "email"), "{sent:?}");
}

async fn a_billing_rerun_sends_nothing_new(backend: Backend) {
    // Arrange
    let smtp = SmtpServer::start(&[]);
    let app = spawn_with_smtp(backend, &smtp).await;
    invoiced_tenant(&app, "acme", &["ap@acme.test"]).await;
    dispatch(&app).await;
    // Act
    run_billing_and_wait(&app, "2026-11-01T02:30:00Z").await;
    app.clock.set(app.clock_now() + Duration::days(1));
    let report = dispatch(&app).await;
    // Assert
    assert_eq!((report.expanded, report.sent), (0, 0), "{report:?}");
    assert_eq!(smtp.messages().len(), 1);
}

async fn invoices_finalized_while_smtp_is_down_are_each_emailed_once_when_it_returns(backend: Backend) {
    // Arrange
    let mut smtp = SmtpServer::start(&[]);
    let app = spawn_with_smtp(backend, &smtp).await;
    smtp.stop();
    // Act
    let invoice = invoiced_tenant(&app, "acme", &["ap@acme.test", "cfo@acme.test"]).await;
    let while_down = dispatch(&app).await;
    smtp.restart();
    let too_early = dispatch(&app).await;
    app.clock.set(app.clock_now() + Duration::minutes(1));
    let after_backoff = dispatch(&app).await;
    app.clock.set(app.clock_now() + Duration::days(2));
    let later = dispatch(&app).await;
    // Assert
    assert_eq!(invoice["status"], "finalized", "billing does not wait for mail");
    assert_eq!((while_down.sent, while_down.retried), (0, 2), "{while_down:?}");
    assert_eq!(too_early.sent, 0, "the backoff is respected");
    assert_eq!(after_backoff.sent, 2, "{after_backoff:?}");
    assert_eq!(later.sent, 0);
    assert_eq!(smtp.messages().len(), 2, "each email delivered once");
    let sent = outbox(&app, "status=sent").await;
    assert!(sent.iter().all(|d| d["attempts"] == 2 && d["last_error"].as_str().is_some()), "{sent:?}");
}

async fn a_permanent_refusal_is_not_retried_and_the_other_address_still_gets_its_email(backend: Backend) {
    // Arrange
    let smtp = SmtpServer::start(&["--reject", "gone@acme.test"]);
    let app = spawn_with_smtp(backend, &smtp).await;
    invoiced_tenant(&app, "acme", &["gone@acme.test", "ap@acme.test"]).await;
    // Act
    let first = dispatch(&app).await;
    app.clock.set(app.clock_now() + Duration::days(2));
    let later = dispatch(&app).await;
    // Assert
    assert_eq!((first.sent, first.failed, first.retried), (1, 1, 0), "{first:?}");
    assert_eq!((later.sent, later.failed), (0, 0));
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(smtp.messages()[0].recipients, ["ap@acme.test"]);
    let failed = outbox(&app, "status=failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0]["recipient"].as_str(), failed[0]["attempts"].as_u64()), (Some("gone@acme.test"), Some(1)));
    assert!(failed[0]["last_error"].as_str().unwrap().contains("550"), "{failed:?}");
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"tally_outbox_failed_total{kind="invoice.finalized",channel="email"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"tally_outbox_sent_total{kind="invoice.finalized",channel="email"} 1"#), "{metrics}");
}

async fn a_temporary_refusal_is_retried_after_a_minute(backend: Backend) {
    // Arrange
    let smtp = SmtpServer::start(&["--tempfail", "1"]);
    let app = spawn_with_smtp(backend, &smtp).await;
    invoiced_tenant(&app, "acme", &["ap@acme.test"]).await;
    // Act
    let first = dispatch(&app).await;
    let pending = outbox(&app, "status=pending").await;
    app.clock.set(app.clock_now() + Duration::minutes(1));
    let second = dispatch(&app).await;
    // Assert
    assert_eq!((first.sent, first.retried), (0, 1));
    assert!(pending[0]["last_error"].as_str().unwrap().contains("451"), "{pending:?}");
    assert_eq!(
        pending[0]["next_attempt_at"],
        json!((app.clock_now()).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    );
    assert_eq!(second.sent, 1);
    assert_eq!(smtp.messages().len(), 1);
}

async fn a_crash_between_send_and_mark_resends_once_with_the_same_message_id(backend: Backend) {
    // Arrange: a worker claims and sends, then "dies" before recording the result.
    let smtp = SmtpServer::start(&[]);
    let app = spawn_with_smtp(backend, &smtp).await;
    invoiced_tenant(&app, "acme", &["ap@acme.test"]).await;
    let now = app.clock_now();
    app.dispatcher.expand_due(now).await.unwrap();
    let claimed = app.store.claim_deliveries(now, now + Duration::minutes(5), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(app.dispatcher.attempt(&claimed[0], now).await, tally::store::AttemptResult::Sent);
    // Act
    let while_leased = dispatch(&app).await;
    app.clock.set(now + Duration::minutes(5));
    let after_lease = dispatch(&app).await;
    app.clock.set(now + Duration::days(1));
    let later = dispatch(&app).await;
    // Assert
    assert_eq!(while_leased.sent, 0, "another worker does not take a leased row");
    assert_eq!((after_lease.sent, later.sent), (1, 0));
    let mails = smtp.messages();
    assert_eq!(mails.len(), 2, "at most one resend");
    assert_eq!(mails[0].message_id(), mails[1].message_id(), "recognisably the same message");
    let sent = outbox(&app, "status=sent").await;
    assert_eq!(sent[0]["attempts"], 2);
    let stale = tally::store::AttemptResult::Failed { error: "late news from the dead worker".into() };
    let written = app.store.record_attempt(&claimed[0], &stale, app.clock_now()).await.unwrap();
    assert!(!written, "a claim whose lease ran out cannot overwrite the newer result");
    assert_eq!(outbox(&app, "status=sent").await.len(), 1);
}

async fn a_voided_invoice_sends_its_credit_note_with_the_pdf(backend: Backend) {
    // Arrange
    let smtp = SmtpServer::start(&[]);
    let app = spawn_with_smtp(backend, &smtp).await;
    let invoice = invoiced_tenant(&app, "acme", &["ap@acme.test"]).await;
    dispatch(&app).await;
    // Act
    let voided = admin_post(&app, &format!("/v1/invoices/{}/void", invoice["id"].as_str().unwrap()), &json!({})).await;
    assert_eq!(voided.status(), StatusCode::OK);
    let voided: serde_json::Value = voided.json().await.unwrap();
    let report = dispatch(&app).await;
    // Assert
    assert_eq!(report.sent, 1);
    let note = voided["credit_note_number"].as_str().expect("a credit note number");
    let mail = &smtp.messages()[1];
    assert!(mail.parsed().subject().unwrap().starts_with(&format!("Credit note {note}")));
    assert!(mail.text().contains(note) && mail.html().contains(note));
    assert!(!mail.text().contains("Due date"), "a credit note is not due");
    let attachments = mail.attachments();
    assert_eq!(attachments[0].0, format!("{note}.pdf"));
    let pdf = pdf_text(&attachments[0].1);
    let (number, total) = (invoice["number"].as_str().unwrap(), invoice["total"].as_str().unwrap());
    for expected in ["Credit note", note, "Credits invoice", number, &format!("USD -{}", grouped(total))] {
        assert!(pdf.contains(expected), "the credit note PDF shows {expected:?}:\n{pdf}");
    }
    assert!(!pdf.contains("VOID") && !pdf.contains("Due date"), "its own document, not the voided invoice:\n{pdf}");
}

async fn header_injection_in_names_and_addresses_is_refused_and_changes_no_header(backend: Backend) {
    // Arrange
    let smtp = SmtpServer::start(&[]);
    let app = spawn_with_smtp(backend, &smtp).await;
    app.clock.set(at("2026-10-15T00:00:00Z"));
    let attempts = [
        json!({"id": "evil", "name": "Evil\r\nBcc: spy@evil.test", "billing_emails": ["ap@evil.test"]}),
        json!({"id": "evil", "name": "Evil", "billing_emails": ["ap@evil.test\r\nBcc: spy@evil.test"]}),
        json!({"id": "evil", "name": "Evil", "billing_email": "ap@evil.test\nBcc: spy@evil.test"}),
    ];
    // Act
    let mut statuses = Vec::new();
    for body in &attempts {
        statuses.push(admin_post(&app, "/v1/tenants", body).await.status().as_u16());
    }
    invoiced_tenant(&app, "acme", &["ap@acme.test"]).await;
    let patch = app
        .client
        .patch(format!("{}/v1/tenants/acme", app.address))
        .bearer_auth(&app.admin_key)
        .json(&json!({"name": "Acme\r\nBcc: spy@evil.test", "billing_emails": ["x@acme.test\r\nCc: spy@evil.test"]}))
        .send()
        .await
        .unwrap();
    dispatch(&app).await;
    // Assert
    assert_eq!(statuses, [422, 422, 422]);
    assert_eq!(patch.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].recipients, ["ap@acme.test"]);
    let raw = String::from_utf8_lossy(&mails[0].raw).to_lowercase();
    assert!(!raw.contains("spy@evil.test") && !raw.contains("\nbcc:") && !raw.contains("\ncc:"), "{raw}");
}

async fn a_send_the_relay_holds_up_holds_up_no_other_delivery(backend: Backend) {
    // Arrange: 20 addresses, the relay holding one message's reply; a worker with 4 in flight.
    let smtp = SmtpServer::start(&["--hold", "slow@acme.test"]);
    let app = spawn_with_smtp(backend, &smtp).await;
    let mut emails: Vec<String> = (0..19).map(|i| format!("ap{i}@acme.test")).collect();
    emails.push("slow@acme.test".into());
    invoiced_tenant(&app, "acme", &emails.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let worker = worker_over(&app, &smtp, 4, 4);
    // Act
    let now = app.clock_now();
    let pass = tokio::spawn(async move { worker.dispatch_due(now).await });
    let others_sent = eventually(|| async { outbox(&app, "status=sent").await.len() == 19 }).await;
    let held_pass_was_running = !pass.is_finished();
    smtp.release_held();
    let report = pass.await.unwrap().expect("the outbox pass succeeds");
    // Assert
    assert!(others_sent, "the other 19 were sent and recorded while one send was held up");
    assert!(held_pass_was_running, "the held send was still in flight");
    assert_eq!((report.sent, report.retried, report.failed), (20, 0, 0), "{report:?}");
    let mut recipients: Vec<_> = smtp.messages().iter().flat_map(|m| m.recipients.clone()).collect();
    recipients.sort();
    emails.sort();
    assert_eq!(recipients, emails, "each address once");
}

/// Polls `condition` every 50 ms for up to 20 s; whether it became true.
async fn eventually<F, Fut>(condition: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

async fn the_relay_sees_at_most_the_configured_connections_and_each_is_kept_for_the_next_pass(backend: Backend) {
    // Arrange: 20 addresses, a worker with 64 in flight over at most 3 connections.
    let smtp = SmtpServer::start(&[]);
    let app = spawn_with_smtp(backend, &smtp).await;
    let emails: Vec<String> = (0..20).map(|i| format!("ap{i}@acme.test")).collect();
    let invoice = invoiced_tenant(&app, "acme", &emails.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let worker = worker_over(&app, &smtp, 64, 3);
    // Act: the invoice's emails, then its credit note's
    let first = worker.dispatch_due(app.clock_now()).await.unwrap();
    let (opened_first, peak_first) = smtp.connections();
    let void = format!("/v1/invoices/{}/void", invoice["id"].as_str().unwrap());
    assert_eq!(admin_post(&app, &void, &json!({})).await.status(), StatusCode::OK);
    let second = worker.dispatch_due(app.clock_now()).await.unwrap();
    let (opened, peak) = smtp.connections();
    // Assert
    assert_eq!((first.sent, second.sent), (20, 20));
    assert_eq!(smtp.messages().len(), 40);
    assert!(peak_first <= 3, "never more than 3 connections at once: {peak_first}");
    assert!(opened_first <= 3, "no connection opened beyond the 3: {opened_first}");
    assert_eq!((opened, peak), (opened_first, peak_first), "the second pass reuses the connections kept");
}

/// A worker of its own over the app's store, `in_flight` deliveries at once over at most
/// `connections` SMTP connections to `smtp`.
fn worker_over(app: &TestApp, smtp: &SmtpServer, in_flight: u32, connections: u32) -> Dispatcher {
    let config = NotifyConfig {
        from: "billing@tally.test".parse().unwrap(),
        public_url: "https://billing.example.test".into(),
        lease: Duration::minutes(5),
        batch: in_flight,
        issuer: tally::startup::billing_config(&tally::config::Settings::default()).issuer,
    };
    let mail = MailTransport::from_settings(Some(&smtp.url()), std::env::temp_dir(), connections).unwrap();
    Dispatcher::new(app.store.clone(), mail, config, Arc::new(Metrics::default())).unwrap()
}
