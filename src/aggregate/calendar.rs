//! Tenant-local calendar units: the hour, day and month boundaries of a tenant's time zone.
//!
//! Stage: aggregate. Inputs are a `chrono_tz::Tz` and UTC instants; outputs are UTC instants.
//! Pure: no clock (the instant is always passed in), no SQL, no HTTP. Usage series and
//! billing periods (DESIGN §4, §6) are built from these units, so both agree on where a
//! local day or month begins — including across DST changes.
//!
//! Units are half-open `[start, next_start)` and partition the time line. Every current IANA
//! offset and transition falls on a 15-minute boundary, so every unit is an exact union of
//! rollup buckets ([`super::BUCKET_SECONDS`]).

use chrono::{
    DateTime, Datelike, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

use crate::domain::enum_with_stored_names;

/// One rollup bucket; also the step used to walk over DST gaps and offset changes.
const QUARTER: TimeDelta = TimeDelta::minutes(15);

/// How far [`first_instant_of`] walks across a gap. The widest gap on record is
/// Pacific/Apia skipping all of 2011-12-30 (one day); two days leaves room.
const MAX_GAP_QUARTERS: usize = 2 * 24 * 4;

enum_with_stored_names! {
    /// The width of a time bucket in a usage series (`granularity=hour|day|month`, DESIGN §4);
    /// `ALL` is finest first.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Granularity {
        Hour => "hour",
        Day => "day",
        Month => "month",
    }
}

/// The start of the local hour, day or month (in `tz`) that contains `at`.
///
/// - `Hour`: `at` minus its local minutes and seconds, at `at`'s own offset, so each of the
///   two local 01:00 hours of a fall-back night is its own unit. Where an offset change that
///   is not a whole hour (Australia/Lord_Howe's 30-minute DST) falls inside a local hour,
///   the change instant starts a new unit.
/// - `Day` / `Month`: local midnight of the date / of the 1st. When that midnight does not
///   exist (a DST gap at midnight, as in America/Santiago), the first instant after the gap;
///   when it exists twice, the earlier one.
pub fn unit_start(tz: Tz, granularity: Granularity, at: DateTime<Utc>) -> DateTime<Utc> {
    match granularity {
        Granularity::Hour => hour_start(tz, at),
        Granularity::Day => first_instant_of(tz, at.with_timezone(&tz).date_naive()),
        Granularity::Month => first_instant_of(tz, first_of_month(at.with_timezone(&tz).date_naive())),
    }
}

/// The start of the unit after the one starting at `unit_start`.
///
/// If `unit_start` is not itself a unit start, this is the start of the unit after the one
/// containing it. A local day that never existed (Pacific/Apia's 2011-12-30) is skipped:
/// the day before it ends where the day after it begins. Saturates at
/// `DateTime::<Utc>::MAX_UTC` at the end of chrono's range.
pub fn next_unit_start(tz: Tz, granularity: Granularity, unit_start: DateTime<Utc>) -> DateTime<Utc> {
    let local_date = || unit_start.with_timezone(&tz).date_naive();
    let next_date = match granularity {
        Granularity::Hour => return next_hour_start(tz, unit_start),
        Granularity::Day => local_date().succ_opt(),
        Granularity::Month => first_of_month(local_date()).checked_add_months(Months::new(1)),
    };
    next_date.map_or(DateTime::<Utc>::MAX_UTC, |date| first_instant_of(tz, date))
}

/// The local calendar month containing `at`, half-open `[start, end)`.
///
/// This is the billing period of DESIGN §6; its length in seconds (exact across DST) is the
/// denominator of proration.
pub fn month_period(tz: Tz, at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = unit_start(tz, Granularity::Month, at);
    (start, next_unit_start(tz, Granularity::Month, start))
}

/// Walks the units of `granularity` that intersect `[from, to)`, clipped to the range: the
/// first starts at `from`, the last ends at `to`. Empty when `from >= to`.
pub(crate) fn units_in_range(
    tz: Tz,
    granularity: Granularity,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> {
    let mut cursor = from;
    std::iter::from_fn(move || {
        if cursor >= to {
            return None;
        }
        let start = cursor;
        cursor = next_unit_start(tz, granularity, start).min(to);
        Some((start, cursor))
    })
}

/// The zone's total UTC offset at an instant.
fn offset_at(tz: Tz, at: DateTime<Utc>) -> chrono::FixedOffset {
    tz.offset_from_utc_datetime(&at.naive_utc()).fix()
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).expect("day 1 exists in every month")
}

