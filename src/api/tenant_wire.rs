//! Wire shapes of tenants (api-spec `Tenant`, `NewTenant`, `TenantPatch`) and their
//! validation into domain values.
//!
//! Stage: the HTTP edge (wire DTOs). Inputs: JSON; outputs: domain values or an `ApiError`.
//! These types never leave `api`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::str::FromStr;

use super::tax_rate_wire::tax_rate;
use crate::aggregate::BillingCalendar;
use crate::domain::{
    plan_at, LateUsagePolicy, NewTenant, PaymentTerms, SubscriptionChange, Tenant, TenantDetails, TenantId, TenantPatch,
};
use crate::http::ApiError;

/// `POST /v1/tenants` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    id: String,
    name: String,
    billing_emails: Option<Vec<String>>,
    /// A single address is accepted on input, as a convenience.
    billing_email: Option<String>,
    timezone: Option<String>,
    tax_rate: Option<Value>,
    address: Option<Vec<String>>,
    tax_id: Option<String>,
    late_usage_policy: Option<String>,
    /// Overrides `TALLY_PAYMENT_TERMS`: `30d`, `36h`.
    payment_terms: Option<String>,
    /// Starts a subscription to this plan at creation.
    pub plan: Option<String>,
    /// Backdates that subscription within the open period (fees prorate from it).
    pub subscription_start: Option<DateTime<Utc>>,
}

/// `PATCH /v1/tenants/{id}` body; absent fields are left as they are.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchTenantRequest {
    name: Option<String>,
    billing_emails: Option<Vec<String>>,
    billing_email: Option<String>,
    timezone: Option<String>,
    tax_rate: Option<Value>,
    address: Option<Vec<String>>,
    tax_id: Option<String>,
    late_usage_policy: Option<String>,
    payment_terms: Option<String>,
    active: Option<bool>,
}

