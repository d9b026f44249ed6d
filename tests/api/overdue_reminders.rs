//! Overdue reminders (`billing.overdue_reminder`): a billing run reminds the tenant, once, of
//! each invoice still unpaid that long after its due date — an email with the PDF to its
//! billing addresses as they are now, an `invoice.overdue` webhook event, `reminded_at` on the
//! invoice and "overdue" in the portal. Off by default. Each test on SQLite and PostgreSQL,
//! emails through a real SMTP server.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::billing::{admin_patch, admin_post, run_billing_and_wait};
use crate::helpers::{spawn_app, spawn_app_with, Backend, TestApp};
use crate::notify_support::{grouped, invoiced_tenant, outbox, pdf_text, SmtpServer, WebhookReceiver};
use crate::portal_support::{page, sign_in};

crate::each_store!(
    an_invoice_unpaid_three_days_after_its_due_date_is_reminded_once_by_email_and_webhook,
    reminders_are_off_by_default,
    paid_and_voided_invoices_are_not_reminded_nor_invoices_overdue_for_longer_than_a_week,
    an_invoice_paid_after_the_run_reminded_of_it_gets_no_reminder_email,
    the_portal_lists_a_reminded_invoice_as_overdue_and_the_dashboard_names_it,
    the_invoice_list_filters_by_status_and_kind,
);

/// October's invoice (see `invoiced_tenant`) is issued 1 Nov 2026 02:00 UTC, due 14 days later.
const DUE: &str = "2026-11-15T02:00:00Z";

/// An app that reminds of invoices 3 days after their due date, mailing through `smtp` if any.
async fn spawn_reminding(backend: Backend, smtp: Option<&SmtpServer>) -> TestApp {
    let url = smtp.map(SmtpServer::url);
    spawn_app_with(backend, move |s| {
        s.billing.overdue_reminder = Some(std::time::Duration::from_secs(3 * 86_400));
        if let Some(url) = url {
            s.smtp.url = Some(url.into());
            s.smtp.mail_from = "billing@tally.test".into();
            s.issuer.name = "Tally Test Issuer".into();
        }
    })
    .await
}

async fn dispatch(app: &TestApp) -> tally::notify::DispatchReport {
    app.dispatcher.dispatch_due(app.clock_now()).await.expect("the outbox pass succeeds")
}

/// A billing run as of `as_of`, with the clock there too: the numbers of the invoices it reminded of.
async fn run_at(app: &TestApp, as_of: &str) -> Vec<String> {
    app.clock.set(crate::billing::at(as_of));
    let report = run_billing_and_wait(app, as_of).await;
    let reminded = report["invoices_reminded"].as_array().expect("the report lists reminders");
    reminded.iter().map(|i| i["number"].as_str().unwrap().to_owned()).collect()
}

/// The numbers of acme's invoices the list answers for `query`.
async fn listed_numbers(app: &TestApp, query: &str) -> Vec<String> {
    let page = app.get_json(&format!("/v1/tenants/acme/invoices?{query}")).await;
    page["data"].as_array().unwrap().iter().map(|i| i["number"].as_str().unwrap().to_owned()).collect()
}

async fn invoice(app: &TestApp, id: &Value) -> Value {
    app.get_json(&format!("/v1/invoices/{}", id.as_str().unwrap())).await
}

