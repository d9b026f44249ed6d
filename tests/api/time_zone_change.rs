//! A tenant's time zone changed mid-period (DESIGN §6: the change applies from the next
//! period): the current period keeps its zone, the next starts where it ends, and every record
//! is billed once — none twice where the zones' months overlap, none lost where they part.

use serde_json::{json, Value};

use crate::billing::{admin_patch, at, invoices_of, run_billing_and_wait, tenant_on, usage_at};
use crate::both_stores;
use crate::helpers::TestApp;

async fn move_to(app: &TestApp, tenant: &str, zone: &str, when: &str) -> Value {
    app.clock.set(at(when));
    let patched = admin_patch(app, &format!("/v1/tenants/{tenant}"), &json!({"timezone": zone})).await;
    assert!(patched.status().is_success(), "{}", patched.status());
    patched.json().await.unwrap()
}

/// Each invoice as (period start, period end, invocations billed).
async fn periods_billed(app: &TestApp, tenant: &str) -> Vec<(String, String, u64)> {
    let mut invoices = invoices_of(app, tenant).await;
    invoices.sort_by_key(|i| i["period_start"].as_str().unwrap().to_owned());
    invoices
        .iter()
        .map(|invoice| {
            let invocations = invoice["lines"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| l["type"] == "usage" && l["meter"] == "invocations")
                .map(|l| l["quantity"].as_str().unwrap().parse::<u64>().unwrap())
                .sum();
            let bound = |field: &str| invoice[field].as_str().unwrap().to_owned();
            (bound("period_start"), bound("period_end"), invocations)
        })
        .collect()
}

fn billed(start: &str, end: &str, invocations: u64) -> (String, String, u64) {
    (start.to_owned(), end.to_owned(), invocations)
}

both_stores! {
    async fn moving_ahead_of_utc_mid_period_bills_the_overlap_once(app) {
        // Arrange: October billed in UTC, its last day's usage included
        tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        usage_at(&app, "acme", "2026-10-31T13:00:00Z", &[("oct-31", "2026-10-31T12:00:00Z", 3_000_000)]).await;
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        // Act: mid-November the tenant moves to UTC+14, whose November began on Oct 31 10:00Z
        let tenant = move_to(&app, "acme", "Pacific/Kiritimati", "2026-11-15T00:00:00Z").await;
        let into_october = app.client.put(format!("{}/v1/tenants/acme/subscription", app.address))
            .bearer_auth(&app.admin_key).json(&json!({"plan": "payg", "start": "2026-10-31T12:00:00Z"}))
            .send().await.unwrap();
        assert_eq!(into_october.status(), 422, "a start in Kiritimati's November is in the billed October");
        usage_at(&app, "acme", "2026-11-16T00:00:00Z", &[("nov", "2026-11-15T12:00:00Z", 2_000_000)]).await;
        usage_at(&app, "acme", "2026-12-10T00:00:00Z", &[("dec", "2026-12-09T00:00:00Z", 5_000_000)]).await;
        run_billing_and_wait(&app, "2026-12-31T12:00:00Z").await;
        // Assert: November stays a UTC month; December runs from its end to Kiritimati's month end
        assert_eq!(tenant["timezone"], "UTC", "the current period's zone");
        assert_eq!(tenant["next_timezone_change"], json!({"timezone": "Pacific/Kiritimati", "effective_at": "2026-12-01T00:00:00Z"}));
        let later = app.get_json("/v1/tenants/acme").await;
        assert_eq!((&later["timezone"], &later["next_timezone_change"]), (&json!("Pacific/Kiritimati"), &Value::Null));
        assert_eq!(periods_billed(&app, "acme").await, vec![
            billed("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z", 3_000_000),
            billed("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", 2_000_000),
            billed("2026-12-01T00:00:00Z", "2026-12-31T10:00:00Z", 5_000_000),
        ]);
    }

    async fn moving_behind_utc_mid_period_loses_no_usage_between_the_zones_months(app) {
        // Arrange: a tenant in UTC
        tenant_on(&app, "acme", "UTC", "payg", "2026-11-01T00:00:00Z").await;
        // Act: it moves to UTC−10; usage arrives in the hours where a Honolulu November would
        // have run on past a UTC one
        move_to(&app, "acme", "Pacific/Honolulu", "2026-11-15T00:00:00Z").await;
        usage_at(&app, "acme", "2026-12-01T06:00:00Z", &[("dec-1", "2026-12-01T05:00:00Z", 4_000_000)]).await;
        let current = app.get_json("/v1/tenants/acme/usage/current").await;
        run_billing_and_wait(&app, "2027-01-01T12:00:00Z").await;
        // Assert: the usage is in the December period, which starts where November ends
        assert_eq!(current["period"]["start"], "2026-12-01T00:00:00Z", "{current}");
        assert_eq!(current["period"]["end"], "2027-01-01T10:00:00Z");
        assert_eq!(periods_billed(&app, "acme").await, vec![
            billed("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", 0),
            billed("2026-12-01T00:00:00Z", "2027-01-01T10:00:00Z", 4_000_000),
        ]);
    }
}
