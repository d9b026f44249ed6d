//! Billing periods and their segments (DESIGN §6): a calendar month in the tenant's time
//! zone, split where the plan changes; partial segments are prorated by seconds.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::aggregate::{bucket_start, month_period};
use crate::domain::{BillingPeriod, SubscriptionChange};
use crate::rate::{Proration, RateError};

/// The local calendar month of `tz` containing `at`: a tenant's billing period.
pub fn period_containing(tz: Tz, at: DateTime<Utc>) -> BillingPeriod {
    let (start, end) = month_period(tz, at);
    BillingPeriod::new(start, end).expect("a calendar month is never empty")
}

/// A stretch of a period billed on one plan: its usage by bucket in `[start, end)`, its fixed
/// fees prorated over the true instants `[fees_from, fees_until)` (DESIGN §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub plan_id: String,
    pub fees_from: DateTime<Utc>,
    pub fees_until: DateTime<Utc>,
}

impl Segment {
    /// A segment whose fees cover exactly its usage range.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>, plan_id: impl Into<String>) -> Segment {
        Segment { start, end, plan_id: plan_id.into(), fees_from: start, fees_until: end }
    }

    /// Whether any usage bucket is billed on this segment: not when its plan was held only
    /// inside one bucket, which the change after it won (its fees still count).
    pub fn holds_usage(&self) -> bool {
        self.start < self.end
    }

    /// Fee seconds ÷ the period's seconds (exact across DST: both are real durations; kept
    /// as a ratio, so a prorated fee is rounded once); exactly 1 for a whole period.
    ///
    /// # Errors
    /// [`RateError::InvalidProration`] for a segment outside its period (a bug).
    pub fn proration(&self, period: &BillingPeriod) -> Result<Proration, RateError> {
        let part = (self.fees_until - self.fees_from).num_seconds();
        let whole = (period.end() - period.start()).num_seconds();
        if part >= whole {
            return Ok(Proration::FULL);
        }
        Proration::of_seconds(part.max(0), whole)
    }

    /// The (15-minute) buckets of the segment's usage from before its plan began, `[from, to)`: a
    /// tenant's first period bills its usage from the period start although the tenant was
    /// created later (DESIGN §6). Empty when usage and fees begin together (a plan change
    /// bills usage from the bucket it happens in, which then counts as after it).
    pub fn usage_before_fees(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.start, bucket_start(self.fees_from).clamp(self.start, self.end))
    }
}

/// The segments of `period` given the tenant's subscription changes (ordered by
/// `effective_at`). Usage before the first change's `usage_from` is not billed (no plan yet);
/// fees run from each change's true instant.
pub fn segments(period: &BillingPeriod, changes: &[SubscriptionChange]) -> Vec<Segment> {
    let clamp = |at: DateTime<Utc>| at.clamp(period.start(), period.end());
    let mut out: Vec<Segment> = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        let Some(plan_id) = change.plan_id.as_deref() else { continue };
        let next = changes.get(i + 1);
        let (start, end) = (clamp(change.usage_from), next.map_or(period.end(), |n| clamp(n.usage_from)));
        let (fees_from, fees_until) =
            (clamp(change.effective_at), next.map_or(period.end(), |n| clamp(n.effective_at)));
        if start >= end && fees_from >= fees_until {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.plan_id == plan_id && last.end == start && last.fees_until == fees_from => {
                (last.end, last.fees_until) = (end, fees_until);
            }
            _ => out.push(Segment { start, end: end.max(start), plan_id: plan_id.to_owned(), fees_from, fees_until }),
        }
    }
    out
}

