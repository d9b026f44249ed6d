//! Usage no subscription covers (DESIGN §6, "no accepted record is ever silently unbilled"):
//! the rollup buckets of a period outside every segment — before a first plan, after an end,
//! or with no plan at all. Pure.
//!
//! The gaps are the complement of [`segments`] inside the period and usage is attributed to
//! them by bucket start exactly as `gather::segment_inputs` attributes it to segments, so the
//! billed and the unbilled usage of a period add up to all of it by construction.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::period::segments;
use crate::aggregate::{sum_rollups, Rollup, RollupTotals};
use crate::domain::{BillingPeriod, Quantities, QuantityError, SubscriptionChange};

/// Why usage is not billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnbilledReason {
    /// The tenant has never had a plan.
    NoPlan,
    /// The usage precedes the tenant's first plan.
    BeforeFirstSubscription,
    /// The usage follows the end of a subscription (a deactivated tenant).
    AfterSubscriptionEnded,
}

impl UnbilledReason {
    /// The wire name (`no_plan`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoPlan => "no_plan",
            Self::BeforeFirstSubscription => "before_first_subscription",
            Self::AfterSubscriptionEnded => "after_subscription_ended",
        }
    }
}

/// A period's usage that no subscription covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unbilled {
    pub quantities: Quantities,
    /// Records behind `quantities`.
    pub records: i64,
    /// The reason of the earliest uncovered stretch holding usage.
    pub reason: UnbilledReason,
}

/// The stretches of `period` no segment covers, each with its reason.
fn gaps(period: &BillingPeriod, changes: &[SubscriptionChange]) -> Vec<(DateTime<Utc>, DateTime<Utc>, UnbilledReason)> {
    let mut out = Vec::new();
    let mut from = period.start();
    let covered = segments(period, changes);
    let bounds = covered.iter().map(|s| (s.start, s.end)).chain(std::iter::once((period.end(), period.end())));
    for (start, end) in bounds {
        if start > from {
            out.push((from, start, reason_at(changes, from)));
        }
        from = from.max(end);
    }
    out
}

/// Why the instant `at`, covered by no plan, is uncovered.
fn reason_at(changes: &[SubscriptionChange], at: DateTime<Utc>) -> UnbilledReason {
    if changes.iter().any(|c| c.effective_at <= at && c.plan_id.is_some()) {
        UnbilledReason::AfterSubscriptionEnded
    } else if changes.iter().any(|c| c.plan_id.is_some()) {
        UnbilledReason::BeforeFirstSubscription
    } else {
        UnbilledReason::NoPlan
    }
}

/// The usage of `rollups` (a period's) that no subscription covers; `None` when there is none.
///
/// # Errors
/// [`QuantityError::Overflow`] when a sum leaves `Decimal`'s range.
pub fn unbilled_usage(
    period: &BillingPeriod,
    changes: &[SubscriptionChange],
    rollups: &[Rollup],
) -> Result<Option<Unbilled>, QuantityError> {
    let mut total = RollupTotals::default();
    let mut reason = None;
    for (start, end, why) in gaps(period, changes) {
        let part = sum_rollups(rollups, start, end)?;
        if part.records > 0 || part.quantities != Quantities::default() {
            reason.get_or_insert(why);
            total = total.checked_add(&part)?;
        }
    }
    Ok(reason.map(|reason| Unbilled { quantities: total.quantities, records: total.records, reason }))
}

