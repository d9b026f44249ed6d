//! Money exactness end to end (issue 11): amounts past 28 digits rounded once, fixed fees of a
//! first period prorated from the true creation instant, unbilled usage as a note on the
//! invoice, and adjustments that name what they adjust.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::billing::{admin_post, at, invoices_of, run_billing_and_wait, tenant_on, usage_at};
use crate::both_stores;
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::notify_support::pdf_text;

async fn quote(app: &TestApp, usage: Value) -> reqwest::Response {
    admin_post(app, "/v1/quotes", &json!({"plan": "payg", "usage": usage})).await
}

fn line_of<'a>(lines: &'a Value, field: &str, value: &str) -> &'a Value {
    lines
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l[field] == value)
        .unwrap_or_else(|| panic!("no {field} {value} in {lines}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_past_28_digits_is_rounded_once_from_every_digit() {
    // Arrange: issue 11's quantity — payg's memory line is exactly 10133619653.5349999…98.
    let app = spawn_app(Backend::Sqlite).await;
    // Act
    let response = quote(&app, json!({"memory_gb_seconds": "760015049399880.000599997"})).await;
    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let memory = line_of(&body["lines"], "meter", "memory_gb_seconds");
    assert_eq!(memory["amount"], "10133619653.53", "not .54: the cent is decided from every digit");
    assert_eq!(memory["amount_precise"], "10133619653.534999999999999999");
    assert_eq!(memory["amount_precise_rounded"], true, "the precise amount says it was cut");
    assert_eq!(body["total"], "10133619653.53");
    let small = quote(&app, json!({"memory_gb_seconds": "540000"})).await.json::<Value>().await.unwrap();
    assert!(line_of(&small["lines"], "meter", "memory_gb_seconds").get("amount_precise_rounded").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quantity_over_28_significant_digits_is_refused_with_a_message_that_says_so() {
    let app = spawn_app(Backend::Sqlite).await;
    for (quantity, expected) in
        [("1".repeat(29), "has 29 significant digits"), ("1e3".to_owned(), "no sign or exponent")]
    {
        let response = quote(&app, json!({"invocations": quantity})).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{quantity}");
        let error = response.json::<Value>().await.unwrap()["error"].clone();
        assert_eq!(error["code"], "invalid_usage");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(expected) && message.contains("invocations"), "{quantity}: {message}");
    }
    let at_limit = quote(&app, json!({"invocations": "1".repeat(28)})).await;
    assert_eq!(at_limit.status(), StatusCode::OK, "28 digits are accepted");
}

#[test]
fn the_spec_pattern_for_quote_quantities_accepts_exactly_what_the_api_accepts() {
    // Arrange: the pattern clients generated from api-spec/ validate against.
    let spec: Value = serde_yaml::from_str(include_str!("../../api-spec/openapi.yaml")).unwrap();
    let usage = &spec["components"]["schemas"]["QuoteRequest"]["properties"]["usage"]["additionalProperties"];
    let pattern = usage["oneOf"][1]["pattern"].as_str().expect("a string pattern");
    let pattern = regex_lite::Regex::new(pattern).unwrap();
    // Texts at every boundary: digit counts around 28 on both sides of the point, leading
    // zeros, and shapes that are not decimals at all.
    let mut texts: Vec<String> =
        ["", ".", "0", "00", ".5", "5.", "-1", "+1", "1e3", "1.2.3", " 1", "0.0"].map(str::to_owned).to_vec();
    for whole in [0usize, 1, 2, 13, 14, 26, 27, 28, 29, 30] {
        for fraction in
            [None, Some(0usize), Some(1), Some(2), Some(13), Some(14), Some(26), Some(27), Some(28), Some(29)]
        {
            for lead in ["", "0", "000"] {
                let digits =
                    |n: usize, first: char| (0..n).map(|i| if i == 0 { first } else { '7' }).collect::<String>();
                let mut text = format!("{lead}{}", digits(whole, '9'));
                if let Some(f) = fraction {
                    text = format!("{text}.{}", digits(f, '0'));
                }
                texts.push(text);
            }
        }
    }
    // Act / Assert
    for text in texts {
        let accepted = tally::domain::parse_quantity_text(&text).is_ok();
        assert_eq!(pattern.is_match(&text), accepted, "{text:?}: the spec and the API disagree");
    }
}

both_stores! {
    async fn a_first_period_prorates_fees_from_the_true_creation_instant_and_bills_all_its_usage(app) {
        // Arrange: created at 03:06:59 on "committed" (base 500, minimum 2000); a runtime
        // reported usage a minute before the tenant existed, and on November 2.
        tenant_on(&app, "acme", "UTC", "committed", "2026-11-10T03:06:59Z").await;
        usage_at(&app, "acme", "2026-11-10T03:08:00Z", &[
            ("early", "2026-11-10T03:05:59Z", 30_000_000),
            ("onboarding", "2026-11-02T00:00:00Z", 10_000_000),
        ]).await;
        // Act
        run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        // Assert: the fees cover 1 803 181 of November's 2 592 000 seconds (not 1 803 600, from
        // 03:00:00): base 500 × 0.695671682… = 347.84; minimum 2000 × 0.695671682… = 1391.34…,
        // so the top-up is 1391.343364… − (5.40 + 347.84) = 1038.10.
        let november = invoices_of(&app, "acme").await.pop().unwrap();
        let lines = &november["lines"];
        let base = line_of(lines, "type", "base_fee");
        assert_eq!(base["amount"], "347.84", "{november}");
        assert_eq!(base["start"], "2026-11-10T03:06:59Z", "fees run from the true instant");
        let usage = line_of(lines, "meter", "invocations");
        assert_eq!(usage["quantity"], "40000000", "both records are billed, also those before creation");
        assert_eq!(usage["start"], "2026-11-01T00:00:00Z", "the first subscription rates the whole first period");
        assert_eq!(usage["amount"], "5.40", "(40M − 10M) × 0.18/M");
        assert_eq!(line_of(lines, "type", "minimum_spend_top_up")["amount"], "1038.10");
        assert_eq!(november["subtotal"], "1391.34");
        assert!(lines.as_array().unwrap().iter().all(|l| l["type"] != "unbilled_usage"), "nothing is unbilled");
    }

    async fn a_subscription_backdated_within_the_open_period_prorates_from_its_start(app) {
        // Arrange
        app.clock.set(at("2026-11-10T12:00:00Z"));
        let new = |id: &str, start: &str| json!({"id": id, "name": id, "plan": "committed", "subscription_start": start});
        // Act
        let backdated = admin_post(&app, "/v1/tenants", &new("acme", "2026-11-04T00:00:00Z")).await;
        let too_early = admin_post(&app, "/v1/tenants", &new("globex", "2026-10-31T23:59:59Z")).await;
        let future = admin_post(&app, "/v1/tenants", &new("initech", "2026-11-10T12:00:01Z")).await;
        let next_period_with_start = app.client.put(format!("{}/v1/tenants/acme/subscription", app.address))
            .bearer_auth(&app.admin_key)
            .json(&json!({"plan": "payg", "timing": "next_period", "start": "2026-11-05T00:00:00Z"}))
            .send().await.unwrap();
        // Assert
        assert_eq!(backdated.status(), StatusCode::CREATED);
        for refused in [too_early, future, next_period_with_start] {
            assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], "invalid_start");
        }
        assert_eq!(app.get_as("/v1/tenants/globex", &app.admin_key).await.status(), StatusCode::NOT_FOUND, "nothing created");
        run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        let november = invoices_of(&app, "acme").await.pop().unwrap();
        assert_eq!(line_of(&november["lines"], "type", "base_fee")["amount"], "450.00", "27 of 30 days of 500");
        assert_eq!(november["subtotal"], "1800.00", "27 of 30 days of the 2000 minimum");
    }

    async fn an_immediate_change_keeps_its_true_instant_for_fees_and_its_bucket_for_usage(app) {
        // Arrange
        tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        app.clock.set(at("2026-11-10T10:07:00Z"));
        // Act
        let response = app.client.put(format!("{}/v1/tenants/acme/subscription", app.address))
            .bearer_auth(&app.admin_key).json(&json!({"plan": "committed", "timing": "immediately"})).send().await.unwrap();
        // Assert
        let change: Value = response.json().await.unwrap();
        assert_eq!(change["effective_at"], "2026-11-10T10:07:00Z");
        assert_eq!(change["usage_from"], "2026-11-10T10:00:00Z");
        let current = app.get_json("/v1/tenants/acme/usage/current").await;
        let committed = &current["amount_so_far"]["segments"][1];
        assert_eq!(committed["start"], "2026-11-10T10:00:00Z");
        // (Dec 1 − Nov 10 10:07) ÷ 30 days = 1 777 980 ÷ 2 592 000.
        assert_eq!(committed["proration"], "0.6859490740740740740740740741");
    }

    async fn usage_no_subscription_covers_is_a_zero_amount_note_on_the_invoice(app) {
        // Arrange: a tenant without a plan reports usage, then is put on one mid-November.
        app.clock.set(at("2026-11-01T00:00:00Z"));
        app.create_tenant("acme", "UTC").await;
        usage_at(&app, "acme", "2026-11-03T00:00:00Z", &[("a", "2026-11-02T00:00:00Z", 3), ("b", "2026-11-02T01:00:00Z", 4)]).await;
        app.clock.set(at("2026-11-10T00:00:00Z"));
        let put = app.client.put(format!("{}/v1/tenants/acme/subscription", app.address)).bearer_auth(&app.admin_key)
            .json(&json!({"plan": "payg"})).send().await.unwrap();
        assert_eq!(put.status(), StatusCode::OK);
        usage_at(&app, "acme", "2026-11-20T00:00:00Z", &[("c", "2026-11-19T00:00:00Z", 2_000_000)]).await;
        // Act
        let report = run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        // Assert: the note says what was not billed and why, and bills nothing.
        assert_eq!(report["unbilled"][0]["usage"]["invocations"], "7");
        let november = invoices_of(&app, "acme").await.pop().unwrap();
        let note = line_of(&november["lines"], "type", "unbilled_usage");
        assert_eq!(note["meter"], "invocations");
        assert_eq!(note["quantity"], "7");
        assert_eq!(note["amount"], "0.00");
        assert_eq!(note["description"], "Invocations not billed: usage before the first subscription (2 records)");
        assert_eq!(november["total"], "0.20", "(2M − 1M) × 0.20/M: the note changes no total");
        let id = november["id"].as_str().unwrap();
        let html = app.get_as(&format!("/v1/invoices/{id}/html"), &app.admin_key).await.text().await.unwrap();
        assert!(html.contains("Invocations not billed"), "{html}");
        let pdf = app.get_as(&format!("/v1/invoices/{id}/pdf"), &app.admin_key).await.bytes().await.unwrap();
        assert!(pdf_text(&pdf).contains("not billed"), "the PDF shows the note");
    }

    async fn an_adjustment_says_what_the_line_was_re_rated_to_and_what_was_billed_before(app) {
        // Arrange: October on "payg" (1M invocations included, then 0.20/M), 3M used: 0.40.
        tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        usage_at(&app, "acme", "2026-10-20T00:00:00Z", &[("on-time", "2026-10-19T00:00:00Z", 3_000_000)]).await;
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        // Act: 2M late October invocations: October re-rates to 0.80, November bills 0.40 more
        usage_at(&app, "acme", "2026-11-10T00:00:00Z", &[("late", "2026-10-30T00:00:00Z", 2_000_000)]).await;
        run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        // Assert: the line shows the whole re-rated quantity and bills the difference, and says so
        let november = invoices_of(&app, "acme").await.pop().unwrap();
        let adjustment = line_of(&november["lines"], "type", "adjustment");
        assert_eq!((&adjustment["quantity"], &adjustment["amount"]), (&json!("5000000"), &json!("0.40")));
        let said = "Re-rated to 0.80, less 0.40 billed before";
        let id = november["id"].as_str().unwrap();
        let html = app.get_as(&format!("/v1/invoices/{id}/html"), &app.admin_key).await.text().await.unwrap();
        assert!(html.contains(said), "{html}");
        let pdf = app.get_as(&format!("/v1/invoices/{id}/pdf"), &app.admin_key).await.bytes().await.unwrap();
        assert!(pdf_text(&pdf).contains(said), "the PDF says it too");
    }

    async fn an_adjustment_for_a_top_up_late_usage_removed_names_the_line_it_adjusts(app) {
        // Arrange: October on "committed", topped up to 2000.
        tenant_on(&app, "acme", "UTC", "committed", "2026-10-01T00:00:00Z").await;
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        let october = invoices_of(&app, "acme").await.pop().unwrap();
        let original = line_of(&october["lines"], "type", "minimum_spend_top_up").clone();
        // Act: 20B late October invocations (≈ 2400 at 0.12/M) leave no top-up to bill.
        usage_at(&app, "acme", "2026-11-10T00:00:00Z", &[("late", "2026-10-30T00:00:00Z", 20_000_000_000)]).await;
        run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        // Assert
        let november = invoices_of(&app, "acme").await.pop().unwrap();
        let taken_back = november["lines"].as_array().unwrap().iter()
            .find(|l| l["type"] == "adjustment" && l["amount"] == "-1500.00").unwrap_or_else(|| panic!("{november}"));
        assert_eq!(taken_back["description"], format!("Adjustment: {}", original["description"].as_str().unwrap()));
        for field in ["plan", "plan_version", "start", "end", "proration"] {
            assert_eq!(taken_back[field], original[field], "{field} is the original line's");
        }
        assert_eq!(taken_back["plan"], "committed");
    }
}
