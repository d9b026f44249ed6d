//! The billing run's report names usage no plan covers even in periods with no plan at all
//! (DESIGN §6: no accepted record is ever silently unbilled): a tenant reactivated without a
//! plan, or one that never had a plan, is listed by the run that passes the period's end +
//! grace — once, not by every later run — beside the periods it closes with a note; so is a
//! month before the tenant existed that records are stamped in.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::billing::{admin_patch, at, invoices_of, run_billing_and_wait, tenant_on, usage_at};
use crate::both_stores;
use crate::helpers::TestApp;

async fn set_active(app: &TestApp, tenant: &str, when: &str, active: bool) {
    app.clock.set(at(when));
    let response = admin_patch(app, &format!("/v1/tenants/{tenant}"), &json!({ "active": active })).await;
    assert_eq!(response.status(), StatusCode::OK, "{tenant} active: {active}");
}

/// The report's unbilled items as (tenant, period start, reason, records, invocations).
fn unbilled(report: &Value) -> Vec<(String, String, String, i64, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_else(|| panic!("{v} in {report}")).to_owned();
    report["unbilled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                text(&u["tenant_id"]),
                text(&u["period_start"]),
                text(&u["reason"]),
                u["records"].as_i64().unwrap(),
                text(&u["usage"]["invocations"]),
            )
        })
        .collect()
}

fn item(
    tenant: &str,
    start: &str,
    reason: &str,
    records: i64,
    invocations: &str,
) -> (String, String, String, i64, String) {
    (tenant.into(), start.into(), reason.into(), records, invocations.into())
}

