//! Tenants: the billed customers of the platform.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::{enum_with_stored_names, PaymentTerms, TenantId};

enum_with_stored_names! {
    /// What happens to usage that arrives for a period already invoiced (DESIGN §7).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum LateUsagePolicy {
        /// Bill the difference as adjustment lines on the next invoice.
        NextInvoice => "next_invoice",
        /// Refuse records for closed periods at ingestion (`period_closed`).
        Reject => "reject",
    }
}

/// The editable details of a tenant, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDetails {
    pub name: String,
    pub billing_emails: Vec<String>,
    pub timezone: Tz,
    /// Percent, 0–100 (e.g. `8.875`).
    pub tax_rate: Decimal,
    pub address: Vec<String>,
    pub tax_id: String,
    pub late_usage_policy: LateUsagePolicy,
    /// Overrides the configured payment terms (`TALLY_PAYMENT_TERMS`) when set.
    pub payment_terms: Option<PaymentTerms>,
}

/// A tenant not yet persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTenant {
    pub id: TenantId,
    pub details: TenantDetails,
}

/// A time zone whose local months a tenant's billing periods followed until `until`, the end
/// of the period in which another zone was asked for: a time zone change applies from the next
/// period (DESIGN §6; `aggregate::BillingCalendar`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSpan {
    pub timezone: Tz,
    pub until: DateTime<Utc>,
}

/// A persisted tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    /// `details.timezone` is the zone asked for last; it takes over at the last span's `until`.
    pub details: TenantDetails,
    /// The zones before it, oldest first (empty: the tenant never changed zone).
    pub zone_history: Vec<ZoneSpan>,
    /// False once deactivated: new usage is refused, all data is kept.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A partial update of a tenant; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub billing_emails: Option<Vec<String>>,
    pub timezone: Option<Tz>,
    pub tax_rate: Option<Decimal>,
    pub address: Option<Vec<String>>,
    pub tax_id: Option<String>,
    pub late_usage_policy: Option<LateUsagePolicy>,
    /// `Some(terms)` sets the tenant's own terms (there is no way back to "none" but to
    /// set the default's value).
    pub payment_terms: Option<PaymentTerms>,
    pub active: Option<bool>,
}

impl TenantPatch {
    /// The names of the fields this patch sets (the audit log's detail of an update).
    pub fn field_names(&self) -> Vec<&'static str> {
        let given = [
            ("name", self.name.is_some()),
            ("billing_emails", self.billing_emails.is_some()),
            ("timezone", self.timezone.is_some()),
            ("tax_rate", self.tax_rate.is_some()),
            ("address", self.address.is_some()),
            ("tax_id", self.tax_id.is_some()),
            ("late_usage_policy", self.late_usage_policy.is_some()),
            ("payment_terms", self.payment_terms.is_some()),
            ("active", self.active.is_some()),
        ];
        given.into_iter().filter_map(|(name, set)| set.then_some(name)).collect()
    }
}

impl Tenant {
    /// The tenant after `patch`, stamped `now`.
    pub fn patched(mut self, patch: TenantPatch, now: DateTime<Utc>) -> Tenant {
        let d = &mut self.details;
        replace_if_given(&mut d.name, patch.name);
        replace_if_given(&mut d.billing_emails, patch.billing_emails);
        replace_if_given(&mut d.timezone, patch.timezone);
        replace_if_given(&mut d.tax_rate, patch.tax_rate);
        replace_if_given(&mut d.address, patch.address);
        replace_if_given(&mut d.tax_id, patch.tax_id);
        replace_if_given(&mut d.late_usage_policy, patch.late_usage_policy);
        if patch.payment_terms.is_some() {
            d.payment_terms = patch.payment_terms;
        }
        replace_if_given(&mut self.active, patch.active);
        self.updated_at = now;
        self
    }
}

/// A patch field: `Some` replaces the value, `None` leaves it as it is.
fn replace_if_given<T>(field: &mut T, patched: Option<T>) {
    if let Some(value) = patched {
        *field = value;
    }
}