/// Whether `period` up to `until` is wholly covered by segments: then nothing in it can be
/// unbilled and its rollups need not be read.
pub fn covered_until(period: &BillingPeriod, changes: &[SubscriptionChange], until: DateTime<Utc>) -> bool {
    gaps(period, changes).iter().all(|(start, _, _)| *start >= until)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use chrono_tz::Tz;
    use rust_decimal::Decimal;

    use super::*;
    use crate::aggregate::RollupKey;
    use crate::domain::testing::at;
    use crate::domain::TenantId;
    use crate::invoice::period_containing;

    fn rollup(bucket: &str, invocations: i64) -> Rollup {
        Rollup {
            key: RollupKey {
                tenant_id: TenantId::parse("acme").unwrap(),
                bucket_start: at(bucket),
                function: "f".into(),
                region: String::new(),
            },
            totals: RollupTotals {
                quantities: Quantities { invocations: Decimal::from(invocations), ..Quantities::default() },
                records: 1,
            },
        }
    }

    fn plan(s: &str) -> SubscriptionChange {
        SubscriptionChange::to_plan(at(s), "payg")
    }

    fn end(s: &str) -> SubscriptionChange {
        SubscriptionChange::end(at(s), at(s))
    }

    /// A case: its name, the changes, and (invocations, records, reason) unbilled.
    type Case = (&'static str, Vec<SubscriptionChange>, Option<(i64, i64, UnbilledReason)>);

    #[test]
    fn boundary_table() {
        let period = period_containing(Tz::UTC, at("2026-11-10T00:00:00Z"));
        let rollups = [
            rollup("2026-11-01T00:00:00Z", 1),
            rollup("2026-11-10T12:00:00Z", 10),
            rollup("2026-11-10T12:15:00Z", 100),
            rollup("2026-11-30T23:45:00Z", 1000),
        ];
        use UnbilledReason::*;
        let table: Vec<Case> = vec![
            ("never a plan", vec![], Some((1111, 4, NoPlan))),
            ("a plan all period", vec![plan("2026-10-01T00:00:00Z")], None),
            (
                "first plan at a bucket start",
                vec![plan("2026-11-10T12:15:00Z")],
                Some((11, 2, BeforeFirstSubscription)),
            ),
            // Billing gives a bucket to the segment its start falls in (plan changes are snapped to
            // bucket starts, so only hand-made data has this): the 12:00 bucket stays unbilled.
            ("first plan inside a bucket", vec![plan("2026-11-10T12:05:00Z")], Some((11, 2, BeforeFirstSubscription))),
            ("first plan next period", vec![plan("2026-12-01T00:00:00Z")], Some((1111, 4, BeforeFirstSubscription))),
            (
                "ended at a bucket start",
                vec![plan("2026-10-01T00:00:00Z"), end("2026-11-10T12:15:00Z")],
                Some((1100, 2, AfterSubscriptionEnded)),
            ),
            ("ended at the period end", vec![plan("2026-10-01T00:00:00Z"), end("2026-12-01T00:00:00Z")], None),
            (
                "ended before the period",
                vec![plan("2026-10-01T00:00:00Z"), end("2026-10-20T00:00:00Z")],
                Some((1111, 4, AfterSubscriptionEnded)),
            ),
            (
                "late start, then an end: the earliest gap names the reason",
                vec![plan("2026-11-05T00:00:00Z"), end("2026-11-30T00:00:00Z")],
                Some((1001, 2, BeforeFirstSubscription)),
            ),
        ];
        for (name, changes, expected) in table {
            let got = unbilled_usage(&period, &changes, &rollups).unwrap();
            let got = got.map(|u| (u.quantities.invocations.try_into().unwrap(), u.records, u.reason));
            assert_eq!(got, expected, "{name}");
            // billed + unbilled = all usage: the segments (summed as `segment_inputs` sums them)
            // hold the rest.
            let billed: i64 = segments(&period, &changes)
                .iter()
                .map(|s| sum_rollups(&rollups, s.start, s.end).unwrap().records)
                .sum();
            assert_eq!(billed + expected.map_or(0, |e| e.1), 4, "{name}");
        }
    }

    #[test]
    fn covered_until_is_false_only_when_a_gap_starts_before_then() {
        let period = period_containing(Tz::UTC, at("2026-11-10T00:00:00Z"));
        let changes = [plan("2026-10-01T00:00:00Z"), end("2026-11-20T00:00:00Z")];
        assert!(covered_until(&period, &changes, at("2026-11-20T00:00:00Z")));
        assert!(!covered_until(&period, &changes, at("2026-11-20T00:00:00Z") + Duration::minutes(1)));
        assert!(!covered_until(&period, &[], period.start() + Duration::minutes(1)));
    }
}
