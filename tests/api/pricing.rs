//! Plans, quotes, subscriptions and the amount so far.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;
use crate::helpers::{spawn_app_with, Backend, TestApp};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

async fn post_as_admin(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client.post(format!("{}{path}", app.address)).bearer_auth(&app.admin_key).json(body).send().await.unwrap()
}

async fn put_subscription(app: &TestApp, tenant: &str, body: &Value) -> reqwest::Response {
    app.client
        .put(format!("{}/v1/tenants/{tenant}/subscription", app.address))
        .bearer_auth(&app.admin_key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn create_tenant_on(app: &TestApp, id: &str, plan: &str) {
    let body = json!({"id": id, "name": id, "plan": plan});
    assert_eq!(post_as_admin(app, "/v1/tenants", &body).await.status(), StatusCode::CREATED);
}

both_stores! {
    async fn the_shipped_plans_are_listed_with_their_versions(app) {
        let list = app.get_json("/v1/plans").await;
        let ids: Vec<&str> = list["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(ids, vec!["committed", "free", "payg"]);
        let payg = app.get_json("/v1/plans/payg").await;
        assert_eq!(payg["currency"], "USD");
        assert_eq!(payg["versions"][0]["version"], 1);
        assert_eq!(payg["charges"][0]["unit_price"], "0.2");
        assert_eq!(app.get_as("/v1/plans/nope", &app.admin_key).await.status(), StatusCode::NOT_FOUND);
    }

    async fn a_quote_reproduces_the_lambda_style_worked_example_to_the_cent(app) {
        // 3M requests, 1M free, $0.20/M → $0.40; 540 000 GB-s, 400 000 free, $0.0000166667 → $2.333338 → $2.33.
        let quote = post_as_admin(&app, "/v1/quotes", &json!({"plan": "payg", "usage": {"invocations": 3000000, "memory_gb_seconds": "540000"}})).await;
        assert_eq!(quote.status(), StatusCode::OK);
        let quote: Value = quote.json().await.unwrap();
        assert_eq!(quote["currency"], "USD");
        assert_eq!(quote["lines"][0]["amount"], "0.40");
        assert_eq!(quote["lines"][1]["amount"], "2.33");
        assert_eq!(quote["lines"][1]["amount_precise"], "2.333338");
        assert_eq!(quote["lines"][1]["tiers"][0]["units"], "140000");
        assert_eq!(quote["total"], "2.73");
        let unknown = post_as_admin(&app, "/v1/quotes", &json!({"plan": "nope", "usage": {}})).await;
        assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let bad_meter = post_as_admin(&app, "/v1/quotes", &json!({"plan": "payg", "usage": {"gpu": 1}})).await;
        assert_eq!(bad_meter.json::<Value>().await.unwrap()["error"]["code"], "invalid_usage");
    }

    async fn a_tenant_created_mid_period_pays_a_prorated_base_fee_and_minimum(app) {
        // Arrange: created on Nov 16 00:00 UTC — half of a 30-day November remains.
        app.clock.set(at("2026-11-16T00:00:00Z"));
        create_tenant_on(&app, "acme", "committed").await;
        // Act
        let current = app.get_json("/v1/tenants/acme/usage/current").await;
        // Assert: base 500 × 0.5 = 250.00; minimum 2000 × 0.5 = 1000.00 → top-up 750.00.
        let tenant = app.get_json("/v1/tenants/acme").await;
        assert_eq!(tenant["plan"], "committed");
        let so_far = &current["amount_so_far"];
        assert_eq!(so_far["segments"][0]["proration"], "0.5");
        assert_eq!(so_far["total"], "1000.00", "{so_far}");
    }

    async fn usage_so_far_is_priced_and_projected_to_period_end(app) {
        // Arrange: on payg from the start of November, 2M invocations by Nov 16.
        app.clock.set(at("2026-11-01T00:00:00Z"));
        create_tenant_on(&app, "acme", "payg").await;
        app.clock.set(at("2026-11-16T00:00:00Z"));
        app.post_usage(&json!({"id": "big", "tenant_id": "acme", "timestamp": "2026-11-15T23:00:00Z", "invocations": 2000000})).await;
        // Act
        let current = app.get_json("/v1/tenants/acme/usage/current").await;
        // Assert: so far (2M − 1M free) × 0.20/M = 0.20; projected 4M → 3M × 0.20/M = 0.60.
        assert_eq!(current["usage"]["invocations"], "2000000");
        assert_eq!(current["amount_so_far"]["total"], "0.20");
        assert_eq!(current["projection"]["usage"]["invocations"], "4000000");
        assert_eq!(current["projection"]["total"], "0.60");
    }

    async fn usage_reported_while_a_tenant_was_onboarded_is_projected_at_the_rate_it_ran(app) {
        // Arrange: created on Nov 11, its runtime having reported 1M invocations a day since
        // Nov 1 (DESIGN §6 bills them in the first period); 5M more by Nov 16.
        app.clock.set(at("2026-11-11T00:00:00Z"));
        create_tenant_on(&app, "acme", "payg").await;
        let backfill: Vec<Value> = (1..=10)
            .map(|day| json!({"id": format!("d{day}"), "tenant_id": "acme", "timestamp": format!("2026-11-{day:02}T12:00:00Z"), "invocations": 1000000}))
            .collect();
        assert_eq!(app.post_usage(&json!({"records": backfill})).await.status(), StatusCode::OK);
        app.clock.set(at("2026-11-16T00:00:00Z"));
        let since = json!({"id": "since", "tenant_id": "acme", "timestamp": "2026-11-13T12:00:00Z", "invocations": 5000000});
        assert_eq!(app.post_usage(&since).await.status(), StatusCode::OK);
        // Act
        let current = app.get_json("/v1/tenants/acme/usage/current").await;
        // Assert: 15M in the 15 days since Nov 1 → 30M (not 15M in the 5 days since creation);
        // (30M − 1M free) × 0.20/M = 5.80.
        assert_eq!(current["usage"]["invocations"], "15000000");
        assert_eq!(current["projection"]["usage"]["invocations"], "30000000");
        assert_eq!(current["projection"]["total"], "5.80");
    }

    async fn a_plan_change_waits_for_the_next_period_unless_immediate(app) {
        // Arrange
        app.clock.set(at("2026-11-01T00:00:00Z"));
        create_tenant_on(&app, "acme", "payg").await;
        app.clock.set(at("2026-11-10T10:07:00Z"));
        // Act
        let scheduled = put_subscription(&app, "acme", &json!({"plan": "committed"})).await;
        let tenant = app.get_json("/v1/tenants/acme").await;
        let immediate = put_subscription(&app, "acme", &json!({"plan": "free", "timing": "immediately"})).await;
        let current = app.get_json("/v1/tenants/acme/usage/current").await;
        // Assert
        assert_eq!(scheduled.status(), StatusCode::OK);
        assert_eq!(tenant["plan"], "payg");
        assert_eq!(tenant["next_plan_change"], json!({"plan": "committed", "effective_at": "2026-12-01T00:00:00Z"}));
        let immediate: Value = immediate.json().await.unwrap();
        assert_eq!(immediate["effective_at"], "2026-11-10T10:07:00Z", "fees start at the true instant");
        assert_eq!(immediate["usage_from"], "2026-11-10T10:00:00Z", "usage from its 15-minute bucket");
        let segments = current["amount_so_far"]["segments"].as_array().unwrap();
        let plans: Vec<(&str, &str)> = segments.iter().map(|s| (s["plan"].as_str().unwrap(), s["start"].as_str().unwrap())).collect();
        assert_eq!(plans, vec![("payg", "2026-11-01T00:00:00Z"), ("free", "2026-11-10T10:00:00Z")]);
        let after = app.get_json("/v1/tenants/acme").await;
        assert!(after["next_plan_change"].is_null(), "an immediate change replaces what was scheduled");
        let unknown = put_subscription(&app, "acme", &json!({"plan": "nope"})).await;
        assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}

const USD_PLAN: &str = "id = \"basic\"\nname = \"Basic\"\ncurrency = \"USD\"\nbase_fee = \"10.00\"\n";
const EUR_PLAN: &str = "id = \"euro\"\nname = \"Euro\"\ncurrency = \"EUR\"\nbase_fee = \"9.00\"\n";

fn pricing_dir(plans: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tally-pricing-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in plans {
        std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_currency_change_is_only_allowed_at_a_period_start() {
    let dir = pricing_dir(&[("basic", USD_PLAN), ("euro", EUR_PLAN)]);
    let app = spawn_app_with(Backend::Sqlite, |s| s.pricing_dir = dir.clone()).await;
    create_tenant_on(&app, "acme", "basic").await;
    let now = put_subscription(&app, "acme", &json!({"plan": "euro", "timing": "immediately"})).await;
    assert_eq!(now.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(now.json::<Value>().await.unwrap()["error"]["code"], "currency_change_not_at_period_start");
    let later = put_subscription(&app, "acme", &json!({"plan": "euro", "timing": "next_period"})).await;
    assert_eq!(later.status(), StatusCode::OK);
}

async fn a_tenant_deactivated_this_period_comes_back_in_another_currency_only_at_the_next(backend: Backend) {
    // Arrange: acme on "basic" (USD) since October 1, deactivated on November 10 (its final
    // invoice bills November 1–10 in USD), reactivated on November 12 with no plan.
    let dir = pricing_dir(&[("basic", USD_PLAN), ("euro", EUR_PLAN)]);
    let app = spawn_app_with(backend, |s| s.pricing_dir = dir.clone()).await;
    app.clock.set(crate::billing::at("2026-10-01T00:00:00Z"));
    create_tenant_on(&app, "acme", "basic").await;
    let patch = |active: bool| {
        let url = format!("{}/v1/tenants/acme", app.address);
        app.client.patch(url).bearer_auth(&app.admin_key).json(&json!({ "active": active })).send()
    };
    app.clock.set(crate::billing::at("2026-11-10T00:00:00Z"));
    assert_eq!(patch(false).await.unwrap().status(), StatusCode::OK);
    app.clock.set(crate::billing::at("2026-11-12T00:00:00Z"));
    assert_eq!(patch(true).await.unwrap().status(), StatusCode::OK);
    // Act
    let now = put_subscription(&app, "acme", &json!({"plan": "euro", "timing": "immediately"})).await;
    let later = put_subscription(&app, "acme", &json!({"plan": "euro", "timing": "next_period"})).await;
    // Assert: euros now would put USD and EUR on one invoice, which no run could draft.
    assert_eq!(now.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(now.json::<Value>().await.unwrap()["error"]["code"], "currency_change_not_at_period_start");
    assert_eq!(later.status(), StatusCode::OK, "{}", later.text().await.unwrap());
    let report = crate::billing::run_billing_and_wait(&app, "2027-01-01T02:00:00Z").await;
    let issued: Vec<(&str, &str)> = report["invoices_issued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["total"].as_str().unwrap(), i["currency"].as_str().unwrap()))
        .collect();
    assert_eq!(issued, [("10.00", "USD"), ("3.00", "USD"), ("9.00", "EUR")], "October, November 1–10, December");
}

crate::each_store!(a_tenant_deactivated_this_period_comes_back_in_another_currency_only_at_the_next);

const USD_METERED: &str = "id = \"metered\"\nname = \"Metered\"\ncurrency = \"USD\"\n\
    [[charge]]\nmeter = \"invocations\"\nmodel = \"per_unit\"\nprice_per = 1000000\nunit_price = \"0.20\"\n";
const EUR_METERED: &str = "id = \"mesure\"\nname = \"Mesuré\"\ncurrency = \"EUR\"\n\
    [[charge]]\nmeter = \"invocations\"\nmodel = \"per_unit\"\nprice_per = 1000000\nunit_price = \"0.18\"\n";

/// An app with two plans, "metered" (USD) and "mesure" (EUR), 0.20 and 0.18 per million
/// invocations.
pub async fn spawn_with_dollars_and_euros(backend: Backend) -> TestApp {
    let dir = pricing_dir(&[("metered", USD_METERED), ("mesure", EUR_METERED)]);
    spawn_app_with(backend, move |s| s.pricing_dir = dir.clone()).await
}

/// On [`spawn_with_dollars_and_euros`]: acme (billed to `emails`) on "metered" in October
/// (1M invocations, USD 0.20) and on "mesure" from November 1; 2M more October invocations
/// arrive on November 10, beside 1M of November's. Returns the report of the run closing
/// November.
pub async fn dollars_late_after_a_switch_to_euros(app: &TestApp, emails: &[&str]) -> Value {
    crate::billing::tenant_on(app, "acme", "UTC", "metered", "2026-10-01T00:00:00Z").await;
    let url = format!("{}/v1/tenants/acme", app.address);
    let patch = json!({ "billing_emails": emails });
    let patched = app.client.patch(url).bearer_auth(&app.admin_key).json(&patch).send().await.unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let later = put_subscription(app, "acme", &json!({"plan": "mesure", "timing": "next_period"})).await;
    assert_eq!(later.status(), StatusCode::OK);
    crate::billing::usage_at(app, "acme", "2026-10-10T00:00:00Z", &[("oct", "2026-10-09T00:00:00Z", 1_000_000)]).await;
    crate::billing::run_billing_and_wait(app, "2026-11-01T02:00:00Z").await;
    crate::billing::usage_at(
        app,
        "acme",
        "2026-11-10T00:00:00Z",
        &[("late", "2026-10-15T00:00:00Z", 2_000_000), ("nov", "2026-11-09T00:00:00Z", 1_000_000)],
    )
    .await;
    crate::billing::run_billing_and_wait(app, "2026-12-01T02:00:00Z").await
}

async fn late_usage_of_a_month_in_another_currency_goes_on_an_adjustment_invoice_in_that_currency(backend: Backend) {
    // Arrange: acme in dollars in October, in euros from November.
    let app = spawn_with_dollars_and_euros(backend).await;
    // Act: 2M more October invocations arrive on November 10 (with 1M of November's); then
    // 1M more of October on December 4 (still within the 35 days' lateness).
    let november = dollars_late_after_a_switch_to_euros(&app, &[]).await;
    let again = crate::billing::run_billing_and_wait(&app, "2026-12-01T03:00:00Z").await;
    crate::billing::usage_at(&app, "acme", "2026-12-04T00:00:00Z", &[("later", "2026-10-31T12:00:00Z", 1_000_000)])
        .await;
    let december = crate::billing::run_billing_and_wait(&app, "2027-01-01T02:00:00Z").await;
    // Assert: November's invoice bills its own 1M in euros; October's 0.40 more is owed in
    // dollars, on an invoice of its own issued beside it (0.40 dollars were once added to
    // the euro invoice as 0.40 euros). December's dollar invoice bills only the 1M that
    // arrived since: what November's carried counts as billed.
    let issued = |report: &Value| report["invoices_issued"].as_array().unwrap().clone();
    let (november, again, december) = (issued(&november), issued(&again), issued(&december));
    assert_eq!(kind_currency_total(&november), [("period", "EUR", "0.18"), ("adjustment", "USD", "0.40")]);
    assert_eq!(kind_currency_total(&again), [], "a rerun issues neither again");
    assert_eq!(kind_currency_total(&december), [("period", "EUR", "0.00"), ("adjustment", "USD", "0.20")]);
    let mut invoices = crate::billing::invoices_of(&app, "acme").await;
    invoices.sort_by_key(|i| i["number"].as_str().unwrap().to_owned());
    let billed = kind_currency_total(&invoices);
    assert_eq!(
        billed,
        [
            ("period", "USD", "0.20"),
            ("period", "EUR", "0.18"),
            ("adjustment", "USD", "0.40"),
            ("period", "EUR", "0.00"),
            ("adjustment", "USD", "0.20")
        ]
    );
    let adjustment = &invoices[2];
    assert_eq!(adjustment["period_start"], "2026-11-01T00:00:00Z", "issued for the period it was billed with");
    let lines = adjustment["lines"].as_array().unwrap();
    assert!(lines.iter().all(|l| l["type"] == "adjustment"), "{adjustment}");
    assert_eq!(lines.iter().map(|l| l["amount"].as_str().unwrap()).collect::<Vec<_>>(), ["0.40"]);
    assert_eq!(invoices[1]["lines"].as_array().unwrap().iter().filter(|l| l["type"] == "adjustment").count(), 0);
}

crate::each_store!(late_usage_of_a_month_in_another_currency_goes_on_an_adjustment_invoice_in_that_currency);

/// (kind, currency, total) of each invoice, as the run report and the invoice API show them.
fn kind_currency_total(invoices: &[Value]) -> Vec<(&str, &str, &str)> {
    fn text(v: &Value) -> &str {
        v.as_str().unwrap()
    }
    invoices.iter().map(|i| (text(&i["kind"]), text(&i["currency"]), text(&i["total"]))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_plan_becomes_a_new_version_for_the_next_period_only() {
    // Arrange: a tenant on v1 since before the period; then the plan file changes mid-period.
    let dir = pricing_dir(&[("basic", USD_PLAN)]);
    let first = spawn_app_with(Backend::Postgres, |s| s.pricing_dir = dir.clone()).await;
    first.clock.set(at("2026-10-20T00:00:00Z"));
    create_tenant_on(&first, "acme", "basic").await;
    std::fs::write(dir.join("basic.toml"), USD_PLAN.replace("10.00", "12.00")).unwrap();
    // Act: a second process starts on the same database with the changed file.
    let mut settings = tally::config::Settings::from_sources("", |_| None).unwrap();
    settings.listen = "127.0.0.1:0".into();
    settings.pricing_dir = dir.clone();
    settings.jwt.secret = Some(crate::helpers::JWT_SECRET.to_owned().into());
    let clock = tally::clock::ManualClock::new(at("2026-11-10T00:00:00Z"));
    let restarted =
        tally::startup::Application::build_with_store(settings, first.store.clone(), std::sync::Arc::new(clock)).await;
    assert!(restarted.is_ok(), "the changed plan loads");
    // Assert
    let plan = first.get_json("/v1/plans/basic").await;
    assert_eq!(plan["versions"].as_array().unwrap().len(), 2, "{plan}");
    let catalog = tally::plans::load_catalog(&first.store).await.unwrap();
    let november = catalog.for_period_starting("basic", at("2026-11-01T00:00:00Z")).unwrap();
    let december = catalog.for_period_starting("basic", at("2026-12-01T00:00:00Z")).unwrap();
    assert_eq!(
        (november.version, december.version),
        (1, 2),
        "the period in progress keeps the version it started with"
    );
    std::fs::write(dir.join("bad.toml"), "id = \"bad\"\nname = \"B\"\ncurrency = \"USD\"\nbase_fee = 1.5\n").unwrap();
    let mut settings = tally::config::Settings::from_sources("", |_| None).unwrap();
    settings.listen = "127.0.0.1:0".into();
    settings.pricing_dir = dir.clone();
    settings.jwt.secret = Some(crate::helpers::JWT_SECRET.to_owned().into());
    let refused = tally::startup::Application::build_with_store(
        settings,
        first.store.clone(),
        std::sync::Arc::new(tally::clock::SystemClock),
    )
    .await;
    let message = format!("{:#}", refused.err().expect("an invalid plan stops startup"));
    assert!(message.contains("bad.toml") && message.contains("base_fee"), "{message}");
}
