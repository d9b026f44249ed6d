//! Which periods quotas look at, and which plan version governs a period's quotas (pure).
//!
//! The current period, plus earlier ones that can still receive usage (their end is within
//! the allowed lateness): late records can cross a threshold of a period already invoiced.

use chrono::{DateTime, Duration, Utc};

use crate::aggregate::BillingCalendar;
use crate::domain::{plan_at, BillingPeriod, SubscriptionChange};
use crate::rate::{PlanCatalog, PlanVersion};

/// The period containing `now`, then the earlier periods whose end is after
/// `now − allowed_lateness` (newest first). At most three periods back, whatever the lateness.
pub fn periods_open_for_usage(
    calendar: &BillingCalendar,
    now: DateTime<Utc>,
    allowed_lateness: Duration,
) -> Vec<BillingPeriod> {
    let mut periods = vec![calendar.period_containing(now)];
    let oldest_accepted = now.checked_sub_signed(allowed_lateness).unwrap_or(DateTime::<Utc>::MIN_UTC);
    while periods.len() < 4 {
        let earliest = periods[periods.len() - 1];
        let previous = calendar.period_containing(earliest.start() - Duration::microseconds(1));
        if previous.end() <= oldest_accepted {
            break;
        }
        periods.push(previous);
    }
    periods
}

/// The plan version whose default quotas (and `allow_hard_budget`) apply to `period` as of
/// `now`: the plan in force at `now` (or at the period's last instant, for a period that has
/// ended), in the version that prices the period. `None` without a plan.
pub fn plan_for_period<'c>(
    catalog: &'c PlanCatalog,
    changes: &[SubscriptionChange],
    period: &BillingPeriod,
    now: DateTime<Utc>,
) -> Option<&'c PlanVersion> {
    let at = now.min(period.end() - Duration::microseconds(1));
    let plan_id = plan_at(changes, at)?;
    catalog.for_period_starting(plan_id, period.start())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;

    #[test]
    fn periods_still_open_for_late_usage_are_evaluated_too() {
        let cases = [
            ("2026-11-27T12:00:00Z", 35, vec!["2026-11-01", "2026-10-01"], "35 days reach back into October"),
            ("2026-11-27T12:00:00Z", 1, vec!["2026-11-01"], "one day of lateness: only November"),
            (
                "2026-12-03T00:00:00Z",
                35,
                vec!["2026-12-01", "2026-11-01", "2026-10-01"],
                "early December reaches October",
            ),
            ("2026-12-03T00:00:00Z", 3650, vec!["2026-12-01", "2026-11-01", "2026-10-01", "2026-09-01"], "capped"),
        ];
        for (now, days, expected, why) in cases {
            let found: Vec<String> =
                periods_open_for_usage(&BillingCalendar::fixed(chrono_tz::Tz::UTC), at(now), Duration::days(days))
                    .iter()
                    .map(|p| p.start().format("%Y-%m-%d").to_string())
                    .collect();
            assert_eq!(found, expected, "{why}");
        }
    }
}