async fn an_invoice_unpaid_three_days_after_its_due_date_is_reminded_once_by_email_and_webhook(backend: Backend) {
    // Arrange
    let smtp = SmtpServer::start(&[]);
    let app = spawn_reminding(backend, Some(&smtp)).await;
    let receiver = WebhookReceiver::start(&[]);
    let hook = admin_post(&app, "/v1/webhooks", &json!({"url": receiver.url, "events": ["invoice.overdue"]})).await;
    assert_eq!(hook.status(), StatusCode::CREATED);
    receiver.set_secret(hook.json::<Value>().await.unwrap()["secret"].as_str().unwrap());
    let october = invoiced_tenant(&app, "acme", &["old@acme.test"]).await;
    let number = october["number"].as_str().unwrap().to_owned();
    dispatch(&app).await;
    let invoice_mails = smtp.messages().len();
    let moved = admin_patch(&app, "/v1/tenants/acme", &json!({"billing_emails": ["ap@acme.test"]})).await;
    assert_eq!(moved.status(), StatusCode::OK);
    // Act
    let before = run_at(&app, "2026-11-18T01:59:00Z").await;
    let reminded = run_at(&app, "2026-11-18T02:01:00Z").await;
    let again = run_at(&app, "2026-11-19T02:00:00Z").await;
    let report = dispatch(&app).await;
    // Assert
    assert_eq!(october["due_at"], DUE);
    assert!(before.is_empty(), "three days after the due date have not passed: {before:?}");
    assert_eq!(reminded, [number.as_str()], "reminded once the three days passed");
    assert!(again.is_empty(), "never twice: {again:?}");
    assert_eq!(report.sent, 2, "one email and one webhook call: {report:?}");
    let mails = smtp.messages();
    assert_eq!(mails.len(), invoice_mails + 1);
    let mail = mails.last().unwrap();
    assert_eq!(mail.recipients, ["ap@acme.test"], "to the tenant's billing address now, not the invoice's");
    let total = format!("USD {}", grouped(october["total"].as_str().unwrap()));
    let subject = mail.parsed().subject().unwrap().to_owned();
    assert_eq!(subject, format!("Reminder: invoice {number} from Tally Test Issuer is overdue ({total})"));
    for body in [mail.text(), mail.html()] {
        assert!(body.contains("was due on 15 Nov 2026 and is not marked as paid yet"), "{body}");
        assert!(body.contains(&total), "{body}");
    }
    let attachments = mail.attachments();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0].0, format!("{number}.pdf"));
    assert!(pdf_text(&attachments[0].1).contains(&number), "the invoice's PDF is attached again");
    let calls = receiver.calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].signature_valid);
    assert_eq!(calls[0].body["type"], "invoice.overdue");
    assert_eq!(calls[0].body["data"]["invoice_id"], october["id"]);
    assert_eq!(calls[0].body["data"]["due_at"], DUE);
    let shown = invoice(&app, &october["id"]).await;
    assert_eq!(
        (shown["status"].as_str(), shown["reminded_at"].as_str()),
        (Some("finalized"), Some("2026-11-18T02:01:00Z"))
    );
    assert_eq!(outbox(&app, "status=sent&kind=invoice.overdue").await.len(), 2);
}

async fn reminders_are_off_by_default(backend: Backend) {
    // Arrange
    let app = spawn_app(backend).await;
    let october = invoiced_tenant(&app, "acme", &["ap@acme.test"]).await;
    // Act
    let reminded = run_at(&app, "2026-11-20T00:00:00Z").await;
    // Assert
    assert!(reminded.is_empty(), "{reminded:?}");
    assert_eq!(invoice(&app, &october["id"]).await["reminded_at"], Value::Null);
    assert!(outbox(&app, "kind=invoice.overdue").await.is_empty());
}

async fn paid_and_voided_invoices_are_not_reminded_nor_invoices_overdue_for_longer_than_a_week(backend: Backend) {
    // Arrange
    let app = spawn_reminding(backend, None).await;
    let paid = invoiced_tenant(&app, "paid", &[]).await;
    let voided = invoiced_tenant(&app, "voided", &[]).await;
    let open = invoiced_tenant(&app, "open", &[]).await;
    for (invoice, action) in [(&paid, "mark-paid"), (&voided, "void")] {
        let path = format!("/v1/invoices/{}/{action}", invoice["id"].as_str().unwrap());
        assert_eq!(admin_post(&app, &path, &json!({})).await.status(), StatusCode::OK);
    }
    // Act: 15 Nov + 3 days + more than a week: the first run with reminders on comes late.
    let late = run_at(&app, "2026-11-25T03:00:00Z").await;
    let on_time = run_at(&app, "2026-11-25T01:00:00Z").await;
    // Assert
    assert!(late.is_empty(), "an invoice overdue for more than a week before the run is not reminded: {late:?}");
    assert_eq!(on_time, [open["number"].as_str().unwrap()], "only the invoice that is neither paid nor void");
    assert_eq!(invoice(&app, &paid["id"]).await["reminded_at"], Value::Null);
    assert_eq!(invoice(&app, &voided["id"]).await["reminded_at"], Value::Null);
}

