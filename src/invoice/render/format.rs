//! Text forms of amounts, quantities, rates and dates, shared by the HTML and PDF renderings
//! so both show exactly the same strings. Pure: no IO, no clock.

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::domain::{Currency, Money};

/// A rounded amount at the currency's precision, without the code: `"18.70"`, JPY `"1870"`,
/// KWD `"1.234"` — the form amounts take in JSON.
pub(crate) fn amount(value: Decimal, currency: Currency) -> String {
    Money::new(value, currency).format_amount()
}

/// An exact amount (a unit price, a tier's unrounded amount): at least the currency's
/// decimals, more only when the value has them (`"0.20"`, `"0.0000166667"`, `"8.33335"`).
pub(crate) fn exact(value: Decimal, currency: Currency) -> String {
    let mut value = value.normalize();
    if value.scale() < currency.minor_units() {
        value.rescale(currency.minor_units());
    }
    value.to_string()
}

/// A quantity with thousands separators and no trailing zeros: `"3,000,000"`, `"0.5"`.
pub(crate) fn quantity(value: Decimal) -> String {
    let text = value.normalize().to_string();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let mut out = String::from(sign);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// A percentage without trailing zeros: `8.875` → `"8.875%"`, `10` → `"10%"`.
pub(crate) fn percent(value: Decimal) -> String {
    format!("{}%", value.normalize())
}

/// A fraction as a percentage to two decimals at most: `0.516129…` → `"51.61%"`.
pub(crate) fn fraction_as_percent(value: Decimal) -> String {
    percent((value * Decimal::ONE_HUNDRED).round_dp(2))
}

/// The customer's time zone, or UTC when the snapshot holds a name chrono-tz does not know
/// (the name shown is then `"UTC"`, so no date is ever labelled with the wrong zone).
pub(crate) fn zone(name: &str) -> Tz {
    name.parse::<Tz>().unwrap_or(Tz::UTC)
}

/// A day, `"1 Mar 2026"`: unambiguous in every locale, unlike `03/01/2026`.
fn day(date: NaiveDate) -> String {
    date.format("%-d %b %Y").to_string()
}

/// The local date of an instant in `tz`.
pub(crate) fn date(at: DateTime<Utc>, tz: Tz) -> String {
    day(at.with_timezone(&tz).date_naive())
}

/// A half-open stretch `[start, end)` in `tz`. When both ends fall on local midnight (whole
/// days, as billing periods do) the end is shown as the last day included —
/// `"1 Mar 2026 – 31 Mar 2026"`; otherwise both instants are shown with their local time.
pub(crate) fn span(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> String {
    let (start, end) = (start.with_timezone(&tz), end.with_timezone(&tz));
    let midnight = |at: &DateTime<Tz>| at.num_seconds_from_midnight() == 0 && at.nanosecond() == 0;
    if midnight(&start) && midnight(&end) && start < end {
        let last = end.date_naive().pred_opt().unwrap_or(end.date_naive());
        if last == start.date_naive() {
            return day(last);
        }
        return format!("{} – {}", day(start.date_naive()), day(last));
    }
    let clock = "%-d %b %Y %H:%M";
    format!("{} – {}", start.format(clock), end.format(clock))
}

#[cfg(test)]
mod tests {
    use super::super::sample::dec;
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn amounts_take_the_precision_of_their_currency() {
        let cases = [("18.7", "USD", "18.70"), ("1869.5", "JPY", "1870"), ("1.2344", "KWD", "1.234")];
        for (value, code, expected) in cases {
            assert_eq!(amount(dec(value), Currency::parse(code).unwrap()), expected, "{value} {code}");
        }
    }

    #[test]
    fn exact_amounts_keep_every_significant_digit_but_at_least_the_currency_precision() {
        let usd = Currency::parse("USD").unwrap();
        let cases = [("0.2", "0.20"), ("0.0000166667", "0.0000166667"), ("8.333350", "8.33335"), ("0", "0.00")];
        for (value, expected) in cases {
            assert_eq!(exact(dec(value), usd), expected, "{value}");
        }
        assert_eq!(exact(dec("5.000"), Currency::parse("JPY").unwrap()), "5");
    }

    #[test]
    fn quantities_are_grouped_by_thousands_without_trailing_zeros() {
        let cases = [
            ("0", "0"),
            ("999", "999"),
            ("1000", "1,000"),
            ("3000000.000", "3,000,000"),
            ("1234567.25", "1,234,567.25"),
            ("-12345", "-12,345"),
        ];
        for (value, expected) in cases {
            assert_eq!(quantity(dec(value)), expected, "{value}");
        }
    }

    #[test]
    fn rates_and_fractions_read_as_percentages() {
        assert_eq!(percent(dec("8.875")), "8.875%");
        assert_eq!(percent(dec("10.00")), "10%");
        assert_eq!(fraction_as_percent(dec("0.516129032")), "51.61%");
    }

    #[test]
    fn a_whole_local_month_is_shown_by_its_first_and_last_day() {
        let tz = zone("America/New_York");
        // 1 March 00:00 EST and 1 April 00:00 EDT (the clocks moved on 8 March).
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 5, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 4, 1, 4, 0, 0).unwrap();
        assert_eq!(span(start, end, tz), "1 Mar 2026 – 31 Mar 2026");
        assert_eq!(span(start, end, zone("UTC")), "1 Mar 2026 05:00 – 1 Apr 2026 04:00");
    }

    #[test]
    fn an_unknown_time_zone_falls_back_to_utc() {
        assert_eq!(zone("Mars/Olympus_Mons"), Tz::UTC);
        assert_eq!(zone("Asia/Tokyo"), Tz::Asia__Tokyo);
    }
}
