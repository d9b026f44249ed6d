//! A quota alert email as display text: the `quota.threshold_crossed` payload (see
//! `quota::alert_event`) read back, and every text both alternatives (HTML and plain text)
//! show, computed once so they cannot disagree. Pure.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::aggregate::BillingCalendar;
use crate::domain::{Currency, IssuerSnapshot, Money, QuotaMeter, Tenant};
use crate::invoice::display_format as format;
use crate::quota::round_projection;

/// The period of an alert, as the payload carries it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AlertPeriod {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The part of a `quota.threshold_crossed` payload the email shows.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AlertPayload {
    pub tenant_id: String,
    pub meter: String,
    pub threshold: u32,
    pub used: Decimal,
    pub limit: Decimal,
    /// The tenant's currency code, for `spend` only.
    pub currency: Option<String>,
    pub projected: Decimal,
    pub hard: bool,
    pub period: AlertPeriod,
    pub late: bool,
}

impl AlertPayload {
    /// The payload of an event, if it is one.
    pub(crate) fn parse(payload: &str) -> Option<AlertPayload> {
        serde_json::from_str(payload).ok()
    }
}

/// Every text a quota alert email shows.
pub(crate) struct AlertView {
    pub title: String,
    pub subject: String,
    pub intro: String,
    /// Set when late usage crossed the threshold of an invoiced period.
    pub late_note: Option<String>,
    /// Set for hard limits.
    pub hard_note: Option<String>,
    pub issuer_name: String,
    pub issuer_address: Vec<String>,
    pub customer_name: String,
    /// "Invocations", "Spend".
    pub meter: String,
    pub used: String,
    pub limit: String,
    /// "80 %".
    pub threshold: String,
    pub projected: String,
    pub period: String,
    pub portal_url: String,
}

