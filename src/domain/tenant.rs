//! Tenants: the billed customers of the platform.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::TenantId;

/// What happens to usage that arrives for a period already invoiced (DESIGN §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LateUsagePolicy {
    /// Bill the difference as adjustment lines on the next invoice.
    NextInvoice,
    /// Refuse records for closed periods at ingestion (`period_closed`).
    Reject,
}

impl LateUsagePolicy {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NextInvoice => "next_invoice",
            Self::Reject => "reject",
        }
    }

    /// Parses the stored and wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::NextInvoice, Self::Reject].into_iter().find(|p| p.as_str() == text)
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
}

/// A tenant not yet persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTenant {
    pub id: TenantId,
    pub details: TenantDetails,
}

/// A persisted tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub details: TenantDetails,
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
    pub active: Option<bool>,
}

impl Tenant {
    /// The tenant after `patch`, stamped `now`.
    pub fn patched(mut self, patch: TenantPatch, now: DateTime<Utc>) -> Tenant {
        let d = &mut self.details;
        if let Some(v) = patch.name {
            d.name = v;
        }
        if let Some(v) = patch.billing_emails {
            d.billing_emails = v;
        }
        if let Some(v) = patch.timezone {
            d.timezone = v;
        }
        if let Some(v) = patch.tax_rate {
            d.tax_rate = v;
        }
        if let Some(v) = patch.address {
            d.address = v;
        }
        if let Some(v) = patch.tax_id {
            d.tax_id = v;
        }
        if let Some(v) = patch.late_usage_policy {
            d.late_usage_policy = v;
        }
        if let Some(v) = patch.active {
            self.active = v;
        }
        self.updated_at = now;
        self
    }
}
