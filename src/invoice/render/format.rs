//! Text forms of amounts, quantities, rates and dates for people, shared by the HTML and PDF
//! invoices, the emails, the portal and `tally quote`, so all show exactly the same strings
//! (re-exported as `invoice::display_format`). Machine forms (JSON, CSV, webhooks, `data-*`
//! attributes) keep `Money::format_amount` and `Decimal`'s own text. Pure: no IO, no clock.

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::domain::{Currency, Money};

/// A rounded amount at the currency's precision, without the code, grouped by thousands:
/// `"1,234.50"`, JPY `"1,234,567"`, KWD `"1,234.568"`, `"-1,234.50"`. For people: JSON, CSV
/// and webhooks carry [`Money::format_amount`] (`"1234.50"`) instead.
pub(crate) fn amount(value: Decimal, currency: Currency) -> String {
    group_thousands(&Money::new(value, currency).format_amount())
}

/// An amount as people read it next to others of any currency: the code, then the rounded,
/// grouped amount (`"USD 1,234.50"`, `"JPY 1,234,567"`), as Stripe and Lago print them.
pub(crate) fn money(value: &Money) -> String {
    format!("{} {}", value.currency.code(), amount(value.amount, value.currency))
}

/// An exact amount (a unit price, a tier's unrounded amount): at least the currency's
/// decimals, more only when the value has them (`"0.20"`, `"0.0000166667"`, `"8.33335"`),
/// its whole part grouped by thousands and its fraction never (`"1,234.5678"`).
pub(crate) fn exact(value: Decimal, currency: Currency) -> String {
    let mut value = value.normalize();
    if value.scale() < currency.minor_units() {
        value.rescale(currency.minor_units());
    }
    group_thousands(&value.to_string())
}

/// A quantity with thousands separators and no trailing zeros: `"3,000,000"`, `"0.5"`.
pub(crate) fn quantity(value: Decimal) -> String {
    group_thousands(&value.normalize().to_string())
}

/// A plain decimal text (`"-1234567.0001"`, as `Decimal` prints it: never an exponent) with
/// a comma between each three digits of its whole part: `"-1,234,567.0001"`. The fraction is
/// left alone, because digits after the point are read from the left and are not grouped.
fn group_thousands(plain: &str) -> String {
    let (sign, digits) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let mut out = String::with_capacity(plain.len() + whole.len() / 3);
    out.push_str(sign);
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
    fn amounts_are_rounded_to_their_currency_and_grouped_by_thousands() {
        let cases = [
            ("0", "USD", "0.00", "zero keeps the currency's decimals"),
            ("999.99", "USD", "999.99", "below a thousand there is nothing to group"),
            ("1000", "USD", "1,000.00", "a thousand takes its first separator"),
            ("-1234.5", "USD", "-1,234.50", "the sign stays before the first digit, not a comma"),
            ("-0.001", "USD", "0.00", "a rounded zero is not negative"),
            ("1869.5", "JPY", "1,870", "a zero-decimal currency rounds to units, then groups"),
            ("1234567", "JPY", "1,234,567", "every three digits of the whole part"),
            (
                "1234.5678",
                "KWD",
                "1,234.568",
                "three decimals rounded half away from zero; the fraction is not grouped",
            ),
            ("1000000000000000.004", "USD", "1,000,000,000,000,000.00", "10^15 groups all five times"),
            ("10133619653.534999", "USD", "10,133,619,653.53", "the cent is decided before grouping"),
        ];
        for (value, code, expected, why) in cases {
            assert_eq!(amount(dec(value), Currency::parse(code).unwrap()), expected, "{value} {code}: {why}");
        }
    }

    #[test]
    fn money_reads_code_first_with_the_grouped_rounded_amount() {
        let money_of = |value: &str, code: &str| money(&Money::new(dec(value), Currency::parse(code).unwrap()));
        assert_eq!(money_of("18.705", "USD"), "USD 18.71", "rounded half away from zero, as the API");
        assert_eq!(money_of("1234567", "JPY"), "JPY 1,234,567");
        assert_eq!(money_of("-1234.5", "EUR"), "EUR -1,234.50");
    }

    #[test]
    fn exact_amounts_keep_every_significant_digit_but_at_least_the_currency_precision() {
        let usd = Currency::parse("USD").unwrap();
        let cases = [
            ("0.2", "0.20", "padded to cents"),
            ("0.0000166667", "0.0000166667", "a unit price keeps all its digits, ungrouped"),
            ("8.333350", "8.33335", "trailing zeros go, significant digits stay"),
            ("0", "0.00", "zero at the currency's precision"),
            ("1234.5678", "1,234.5678", "only the whole part is grouped"),
            ("-2500000.125", "-2,500,000.125", "negative tier amounts group after the sign"),
        ];
        for (value, expected, why) in cases {
            assert_eq!(exact(dec(value), usd), expected, "{value}: {why}");
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
