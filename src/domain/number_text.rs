//! The exact value of a number's text, read as significant digits and a power of ten, so a
//! wire number (a usage quantity, a tax rate) is judged by its value — its sign, its whole
//! digits, its decimal places — before any `Decimal` is built. `Decimal` cannot hold `1e-400`
//! or `1e400` and rounds beyond 28 digits, so building one first would call the first "too
//! big" and quietly round the last; `Decimal::from_str_exact` refuses `5e1`, a JSON number
//! like any other.
//!
//! Pure; allocates nothing (it runs for every ingested quantity).

use rust_decimal::Decimal;

/// Exponents beyond this are all the same to a quantity (far out of range either way), so an
/// exponent of any length saturates here rather than overflowing.
const EXPONENT_BOUND: i64 = 1_000_000_000;

/// A number as written: `[-]whole[.fraction][e[±]exponent]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NumberText<'t> {
    negative: bool,
    whole: &'t str,
    fraction: &'t str,
    exponent: i64,
}

impl<'t> NumberText<'t> {
    /// A JSON number's text (RFC 8259: optional `-`, digits, optional fraction and exponent);
    /// `None` for anything else.
    pub(crate) fn json(text: &'t str) -> Option<Self> {
        let (negative, rest) = text.strip_prefix('-').map_or((false, text), |rest| (true, rest));
        let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => (mantissa, Some(exponent)),
            None => (rest, None),
        };
        let plain = Self::plain(mantissa)?;
        let exponent = match exponent {
            Some(text) => parse_exponent(text)?,
            None => 0,
        };
        Some(Self { negative, exponent, ..plain })
    }

    /// A quantity string's text: `digits[.digits]`, no sign or exponent; `None` otherwise.
    pub(crate) fn plain(text: &'t str) -> Option<Self> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        let dangling_point = text.contains('.') && fraction.is_empty();
        (!whole.is_empty() && digits(whole) && digits(fraction) && !dangling_point).then_some(Self {
            negative: false,
            whole,
            fraction,
            exponent: 0,
        })
    }

    /// A decimal string as `Decimal::from_str_exact` reads one, which is how tax rates were
    /// read before this type, so clients sending `"+5"` or `".5"` keep being understood and
    /// `"-5"` keeps being "out of range" rather than "not a number": `[+|-]` then digits with
    /// at most one point, a digit on at least one side of it. No exponent (nor the `_`
    /// separators `Decimal` skips, which no client means). `None` otherwise.
    pub(crate) fn signed_decimal(text: &'t str) -> Option<Self> {
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (whole, fraction) = rest.split_once('.').unwrap_or((rest, ""));
        let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        let some_digit = !whole.is_empty() || !fraction.is_empty();
        (some_digit && digits(whole) && digits(fraction)).then_some(Self { negative, whole, fraction, exponent: 0 })
    }

    /// True when written with a point (`1.0`, `0.5`).
    pub(crate) fn has_point(&self) -> bool {
        !self.fraction.is_empty()
    }

    /// True for any spelling of zero (`0`, `-0`, `0.000`, `0e9`).
    pub(crate) fn is_zero(&self) -> bool {
        self.digits().all(|b| b == b'0')
    }

    /// True below zero (negative zero is zero, not negative).
    pub(crate) fn is_negative(&self) -> bool {
        self.negative && !self.is_zero()
    }

    /// Decimal places the value has (`0.250` → 2, `2.5e1` → 0, `1e-400` → 400).
    pub(crate) fn decimal_places(&self) -> i64 {
        self.power().saturating_neg().max(0)
    }

    /// Digits the value has before the point (`0.5` → 0, `1.5e3` → 4, `1e400` → 401).
    pub(crate) fn whole_digits(&self) -> i64 {
        self.significant_len().saturating_add(self.power()).max(0)
    }

    /// The exact value; `None` when `Decimal` cannot hold it (more than 28 digits either side
    /// of the point, or in all).
    pub(crate) fn value(&self) -> Option<Decimal> {
        if self.is_zero() {
            return Some(Decimal::ZERO);
        }
        let (length, power) = (self.significant_len(), self.power());
        if length > 28 || self.whole_digits() > 28 || self.decimal_places() > 28 {
            return None;
        }
        let leading = self.digits().take_while(|b| *b == b'0').count();
        let mut mantissa =
            self.digits().skip(leading).take(length as usize).fold(0i128, |m, b| m * 10 + i128::from(b - b'0'));
        if power > 0 {
            mantissa = mantissa.checked_mul(10i128.checked_pow(u32::try_from(power).ok()?)?)?;
        }
        let scale = u32::try_from(self.decimal_places()).ok()?;
        let value = Decimal::try_from_i128_with_scale(mantissa, scale).ok()?;
        Some(if self.negative { -value } else { value })
    }

    /// Every digit as written, whole part then fraction.
    fn digits(&self) -> impl DoubleEndedIterator<Item = u8> + 't {
        self.whole.bytes().chain(self.fraction.bytes())
    }

    /// Digits from the first non-zero to the last non-zero one; 0 for zero.
    fn significant_len(&self) -> i64 {
        let all = self.whole.len() + self.fraction.len();
        let leading = self.digits().take_while(|b| *b == b'0').count();
        let trailing = self.digits().rev().take_while(|b| *b == b'0').count();
        i64::try_from(all.saturating_sub(leading + trailing)).unwrap_or(i64::MAX)
    }

    /// The power of ten of the last significant digit: value = significant digits × 10^power.
    fn power(&self) -> i64 {
        if self.is_zero() {
            return 0;
        }
        let trailing = self.digits().rev().take_while(|b| *b == b'0').count();
        let shift =
            i64::try_from(trailing).unwrap_or(i64::MAX) - i64::try_from(self.fraction.len()).unwrap_or(i64::MAX);
        self.exponent.saturating_add(shift)
    }
}

