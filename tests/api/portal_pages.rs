//! Portal pages (DESIGN §11): the dashboard shows exactly the numbers of `usage/current`,
//! invoices and their PDF come from the same calls as the API, another tenant's invoice is a
//! 404, and budgets are set through a CSRF-protected form — each on SQLite and PostgreSQL.

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_stores;
use crate::notify_support::{grouped, invoiced_tenant, pdf_text};
use crate::portal_support::{page, sign_in, tenant_with_usage, Browser};

/// `"USD 0.40"` (`"USD 1,233.80"`) from a draft of `usage/current`, as the portal shows it.
fn total_of(draft: &Value) -> String {
    format!("{} {}", draft["currency"].as_str().unwrap(), grouped(draft["total"].as_str().unwrap()))
}

both_stores! {
    async fn the_dashboard_shows_the_numbers_of_usage_current(app) {
        // Arrange
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        let browser = sign_in(&app, "ap@acme.test").await;
        let current = app.get_json("/v1/tenants/acme/usage/current").await;
        // Act
        let html = page(browser.get("/portal").await, StatusCode::OK).await;
        // Assert
        let so_far = total_of(&current["amount_so_far"]);
        assert_eq!(so_far, "USD 0.40", "(3M − 1M included) × 0.20 per million");
        assert!(html.contains(&format!(r#"data-testid="amount-so-far">{so_far}<"#)), "{html}");
        let projected = total_of(&current["projection"]);
        assert!(html.contains(&format!(r#"data-testid="projected-total">{projected}<"#)), "{projected} in {html}");
        for meter in ["cpu_cycles", "memory_gb_seconds", "invocations"] {
            let exact = current["usage"][meter].as_str().unwrap();
            assert!(html.contains(&format!(r#"data-testid="usage-{meter}" data-exact="{exact}""#)), "{meter}");
        }
        assert!(html.contains("1 Nov 2026 – 30 Nov 2026") && html.contains(r#"data-testid="days-left">4<"#), "{html}");
        assert!(html.contains("<svg class=\"chart\"") && html.contains("20 Nov: 3,000,000"), "a daily chart");
        assert!(!html.contains("<script"), "no script");
    }

    async fn invoices_are_listed_shown_and_downloaded_as_the_api_renders_them(app) {
        // Arrange
        let invoice = invoiced_tenant(&app, "acme", &["ap@acme.test"]).await;
        let (id, number) = (invoice["id"].as_str().unwrap(), invoice["number"].as_str().unwrap());
        let total = format!("USD {}", grouped(invoice["total"].as_str().unwrap()));
        let browser = sign_in(&app, "ap@acme.test").await;
        // Act
        let list = page(browser.get("/portal/invoices").await, StatusCode::OK).await;
        let shown = page(browser.get(&format!("/portal/invoices/{id}")).await, StatusCode::OK).await;
        let pdf = browser.get(&format!("/portal/invoices/{id}/pdf")).await;
        // Assert
        assert!(list.contains(number) && list.contains(&total) && list.contains("finalized"), "{list}");
        assert!(shown.contains(&format!(r#"data-testid="invoice-total">{total}<"#)), "{shown}");
        for line in invoice["lines"].as_array().unwrap() {
            assert!(shown.contains(line["description"].as_str().unwrap()), "line {line} in {shown}");
        }
        assert_eq!(pdf.status(), StatusCode::OK);
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
        assert_eq!(pdf.headers()["content-disposition"], format!("attachment; filename=\"{number}.pdf\"").as_str());
        let text = pdf_text(&pdf.bytes().await.unwrap());
        assert!(text.contains(number) && text.contains(&total), "{text}");
    }

    async fn an_invoice_over_a_thousand_shows_its_total_grouped_in_the_pdf_the_html_the_email_and_the_portal(app) {
        // Arrange: (6 170 000 000 − 1 000 000 included) invocations × 0.20 per million.
        let invoice = crate::notify_support::invoiced_tenant_with(&app, "acme", &["ap@acme.test"], 6_170_000_000).await;
        let (id, number) = (invoice["id"].as_str().unwrap(), invoice["number"].as_str().unwrap());
        assert_eq!(invoice["total"], "1233.80", "the API keeps the machine form");
        let total = format!("USD {}", grouped("1233.80"));
        // Act: signing in runs the outbox, which writes the invoice email beside the sign-in link.
        let browser = sign_in(&app, "ap@acme.test").await;
        let portal = page(browser.get(&format!("/portal/invoices/{id}")).await, StatusCode::OK).await;
        let api = |path: String| app.client.get(format!("{}{path}", app.address)).bearer_auth(&app.admin_key).send();
        let html = api(format!("/v1/invoices/{id}/html")).await.unwrap().text().await.unwrap();
        let pdf = pdf_text(&api(format!("/v1/invoices/{id}/pdf")).await.unwrap().bytes().await.unwrap());
        let mail = emailed_invoice(&app, number);
        // Assert
        assert_eq!(total, "USD 1,233.80");
        assert!(portal.contains(&format!(r#"data-testid="invoice-total">{total}<"#)), "{portal}");
        assert!(html.contains(&format!(">{total}<")), "the invoice page's total: {html}");
        assert!(pdf.contains(&total), "the PDF's total:\n{pdf}");
        assert!(mail.subject.ends_with(&format!("({total})")), "{}", mail.subject);
        for (part, text) in [("text", &mail.text), ("HTML", &mail.html), ("PDF", &mail.pdf)] {
            assert!(text.contains(&total), "the email's {part} shows {total}:\n{text}");
        }
        for (shown, text) in [("portal", &portal), ("HTML", &html), ("PDF", &pdf), ("email", &mail.text)] {
            assert!(!text.contains("1233.8"), "no ungrouped amount left on the {shown}:\n{text}");
        }
    }

    async fn a_negative_invoice_shows_its_remainder_carried_forward_so_its_rows_reach_the_total(app) {
        // Arrange: November is −0.60, totals 0.00 and carries 0.60 forward as credit.
        let november = crate::billing::negative_november(&app).await;
        let emails = serde_json::json!({"billing_emails": ["ap@acme.test"]});
        let url = format!("{}/v1/tenants/acme", app.address);
        let patched = app.client.patch(url).bearer_auth(&app.admin_key).json(&emails).send().await.unwrap();
        assert_eq!(patched.status(), StatusCode::OK);
        let browser = sign_in(&app, "ap@acme.test").await;
        // Act
        let shown = page(browser.get(&format!("/portal/invoices/{november}")).await, StatusCode::OK).await;
        let html = app.client.get(format!("{}/v1/invoices/{november}/html", app.address)).bearer_auth(&app.admin_key);
        let html = html.send().await.unwrap().text().await.unwrap();
        // Assert
        assert!(shown.contains("Subtotal</td><td class=\"num\">USD -0.60<"), "{shown}");
        assert!(shown.contains("Carried forward as credit</td><td class=\"num\">USD 0.60<"), "as on the PDF: {shown}");
        assert!(shown.contains(r#"data-testid="invoice-total">USD 0.00<"#), "{shown}");
        assert!(html.contains("Carried forward as credit"), "the invoice's own page says so too");
    }

    async fn a_path_the_portal_does_not_have_answers_a_portal_page_and_the_api_json(app) {
        // Arrange
        crate::portal_support::tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        let browser = sign_in(&app, "ap@acme.test").await;
        // Act
        let typed = browser.get("/portal/").await;
        let api = app.client.get(format!("{}/v1/nothing-here", app.address)).send().await.unwrap();
        // Assert
        assert_eq!(typed.headers()["content-type"], "text/html; charset=utf-8");
        let body = page(typed, StatusCode::NOT_FOUND).await;
        assert!(body.contains("Not found"), "{body}");
        assert_eq!(api.status(), StatusCode::NOT_FOUND);
        assert_eq!(api.json::<Value>().await.unwrap()["error"]["code"], "not_found");
    }

    async fn another_tenants_invoice_is_not_found_even_when_its_id_is_known(app) {
        // Arrange
        let theirs = invoiced_tenant(&app, "acme", &["ap@acme.test"]).await;
        let id = theirs["id"].as_str().unwrap();
        crate::portal_support::tenant_with_usage(&app, "globex", &["ap@globex.test"]).await;
        let browser = sign_in(&app, "ap@globex.test").await;
        // Act
        let paths = [format!("/portal/invoices/{id}"), format!("/portal/invoices/{id}/pdf"),
            "/portal/invoices/not-an-id".to_owned(), format!("/portal/invoices/globex.{}", &id[id.find('.').unwrap() + 1..])];
        // Assert
        for path in paths {
            let body = page(browser.get(&path).await, StatusCode::NOT_FOUND).await;
            assert!(body.contains("Not found") && !body.contains(theirs["number"].as_str().unwrap()), "{path}: {body}");
        }
        let list = page(browser.get("/portal/invoices").await, StatusCode::OK).await;
        assert!(!list.contains(theirs["number"].as_str().unwrap()), "the list is the session's tenant's only");
    }

    async fn budgets_are_set_through_the_form_as_through_the_api(app) {
        // Arrange
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        let browser = sign_in(&app, "ap@acme.test").await;
        let csrf = browser.csrf_of("/portal/budgets").await;
        // Act
        let saved = browser.post("/portal/budgets", &[("csrf_token", &csrf), ("id_0", "monthly"),
            ("limit_0", "2500.00"), ("thresholds_0", "50, 80, 100")]).await;
        // Assert
        assert_eq!(saved.status(), StatusCode::SEE_OTHER);
        assert_eq!(saved.headers()["location"], "/portal/budgets?saved=1");
        let api = app.get_json("/v1/tenants/acme/budgets").await;
        assert_eq!(api["budgets"][0]["id"], "monthly");
        assert_eq!(api["budgets"][0]["limit"], "2500.00");
        assert_eq!(api["budgets"][0]["thresholds"], serde_json::json!([50, 80, 100]));
        let form = page(browser.get("/portal/budgets?saved=1").await, StatusCode::OK).await;
        // The form gives the limit back as typed, ungrouped, so that saving it again parses.
        assert!(form.contains("Budgets saved") && form.contains(r#"value="monthly""#) && form.contains(r#"value="2500.00""#));
        let dashboard = page(browser.get("/portal").await, StatusCode::OK).await;
        assert!(dashboard.contains(r#"data-quota="monthly""#) && dashboard.contains("USD 0.40 of USD 2,500.00"), "{dashboard}");
    }

    async fn a_refused_budget_is_shown_again_with_the_reason(app) {
        // Arrange
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        let browser = sign_in(&app, "ap@acme.test").await;
        let csrf = browser.csrf_of("/portal/budgets").await;
        // Act
        let bad_limit = browser.post("/portal/budgets", &[("csrf_token", &csrf), ("id_0", "monthly"),
            ("limit_0", "lots"), ("thresholds_0", "80")]).await;
        let hard = browser.post("/portal/budgets", &[("csrf_token", &csrf), ("id_0", "cap"),
            ("limit_0", "10"), ("thresholds_0", "100"), ("hard_0", "on")]).await;
        // Assert
        let body = page(bad_limit, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(body.contains("role=\"alert\"") && body.contains("The limit of budget") && body.contains("monthly"), "{body}");
        assert!(body.contains(r#"value="lots""#), "what was typed is kept");
        let body = page(hard, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(body.contains("does not allow hard budgets"), "{body}");
        assert_eq!(app.get_json("/v1/tenants/acme/budgets").await["budgets"], serde_json::json!([]));
    }

    async fn usage_without_a_plan_is_shown_as_unbilled(app) {
        // Arrange
        let body = serde_json::json!({"id": "noplan", "name": "No Plan Inc", "billing_emails": ["ap@noplan.test"]});
        assert_eq!(crate::billing::admin_post(&app, "/v1/tenants", &body).await.status(), StatusCode::CREATED);
        crate::billing::usage_at(&app, "noplan", "2026-11-27T11:00:00Z", &[("r1", "2026-11-27T10:00:00Z", 42)]).await;
        let browser = sign_in(&app, "ap@noplan.test").await;
        // Act
        let html = page(browser.get("/portal").await, StatusCode::OK).await;
        // Assert
        assert!(html.contains(r#"data-testid="unbilled""#) && html.contains("no plan yet"), "{html}");
        assert!(html.contains("No plan this period"), "{html}");
    }

    async fn the_dashboard_shows_the_credit_on_hand_and_its_next_expiry(app) {
        // Arrange: 1,200.00 granted without expiry, 30.00 expiring on 31 Dec, 10.00 of it revoked
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        let url = "/v1/tenants/acme/credits";
        let grants = [
            serde_json::json!({"amount": "1200.00", "currency": "USD", "reason": "prepaid"}),
            serde_json::json!({"amount": "30.00", "currency": "USD", "reason": "goodwill", "expires_at": "2026-12-31T00:00:00Z"}),
        ];
        let mut granted = Vec::new();
        for grant in &grants {
            let response = crate::billing::admin_post(&app, url, grant).await;
            assert_eq!(response.status(), StatusCode::CREATED);
            granted.push(response.json::<Value>().await.unwrap()["grant_id"].as_str().unwrap().to_owned());
        }
        let revoke = serde_json::json!({"amount": "10.00", "reason": "partly owed"});
        let revoked = crate::billing::admin_post(&app, &format!("{url}/{}/revoke", granted[1]), &revoke).await;
        assert_eq!(revoked.status(), StatusCode::CREATED);
        let browser = sign_in(&app, "ap@acme.test").await;
        // Act
        let html = page(browser.get("/portal").await, StatusCode::OK).await;
        // Assert
        assert!(html.contains(r#"data-testid="credit-available">USD 1,220.00<"#), "{html}");
        assert!(html.contains("USD 20.00 of it expires on 31 Dec 2026"), "{html}");
    }

    async fn a_tenant_without_credit_sees_no_credit_card(app) {
        // Arrange
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        let browser = sign_in(&app, "ap@acme.test").await;
        // Act
        let html = page(browser.get("/portal").await, StatusCode::OK).await;
        // Assert
        assert!(!html.contains(r#"data-testid="credit""#), "{html}");
    }

    async fn the_stylesheet_is_served_by_tally_with_a_long_cache_and_pages_are_not_cached(app) {
        // Arrange
        let browser = Browser::new(&app);
        let login = browser.get("/portal/login").await;
        assert_eq!(login.headers()["cache-control"], "no-store");
        assert!(login.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
        let html = login.text().await.unwrap();
        let href = regex_lite::Regex::new(r#"href="(/portal/assets/portal\.css\?v=[0-9a-f]+)""#).unwrap();
        let css_url = href.captures(&html).expect("a versioned stylesheet link")[1].to_owned();
        // Act
        let css = browser.get(&css_url).await;
        // Assert
        assert_eq!(css.status(), StatusCode::OK);
        assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
        assert_eq!(css.headers()["cache-control"], "public, max-age=31536000, immutable");
        assert!(css.text().await.unwrap().contains(":focus-visible"), "visible focus");
    }
}

/// An invoice email as received: subject, both alternatives and its PDF's text.
struct ReceivedInvoice {
    subject: String,
    text: String,
    html: String,
    pdf: String,
}

/// The invoice email for `number` the outbox wrote as an `.eml` file (no SMTP configured).
fn emailed_invoice(app: &crate::helpers::TestApp, number: &str) -> ReceivedInvoice {
    use mail_parser::MimeHeaders;
    let dir = app.database.data_dir.join("outbox");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the outbox directory") {
        let raw = std::fs::read(entry.unwrap().path()).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        if parsed.subject().is_some_and(|s| s.starts_with(&format!("Invoice {number} "))) {
            let attachment = parsed.attachments().find(|a| a.attachment_name() == Some(&format!("{number}.pdf")));
            found.push(ReceivedInvoice {
                subject: parsed.subject().unwrap().to_owned(),
                text: parsed.body_text(0).unwrap().into_owned(),
                html: parsed.body_html(0).unwrap().into_owned(),
                pdf: pdf_text(attachment.expect("the invoice PDF is attached").contents()),
            });
        }
    }
    assert_eq!(found.len(), 1, "one invoice email for one billing address");
    found.pop().unwrap()
}

both_stores! {
    spawn = crate::pricing::spawn_with_dollars_and_euros;

    async fn an_adjustment_invoice_says_what_it_bills_in_the_portal_its_pdf_and_its_email(app) {
        // Arrange: acme in dollars in October, in euros since; 0.40 dollars of October arrived
        // late, billed on an invoice of their own beside November's.
        crate::pricing::dollars_late_after_a_switch_to_euros(&app, &["ap@acme.test"]).await;
        app.clock.set(crate::billing::at("2026-12-01T03:00:00Z")); // the emails are due
        let invoices = crate::billing::invoices_of(&app, "acme").await;
        let adjustment = invoices.iter().find(|i| i["kind"] == "adjustment").expect("an adjustment invoice");
        let (id, number) = (adjustment["id"].as_str().unwrap(), adjustment["number"].as_str().unwrap());
        // Act: signing in runs the outbox, which writes the invoice emails beside the link.
        let browser = sign_in(&app, "ap@acme.test").await;
        let list = page(browser.get("/portal/invoices").await, StatusCode::OK).await;
        let pdf = pdf_text(&browser.get(&format!("/portal/invoices/{id}/pdf")).await.bytes().await.unwrap());
        let mail = emailed_invoice(&app, number);
        // Assert
        assert!(list.contains("1 Nov 2026 – 30 Nov 2026: late usage of earlier periods"), "{list}");
        assert!(list.contains("USD 0.40") && list.contains("EUR 0.18"), "both November invoices: {list}");
        assert!(pdf.contains("Covers") && pdf.contains("Late usage of earlier periods"), "{pdf}");
        assert!(pdf.contains("USD 0.40"), "{pdf}");
        assert!(mail.subject.ends_with("(USD 0.40)"), "{}", mail.subject);
        assert!(mail.text.contains("This invoice bills usage of earlier periods"), "{}", mail.text);
        assert!(mail.pdf.contains("Late usage of earlier periods"), "the attached PDF is the same: {}", mail.pdf);
    }
}
