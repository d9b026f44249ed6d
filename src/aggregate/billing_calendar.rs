//! A tenant's billing periods across time zone changes (DESIGN §6): local calendar months of
//! its time zone, where a change of zone applies from the next period.
//!
//! Why not just the months of the zone set now: two zones' months do not meet. A tenant moved
//! from UTC to Pacific/Kiritimati (UTC+14) in mid-November would have a November starting
//! 14 hours before October (closed, invoiced) ended — that usage billed twice — and one moved
//! to Pacific/Honolulu (UTC−10) a November starting 10 hours after October ended, that usage
//! in no period at all. So each zone the tenant had is kept with the instant it gave way
//! (`ZoneSpan`), always the end of the period in which the change was asked for, and the new
//! zone's first period runs from that instant to the end of the new zone's local month that
//! the instant falls at the start of. No two zones are more than 26 hours apart (UTC−12 to
//! UTC+14), so that first period is a month give or take at most 26 hours, never a sliver.
//!
//! Pure: instants in, instants out.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::month_period;
use crate::domain::{BillingPeriod, Tenant, ZoneSpan};

/// Past any two zones' offset difference (26 hours), and inside any month: an instant this far
/// into a zone's first period lies in the local month that period ends with.
const PAST_ANY_OFFSET: TimeDelta = TimeDelta::days(2);

/// The zones a tenant's periods follow: each of `history` until its `until`, then `zone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingCalendar {
    history: Vec<ZoneSpan>,
    zone: Tz,
}

impl BillingCalendar {
    /// The calendar of `tenant`: its earlier zones and the zone set now (which may take over
    /// only at the end of the current period).
    pub fn of(tenant: &Tenant) -> Self {
        Self { history: tenant.zone_history.clone(), zone: tenant.details.timezone }
    }

    /// One zone, always: a tenant that never changed zone.
    pub fn fixed(zone: Tz) -> Self {
        Self { history: Vec::new(), zone }
    }

    /// The billing period containing `at`.
    pub fn period_containing(&self, at: DateTime<Utc>) -> BillingPeriod {
        let (zone, since) = self.zone_and_start(at);
        let (start, end) = match since {
            Some(since) => {
                let first_end = month_period(zone, since + PAST_ANY_OFFSET).1;
                if at < first_end {
                    (since, first_end)
                } else {
                    month_period(zone, at)
                }
            }
            None => month_period(zone, at),
        };
        BillingPeriod::new(start, end).expect("a billing period is never empty")
    }

    /// The zone of the period containing `at`: the one its dates are shown in.
    pub fn zone_at(&self, at: DateTime<Utc>) -> Tz {
        self.zone_and_start(at).0
    }

    /// The history after the tenant asks at `now` for `zone`: the zone in force keeps the
    /// current period, `zone` follows from its end. Asked again before that end, the new
    /// answer replaces the pending one; asked for the zone in force, nothing is pending.
    pub fn history_after_asking(&self, zone: Tz, now: DateTime<Utc>) -> Vec<ZoneSpan> {
        let mut history = self.history.clone();
        let in_force = self.zone_at(now);
        if self.pending_change(now).is_some() {
            history.pop();
        }
        if zone != in_force {
            history.push(ZoneSpan { timezone: in_force, until: self.period_containing(now).end() });
        }
        history
    }

    /// The zone asked for that has not taken over by `now`, and the instant it will: the end
    /// of the period it was asked in. `None` when the zone in force is the last asked for.
    pub fn pending_change(&self, now: DateTime<Utc>) -> Option<(Tz, DateTime<Utc>)> {
        self.history.last().filter(|span| span.until > now).map(|span| (self.zone, span.until))
    }

