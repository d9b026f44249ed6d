//! The `quota.threshold_crossed` event: the outbox payload written with each alert. The notify
//! module renders the quota-alert email and the webhook body from it; nothing else reads it.
//!
//! Payload (JSON object; quantities and amounts are strings):
//! ```json
//! {
//!   "event_id": "quota.threshold_crossed:acme:inv-cap:80:2026-11-01T00:00:00Z",
//!   "type": "quota.threshold_crossed",
//!   "tenant_id": "acme",
//!   "quota_id": "inv-cap",
//!   "meter": "invocations",          // or "spend"
//!   "threshold": 80,                 // percent of the limit
//!   "used": "4000000",               // period-to-date when the crossing was seen
//!   "limit": "5000000",
//!   "currency": null,                // spend: the tenant's currency, amounts at its precision
//!   "projected": "12000000",         // the period total at the current rate (invoice::project),
//!                                    // rounded as the meter is recorded (round_projection)
//!   "hard": true,
//!   "period": {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
//!   "late": false,                   // true: late usage crossed it after the period was invoiced
//!   "crossed_at": "2026-11-27T12:00:00Z"
//! }
//! ```
//! `event_id` is the alert's natural key, stable across retries and processes: webhook
//! receivers de-duplicate on it. An alert that replaces one of the same threshold and period
//! raised for another form of the quota (its limit or meter changed since) is a new event,
//! so its id ends with `:` and its `crossed_at`. Pure: no IO.

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::json;

use crate::domain::{Currency, Money, Quota, QuotaAlert, QuotaMeter};

/// The outbox kind (and webhook event type) of a threshold alert.
pub const THRESHOLD_CROSSED: &str = "quota.threshold_crossed";

/// A quantity as a string, or for `spend` an amount at the currency's precision.
pub fn format_value(meter: QuotaMeter, value: Decimal, currency: Option<Currency>) -> String {
    match (meter, currency) {
        (QuotaMeter::Spend, Some(c)) => Money::new(value, c).round_to_minor_units().format_amount(),
        _ => value.normalize().to_string(),
    }
}

/// A projection of `meter` as it is shown: an extrapolation is a ratio of seconds, exact to 28
/// digits, but no finer than what it projects — whole cycles and invocations, GB-seconds to
/// the nine decimals usage has, spend to the currency's minor unit (half away from zero).
pub fn round_projection(meter: QuotaMeter, value: Decimal, currency: Option<Currency>) -> Decimal {
    let decimals = match (meter, currency) {
        (QuotaMeter::Usage(m), _) => m.decimals(),
        (QuotaMeter::Spend, Some(c)) => c.minor_units(),
        (QuotaMeter::Spend, None) => return value,
    };
    value.round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero)
}

/// The payload of `alert` (of `quota`), seen at `now`, heading for `projected`; `again`: it
/// replaces an alert raised for another form of the quota.
pub fn alert_payload(
    alert: &QuotaAlert,
    quota: &Quota,
    projected: Decimal,
    currency: Option<Currency>,
    again: bool,
    now: DateTime<Utc>,
) -> String {
    let instant = |at: DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let start = instant(alert.period.start());
    let mut event_id =
        format!("{THRESHOLD_CROSSED}:{}:{}:{}:{start}", alert.tenant_id, alert.quota_id, alert.threshold);
    if again {
        event_id = format!("{event_id}:{}", instant(now));
    }
    let value = |v: Decimal| format_value(alert.meter, v, currency);
    let spend_currency = (alert.meter == QuotaMeter::Spend).then(|| currency.map(|c| c.code())).flatten();
    json!({
        "event_id": event_id,
        "type": THRESHOLD_CROSSED,
        "tenant_id": alert.tenant_id,
        "quota_id": alert.quota_id,
        "meter": alert.meter.as_str(),
        "threshold": alert.threshold,
        "used": value(alert.used),
        "limit": value(alert.limit),
        "currency": spend_currency,
        "projected": value(round_projection(alert.meter, projected, currency)),
        "hard": quota.hard(),
        "period": { "start": alert.period.start(), "end": alert.period.end() },
        "late": alert.late,
        "crossed_at": now,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use crate::domain::{BillingPeriod, TenantId};
    use std::str::FromStr;

    fn projected_in_payload(meter: &str, projected: &str, currency: Option<Currency>) -> serde_json::Value {
        let quota = Quota::new("q", meter, Decimal::from(100), &[80], false).unwrap();
        let alert = QuotaAlert {
            tenant_id: TenantId::parse("acme").unwrap(),
            quota_id: "q".into(),
            threshold: 80,
            period: BillingPeriod::new(at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")).unwrap(),
            meter: quota.meter(),
            used: Decimal::from(86),
            limit: Decimal::from(100),
            late: false,
        };
        let projected = Decimal::from_str(projected).unwrap();
        let payload = alert_payload(&alert, &quota, projected, currency, false, at("2026-11-02T00:00:00Z"));
        serde_json::from_str::<serde_json::Value>(&payload).unwrap()["projected"].clone()
    }

    #[test]
    fn the_projection_is_sent_no_finer_than_what_it_projects() {
        let usd = Currency::parse("USD").ok();
        let cases = [
            ("invocations", "1916457.1458333333333333333333", None, "1916457", "whole invocations"),
            ("cpu_cycles", "1000000000000.5", None, "1000000000001", "whole cycles, half away from zero"),
            ("memory_gb_seconds", "0.1234567891234", None, "0.123456789", "nine decimals, as ingested"),
            ("memory_gb_seconds", "12.5000", None, "12.5", "no trailing zeros"),
            ("spend", "57.3333333333333333", usd, "57.33", "cents, with the currency's decimals"),
            ("spend", "57", usd, "57.00", "cents, with the currency's decimals"),
        ];
        for (meter, projected, currency, expected, why) in cases {
            assert_eq!(projected_in_payload(meter, projected, currency), expected, "{why}");
        }
    }
}
