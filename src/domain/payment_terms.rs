//! Payment terms: how long after finalization an invoice is due (DESIGN §7), written as
//! durations are everywhere in Tally (`14d`, `30d`, `12h`). One parser serves the settings
//! (`TALLY_PAYMENT_TERMS` and every other duration setting) and the tenant override.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The longest terms accepted: a year. Longer is a typo, not a contract.
const MAX_SECONDS: u64 = 366 * 86_400;

/// Time from finalization to due date, at most 366 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentTerms(u64);

impl PaymentTerms {
    /// The default of `TALLY_PAYMENT_TERMS`: 14 days.
    pub const DEFAULT: PaymentTerms = PaymentTerms(14 * 86_400);

    /// Terms written as `14d`, `36h`, `90m` or `3600s`, up to 366 days (`0d`: due on issue).
    pub fn parse(text: &str) -> Option<PaymentTerms> {
        Self::from_std(parse_duration_text(text)?)
    }

    /// Terms of `duration`, whole seconds; `None` above 366 days.
    pub fn from_std(duration: Duration) -> Option<PaymentTerms> {
        Some(duration.as_secs()).filter(|s| *s <= MAX_SECONDS).map(PaymentTerms)
    }

    /// When an invoice finalized at `issued_at` is due.
    pub fn due_after(self, issued_at: DateTime<Utc>) -> DateTime<Utc> {
        // At most 366 days in seconds: always representable.
        issued_at + chrono::Duration::seconds(i64::try_from(self.0).unwrap_or(i64::MAX / 1_000))
    }
}

/// The canonical text, in the largest unit that divides it: `14d`, `36h`, `90m`, `45s`.
impl fmt::Display for PaymentTerms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [(86_400, 'd'), (3_600, 'h'), (60, 'm')];
        let (size, unit) = units.into_iter().find(|(size, _)| self.0 % size == 0).unwrap_or((1, 's'));
        write!(f, "{}{unit}", self.0 / size)
    }
}

/// Parses a duration written as `90s`, `15m`, `1h` or `35d` (digits, then one unit).
pub fn parse_duration_text(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(unit_secs).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_read_back_in_their_largest_whole_unit() {
        for (text, shown) in
            [("14d", "14d"), ("48h", "2d"), ("36h", "36h"), ("90m", "90m"), ("45s", "45s"), ("0d", "0d")]
        {
            assert_eq!(PaymentTerms::parse(text).map(|t| t.to_string()).as_deref(), Some(shown), "{text}");
        }
    }

    #[test]
    fn terms_above_a_year_or_without_a_unit_are_refused() {
        for text in ["367d", "30", "d", "-1d", "1w", "99999999999999999999d"] {
            assert_eq!(PaymentTerms::parse(text), None, "{text}");
        }
    }

    /// The spec describes terms by a pattern (`NewTenant.payment_terms`); it admits exactly
    /// what `parse` does, for counts of each unit up to and past 366 days, leading zeros too.
    #[test]
    fn the_spec_s_pattern_admits_exactly_the_terms_that_parse() {
        let spec: serde_yaml::Value = serde_yaml::from_str(include_str!("../../api-spec/openapi.yaml")).unwrap();
        let pattern = spec["components"]["schemas"]["NewTenant"]["properties"]["payment_terms"]["pattern"].as_str();
        let pattern = regex_lite::Regex::new(pattern.unwrap()).unwrap();
        // Every count near 0 and near the bound, and a spread between (exhaustive for days and
        // hours; minutes and seconds would be millions of texts).
        let counts =
            |bound: u64| (0..10_000).chain((0..bound).step_by(997)).chain(bound.saturating_sub(10_000)..bound + 10_000);
        let texts = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)]
            .into_iter()
            .flat_map(move |(unit, size)| counts(MAX_SECONDS / size).map(move |n| format!("{n}{unit}")))
            .chain([format!("{}s", u64::MAX / 10)]);
        for text in texts.flat_map(|text| [format!("00{text}"), text]) {
            assert_eq!(pattern.is_match(&text), PaymentTerms::parse(&text).is_some(), "{text}");
        }
    }

    #[test]
    fn the_due_date_is_the_issue_date_plus_the_terms() {
        let issued = DateTime::from_timestamp(1_793_491_200, 0).unwrap();
        assert_eq!(PaymentTerms::DEFAULT.due_after(issued), issued + chrono::Duration::days(14));
    }
}