async fn an_invoice_paid_after_the_run_reminded_of_it_gets_no_reminder_email(backend: Backend) {
    // Arrange
    let smtp = SmtpServer::start(&[]);
    let app = spawn_reminding(backend, Some(&smtp)).await;
    let october = invoiced_tenant(&app, "acme", &["ap@acme.test"]).await;
    dispatch(&app).await;
    let invoice_mails = smtp.messages().len();
    assert_eq!(run_at(&app, "2026-11-19T00:00:00Z").await.len(), 1);
    // Act
    let path = format!("/v1/invoices/{}/mark-paid", october["id"].as_str().unwrap());
    assert_eq!(admin_post(&app, &path, &json!({})).await.status(), StatusCode::OK);
    dispatch(&app).await;
    // Assert
    assert_eq!(smtp.messages().len(), invoice_mails, "no reminder of a paid invoice");
    let paid = invoice(&app, &october["id"]).await;
    assert_eq!(paid["status"], "paid");
}

async fn the_portal_lists_a_reminded_invoice_as_overdue_and_the_dashboard_names_it(backend: Backend) {
    // Arrange
    let app = spawn_reminding(backend, None).await;
    let october = invoiced_tenant(&app, "acme", &["ap@acme.test"]).await;
    let status =
        |html: &str, label: &str| html.contains(&format!(r#"<span class="status status-{label}">{label}</span>"#));
    // Act: October is reminded of on 19 November; November is issued on 1 December.
    run_at(&app, "2026-11-19T00:00:00Z").await;
    run_at(&app, "2026-12-01T02:00:00Z").await;
    let browser = sign_in(&app, "ap@acme.test").await;
    let list = page(browser.get("/portal/invoices").await, StatusCode::OK).await;
    let shown =
        page(browser.get(&format!("/portal/invoices/{}", october["id"].as_str().unwrap())).await, StatusCode::OK).await;
    let dashboard = page(browser.get("/portal").await, StatusCode::OK).await;
    // Assert
    let invoices = crate::billing::invoices_of(&app, "acme").await;
    assert_eq!(invoices.len(), 2);
    assert!(list.contains(october["number"].as_str().unwrap()) && status(&list, "overdue"), "{list}");
    assert!(status(&list, "finalized"), "November is not overdue: {list}");
    assert!(status(&shown, "overdue") && shown.contains("due 15 Nov 2026"), "{shown}");
    let (id, number) = (october["id"].as_str().unwrap(), october["number"].as_str().unwrap());
    let listed =
        format!(r#"<a href="/portal/invoices/{id}">{number}</a>: <span class="num">USD 0.40</span>, due 15 Nov 2026"#);
    assert!(dashboard.contains(r#"data-testid="overdue""#) && dashboard.contains(&listed), "{dashboard}");
    assert_eq!(dashboard.matches("href=\"/portal/invoices/").count(), 1, "November is not overdue: {dashboard}");
}

async fn the_invoice_list_filters_by_status_and_kind(backend: Backend) {
    // Arrange
    let app = spawn_app(backend).await;
    invoiced_tenant(&app, "acme", &[]).await;
    run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
    let all = app.get_json("/v1/tenants/acme/invoices").await["data"].as_array().unwrap().clone();
    assert_eq!(all.len(), 2, "October and November");
    let november = &all[0];
    let path = format!("/v1/invoices/{}/mark-paid", november["id"].as_str().unwrap());
    assert_eq!(admin_post(&app, &path, &json!({})).await.status(), StatusCode::OK);
    // Act
    let paid = listed_numbers(&app, "status=paid").await;
    let open = listed_numbers(&app, "status=finalized&kind=period").await;
    let adjustments = listed_numbers(&app, "kind=adjustment").await;
    let refused = [
        app.get_as("/v1/tenants/acme/invoices?status=overdue", &app.admin_key).await,
        app.get_as("/v1/tenants/acme/invoices?kind=credit", &app.admin_key).await,
    ];
    // Assert
    assert_eq!(paid, [november["number"].as_str().unwrap()]);
    assert_eq!(open, [all[1]["number"].as_str().unwrap()], "October, still open");
    assert!(adjustments.is_empty(), "{adjustments:?}");
    for response in refused {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_query", "{body}");
    }
    assert_eq!(november["due_at"], "2026-12-15T02:00:00Z", "the list shows when each is due");
}
