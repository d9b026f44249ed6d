//! Which periods a billing run closes (pure): every period of the tenant's subscription whose
//! end + grace has passed by `as_of` and that is not closed yet; and which periods it passes
//! with no plan in force at all, whose usage it reports as unbilled (`uncovered_page.rs`).

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

use super::period::segments;
use crate::aggregate::BillingCalendar;
use crate::domain::{BillingPeriod, SubscriptionChange};

/// Periods due for closing, oldest first. Periods with no plan in force get no invoice.
pub fn due_periods(
    calendar: &BillingCalendar,
    changes: &[SubscriptionChange],
    closed: &HashSet<DateTime<Utc>>,
    as_of: DateTime<Utc>,
    grace: Duration,
) -> Vec<BillingPeriod> {
    let Some(first) = changes.first() else { return Vec::new() };
    let mut due = Vec::new();
    let mut period = calendar.period_containing(first.effective_at);
    while period.end() + grace <= as_of {
        if !closed.contains(&period.start()) && !segments(&period, changes).is_empty() {
            due.push(period);
        }
        period = calendar.period_containing(period.end());
    }
    due
}

/// Periods no plan covers that may carry late usage of a closed period before them, oldest
/// first. Late usage is billed on the tenant's next invoice (DESIGN §6); a tenant whose
/// subscription ended (deactivated, then back without a plan) has none, so its final
/// invoice's late records would be billed nowhere. Such a period gets an invoice of those
/// adjustments alone when there are any (`BillingRun::prepare`). A candidate is due (end +
/// grace passed by `as_of`), not closed, starts within the reach of a covered closed period's
/// late records (its end + `lateness` + grace), and is looked at until `lateness` + grace
/// after its own end: by then every late record of the period before it has arrived, and the
/// hourly run has billed it; a candidate with nothing to carry is not closed, so a later run
/// finds what arrived since.
pub fn carrier_periods(
    calendar: &BillingCalendar,
    changes: &[SubscriptionChange],
    closed: &[BillingPeriod],
    as_of: DateTime<Utc>,
    grace: Duration,
    lateness: Duration,
) -> Vec<BillingPeriod> {
    let starts: HashSet<DateTime<Utc>> = closed.iter().map(BillingPeriod::start).collect();
    let mut out: Vec<BillingPeriod> = Vec::new();
    for billed in closed.iter().filter(|p| !segments(p, changes).is_empty()) {
        let reach = billed.end() + lateness + grace;
        let mut period = calendar.period_containing(billed.end());
        while period.start() < reach && period.end() + grace <= as_of {
            let looked_at = as_of <= period.end() + lateness + grace;
            let uncovered = segments(&period, changes).is_empty();
            if looked_at && uncovered && !starts.contains(&period.start()) && !out.contains(&period) {
                out.push(period);
            }
            period = calendar.period_containing(period.end());
        }
    }
    out.sort_by_key(BillingPeriod::start);
    out
}