both_stores! {
    async fn a_tenant_reactivated_without_a_plan_is_reported_once_for_each_later_month_with_usage(app) {
        // Arrange: acme and initech on payg since October. acme is deactivated on October 20 and
        // reactivated on the 25th with no plan: its usage from then on is covered by nothing.
        tenant_on(&app, "initech", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        set_active(&app, "acme", "2026-10-20T00:00:00Z", false).await;
        set_active(&app, "acme", "2026-10-25T00:00:00Z", true).await;
        usage_at(&app, "acme", "2026-10-26T00:00:00Z", &[("oct", "2026-10-26T00:00:00Z", 3)]).await;
        // Act: October closes (acme's final invoice, with a note for the 26th's record).
        let october = run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        usage_at(&app, "acme", "2026-11-10T00:00:00Z", &[("n1", "2026-11-09T00:00:00Z", 5), ("n2", "2026-11-09T01:00:00Z", 7)]).await;
        usage_at(&app, "initech", "2026-11-10T00:00:00Z", &[("i1", "2026-11-09T00:00:00Z", 11)]).await;
        let november = run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        usage_at(&app, "acme", "2026-12-05T00:00:00Z", &[("d1", "2026-12-04T00:00:00Z", 4)]).await;
        let december = run_billing_and_wait(&app, "2027-01-01T02:00:00Z").await;
        let rerun = run_billing_and_wait(&app, "2027-01-01T03:00:00Z").await;
        // Assert: each month is in the report of the run that passed it, and in no other.
        let after_end = "after_subscription_ended";
        assert_eq!(unbilled(&october), vec![item("acme", "2026-10-01T00:00:00Z", after_end, 1, "3")], "closed with its final invoice");
        assert_eq!(unbilled(&november), vec![item("acme", "2026-11-01T00:00:00Z", after_end, 2, "12")], "acme's November only: not October again, nothing of initech (on a plan)");
        assert_eq!(november["unbilled"][0]["period_end"], "2026-12-01T00:00:00Z");
        assert_eq!(november["unbilled"][0]["usage"], json!({"cpu_cycles": "0", "memory_gb_seconds": "0", "invocations": "12"}));
        assert_eq!(unbilled(&december), vec![item("acme", "2026-12-01T00:00:00Z", after_end, 1, "4")]);
        assert_eq!(rerun["unbilled"], json!([]), "{rerun}");
        assert_eq!(invoices_of(&app, "acme").await.len(), 1, "only October's final invoice");
        assert_eq!(invoices_of(&app, "initech").await.len(), 3);
    }

    async fn a_tenant_that_never_had_a_plan_is_reported_once_its_month_and_grace_are_over(app) {
        // Arrange: globex, created with no plan, sends usage in November.
        app.clock.set(at("2026-11-01T00:00:00Z"));
        app.create_tenant("globex", "UTC").await;
        usage_at(&app, "globex", "2026-11-03T00:00:00Z", &[("a", "2026-11-02T00:00:00Z", 2), ("b", "2026-11-02T00:30:00Z", 6)]).await;
        // Act: a run inside November's grace hour, one after it, and one more.
        let in_grace = run_billing_and_wait(&app, "2026-12-01T00:30:00Z").await;
        let after_grace = run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        let next = run_billing_and_wait(&app, "2026-12-01T03:00:00Z").await;
        // Assert
        assert_eq!(in_grace["unbilled"], json!([]), "November has not passed its grace yet: {in_grace}");
        assert_eq!(unbilled(&after_grace), vec![item("globex", "2026-11-01T00:00:00Z", "no_plan", 2, "8")]);
        assert_eq!(next["unbilled"], json!([]), "reported once: {next}");
        assert!(invoices_of(&app, "globex").await.is_empty(), "nothing to invoice");
    }

    async fn a_month_before_the_first_plan_is_reported_once_beside_the_first_invoice(app) {
        // Arrange: globex, created in October with no plan, sends usage then; put on payg on
        // November 10, it sends more before and after.
        app.clock.set(at("2026-10-05T00:00:00Z"));
        app.create_tenant("globex", "UTC").await;
        usage_at(&app, "globex", "2026-10-06T00:00:00Z", &[("oct", "2026-10-05T12:00:00Z", 9)]).await;
        usage_at(&app, "globex", "2026-11-02T00:00:00Z", &[("nov", "2026-11-01T12:00:00Z", 4)]).await;
        app.clock.set(at("2026-11-10T00:00:00Z"));
        let put = app.client.put(format!("{}/v1/tenants/globex/subscription", app.address)).bearer_auth(&app.admin_key)
            .json(&json!({"plan": "payg"})).send().await.unwrap();
        assert_eq!(put.status(), StatusCode::OK);
        // Act: the run that passes October (no plan at all) and closes November (a plan from the
        // 10th); then one more.
        let first = run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        let next = run_billing_and_wait(&app, "2026-12-01T03:00:00Z").await;
        // Assert: October from this step, November's first days from its invoice; once.
        let before = "before_first_subscription";
        assert_eq!(
            unbilled(&first),
            vec![item("globex", "2026-10-01T00:00:00Z", before, 1, "9"), item("globex", "2026-11-01T00:00:00Z", before, 1, "4")]
        );
        assert_eq!(next["unbilled"], json!([]), "{next}");
        assert_eq!(invoices_of(&app, "globex").await.len(), 1, "November's");
    }

    async fn a_record_stamped_in_the_month_before_the_tenant_existed_is_reported_once(app) {
        // Arrange: acme, created on payg on November 5, is sent a record of October 20 (16
        // days old, inside the allowed lateness): no plan covers October, its first period is
        // November.
        tenant_on(&app, "acme", "UTC", "payg", "2026-11-05T00:00:00Z").await;
        usage_at(&app, "acme", "2026-11-05T00:10:00Z", &[("early", "2026-10-20T00:00:00Z", 7), ("nov", "2026-11-04T00:00:00Z", 5)]).await;
        // Act: the run that closes November, then one more.
        let first = run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        let next = run_billing_and_wait(&app, "2026-12-01T03:00:00Z").await;
        // Assert: October is reported; November's record is on November's invoice.
        assert_eq!(unbilled(&first), vec![item("acme", "2026-10-01T00:00:00Z", "before_first_subscription", 1, "7")], "{first}");
        assert_eq!(next["unbilled"], json!([]), "{next}");
        let invoices = invoices_of(&app, "acme").await;
        assert_eq!(invoices.len(), 1, "November's");
        assert_eq!(crate::billing::billed_quantity(&invoices[0], "invocations"), rust_decimal::Decimal::from(5));
    }
}