/// The stretches between consecutive bounds of `period` and its segments. Every segment and
/// every uncovered gap is a union of whole units, so summing per unit (in the store: a few
/// rows instead of every rollup row of the period) gives exactly what summing the rows gives
/// — the billing run reads its usage the same way (`unit_usage.rs`). A segment is cut where
/// its plan began as well, so that the projection can tell usage reported before it.
pub fn period_units(period: &BillingPeriod, changes: &[SubscriptionChange]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut cuts = vec![period.start(), period.end()];
    cuts.extend(segments(period, changes).iter().flat_map(|s| [s.start, s.usage_before_fees().1, s.end]));
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use rust_decimal::Decimal;

    fn change(s: &str, plan: &str) -> SubscriptionChange {
        SubscriptionChange::to_plan(at(s), plan)
    }

    #[test]
    fn a_period_is_the_local_calendar_month() {
        let period = period_containing(chrono_tz::Europe::Paris, at("2026-03-15T00:00:00Z"));
        assert_eq!((period.start(), period.end()), (at("2026-02-28T23:00:00Z"), at("2026-03-31T22:00:00Z")));
    }

    #[test]
    fn a_mid_period_subscription_is_one_prorated_segment() {
        let period = period_containing(Tz::UTC, at("2026-11-10T00:00:00Z"));
        let parts = segments(&period, &[change("2026-11-16T00:00:00Z", "payg")]);
        assert_eq!(parts, vec![Segment::new(at("2026-11-16T00:00:00Z"), period.end(), "payg")]);
        assert_eq!(parts[0].proration(&period).map(|p| p.factor()), Ok(Decimal::new(5, 1)));
    }

    #[test]
    fn an_immediate_change_splits_the_period_and_a_repeat_of_the_same_plan_does_not() {
        let period = period_containing(Tz::UTC, at("2026-11-10T00:00:00Z"));
        let changes = [
            change("2026-10-01T00:00:00Z", "free"),
            change("2026-11-10T12:15:00Z", "payg"),
            change("2026-11-20T00:00:00Z", "payg"),
        ];
        let parts = segments(&period, &changes);
        let plans: Vec<(&str, DateTime<Utc>)> = parts.iter().map(|s| (s.plan_id.as_str(), s.start)).collect();
        assert_eq!(plans, vec![("free", period.start()), ("payg", at("2026-11-10T12:15:00Z"))]);
        assert_eq!(parts[1].end, period.end());
    }

    #[test]
    fn a_whole_period_prorates_to_exactly_one_even_across_dst() {
        let period = period_containing(chrono_tz::America::Los_Angeles, at("2026-11-10T00:00:00Z"));
        let parts = segments(&period, &[change("2020-01-01T00:00:00Z", "payg")]);
        assert_eq!(parts[0].proration(&period), Ok(Proration::FULL));
        assert_eq!((period.end() - period.start()).num_hours(), 30 * 24 + 1, "November in LA has a 25-hour day");
    }

    #[test]
    fn fees_run_from_the_true_instant_and_usage_from_its_bucket_or_the_first_period() {
        let period = period_containing(Tz::UTC, at("2026-11-10T00:00:00Z"));
        let created = at("2026-11-10T03:06:59Z");
        // (why, changes, expected (usage start, fees from) per segment)
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, Vec<SubscriptionChange>, Vec<(&str, &str, &str)>)> = vec![
            (
                "created on a plan: all of the first period's usage, fees from creation",
                vec![change("2026-11-10T03:06:59Z", "payg").with_usage_from(period.start())],
                vec![("payg", "2026-11-01T00:00:00Z", "2026-11-10T03:06:59Z")],
            ),
            (
                "an immediate change: its bucket to the new plan, fees at the true instant",
                vec![
                    change("2026-10-01T00:00:00Z", "free"),
                    change("2026-11-10T03:06:59Z", "payg").with_usage_from(at("2026-11-10T03:00:00Z")),
                ],
                vec![
                    ("free", "2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z"),
                    ("payg", "2026-11-10T03:00:00Z", "2026-11-10T03:06:59Z"),
                ],
            ),
        ];
        for (why, changes, expected) in cases {
            let parts = segments(&period, &changes);
            let got: Vec<(&str, String, String)> =
                parts.iter().map(|s| (s.plan_id.as_str(), s.start.to_rfc3339(), s.fees_from.to_rfc3339())).collect();
            let expected: Vec<(&str, String, String)> =
                expected.iter().map(|(p, u, f)| (*p, at(u).to_rfc3339(), at(f).to_rfc3339())).collect();
            assert_eq!(got, expected, "{why}");
            assert_eq!(parts.last().map(|s| (s.end, s.fees_until)), Some((period.end(), period.end())), "{why}");
        }
        // 7 minutes and 1 second less than the rest of the month: 03:06:59 → Dec 1.
        let first = &segments(&period, &[change("2026-11-10T03:06:59Z", "payg").with_usage_from(period.start())])[0];
        let seconds = (period.end() - created).num_seconds();
        assert_eq!(first.proration(&period), Proration::of_seconds(seconds, 30 * 86_400));
    }

    #[test]
    fn a_first_periods_units_are_cut_at_the_bucket_its_tenant_was_created_in() {
        let period = period_containing(Tz::UTC, at("2026-11-10T00:00:00Z"));
        let created = [change("2026-11-10T03:06:59Z", "payg").with_usage_from(period.start())];
        let first = &segments(&period, &created)[0];
        assert_eq!(
            first.usage_before_fees(),
            (period.start(), at("2026-11-10T03:00:00Z")),
            "the creation's bucket counts after"
        );
        let units: Vec<String> = period_units(&period, &created).iter().map(|(from, _)| from.to_rfc3339()).collect();
        assert_eq!(units, [period.start().to_rfc3339(), at("2026-11-10T03:00:00Z").to_rfc3339()]);
        let changed = [
            change("2026-10-01T00:00:00Z", "free"),
            change("2026-11-10T03:06:59Z", "payg").with_usage_from(at("2026-11-10T03:00:00Z")),
        ];
        let later = &segments(&period, &changed)[1];
        assert_eq!(later.usage_before_fees(), (later.start, later.start), "a plan change's usage starts with it");
    }
}