/// The periods with no plan in force at any instant that end in `(after, until]`, oldest first,
/// walked from the period holding `first` (the tenant's first instant: its creation or first
/// change). Such a period is never due, so no invoice closes it; the run reports its usage.
pub fn uncovered_periods(
    calendar: &BillingCalendar,
    changes: &[SubscriptionChange],
    first: DateTime<Utc>,
    after: Option<DateTime<Utc>>,
    until: DateTime<Utc>,
) -> Vec<BillingPeriod> {
    let mut out = Vec::new();
    let mut period = calendar.period_containing(after.map_or(first, |a| a.max(first)));
    while period.end() <= until {
        if after.is_none_or(|a| period.end() > a) && segments(&period, changes).is_empty() {
            out.push(period);
        }
        period = calendar.period_containing(period.end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use chrono_tz::Tz;

    #[test]
    fn a_period_closes_only_after_its_grace() {
        let changes = [SubscriptionChange::to_plan(at("2026-10-15T00:00:00Z"), "p")];
        let due = |as_of: &str| {
            due_periods(
                &BillingCalendar::fixed(Tz::Asia__Kolkata),
                &changes,
                &HashSet::new(),
                at(as_of),
                Duration::hours(1),
            )
        };
        assert_eq!(due("2026-10-31T19:29:59Z").len(), 0, "October in Kolkata ends at 18:30 UTC, + 1 h grace");
        let october = due("2026-10-31T19:30:00Z");
        assert_eq!(october.len(), 1);
        assert_eq!(october[0].start(), at("2026-09-30T18:30:00Z"));
        assert_eq!(due("2026-12-31T00:00:00Z").len(), 2);
    }

    #[test]
    fn closed_periods_and_tenants_without_a_plan_are_skipped() {
        let changes = [SubscriptionChange::to_plan(at("2026-09-01T00:00:00Z"), "p")];
        let closed: HashSet<_> = [at("2026-09-01T00:00:00Z")].into();
        let due = due_periods(
            &BillingCalendar::fixed(Tz::UTC),
            &changes,
            &closed,
            at("2026-11-02T00:00:00Z"),
            Duration::hours(1),
        );
        assert_eq!(due.iter().map(|p| p.start()).collect::<Vec<_>>(), vec![at("2026-10-01T00:00:00Z")]);
        assert!(due_periods(
            &BillingCalendar::fixed(Tz::UTC),
            &[],
            &HashSet::new(),
            at("2030-01-01T00:00:00Z"),
            Duration::zero()
        )
        .is_empty());
    }

    #[test]
    fn periods_that_may_carry_late_usage_are_the_uncovered_ones_within_its_reach() {
        // On a plan in October only, October invoiced; lateness 35 days, grace 1 hour.
        let changes = [
            SubscriptionChange::to_plan(at("2026-10-01T00:00:00Z"), "p"),
            SubscriptionChange::end(at("2026-11-01T00:00:00Z"), at("2026-11-01T00:00:00Z")),
        ];
        let october = BillingPeriod::new(at("2026-10-01T00:00:00Z"), at("2026-11-01T00:00:00Z")).unwrap();
        let november = BillingPeriod::new(at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")).unwrap();
        let carriers = |closed: &[BillingPeriod], as_of: &str| {
            let calendar = BillingCalendar::fixed(Tz::UTC);
            carrier_periods(&calendar, &changes, closed, at(as_of), Duration::hours(1), Duration::days(35))
                .iter()
                .map(|p| p.start().format("%b").to_string())
                .collect::<Vec<_>>()
        };
        let cases: [(&[BillingPeriod], &str, Vec<&str>, &str); 7] = [
            (&[], "2027-01-01T01:00:00Z", vec![], "nothing invoiced: nothing late to carry"),
            (&[october], "2026-12-01T00:59:59Z", vec![], "November's grace has not passed"),
            (&[october], "2026-12-01T01:00:00Z", vec!["Nov"], "November is due and in October's reach"),
            (&[october], "2027-01-01T01:00:00Z", vec!["Nov", "Dec"], "December starts before November 1 + 35 days"),
            (&[october, november], "2027-01-01T01:00:00Z", vec!["Dec"], "November closed (it carried some)"),
            (&[october], "2027-02-01T01:00:00Z", vec!["Dec"], "November is looked at until 35 days after its end"),
            (&[october], "2027-02-05T01:00:01Z", vec![], "and December too; January starts past October's reach"),
        ];
        for (closed, as_of, expected, why) in cases {
            assert_eq!(carriers(closed, as_of), expected, "{why}");
        }
    }

    #[test]
    fn uncovered_periods_are_those_without_a_segment_ending_in_the_window() {
        // On a plan in October only: September (before it) and December on (after its end).
        let changes = [
            SubscriptionChange::to_plan(at("2026-10-01T00:00:00Z"), "p"),
            SubscriptionChange::end(at("2026-11-01T00:00:00Z"), at("2026-11-01T00:00:00Z")),
        ];
        let calendar = BillingCalendar::fixed(Tz::UTC);
        let starts = |after: Option<&str>, until: &str| {
            uncovered_periods(&calendar, &changes, at("2026-09-15T00:00:00Z"), after.map(at), at(until))
                .iter()
                .map(|p| p.start())
                .collect::<Vec<_>>()
        };
        let (sep, nov, dec) = (at("2026-09-01T00:00:00Z"), at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z"));
        assert_eq!(starts(None, "2026-12-31T23:00:00Z"), vec![sep, nov], "December has not ended");
        assert_eq!(starts(None, "2027-01-01T00:00:00Z"), vec![sep, nov, dec]);
        assert_eq!(starts(Some("2026-12-01T00:00:00Z"), "2027-01-01T00:00:00Z"), vec![dec], "November ended by then");
        assert!(starts(Some("2027-01-01T00:00:00Z"), "2027-01-01T00:00:00Z").is_empty());
    }
}