/// A tenant as answered.
#[derive(Debug, Serialize)]
pub struct TenantResponse {
    id: String,
    name: String,
    billing_emails: Vec<String>,
    timezone: String,
    tax_rate: String,
    address: Vec<String>,
    tax_id: String,
    late_usage_policy: &'static str,
    /// The tenant's own terms; null = the configured default.
    payment_terms: Option<String>,
    active: bool,
    /// The plan in force now, if any.
    plan: Option<String>,
    /// A change scheduled after now, if any.
    next_plan_change: Option<PlanChangeResponse>,
    /// A time zone asked for, taking over at the end of the current period, if any.
    next_timezone_change: Option<TimezoneChangeResponse>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
struct PlanChangeResponse {
    plan: String,
    effective_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
struct TimezoneChangeResponse {
    timezone: String,
    effective_at: DateTime<Utc>,
}

impl TenantResponse {
    /// A tenant with its subscription as of `now`.
    pub fn new(t: Tenant, changes: &[SubscriptionChange], now: DateTime<Utc>) -> Self {
        let plan = plan_at(changes, now).map(str::to_owned);
        let next_plan_change = changes
            .iter()
            .find(|c| c.effective_at > now)
            .map(|c| PlanChangeResponse { plan: c.plan_id.clone().unwrap_or_default(), effective_at: c.effective_at });
        // The zone in force now, and the one asked for when it takes over later (DESIGN §6).
        let calendar = BillingCalendar::of(&t);
        let timezone = calendar.zone_at(now).name().to_owned();
        let next_timezone_change = calendar
            .pending_change(now)
            .map(|(zone, effective_at)| TimezoneChangeResponse { timezone: zone.name().to_owned(), effective_at });
        let d = t.details;
        Self {
            id: t.id.to_string(),
            name: d.name,
            billing_emails: d.billing_emails,
            timezone,
            tax_rate: d.tax_rate.normalize().to_string(),
            address: d.address,
            tax_id: d.tax_id,
            late_usage_policy: d.late_usage_policy.as_str(),
            payment_terms: d.payment_terms.map(|t| t.to_string()),
            active: t.active,
            plan,
            next_plan_change,
            next_timezone_change,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

impl TryFrom<&CreateTenantRequest> for NewTenant {
    type Error = ApiError;

    fn try_from(r: &CreateTenantRequest) -> Result<Self, ApiError> {
        let r = r.clone();
        let id = TenantId::parse(&r.id).map_err(|e| invalid(&format!("id: {e}")))?;
        let details = TenantDetails {
            name: name(r.name)?,
            billing_emails: emails(r.billing_emails, r.billing_email)?.unwrap_or_default(),
            timezone: r.timezone.map(|t| timezone(&t)).transpose()?.unwrap_or(Tz::UTC),
            tax_rate: r.tax_rate.map(|v| tax_rate(&v)).transpose()?.unwrap_or(Decimal::ZERO),
            address: r.address.map(address).transpose()?.unwrap_or_default(),
            tax_id: r.tax_id.map(tax_id).transpose()?.unwrap_or_default(),
            late_usage_policy: r
                .late_usage_policy
                .map(|p| policy(&p))
                .transpose()?
                .unwrap_or(LateUsagePolicy::NextInvoice),
            payment_terms: r.payment_terms.map(|t| terms(&t)).transpose()?,
        };
        Ok(NewTenant { id, details })
    }
}

impl TryFrom<PatchTenantRequest> for TenantPatch {
    type Error = ApiError;

    fn try_from(r: PatchTenantRequest) -> Result<Self, ApiError> {
        Ok(TenantPatch {
            name: r.name.map(name).transpose()?,
            billing_emails: emails(r.billing_emails, r.billing_email)?,
            timezone: r.timezone.map(|t| timezone(&t)).transpose()?,
            tax_rate: r.tax_rate.map(|v| tax_rate(&v)).transpose()?,
            address: r.address.map(address).transpose()?,
            tax_id: r.tax_id.map(tax_id).transpose()?,
            late_usage_policy: r.late_usage_policy.map(|p| policy(&p)).transpose()?,
            payment_terms: r.payment_terms.map(|t| terms(&t)).transpose()?,
            active: r.active,
        })
    }
}

pub(super) fn invalid(message: &str) -> ApiError {
    ApiError::unprocessable("invalid_tenant", message)
}

/// Text fields are stored and printed on invoices: control characters (NUL included, which
/// PostgreSQL cannot store) are refused.
fn plain_text<'a>(field: &str, text: &'a str) -> Result<&'a str, ApiError> {
    if text.chars().any(char::is_control) {
        return Err(invalid(&format!("{field} must not contain control characters")));
    }
    Ok(text)
}

fn name(text: String) -> Result<String, ApiError> {
    let trimmed = plain_text("name", text.trim())?;
    if trimmed.is_empty() || trimmed.chars().count() > 200 {
        return Err(invalid("name must be 1-200 characters"));
    }
    Ok(trimmed.to_owned())
}

/// Every invoice and alert email goes to each address: a bound keeps one tenant's settings
/// from turning the operator's relay into a mass mailer (Postfix's default is 50 recipients
/// a message; Stripe lets an invoice copy a handful of addresses).
const MAX_BILLING_EMAILS: usize = 20;

fn emails(list: Option<Vec<String>>, single: Option<String>) -> Result<Option<Vec<String>>, ApiError> {
    let all = match (list, single) {
        (Some(_), Some(_)) => return Err(invalid("send billing_emails or billing_email, not both")),
        (Some(list), None) => list,
        (None, Some(one)) => vec![one],
        (None, None) => return Ok(None),
    };
    if all.len() > MAX_BILLING_EMAILS {
        return Err(invalid(&format!("billing_emails holds at most {MAX_BILLING_EMAILS} addresses")));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = all.iter().find(|e| !seen.insert(e.to_lowercase())) {
        return Err(invalid(&format!("billing email {twice:?} is listed twice")));
    }
    for email in &all {
        plain_text("billing email", email)?;
        if !mailable(email) {
            return Err(invalid(&format!("billing email {email:?} is not a valid address")));
        }
    }
    Ok(Some(all))
}

/// Whether the dispatcher can send to `email`: it parses recipients with lettre's `Address`,
/// so an address lettre refuses (`<a@b.test>`, `a@b..test`, `a@b.test,c@d.test`) would fail
/// every email for good. On top of lettre, a dotted domain and no whitespace (a quoted local
/// part may hold spaces): billing goes to internet mail, not to `root@localhost`.
fn mailable(email: &str) -> bool {
    email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && lettre::Address::from_str(email).is_ok()
}

fn timezone(text: &str) -> Result<Tz, ApiError> {
    Tz::from_str(text).map_err(|_| invalid(&format!("timezone {text:?} is not an IANA time zone like Europe/Paris")))
}

fn address(lines: Vec<String>) -> Result<Vec<String>, ApiError> {
    for line in &lines {
        plain_text("address", line)?;
    }
    if lines.len() > 8 || lines.iter().any(|l| l.chars().count() > 200) {
        return Err(invalid("address is at most 8 lines of at most 200 characters"));
    }
    Ok(lines)
}

fn tax_id(text: String) -> Result<String, ApiError> {
    plain_text("tax_id", &text)?;
    if text.chars().count() > 64 {
        return Err(invalid("tax_id must be at most 64 characters"));
    }
    Ok(text)
}

fn policy(text: &str) -> Result<LateUsagePolicy, ApiError> {
    LateUsagePolicy::parse(text).ok_or_else(|| invalid("late_usage_policy must be next_invoice or reject"))
}

fn terms(text: &str) -> Result<PaymentTerms, ApiError> {
    PaymentTerms::parse(text).ok_or_else(|| invalid("payment_terms must be a duration like 30d or 36h, at most 366d"))
}

#[cfg(test)]
mod tests {
    use super::mailable;

    /// The spec's `Email` patterns (`api-spec/openapi.yaml`): the size of the local part, and
    /// the address's shape to generate addresses from.
    static SPEC_EMAIL: std::sync::LazyLock<(regex_lite::Regex, String)> = std::sync::LazyLock::new(|| {
        let spec: serde_yaml::Value = serde_yaml::from_str(include_str!("../../api-spec/openapi.yaml")).unwrap();
        let email = &spec["components"]["schemas"]["Email"];
        let size = regex_lite::Regex::new(email["pattern"].as_str().unwrap()).unwrap();
        let shape = email["allOf"][0]["pattern"].as_str().unwrap();
        // Unanchored for proptest, and with repeats bounded so that local parts stay within
        // 16 characters (4 + 2 × 5) and pass the size pattern: unbounded, nearly every
        // generated local part would be too long to be one the spec admits.
        let shape = shape.trim_start_matches('^').trim_end_matches('$');
        (size, shape.replace(")+", "){1,4}").replace(")*", "){0,2}"))
    });

    proptest::proptest! {
        /// A client generated from the spec never sends an address the API refuses.
        #[test]
        fn every_address_the_spec_admits_is_one_the_mailer_can_send_to(
            address in proptest::string::string_regex(&SPEC_EMAIL.1).unwrap()
        ) {
            proptest::prop_assert!(SPEC_EMAIL.0.is_match(&address), "{:?} is too long to generate from", address);
            // "At most 254 bytes" (the description; SMTP counts octets): JSON Schema's
            // `maxLength` counts characters, so a non-ASCII local part can carry a 251-character
            // address past 254 bytes, which no pattern can say. Such an address is not one the
            // spec admits.
            proptest::prop_assume!(address.len() <= 254);
            proptest::prop_assert!(mailable(&address), "{:?}", address);
        }
    }

    #[test]
    fn billing_addresses_are_those_the_mailer_can_send_to() {
        for good in ["ap@acme.test", "first.last+tag@mail.acme.test", "AP@ACME.TEST"] {
            assert!(mailable(good), "{good}");
        }
        let refused = [
            "<a@b.test>",
            "a@b..test",
            "a@b.test,victim@evil.test",
            "a@b.test>x",
            "a@-b.test",
            "a@localhost",
            "not-an-email",
            "a b@c.test",
            "@b.test",
        ];
        for bad in refused {
            assert!(!mailable(bad), "{bad}");
        }
    }
}