/// `[+|-]digits`, saturating at ±[`EXPONENT_BOUND`].
fn parse_exponent(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.bytes().fold(0i64, |e, b| (e * 10 + i64::from(b - b'0')).min(EXPONENT_BOUND));
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(JSON text, decimal places, whole digits, exact value, why)`.
    #[test]
    fn a_number_is_read_as_its_exact_value_whatever_its_size() {
        let cases: &[(&str, i64, i64, Option<&str>, &str)] = &[
            ("0", 0, 0, Some("0"), "zero"),
            ("-0.000e-9", 0, 0, Some("0"), "negative zero, however written, has no places"),
            ("0.250", 2, 0, Some("0.25"), "a trailing zero is no decimal place"),
            ("00120", 0, 3, Some("120"), "leading zeros are no digits"),
            ("2.5e1", 0, 2, Some("25"), "an exponent moves the point"),
            ("-1.5E+3", 0, 4, Some("-1500"), "a signed exponent with a plus"),
            ("1e-400", 400, 0, None, "too fine for Decimal, yet its places are known"),
            ("1e400", 0, 401, None, "too large for Decimal, yet its digits are known"),
            ("1e99999999999999999999", 0, EXPONENT_BOUND + 1, None, "an exponent past i64 saturates"),
            ("0.10000000000000000000000000000001", 32, 0, None, "more digits than Decimal holds: not rounded"),
            ("9999999999999999999999999999", 0, 28, Some("9999999999999999999999999999"), "28 nines fit"),
        ];
        for (text, places, whole, value, why) in cases {
            let number = NumberText::json(text).expect(why);
            assert_eq!(number.decimal_places(), *places, "{why}: {text} places");
            assert_eq!(number.whole_digits(), *whole, "{why}: {text} whole digits");
            assert_eq!(number.value().map(|v| v.to_string()), value.map(str::to_owned), "{why}: {text} value");
        }
    }

    #[test]
    fn only_the_grammar_of_each_form_is_read() {
        for text in ["", "-", "+1", ".5", "5.", "1e", "1e+", "1.2.3", "0x1", "1_0", "NaN"] {
            assert_eq!(NumberText::json(text), None, "{text:?} is no JSON number");
        }
        for text in ["-1", "1e3", "+1", ".5", "5.", ""] {
            assert_eq!(NumberText::plain(text), None, "{text:?} is no plain decimal");
        }
        for text in ["", "-", "+", ".", "-.", "1e3", "1.2.3", "1_0", " 5", "5 ", "++5", "0x1"] {
            assert_eq!(NumberText::signed_decimal(text), None, "{text:?} is no signed decimal");
        }
        for (text, value) in [("+5", "5"), ("-5", "-5"), ("-0", "0"), (".5", "0.5"), ("5.", "5"), ("-.25", "-0.25")] {
            let number = NumberText::signed_decimal(text).and_then(|n| n.value()).map(|v| v.normalize().to_string());
            assert_eq!(number.as_deref(), Some(value), "{text:?} is a signed decimal");
        }
        assert!(NumberText::json("-0").is_some_and(|n| !n.is_negative()), "negative zero is not negative");
    }
}
