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
//!   "projected": "12000000",         // the period total at the current rate (invoice::project)
//!   "hard": true,
//!   "period": {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
//!   "late": false,                   // true: late usage crossed it after the period was invoiced
//!   "crossed_at": "2026-11-27T12:00:00Z"
//! }
//! ```
//! `event_id` is the alert's natural key, stable across retries and processes: webhook
//! receivers de-duplicate on it. Pure: no IO.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
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

/// The payload of `alert` (of `quota`), seen at `now`, heading for `projected`.
pub fn alert_payload(
    alert: &QuotaAlert,
    quota: &Quota,
    projected: Decimal,
    currency: Option<Currency>,
    now: DateTime<Utc>,
) -> String {
    let start = alert.period.start().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let event_id = format!("{THRESHOLD_CROSSED}:{}:{}:{}:{start}", alert.tenant_id, alert.quota_id, alert.threshold);
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
        "projected": value(projected),
        "hard": quota.hard(),
        "period": { "start": alert.period.start(), "end": alert.period.end() },
        "late": alert.late,
        "crossed_at": now,
    })
    .to_string()
}
