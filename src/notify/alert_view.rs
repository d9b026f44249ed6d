//! A quota alert email as display text: the `quota.threshold_crossed` payload (see
//! `quota::alert_event`) read back, and every text both alternatives (HTML and plain text)
//! show, computed once so they cannot disagree. Pure.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::domain::{IssuerSnapshot, QuotaMeter, Tenant};
use crate::invoice::display_format as format;

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
        let value = |v: Decimal| match (meter, &alert.currency) {
            (Some(QuotaMeter::Spend), Some(code)) => format!("{v} {code}"),
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
        let tz: Tz = tenant.details.timezone;
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
            projected: value(alert.projected),
            period,
            portal_url: format!("{}/portal", public_url.trim_end_matches('/')),
        }
    }
}