    /// The zone in force at `at`, and the instant it took over (`None`: the first zone).
    fn zone_and_start(&self, at: DateTime<Utc>) -> (Tz, Option<DateTime<Utc>>) {
        let mut since = None;
        for span in &self.history {
            if at < span.until {
                return (span.timezone, since);
            }
            since = Some(span.until);
        }
        (self.zone, since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;

    fn zone(name: &str) -> Tz {
        name.parse().unwrap()
    }

    /// A calendar that was `from` and was asked for `to` at `asked`.
    fn moved(from: &str, to: &str, asked: &str) -> BillingCalendar {
        let before = BillingCalendar::fixed(zone(from));
        BillingCalendar { history: before.history_after_asking(zone(to), at(asked)), zone: zone(to) }
    }

    fn bounds(calendar: &BillingCalendar, instant: &str) -> (String, String) {
        let period = calendar.period_containing(at(instant));
        (period.start().to_rfc3339(), period.end().to_rfc3339())
    }

    fn pair(start: &str, end: &str) -> (String, String) {
        (at(start).to_rfc3339(), at(end).to_rfc3339())
    }

    #[test]
    fn a_zone_change_keeps_the_current_period_and_the_next_starts_where_it_ends() {
        // (from, to, instant, expected period, why)
        let cases = [
            (
                "UTC",
                "Pacific/Kiritimati",
                "2026-11-20T00:00:00Z",
                ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
                "the current period stays in the zone it began in",
            ),
            (
                "UTC",
                "Pacific/Kiritimati",
                "2026-12-10T00:00:00Z",
                ("2026-12-01T00:00:00Z", "2026-12-31T10:00:00Z"),
                "the first new period starts where the last ended and ends at a Kiritimati month end: 14 h short",
            ),
            (
                "UTC",
                "Pacific/Kiritimati",
                "2027-01-10T00:00:00Z",
                ("2026-12-31T10:00:00Z", "2027-01-31T10:00:00Z"),
                "then whole Kiritimati months",
            ),
            (
                "UTC",
                "Pacific/Honolulu",
                "2026-12-01T05:00:00Z",
                ("2026-12-01T00:00:00Z", "2027-01-01T10:00:00Z"),
                "behind UTC the first period is 10 h long, not a 10-hour sliver before a month",
            ),
            (
                "UTC",
                "Pacific/Honolulu",
                "2027-01-01T09:59:59Z",
                ("2026-12-01T00:00:00Z", "2027-01-01T10:00:00Z"),
                "its last instant",
            ),
            (
                "UTC",
                "UTC",
                "2026-12-10T00:00:00Z",
                ("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
                "asking for the zone in force changes nothing",
            ),
        ];
        for (from, to, instant, (start, end), why) in cases {
            assert_eq!(bounds(&moved(from, to, "2026-11-15T00:00:00Z"), instant), pair(start, end), "{why}");
        }
    }

    #[test]
    fn periods_chain_without_gap_or_overlap_across_changes() {
        let calendar = moved("Europe/Berlin", "America/New_York", "2026-03-20T12:00:00Z");
        let mut period = calendar.period_containing(at("2026-01-15T00:00:00Z"));
        for _ in 0..14 {
            let next = calendar.period_containing(period.end());
            assert_eq!(next.start(), period.end(), "{period:?} then {next:?}");
            assert!(next.end() - next.start() >= TimeDelta::days(27), "never a sliver: {next:?}");
            period = next;
        }
    }

    #[test]
    fn asking_again_before_the_change_replaces_it_and_asking_back_cancels_it() {
        let calendar = moved("UTC", "Pacific/Kiritimati", "2026-11-15T00:00:00Z");
        let again = BillingCalendar {
            history: calendar.history_after_asking(zone("Pacific/Honolulu"), at("2026-11-20T00:00:00Z")),
            zone: zone("Pacific/Honolulu"),
        };
        assert_eq!(again.history, vec![ZoneSpan { timezone: Tz::UTC, until: at("2026-12-01T00:00:00Z") }]);
        assert_eq!(bounds(&again, "2026-12-10T00:00:00Z"), pair("2026-12-01T00:00:00Z", "2027-01-01T10:00:00Z"));
        let back = calendar.history_after_asking(Tz::UTC, at("2026-11-20T00:00:00Z"));
        assert_eq!(back, vec![], "back to the zone in force: nothing pending");
    }

    #[test]
    fn a_change_asked_in_a_first_period_applies_at_its_end() {
        let calendar = moved("UTC", "Pacific/Kiritimati", "2026-11-15T00:00:00Z");
        let asked = at("2026-12-10T00:00:00Z");
        let later = BillingCalendar { history: calendar.history_after_asking(Tz::UTC, asked), zone: Tz::UTC };
        assert_eq!(later.zone_at(asked), zone("Pacific/Kiritimati"));
        assert_eq!(bounds(&later, "2026-12-10T00:00:00Z"), pair("2026-12-01T00:00:00Z", "2026-12-31T10:00:00Z"));
        assert_eq!(bounds(&later, "2027-01-05T00:00:00Z"), pair("2026-12-31T10:00:00Z", "2027-02-01T00:00:00Z"));
    }
}
