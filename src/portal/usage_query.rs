//! The usage page's question (`/portal/usage?from=…&to=…&granularity=…&group=…&meter=…`):
//! parsed from the query string into a checked [`UsageQuestion`], or refused with a sentence a
//! person can act on. Pure: the tenant's time zone and "now" are passed in.
//!
//! Dates are whole local days of the tenant's time zone, `to` included (a person picks "1 to
//! 30 November", not "up to 1 December, excluded"); the range read is their local midnights.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::aggregate::{month_period, unit_start, validate_range, Granularity, GroupBy, RangeError};
use crate::domain::Meter;

/// Most time units one page (and its CSV) holds: 62 days of hours, 4 years of days.
pub(crate) const MAX_UNITS: usize = 1_500;

/// The form as typed, echoed back into its fields when it is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UsageForm {
    pub from: String,
    pub to: String,
    pub granularity: String,
    pub group: String,
    pub meter: String,
}

/// A checked usage question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UsageQuestion {
    /// First local day shown.
    pub first_day: NaiveDate,
    /// Last local day shown (included).
    pub last_day: NaiveDate,
    pub granularity: Granularity,
    pub group: GroupBy,
    /// The meter the chart draws (the table and CSV have them all).
    pub meter: Meter,
    /// `[from, to)`: local midnight of `first_day` to local midnight after `last_day`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl UsageForm {
    /// The form from query parameters; absent ones default to the current billing period
    /// (in `tz` at `now`), by day, grouped by function, charting invocations.
    pub(crate) fn from_params(params: &HashMap<String, String>, tz: Tz, now: DateTime<Utc>) -> Self {
        let (start, end) = month_period(tz, now);
        let day = |at: DateTime<Utc>| at.with_timezone(&tz).date_naive().format("%Y-%m-%d").to_string();
        let last = end.with_timezone(&tz).date_naive().pred_opt().map(|d| d.format("%Y-%m-%d").to_string());
        let field = |name: &str, default: String| params.get(name).map_or(default, |v| v.trim().to_owned());
        Self {
            from: field("from", day(start)),
            to: field("to", last.unwrap_or_else(|| day(start))),
            granularity: field("granularity", "day".into()),
            group: field("group", "function".into()),
            meter: field("meter", Meter::Invocations.as_str().into()),
        }
    }

    /// Checks the form.
    ///
    /// # Errors
    /// A sentence saying which field is wrong and what it accepts.
    pub(crate) fn parse(&self, tz: Tz) -> Result<UsageQuestion, String> {
        let first_day = date(&self.from, "From")?;
        let last_day = date(&self.to, "To")?;
        if last_day < first_day {
            return Err("The end date is before the start date.".into());
        }
        let granularity = Granularity::parse(&self.granularity)
            .ok_or("Show usage by hour, by day or by month (granularity=hour, day or month).")?;
        let group =
            GroupBy::parse(&self.group).ok_or("Group usage by function or by region (group=function or region).")?;
        let meter = Meter::ALL
            .into_iter()
            .find(|m| m.as_str() == self.meter)
            .ok_or("Chart invocations, memory_gb_seconds or cpu_cycles (meter=…).")?;
        let (from, to) = (local_midnight(tz, first_day), local_midnight(tz, last_day.succ_opt().unwrap_or(last_day)));
        validate_range(tz, granularity, from, to, MAX_UNITS).map_err(|e| match e {
            RangeError::TooManyBuckets(_) => format!(
                "That range has more than {MAX_UNITS} {}s. Choose a shorter range or a coarser view.",
                granularity.as_str()
            ),
            other => format!("That range cannot be shown: {other}."),
        })?;
        Ok(UsageQuestion { first_day, last_day, granularity, group, meter, from, to })
    }
}

/// A `YYYY-MM-DD` date (what `<input type="date">` sends) between 2000 and 2199.
fn date(text: &str, field: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|d| (2000..2200).contains(&d.year()))
        .ok_or_else(|| format!("{field} must be a date written YYYY-MM-DD between 2000 and 2199, not {text:?}."))
}

/// The first instant of local `day` in `tz` (after a DST gap at midnight, if any): the start
/// of the local day holding its noon, which always exists.
fn local_midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let noon = day.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default());
    let at = tz.from_local_datetime(&noon).earliest().map_or_else(|| noon.and_utc(), |t| t.to_utc());
    unit_start(tz, Granularity::Day, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn parsed(pairs: &[(&str, &str)], tz: Tz) -> Result<UsageQuestion, String> {
        UsageForm::from_params(&params(pairs), tz, at("2026-11-27T12:00:00Z")).parse(tz)
    }

    #[test]
    fn no_parameters_mean_this_period_by_day_and_function() {
        let q = parsed(&[], Tz::UTC).unwrap();
        assert_eq!((q.from, q.to), (at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")));
        assert_eq!((q.granularity, q.group, q.meter), (Granularity::Day, GroupBy::Function, Meter::Invocations));
    }

    #[test]
    fn dates_are_whole_local_days_with_the_last_one_included() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let q = parsed(&[("from", "2026-11-01"), ("to", "2026-11-01"), ("granularity", "hour")], tz).unwrap();
        assert_eq!(q.from, at("2026-11-01T04:00:00Z"), "EDT midnight");
        assert_eq!(q.to, at("2026-11-02T05:00:00Z"), "EST midnight: the day has 25 hours");
    }

    #[test]
    fn every_bad_field_is_refused_with_a_sentence_naming_it() {
        let cases = [
            (vec![("from", "yesterday")], "From must be a date"),
            (vec![("to", "2026-13-01")], "To must be a date"),
            (vec![("from", "1900-01-01")], "between 2000 and 2199"),
            (vec![("from", "2026-11-10"), ("to", "2026-11-09")], "before the start"),
            (vec![("granularity", "week")], "by hour, by day or by month"),
            (vec![("group", "tenant")], "by function or by region"),
            (vec![("meter", "dollars")], "Chart invocations"),
            (vec![("from", "2026-01-01"), ("to", "2026-12-31"), ("granularity", "hour")], "more than 1500 hours"),
        ];
        for (pairs, expected) in cases {
            let error = parsed(&pairs, Tz::UTC).unwrap_err();
            assert!(error.contains(expected), "{pairs:?}: {error}");
        }
    }
}