impl AlertView {
    /// The view of `alert` for `tenant`, from `issuer`, linking to the portal under `public_url`.
    pub(crate) fn of(alert: &AlertPayload, tenant: &Tenant, issuer: &IssuerSnapshot, public_url: &str) -> AlertView {
        let meter = QuotaMeter::parse(&alert.meter);
        let currency = alert.currency.as_deref().and_then(|code| Currency::parse(code).ok());
        // Spend reads as every other amount people see (`"USD 1,234.50"`); a code this build
        // does not know is still shown, before the grouped figure as it came.
        let value = |v: Decimal| match (meter, currency, &alert.currency) {
            (Some(QuotaMeter::Spend), Some(currency), _) => format::money(&Money::new(v, currency)),
            (Some(QuotaMeter::Spend), None, Some(code)) => format!("{code} {}", format::quantity(v)),
            _ => format::quantity(v),
        };
        let name = match meter {
            Some(QuotaMeter::Usage(m)) => m.display_name().to_owned(),
            Some(QuotaMeter::Spend) => "Spend".to_owned(),
            None => alert.meter.clone(),
        };
        let threshold = format!("{} %", alert.threshold);
        let of_what = match meter {
            Some(QuotaMeter::Spend) => value(alert.limit),
            _ => "your limit".to_owned(),
        };
        let tz: Tz = BillingCalendar::of(tenant).zone_at(alert.period.start);
        let period = format::span(alert.period.start, alert.period.end, tz);
        let late_prefix = if alert.late { "Late usage alert" } else { "Usage alert" };
        AlertView {
            title: format!("{name} at {threshold} of {of_what}"),
            subject: format!("{late_prefix}: {name} at {threshold} of {of_what}"),
            intro: format!(
                "{name} for {period} has reached {threshold} of the limit: {} of {}.",
                value(alert.used),
                value(alert.limit)
            ),
            late_note: alert.late.then(|| {
                "This alert is late: usage reported after the period was invoiced took it over the \
                 threshold. It is billed as an adjustment on your next invoice."
                    .to_owned()
            }),
            hard_note: alert.hard.then(|| {
                "This is a hard limit: once it is reached, further usage may be refused until the next \
                 period starts."
                    .to_owned()
            }),
            issuer_name: issuer.name.clone(),
            issuer_address: issuer.address.clone(),
            customer_name: tenant.details.name.clone(),
            meter: name,
            used: value(alert.used),
            limit: value(alert.limit),
            threshold,
            // Rounded here too: alerts queued before the payload rounded it carry 28 decimals.
            projected: meter
                .map_or_else(|| value(alert.projected), |m| value(round_projection(m, alert.projected, currency))),
            period,
            portal_url: format!("{}/portal", public_url.trim_end_matches('/')),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{LateUsagePolicy, TenantDetails, TenantId};

    fn tenant(timezone: Tz) -> Tenant {
        Tenant {
            id: TenantId::parse("acme").unwrap(),
            details: TenantDetails {
                name: "Acme Inc.".into(),
                billing_emails: vec!["ap@acme.test".into()],
                timezone,
                tax_rate: Decimal::ZERO,
                address: vec![],
                tax_id: String::new(),
                late_usage_policy: LateUsagePolicy::NextInvoice,
                payment_terms: None,
            },
            zone_history: vec![],
            active: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn issuer() -> IssuerSnapshot {
        IssuerSnapshot { name: "Tally Cloud".into(), address: vec!["1 Main St".into()], tax_id: String::new() }
    }

    fn payload(extra: serde_json::Value) -> AlertPayload {
        let mut base = serde_json::json!({
            "event_id": "quota.threshold_crossed:acme:inv-cap:80:2026-11-01T00:00:00Z",
            "type": "quota.threshold_crossed", "tenant_id": "acme", "quota_id": "inv-cap",
            "meter": "invocations", "threshold": 80, "used": "4000000", "limit": "5000000",
            "currency": null, "projected": "12000000", "hard": false,
            "period": {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
            "late": false, "crossed_at": "2026-11-27T12:00:00Z"
        });
        base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        AlertPayload::parse(&base.to_string()).expect("the documented payload parses")
    }

    #[test]
    fn a_meter_alert_names_the_meter_the_threshold_and_the_numbers() {
        let view = AlertView::of(&payload(serde_json::json!({})), &tenant(Tz::UTC), &issuer(), "https://b.test/");
        assert_eq!(view.subject, "Usage alert: Invocations at 80 % of your limit");
        assert_eq!((view.used.as_str(), view.limit.as_str()), ("4,000,000", "5,000,000"));
        assert_eq!(view.projected, "12,000,000");
        assert_eq!(view.period, "1 Nov 2026 – 30 Nov 2026");
        assert_eq!(view.portal_url, "https://b.test/portal");
        assert!(view.late_note.is_none() && view.hard_note.is_none());
    }

    #[test]
    fn a_spend_alert_states_grouped_amounts_after_their_currency_and_late_usage_says_so() {
        let alert = payload(serde_json::json!({
            "meter": "spend", "threshold": 100, "used": "2513.30", "limit": "2500.00", "currency": "USD",
            "projected": "3000.00", "hard": true, "late": true
        }));
        let view = AlertView::of(&alert, &tenant(Tz::UTC), &issuer(), "https://b.test");
        assert_eq!(view.subject, "Late usage alert: Spend at 100 % of USD 2,500.00");
        assert_eq!((view.used.as_str(), view.projected.as_str()), ("USD 2,513.30", "USD 3,000.00"));
        assert!(view.late_note.as_deref().is_some_and(|n| n.contains("after the period was invoiced")));
        assert!(view.hard_note.is_some());
    }

    #[test]
    fn a_projection_is_shown_no_finer_than_what_it_projects() {
        let cases = [
            ("invocations", "1916457.1458333333333333333333", None, "1,916,457", "whole invocations"),
            ("cpu_cycles", "2.5", None, "3", "whole cycles, half away from zero"),
            ("memory_gb_seconds", "1234.5678901234567", None, "1,234.567890123", "nine decimals, as ingested"),
            ("memory_gb_seconds", "12.5", None, "12.5", "no trailing zeros"),
            ("spend", "300.004999", Some("USD"), "USD 300.00", "cents"),
            ("spend", "1869.5", Some("JPY"), "JPY 1,870", "yen have no minor unit"),
        ];
        for (meter, projected, currency, expected, why) in cases {
            let alert = payload(serde_json::json!({"meter": meter, "projected": projected, "currency": currency}));
            let view = AlertView::of(&alert, &tenant(Tz::UTC), &issuer(), "https://b.test");
            assert_eq!(view.projected, expected, "{why}");
        }
    }

    #[test]
    fn the_period_is_shown_in_the_tenants_time_zone() {
        let alert = payload(serde_json::json!({
            "period": {"start": "2026-10-31T23:00:00Z", "end": "2026-11-30T23:00:00Z"}
        }));
        let view = AlertView::of(&alert, &tenant(chrono_tz::Europe::Paris), &issuer(), "https://b.test");
        assert_eq!(view.period, "1 Nov 2026 – 30 Nov 2026");
    }
}