/// `at` minus its local minutes and seconds at its own offset, moved forward to the last
/// offset change inside that local hour if there is one.
fn hour_start(tz: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
    let local = at.with_timezone(&tz);
    let offset = local.offset().fix();
    let local_hour = local.date_naive().and_hms_opt(local.hour(), 0, 0).expect("an instant's own local hour is valid");
    let mut start = local_hour.checked_sub_offset(offset).map_or(at, |naive| naive.and_utc()).min(at);
    // Instants between `start` and an offset change inside the hour belong to the previous
    // unit. Ends at the latest on `at` itself, whose offset is `offset`.
    while offset_at(tz, start) != offset {
        start = start.checked_add_signed(QUARTER).map_or(at, |later| later.min(at));
    }
    start
}

/// The first hour start after the hour unit containing `at`.
fn next_hour_start(tz: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
    let start = hour_start(tz, at);
    // The next unit starts within the hour; an offset change may start it early.
    for quarters in 1..=4 {
        let Some(candidate) = start.checked_add_signed(QUARTER * quarters) else {
            return DateTime::<Utc>::MAX_UTC;
        };
        if hour_start(tz, candidate) == candidate {
            return candidate;
        }
    }
    start.checked_add_signed(TimeDelta::hours(1)).map_or(DateTime::<Utc>::MAX_UTC, |later| hour_start(tz, later))
}

/// The first instant of a local date: its midnight, the earlier one if it occurs twice, or
/// the first instant after a DST gap that swallows it.
fn first_instant_of(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    let mut local = midnight;
    for _ in 0..=MAX_GAP_QUARTERS {
        if let Some(instant) = tz.from_local_datetime(&local).earliest() {
            return instant.to_utc();
        }
        match local.checked_add_signed(QUARTER) {
            Some(later) => local = later,
            None => break,
        }
    }
    // Unreachable with IANA data (see MAX_GAP_QUARTERS); read midnight at the offset of the
    // instant with the same wall-clock reading, rather than panic.
    at_offset_of_same_reading(tz, midnight)
}

