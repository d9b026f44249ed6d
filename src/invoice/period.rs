//! Billing periods and their segments (DESIGN §6): a calendar month in the tenant's time
//! zone, split where the plan changes; partial segments are prorated by seconds.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::aggregate::month_period;
use crate::domain::{plan_at, BillingPeriod, SubscriptionChange};

/// The local calendar month of `tz` containing `at`: a tenant's billing period.
pub fn period_containing(tz: Tz, at: DateTime<Utc>) -> BillingPeriod {
    let (start, end) = month_period(tz, at);
    BillingPeriod::new(start, end).expect("a calendar month is never empty")
}

/// A stretch of a period billed on one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub plan_id: String,
}

impl Segment {
    /// Segment seconds ÷ the period's seconds (exact across DST: both are real durations);
    /// exactly 1 for a whole period.
    pub fn proration(&self, period: &BillingPeriod) -> Decimal {
        let part = (self.end - self.start).num_seconds();
        let whole = (period.end() - period.start()).num_seconds();
        if part >= whole {
            return Decimal::ONE;
        }
        Decimal::from(part) / Decimal::from(whole)
    }
}

/// The segments of `period` given the tenant's subscription changes (ordered by
/// `effective_at`). Time before the first change is not billed (no plan yet).
pub fn segments(period: &BillingPeriod, changes: &[SubscriptionChange]) -> Vec<Segment> {
    let mut cuts: Vec<DateTime<Utc>> = vec![period.start()];
    cuts.extend(changes.iter().map(|c| c.effective_at).filter(|at| *at > period.start() && *at < period.end()));
    cuts.push(period.end());
    let mut out: Vec<Segment> = Vec::new();
    for pair in cuts.windows(2) {
        let Some(plan_id) = plan_at(changes, pair[0]) else { continue };
        match out.last_mut() {
            Some(last) if last.plan_id == plan_id && last.end == pair[0] => last.end = pair[1],
            _ => out.push(Segment { start: pair[0], end: pair[1], plan_id: plan_id.to_owned() }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;

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
        assert_eq!(
            parts,
            vec![Segment { start: at("2026-11-16T00:00:00Z"), end: period.end(), plan_id: "payg".into() }]
        );
        assert_eq!(parts[0].proration(&period), Decimal::from(15) / Decimal::from(30));
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
        assert_eq!(parts[0].proration(&period), Decimal::ONE);
        assert_eq!((period.end() - period.start()).num_hours(), 30 * 24 + 1, "November in LA has a 25-hour day");
    }
}
