//! Subscriptions: which plan a tenant is on, from when.

use chrono::{DateTime, Utc};

/// From `effective_at` on (until the next change), the tenant is billed on `plan_id`; `None`
/// from an end on (the tenant was deactivated), when usage is no longer billed.
///
/// Two instants, because DESIGN §6 bills fees and usage differently: fixed fees are prorated
/// from the true instant `effective_at`, while usage is attributed by 15-minute bucket from
/// `usage_from` — the start of the bucket holding `effective_at` (that bucket goes to the new
/// plan), or, for the plan a tenant is created on, the start of its first period (that
/// subscription rates all usage of the period, records stamped before the tenant existed too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionChange {
    pub effective_at: DateTime<Utc>,
    pub plan_id: Option<String>,
    /// Usage in buckets starting at or after this instant is billed on `plan_id`;
    /// `usage_from ≤ effective_at`, in the same billing period — except for an end
    /// ([`SubscriptionChange::end`]), whose `usage_from` closes the bucket it ends in.
    pub usage_from: DateTime<Utc>,
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
    /// The tenant is billed on `plan_id` from `effective_at` on, fees and usage alike.
    pub fn to_plan(effective_at: DateTime<Utc>, plan_id: impl Into<String>) -> Self {
        Self { effective_at, plan_id: Some(plan_id.into()), usage_from: effective_at }
    }

    /// The subscription ends at `effective_at` (the tenant was deactivated): no plan from then on
    /// for fees, and for usage from `usage_until` on — the end of the bucket holding
    /// `effective_at`, so the ending plan keeps the bucket it ends in: usage in it was accepted
    /// before the deactivation refused more, and is billed on the final invoice.
    pub fn end(effective_at: DateTime<Utc>, usage_until: DateTime<Utc>) -> Self {
        Self { effective_at, plan_id: None, usage_from: usage_until.max(effective_at) }
    }

    /// The same change, attributing usage from `usage_from` (not after `effective_at`).
    pub fn with_usage_from(self, usage_from: DateTime<Utc>) -> Self {
        Self { usage_from: usage_from.min(self.effective_at), ..self }
    }
}

/// The end a tenant deactivated at `now` needs, given its changes ordered by `effective_at`:
/// one while a plan is in force or one is scheduled (the end voids it), none when the
/// subscription has already ended or never began — so repeating a deactivation is a no-op.
/// `usage_until` is the end of the bucket holding `now` ([`SubscriptionChange::end`]).
///
/// The end is the true instant, not the bucket's start: the store replaces changes at or
/// after an end, and the subscription a tenant was created on minutes ago (or an immediate
/// change) starts inside this bucket — snapped down, the end would erase it (no final invoice).
pub fn end_for_deactivation(
    changes: &[SubscriptionChange],
    now: DateTime<Utc>,
    usage_until: DateTime<Utc>,
) -> Option<SubscriptionChange> {
    let subscribed = plan_at(changes, now).is_some() || changes.iter().any(|c| c.effective_at > now);
    subscribed.then(|| SubscriptionChange::end(now, usage_until))
}

/// The plan in force at `at`, given changes ordered by `effective_at`; `None` before the first
/// change and after the subscription ended.
pub fn plan_at(changes: &[SubscriptionChange], at: DateTime<Utc>) -> Option<&str> {
    changes.iter().take_while(|c| c.effective_at <= at).last().and_then(|c| c.plan_id.as_deref())
}
