//! The portal's reports (DESIGN §11): top functions by cost on the dashboard, the usage page
//! and its CSV (the numbers of `GET /v1/tenants/{id}/usage`), "explain this line", and the
//! plans comparison — and that a session of one tenant sees none of another's, on SQLite and
//! PostgreSQL.

use reqwest::StatusCode;
use serde_json::json;

use crate::billing::admin_post;
use crate::both_stores;
use crate::notify_support::{grouped, invoiced_tenant};
use crate::portal_support::{page, sign_in, tenant_with_usage};

/// Tenant `id` on `payg` since 1 Nov 2026 with 4 000 000 invocations on 20 Nov: `api` 3M (2M
/// in eu-west-1, 1M in us-east-1) and `{id}-cron` 1M in eu-west-1; the clock at 27 Nov.
async fn tenant_with_functions(app: &crate::helpers::TestApp, id: &str, email: &str) {
    app.clock.set(crate::billing::at("2026-11-01T00:00:00Z"));
    let body = json!({"id": id, "name": format!("{id} Corp"), "plan": "payg", "billing_emails": [email]});
    assert_eq!(admin_post(app, "/v1/tenants", &body).await.status(), StatusCode::CREATED);
    let cron = format!("{id}-cron");
    let record = |n: &str, at: &str, function: &str, region: &str, invocations: u64| json!({"id": n, "tenant_id": id, "timestamp": at, "function": function, "region": region, "invocations": invocations});
    let records = [
        record("r1", "2026-11-20T01:00:00Z", "api", "eu-west-1", 2_000_000),
        record("r2", "2026-11-20T02:00:00Z", "api", "us-east-1", 1_000_000),
        record("r3", "2026-11-21T03:00:00Z", &cron, "eu-west-1", 1_000_000),
    ];
    app.clock.set(crate::billing::at("2026-11-21T04:00:00Z"));
    let response = app.post_usage(&json!({ "records": records })).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
    app.clock.set(crate::helpers::test_now());
}

/// The exact values of `data-exact` cells of a page's usage table footer, by meter position.
fn table_totals(html: &str) -> Vec<String> {
    let pattern = regex_lite::Regex::new(r#"data-testid="total-\d" data-exact="([^"]*)""#).unwrap();
    pattern.captures_iter(html).map(|c| c[1].to_owned()).collect()
}

/// Column sums of a CSV from the usage page (meters are columns 3, 4, 5).
fn csv_sums(csv: &str) -> Vec<String> {
    let mut sums = [rust_decimal::Decimal::ZERO; 3];
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.rsplit(',').skip(1).take(3).collect();
        for (i, cell) in cells.iter().rev().enumerate() {
            sums[i] += cell.parse::<rust_decimal::Decimal>().unwrap();
        }
    }
    sums.iter().map(|s| s.normalize().to_string()).collect()
}

