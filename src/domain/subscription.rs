//! Subscriptions: which plan a tenant is on, from when.

use chrono::{DateTime, Utc};

/// From `effective_at` on (until the next change), the tenant is billed on `plan_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionChange {
    pub effective_at: DateTime<Utc>,
    pub plan_id: String,
}

/// When a requested plan change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeTiming {
    /// At the start of the tenant's next billing period (the default).
    NextPeriod,
    /// Now, snapped to a 15-minute boundary; the period is split into prorated segments.
    Immediately,
}

/// The plan in force at `at`, given changes ordered by `effective_at`.
pub fn plan_at(changes: &[SubscriptionChange], at: DateTime<Utc>) -> Option<&SubscriptionChange> {
    changes.iter().take_while(|c| c.effective_at <= at).last()
}
