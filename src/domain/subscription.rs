//! Subscriptions: which plan a tenant is on, from when.

use chrono::{DateTime, Utc};

/// From `effective_at` on (until the next change), the tenant is billed on `plan_id`; `None`
/// from an end on (the tenant was deactivated), when usage is no longer billed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionChange {
    pub effective_at: DateTime<Utc>,
    pub plan_id: Option<String>,
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

impl SubscriptionChange {
    /// The tenant is billed on `plan_id` from `effective_at` on.
    pub fn to_plan(effective_at: DateTime<Utc>, plan_id: impl Into<String>) -> Self {
        Self { effective_at, plan_id: Some(plan_id.into()) }
    }

    /// The subscription ends at `effective_at` (the tenant was deactivated): no plan from then on.
    pub fn end(effective_at: DateTime<Utc>) -> Self {
        Self { effective_at, plan_id: None }
    }
}

/// The plan in force at `at`, given changes ordered by `effective_at`; `None` before the first
/// change and after the subscription ended.
pub fn plan_at(changes: &[SubscriptionChange], at: DateTime<Utc>) -> Option<&str> {
    changes.iter().take_while(|c| c.effective_at <= at).last().and_then(|c| c.plan_id.as_deref())
}