both_stores! {
    async fn the_dashboard_splits_the_usage_charges_across_functions(app) {
        // Arrange: 4M invocations, 1M free, 0.20 per million → 0.60, shared 3 : 1.
        tenant_with_functions(&app, "acme", "ap@acme.test").await;
        let browser = sign_in(&app, "ap@acme.test").await;
        // Act
        let html = page(browser.get("/portal").await, StatusCode::OK).await;
        // Assert
        assert!(html.contains(r#"data-testid="top-functions""#), "{html}");
        let api = html.find(r#"data-function="api""#).expect("api is listed");
        let cron = html.find(r#"data-function="acme-cron""#).expect("cron is listed");
        assert!(api < cron, "the most expensive first");
        assert!(html.contains("USD 0.45") && html.contains("USD 0.15"), "{html}");
    }

    async fn the_usage_page_table_and_csv_hold_the_numbers_of_the_usage_api(app) {
        // Arrange
        tenant_with_functions(&app, "acme", "ap@acme.test").await;
        let browser = sign_in(&app, "ap@acme.test").await;
        let query = "from=2026-11-01&to=2026-11-30&granularity=day&group=region";
        let api = app.get_json("/v1/tenants/acme/usage?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z&group_by=region").await;
        // Act
        let html = page(browser.get(&format!("/portal/usage?{query}")).await, StatusCode::OK).await;
        let csv = browser.get(&format!("/portal/usage.csv?{query}")).await;
        // Assert
        assert!(html.contains("<svg class=\"chart wide\"") && html.contains("eu-west-1") && html.contains("us-east-1"), "{html}");
        assert_eq!(table_totals(&html), ["0", "0", "4000000"], "cpu, memory, invocations");
        assert_eq!(csv.status(), StatusCode::OK);
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        assert_eq!(
            csv.headers()["content-disposition"],
            "attachment; filename=\"usage-acme-2026-11-01-2026-11-30-day.csv\""
        );
        let csv = csv.text().await.unwrap();
        assert_eq!(csv_sums(&csv), table_totals(&html), "the CSV sums to the table:\n{csv}");
        let buckets = api["buckets"].as_array().unwrap();
        assert_eq!(csv.lines().count() - 1, buckets.len(), "one CSV line per API bucket:\n{csv}\n{api}");
        for bucket in buckets {
            let region = bucket["region"].as_str().unwrap();
            let line = format!(",\"{region}\",{},{},{},{}", bucket["cpu_cycles"].as_str().unwrap(),
                bucket["memory_gb_seconds"].as_str().unwrap(), bucket["invocations"].as_str().unwrap(), bucket["records"]);
            assert!(csv.contains(&line), "{line} in {csv}");
        }
    }

    async fn a_usage_question_it_cannot_answer_is_a_page_saying_why_never_a_500(app) {
        // Arrange
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        let browser = sign_in(&app, "ap@acme.test").await;
        let cases = [
            ("from=2026-11-31", "From must be a date"),
            ("from=2026-11-10&to=2026-11-01", "before the start"),
            ("granularity=fortnight", "by hour, by day or by month"),
            ("group=tenant", "by function or by region"),
            ("from=2020-01-01&to=2026-11-30&granularity=hour", "Choose a shorter range"),
            ("from=%FF%FE", "From must be a date"),
        ];
        for (query, expected) in cases {
            // Act
            let html = page(browser.get(&format!("/portal/usage?{query}")).await, StatusCode::BAD_REQUEST).await;
            let csv = page(browser.get(&format!("/portal/usage.csv?{query}")).await, StatusCode::BAD_REQUEST).await;
            // Assert
            assert!(html.contains("role=\"alert\"") && html.contains(expected), "{query}: {html}");
            assert!(html.contains("name=\"from\""), "{query}: the form is shown again");
            assert!(csv.contains(expected), "{query}: {csv}");
        }
    }

    async fn a_line_is_explained_with_its_days_arithmetic_and_sample_records(app) {
        // Arrange
        let invoice = invoiced_tenant(&app, "acme", &["ap@acme.test"]).await;
        let id = invoice["id"].as_str().unwrap();
        let line = invoice["lines"].as_array().unwrap().iter().find(|l| l["meter"] == "invocations").unwrap();
        let browser = sign_in(&app, "ap@acme.test").await;
        // Act
        let shown = page(browser.get(&format!("/portal/invoices/{id}")).await, StatusCode::OK).await;
        let path = format!("/portal/invoices/{id}/lines/{}", line["number"]);
        let html = page(browser.get(&path).await, StatusCode::OK).await;
        let fee = page(browser.get(&format!("/portal/invoices/{id}/lines/1")).await, StatusCode::OK).await;
        // Assert
        assert!(shown.contains(&format!("href=\"{path}\"")), "the invoice links to the explanation: {shown}");
        assert!(html.contains(&format!(r#"data-testid="line-amount">USD {}<"#, grouped(line["amount"].as_str().unwrap()))), "{html}");
        assert!(html.contains("3000000 used − 1000000 included = 2000000 billable"), "{html}");
        assert!(html.contains("19 Oct: 3,000,000"), "the daily chart: {html}");
        assert!(html.contains(">u1<") && html.contains("data-testid=\"samples\""), "a sample record: {html}");
        assert!(fee.contains("data-testid=\"arithmetic\""), "every line is explained: {fee}");
    }

    async fn another_tenants_lines_and_usage_are_never_shown(app) {
        // Arrange
        let theirs = invoiced_tenant(&app, "acme", &["ap@acme.test"]).await;
        let id = theirs["id"].as_str().unwrap();
        tenant_with_functions(&app, "globex", "ap@globex.test").await;
        app.clock.set(crate::billing::at("2026-11-27T12:00:00Z"));
        let browser = sign_in(&app, "ap@globex.test").await;
        // Act
        let paths = [format!("/portal/invoices/{id}/lines/1"), format!("/portal/invoices/{id}/lines/2"),
            format!("/portal/invoices/globex.{}/lines/1", &id[id.find('.').unwrap() + 1..])];
        // Assert
        for path in paths {
            let body = page(browser.get(&path).await, StatusCode::NOT_FOUND).await;
            assert!(body.contains("Not found") && !body.contains(theirs["number"].as_str().unwrap()), "{path}: {body}");
        }
        let mine = browser.get("/portal/usage.csv?from=2026-10-01&to=2026-11-30&group=function").await.text().await.unwrap();
        assert!(mine.contains("globex-cron") && !mine.contains("acme"), "{mine}");
        let usage = page(browser.get("/portal/usage?from=2026-10-01&to=2026-11-30").await, StatusCode::OK).await;
        assert_eq!(table_totals(&usage), ["0", "0", "4000000"], "not acme's 3M of October");
    }

    async fn the_plans_page_prices_the_last_period_on_every_plan_as_the_invoice_was(app) {
        // Arrange
        let invoice = invoiced_tenant(&app, "acme", &["ap@acme.test"]).await;
        let browser = sign_in(&app, "ap@acme.test").await;
        // Act
        let html = page(browser.get("/portal/plans").await, StatusCode::OK).await;
        // Assert
        for plan in ["payg", "free", "committed"] {
            assert!(html.contains(&format!(r#"data-plan="{plan}""#)), "{plan}: {html}");
        }
        let payg = format!(r#"data-testid="plan-total-payg">USD {}<"#, grouped(invoice["total"].as_str().unwrap()));
        assert!(html.contains(&payg), "payg prices October as its invoice did: {html}");
        assert!(html.contains(r#"data-testid="plan-total-free">USD 0.00<"#), "{html}");
        assert!(html.contains(r#"data-testid="limited-free""#), "3M invocations pass free's hard 1M: {html}");
        let cheapest = html.find(r#"status-paid">cheapest"#).expect("a cheapest plan");
        assert!(cheapest > html.find(r#"data-plan="payg""#).unwrap(), "not free, whose limits refuse the usage");
        assert!(html.contains("1 Oct 2026 – 31 Oct 2026") && html.contains("your plan"), "{html}");
    }
}