fn at_offset_of_same_reading(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let offset = offset_at(tz, local.and_utc());
    local.checked_sub_offset(offset).unwrap_or(local).and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::bucket_start;
    use crate::domain::testing::at;
    use proptest::prelude::*;

    /// The units of `granularity` starting at the one holding `first`, as RFC 3339 UTC text.
    fn starts(tz: Tz, granularity: Granularity, first: &str, count: usize) -> Vec<String> {
        let mut start = unit_start(tz, granularity, at(first));
        let mut out = Vec::new();
        for _ in 0..count {
            out.push(start.to_rfc3339());
            start = next_unit_start(tz, granularity, start);
        }
        out
    }

    fn hours_long(tz: Tz, granularity: Granularity, inside: &str) -> i64 {
        let start = unit_start(tz, granularity, at(inside));
        (next_unit_start(tz, granularity, start) - start).num_hours()
    }

    #[test]
    fn granularity_parses_its_lowercase_wire_names_only() {
        assert_eq!(Granularity::parse("hour"), Some(Granularity::Hour));
        assert_eq!(Granularity::parse("day"), Some(Granularity::Day));
        assert_eq!(Granularity::parse("month"), Some(Granularity::Month));
        assert_eq!(Granularity::parse("Day"), None);
        assert_eq!(Granularity::parse("week"), None);
        assert_eq!(serde_json::to_string(&Granularity::Month).unwrap(), r#""month""#);
        assert_eq!(serde_json::from_str::<Granularity>(r#""hour""#).unwrap(), Granularity::Hour);
    }

    #[test]
    fn utc_units_are_plain_hours_days_and_months() {
        let t = "2024-05-10T10:20:30.5Z";
        assert_eq!(unit_start(Tz::UTC, Granularity::Hour, at(t)), at("2024-05-10T10:00:00Z"));
        assert_eq!(unit_start(Tz::UTC, Granularity::Day, at(t)), at("2024-05-10T00:00:00Z"));
        assert_eq!(unit_start(Tz::UTC, Granularity::Month, at(t)), at("2024-05-01T00:00:00Z"));
        assert_eq!(
            next_unit_start(Tz::UTC, Granularity::Month, at("2024-12-01T00:00:00Z")),
            at("2025-01-01T00:00:00Z")
        );
    }

    #[test]
    fn half_and_quarter_hour_zones_start_their_units_off_the_utc_hour() {
        use chrono_tz::Asia::{Kathmandu, Kolkata};
        use Granularity::{Day, Hour};
        let cases = [
            (Kolkata, Hour, "2024-05-10T10:20:00Z", "2024-05-10T09:30:00Z", "Kolkata hours start at half past"),
            (Kolkata, Hour, "2024-05-10T10:30:00Z", "2024-05-10T10:30:00Z", "half past starts its own hour"),
            (Kolkata, Day, "2024-05-10T10:20:00Z", "2024-05-09T18:30:00Z", "Kolkata midnight is 18:30 UTC"),
            (Kolkata, Day, "2024-05-10T18:30:00Z", "2024-05-10T18:30:00Z", "local midnight starts its own day"),
            (Kathmandu, Hour, "2024-05-10T10:20:00Z", "2024-05-10T10:15:00Z", "Kathmandu hours start at :15"),
            (Kathmandu, Hour, "2024-05-10T10:10:00Z", "2024-05-10T09:15:00Z", "before :15 is the previous hour"),
            (Kathmandu, Day, "2024-05-10T10:20:00Z", "2024-05-09T18:15:00Z", "Kathmandu midnight is 18:15 UTC"),
        ];
        for (tz, granularity, instant, start, why) in cases {
            assert_eq!(unit_start(tz, granularity, at(instant)), at(start), "{instant} in {tz}: {why}");
        }
        assert_eq!(next_unit_start(Kolkata, Hour, at("2024-05-10T09:30:00Z")), at("2024-05-10T10:30:00Z"));
        assert_eq!(hours_long(Kolkata, Day, "2024-05-10T10:20:00Z"), 24);
    }

    #[test]
    fn los_angeles_spring_forward_day_has_23_hours_and_skips_local_two_oclock() {
        let tz = chrono_tz::America::Los_Angeles;
        assert_eq!(hours_long(tz, Granularity::Day, "2024-03-10T12:00:00Z"), 23);
        // Local 01:00 PST is followed directly by 03:00 PDT.
        let hours = starts(tz, Granularity::Hour, "2024-03-10T09:10:00Z", 3);
        assert_eq!(hours, ["2024-03-10T09:00:00+00:00", "2024-03-10T10:00:00+00:00", "2024-03-10T11:00:00+00:00"]);
        assert_eq!(unit_start(tz, Granularity::Hour, at("2024-03-10T10:30:00Z")).with_timezone(&tz).hour(), 3);
    }

    #[test]
    fn los_angeles_fall_back_day_has_25_hours_and_two_local_one_oclock_hours() {
        let tz = chrono_tz::America::Los_Angeles;
        assert_eq!(hours_long(tz, Granularity::Day, "2024-11-03T12:00:00Z"), 25);
        assert_eq!(unit_start(tz, Granularity::Day, at("2024-11-03T12:00:00Z")), at("2024-11-03T07:00:00Z"));
        // 01:00 PDT and 01:00 PST are separate units, each one hour long.
        let hours = starts(tz, Granularity::Hour, "2024-11-03T08:45:00Z", 3);
        assert_eq!(hours, ["2024-11-03T08:00:00+00:00", "2024-11-03T09:00:00+00:00", "2024-11-03T10:00:00+00:00"]);
        assert_eq!(unit_start(tz, Granularity::Hour, at("2024-11-03T09:30:00Z")), at("2024-11-03T09:00:00Z"));
        for start in &hours[..2] {
            assert_eq!(at(start).with_timezone(&tz).hour(), 1, "{start} is a local one o'clock");
        }
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_when_the_gap_ends() {
        // America/Santiago springs forward at 24:00: 2024-09-08 begins at 01:00 -03.
        let santiago = chrono_tz::America::Santiago;
        assert_eq!(unit_start(santiago, Granularity::Day, at("2024-09-08T12:00:00Z")), at("2024-09-08T04:00:00Z"));
        assert_eq!(hours_long(santiago, Granularity::Day, "2024-09-08T12:00:00Z"), 23);
        // Cuba did the same on 2024-03-10.
        let havana = chrono_tz::America::Havana;
        assert_eq!(unit_start(havana, Granularity::Day, at("2024-03-10T12:00:00Z")), at("2024-03-10T05:00:00Z"));
    }

    #[test]
    fn a_day_whose_midnight_occurs_twice_starts_at_the_first() {
        // Cuba fell back from 01:00 CDT to 00:00 CST on 2024-11-03.
        let havana = chrono_tz::America::Havana;
        assert_eq!(unit_start(havana, Granularity::Day, at("2024-11-03T12:00:00Z")), at("2024-11-03T04:00:00Z"));
        assert_eq!(hours_long(havana, Granularity::Day, "2024-11-03T12:00:00Z"), 25);
    }

    #[test]
    fn a_half_hour_dst_change_starts_a_new_hour_unit() {
        let tz = chrono_tz::Australia::Lord_Howe;
        // Fall back 02:00 +11 → 01:30 +10:30: the repeated half hour is its own unit.
        let autumn = starts(tz, Granularity::Hour, "2024-04-06T14:10:00Z", 3);
        assert_eq!(autumn, ["2024-04-06T14:00:00+00:00", "2024-04-06T15:00:00+00:00", "2024-04-06T15:30:00+00:00"]);
        // Spring forward 02:00 +10:30 → 02:30 +11: local 02:30–03:00 is a half-hour unit.
        let spring = starts(tz, Granularity::Hour, "2024-10-05T14:40:00Z", 3);
        assert_eq!(spring, ["2024-10-05T14:30:00+00:00", "2024-10-05T15:30:00+00:00", "2024-10-05T16:00:00+00:00"]);
    }

    #[test]
    fn kathmandus_1986_move_to_plus_0545_skipped_local_midnight() {
        let tz = chrono_tz::Asia::Kathmandu;
        assert_eq!(unit_start(tz, Granularity::Day, at("1986-01-01T06:00:00Z")), at("1985-12-31T18:30:00Z"));
        let hours = starts(tz, Granularity::Hour, "1985-12-31T18:20:00Z", 3);
        assert_eq!(hours, ["1985-12-31T17:30:00+00:00", "1985-12-31T18:30:00+00:00", "1985-12-31T19:15:00+00:00"]);
    }

    #[test]
    fn a_calendar_day_that_never_existed_yields_no_unit() {
        // Samoa skipped 2011-12-30 when it crossed the date line.
        let days = starts(chrono_tz::Pacific::Apia, Granularity::Day, "2011-12-29T12:00:00Z", 3);
        assert_eq!(days, ["2011-12-29T10:00:00+00:00", "2011-12-30T10:00:00+00:00", "2011-12-31T10:00:00+00:00"]);
        let second = at(&days[1]).with_timezone(&chrono_tz::Pacific::Apia);
        assert_eq!(second.date_naive(), NaiveDate::from_ymd_opt(2011, 12, 31).unwrap());
    }

    #[test]
    fn months_start_at_local_midnight_on_either_side_of_dst_and_of_the_date_line() {
        use chrono_tz::{Europe::Paris, Pacific::Auckland};
        let cases = [
            (Paris, "2024-03-15T12:00:00Z", "2024-02-29T23:00:00Z", "2024-03-31T22:00:00Z", "Paris March: CET to CEST"),
            (
                Paris,
                "2024-10-15T12:00:00Z",
                "2024-09-30T22:00:00Z",
                "2024-10-31T23:00:00Z",
                "Paris October: CEST to CET",
            ),
            (
                Paris,
                "2024-03-31T22:30:00Z",
                "2024-03-31T22:00:00Z",
                "2024-04-30T22:00:00Z",
                "22:30 UTC is April in Paris",
            ),
            (
                Auckland,
                "2024-04-15T00:00:00Z",
                "2024-03-31T11:00:00Z",
                "2024-04-30T12:00:00Z",
                "NZDT (+13) to NZST (+12)",
            ),
            (
                Auckland,
                "2024-03-31T10:59:59Z",
                "2024-02-29T11:00:00Z",
                "2024-03-31T11:00:00Z",
                "March ends the UTC day before",
            ),
            (
                Auckland,
                "2024-12-31T11:00:00Z",
                "2024-12-31T11:00:00Z",
                "2025-01-31T11:00:00Z",
                "January begins on 31 Dec UTC",
            ),
        ];
        for (tz, instant, start, end, why) in cases {
            assert_eq!(month_period(tz, at(instant)), (at(start), at(end)), "{instant} in {tz}: {why}");
        }
    }

    #[test]
    fn february_has_29_days_in_a_leap_year_and_28_otherwise() {
        for (tz, inside, days) in [
            (Tz::UTC, "2024-02-10T00:00:00Z", 29),
            (Tz::UTC, "2023-02-10T00:00:00Z", 28),
            (chrono_tz::Asia::Kolkata, "2024-02-29T18:29:59Z", 29),
            (chrono_tz::Asia::Kolkata, "2023-02-28T18:29:59Z", 28),
        ] {
            let (start, end) = month_period(tz, at(inside));
            assert_eq!((end - start).num_days(), days, "{tz} February holding {inside}");
        }
        let kolkata = month_period(chrono_tz::Asia::Kolkata, at("2024-02-29T20:00:00Z"));
        assert_eq!(
            kolkata,
            (at("2024-02-29T18:30:00Z"), at("2024-03-31T18:30:00Z")),
            "after 18:30Z it is March in Kolkata"
        );
    }

    #[test]
    fn next_unit_start_of_an_instant_inside_a_unit_is_the_following_unit() {
        let tz = chrono_tz::Asia::Kolkata;
        assert_eq!(next_unit_start(tz, Granularity::Hour, at("2024-05-10T10:20:00Z")), at("2024-05-10T10:30:00Z"));
        assert_eq!(next_unit_start(tz, Granularity::Day, at("2024-05-10T10:20:00Z")), at("2024-05-10T18:30:00Z"));
    }

    #[test]
    fn units_in_range_are_clipped_to_the_range() {
        let units: Vec<_> =
            units_in_range(Tz::UTC, Granularity::Day, at("2024-05-10T06:00:00Z"), at("2024-05-12T06:00:00Z")).collect();
        let expected = [
            (at("2024-05-10T06:00:00Z"), at("2024-05-11T00:00:00Z")),
            (at("2024-05-11T00:00:00Z"), at("2024-05-12T00:00:00Z")),
            (at("2024-05-12T00:00:00Z"), at("2024-05-12T06:00:00Z")),
        ];
        assert_eq!(units, expected);
        assert_eq!(units_in_range(Tz::UTC, Granularity::Day, expected[1].1, expected[1].0).count(), 0);
    }

    const ZONES: [Tz; 8] = [
        Tz::UTC,
        chrono_tz::Asia::Kolkata,
        chrono_tz::Asia::Kathmandu,
        chrono_tz::America::Los_Angeles,
        chrono_tz::America::Santiago,
        chrono_tz::America::Havana,
        chrono_tz::Australia::Lord_Howe,
        chrono_tz::Pacific::Apia,
    ];

    #[test]
    fn walking_a_year_quarter_by_quarter_meets_each_unit_once_and_in_order() {
        let mut years: Vec<(Tz, i32)> = ZONES.iter().map(|tz| (*tz, 2024)).collect();
        years.extend([(chrono_tz::Pacific::Apia, 2011), (chrono_tz::Asia::Kathmandu, 1985)]);
        for (tz, year) in years {
            for granularity in Granularity::ALL {
                let from = at(&format!("{year}-01-01T00:00:00Z"));
                let (mut unit, mut next) = (unit_start(tz, granularity, from), next_unit_start(tz, granularity, from));
                let mut quarter = from;
                while quarter < at(&format!("{}-01-01T00:00:00Z", year + 1)) {
                    if quarter == next {
                        (unit, next) = (next, next_unit_start(tz, granularity, next));
                    }
                    assert_eq!(unit_start(tz, granularity, quarter), unit, "{tz} {granularity:?} at {quarter}");
                    quarter += QUARTER;
                }
            }
        }
    }

    proptest! {
        #[test]
        fn units_partition_time_on_bucket_boundaries(
            zone in 0..ZONES.len(),
            granularity in 0..Granularity::ALL.len(),
            seconds in 315_532_800i64..2_208_988_800, // 1980..2040
        ) {
            let (tz, granularity) = (ZONES[zone], Granularity::ALL[granularity]);
            let instant = DateTime::from_timestamp(seconds, 0).unwrap();
            let start = unit_start(tz, granularity, instant);
            let next = next_unit_start(tz, granularity, start);
            prop_assert!(start <= instant && instant < next, "{start} <= {instant} < {next}");
            prop_assert_eq!(unit_start(tz, granularity, start), start);
            prop_assert_eq!(unit_start(tz, granularity, next), next);
            prop_assert_eq!(next_unit_start(tz, granularity, instant), next);
            prop_assert_eq!(bucket_start(start), start);
        }
    }
}
