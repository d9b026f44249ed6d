//! Exact money arithmetic past `Decimal`'s 28 digits (DESIGN §5: "every line is computed
//! exactly, then rounded" once).
//!
//! `Decimal` holds 28–29 significant digits, so `quantity × unit_price` of a 27-digit quantity
//! and a 6-digit price is rounded inside the multiplication — before the cent is decided, which
//! can move the cent (…53.5349999… became …53.535 → .54). Here a product of decimals is kept
//! whole ([`Exact`]), divided only as a [`Fraction`] (a price per `price_per` units, a fee
//! prorated by seconds), and rounded once: to the minor unit with [`Fraction::round_dp`], or
//! to the nearest `Decimal` toward zero with [`Fraction::truncated`], which says whether that
//! is the exact value. Pure; overflow is `None`, for callers to name.

use rust_decimal::Decimal;

use super::wide::U512;

/// The largest `Decimal` mantissa, 2^96 − 1.
const DECIMAL_MANTISSA_MAX: u128 = (1 << 96) - 1;
/// `Decimal`'s largest scale.
const DECIMAL_SCALE_MAX: u32 = 28;

/// A terminating decimal of up to 512 bits: ±`magnitude` × 10^−`scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exact {
    negative: bool,
    magnitude: U512,
    scale: u32,
}

impl From<Decimal> for Exact {
    fn from(value: Decimal) -> Exact {
        Exact {
            negative: value.is_sign_negative() && !value.is_zero(),
            magnitude: U512::from_u128(value.mantissa().unsigned_abs()),
            scale: value.scale(),
        }
    }
}

impl Exact {
    /// The exact product; `None` past 512 bits (never for two `Decimal`s).
    pub(crate) fn checked_mul(self, other: Exact) -> Option<Exact> {
        let magnitude = self.magnitude.checked_mul(other.magnitude)?;
        let negative = self.negative != other.negative && !magnitude.is_zero();
        Some(Exact { negative, magnitude, scale: self.scale + other.scale })
    }

    /// The exact sum; `None` on overflow.
    pub(crate) fn checked_add(self, other: Exact) -> Option<Exact> {
        let scale = self.scale.max(other.scale);
        let a = self.magnitude.checked_scale_up(scale - self.scale)?;
        let b = other.magnitude.checked_scale_up(scale - other.scale)?;
        let (negative, magnitude) = if self.negative == other.negative {
            (self.negative, a.checked_add(b)?)
        } else if a >= b {
            (self.negative, a.checked_sub(b)?)
        } else {
            (other.negative, b.checked_sub(a)?)
        };
        Some(Exact { negative: negative && !magnitude.is_zero(), magnitude, scale })
    }

    /// The exact difference; `None` on overflow.
    pub(crate) fn checked_sub(self, other: Exact) -> Option<Exact> {
        self.checked_add(Exact { negative: !other.negative && !other.magnitude.is_zero(), ..other })
    }

    /// `self ÷ divisor`, kept exact; `None` unless `divisor > 0`.
    pub(crate) fn over(self, divisor: Exact) -> Option<Fraction> {
        let positive = !divisor.negative && !divisor.magnitude.is_zero();
        positive.then_some(Fraction { numerator: self, denominator: divisor })
    }
}

/// An exact quotient `numerator ÷ denominator` with a positive denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fraction {
    numerator: Exact,
    denominator: Exact,
}

impl From<Exact> for Fraction {
    fn from(value: Exact) -> Fraction {
        Fraction { numerator: value, denominator: Exact::from(Decimal::ONE) }
    }
}

impl Fraction {
    /// Integers `(n, d)` with `|self| × 10^dp = n ÷ d`.
    fn scaled(&self, dp: u32) -> Option<(U512, U512)> {
        let (top, bottom) = (self.denominator.scale + dp, self.numerator.scale);
        let n = self.numerator.magnitude.checked_scale_up(top.saturating_sub(bottom))?;
        let d = self.denominator.magnitude.checked_scale_up(bottom.saturating_sub(top))?;
        Some((n, d))
    }

    /// A `Decimal` from a magnitude and scale, signed like the numerator, dropping trailing
    /// zeros that do not fit (`10^28` at scale 2 is `10^28`); `None` past 96 bits.
    fn decimal(&self, magnitude: U512, mut scale: u32) -> Option<Decimal> {
        let mut magnitude = magnitude.to_u128()?;
        while magnitude > DECIMAL_MANTISSA_MAX && scale > 0 && magnitude % 10 == 0 {
            (magnitude, scale) = (magnitude / 10, scale - 1);
        }
        let magnitude = Some(magnitude).filter(|m| *m <= DECIMAL_MANTISSA_MAX)?;
        let signed = i128::try_from(magnitude).ok()?;
        let signed = if self.numerator.negative { -signed } else { signed };
        Decimal::try_from_i128_with_scale(signed, scale).ok()
    }

    /// Rounded once, half away from zero, to `dp` decimals (a currency's minor unit);
    /// `None` when the result leaves `Decimal`'s range. A rounded zero is not negative.
    ///
    /// ```text
    /// 10133619653.5349999…  to 2 → 10133619653.53   (Decimal's own product gives .54)
    /// −0.125                to 2 → −0.13
    /// ```
    pub(crate) fn round_dp(&self, dp: u32) -> Option<Decimal> {
        let (n, d) = self.scaled(dp)?;
        let (quotient, remainder) = n.div_rem(d)?;
        let at_least_half = remainder.checked_add(remainder).is_none_or(|twice| twice >= d);
        let magnitude = if at_least_half { quotient.checked_add(U512::ONE)? } else { quotient };
        let rounded = self.decimal(magnitude, dp)?;
        Some(if rounded.is_zero() { Decimal::new(0, dp) } else { rounded })
    }

    /// The nearest `Decimal` toward zero, normalized, and whether it is the exact value: exact
    /// whenever the value has at most 28 decimals and fits 96 bits, else cut toward zero after
    /// the last digit `Decimal` holds. Cutting toward zero never crosses a midpoint, so the cut
    /// value rounds to the cent [`Fraction::round_dp`] gives (while a digit below the cent is
    /// kept: below 10^25). `None` when even the integer part does not fit.
    pub(crate) fn truncated(&self) -> Option<(Decimal, bool)> {
        let (n, d) = self.scaled(0)?;
        let (mut quotient, mut remainder) = n.div_rem(d)?;
        let mut scale = 0;
        let ten = U512::from_u128(10);
        while !remainder.is_zero() && scale < DECIMAL_SCALE_MAX {
            let (digit, rest) = remainder.checked_mul(ten)?.div_rem(d)?;
            let next = quotient.checked_mul(ten)?.checked_add(digit)?;
            if next.to_u128().is_none_or(|m| m > DECIMAL_MANTISSA_MAX) {
                break;
            }
            (quotient, remainder, scale) = (next, rest, scale + 1);
        }
        let value = self.decimal(quotient, scale)?.normalize();
        Some((if value.is_zero() { Decimal::ZERO } else { value }, remainder.is_zero()))
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use rust_decimal::RoundingStrategy;

    use super::*;
    use proptest::prelude::*;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn exact(text: &str) -> Exact {
        Exact::from(d(text))
    }

    /// `a × b ÷ c`, exactly.
    fn product_over(a: &str, b: &str, c: &str) -> Fraction {
        exact(a).checked_mul(exact(b)).and_then(|p| p.over(exact(c))).expect("in range")
    }

    #[test]
    fn boundary_table() {
        // (a, b, c, a × b ÷ c rounded to cents, the Decimal toward zero, is it exact, why)
        #[rustfmt::skip]
        let cases = [
            ("760000048999880.000599997", "0.0000133334", "1", "10133384653.33", "10133384653.334999999999999999", false,
             "issue 11: a 27-digit quantity × a 6-digit price has 33 digits"),
            ("123456789012345", "0.0000405000142259898507839869", "1", "5000001711.29", "5000001711.2949999999999999999", false,
             "issue 11: …1711.2949999…; Decimal's own product rounds to …1711.295 → .30"),
            ("2", "0.125", "1", "0.25", "0.25", true, "a short exact product"),
            ("1", "0.125", "1", "0.13", "0.125", true, "a midpoint rounds away from zero"),
            ("-1", "0.125", "1", "-0.13", "-0.125", true, "a negative midpoint rounds away from zero too"),
            ("1", "0.124999999999999999999999999", "1", "0.12", "0.124999999999999999999999999", true,
             "just under a midpoint"),
            ("3", "1", "3", "1.00", "1", true, "multiply before dividing: 3 × 1 ÷ 3 is 1, not 0.999…"),
            ("1", "1", "3", "0.33", "0.3333333333333333333333333333", false, "a third never terminates"),
            ("2", "1", "3", "0.67", "0.6666666666666666666666666666", false, "cut toward zero, not rounded up"),
            ("1", "0.01", "2", "0.01", "0.005", true, "half a cent divided exactly rounds up"),
            ("-1", "0.001", "1", "0.00", "-0.001", true, "a rounded zero is not negative"),
            ("0", "0.5", "7", "0.00", "0", true, "zero is zero"),
            ("792281625142643375935439503", "1", "1", "792281625142643375935439503.00",
             "792281625142643375935439503", true, "a 27-digit whole amount still has room for cents"),
        ];
        for (a, b, c, rounded, cut, is_exact, why) in cases {
            let value = product_over(a, b, c);
            assert_eq!(value.round_dp(2).map(|r| r.to_string()), Some(rounded.to_owned()), "{why}: rounded");
            assert_eq!(value.truncated(), Some((d(cut), is_exact)), "{why}: toward zero");
        }
    }

    #[test]
    fn sums_and_differences_align_their_scales() {
        let tiny = exact("0.0000000000000000000000000001").checked_mul(exact("0.1"));
        let sum = tiny.and_then(|t| t.checked_add(exact("5"))).map(Fraction::from);
        assert_eq!(sum.and_then(|s| s.truncated()), Some((d("5"), false)), "5 + 10^-29 is cut to 5");
        let difference = exact("1.5").checked_sub(exact("2.25")).map(Fraction::from);
        assert_eq!(difference.and_then(|f| f.truncated()), Some((d("-0.75"), true)));
        let zero = exact("2").checked_sub(exact("2.0")).map(Fraction::from);
        assert_eq!(zero.and_then(|z| z.round_dp(2)), Some(d("0.00")));
    }

    #[test]
    fn out_of_range_results_are_none() {
        let max = exact("79228162514264337593543950335");
        let past = max.checked_add(exact("1")).map(Fraction::from).expect("512 bits hold it");
        assert_eq!(past.truncated(), None, "past 96 bits");
        assert_eq!(Fraction::from(max).round_dp(2), Some(Decimal::MAX), "a whole amount needs no cents");
        let half = exact("0.5").checked_add(max).map(Fraction::from).expect("fits");
        assert_eq!(half.round_dp(2), None, "no room for the cents");
        assert_eq!(exact("1").over(exact("0")), None, "no division by zero");
        assert_eq!(exact("1").over(exact("-2")), None, "denominators are positive");
    }

    /// Fixtures from Python's `decimal` at 100 digits (the generator is the file's header): an
    /// independent calculation of `a × b ÷ c`, rounded half away from zero to 2 and 3 decimals,
    /// and cut toward zero to `Decimal`'s digits.
    #[test]
    fn python_decimal_agrees_on_every_fixture() {
        let mut checked = 0;
        for row in include_str!("exact_fixtures.txt").lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let fields: Vec<&str> = row.split_whitespace().collect();
            let [a, b, c, cents, mils, cut] = fields[..] else { panic!("malformed fixture {row:?}") };
            let value = product_over(a, b, c);
            assert_eq!(value.round_dp(2), Some(d(cents)), "{a} × {b} ÷ {c} to cents");
            assert_eq!(value.round_dp(3), Some(d(mils)), "{a} × {b} ÷ {c} to mils");
            assert_eq!(value.truncated().map(|t| t.0), Some(d(cut)), "{a} × {b} ÷ {c} toward zero");
            checked += 1;
        }
        assert!(checked >= 500, "only {checked} fixtures");
    }

    /// Multiplies two decimals digit by digit (schoolbook, base 10) and rounds the product half
    /// away from zero to 2 decimals: a reference that shares no code with `U512`.
    fn schoolbook_cents(a: Decimal, b: Decimal) -> String {
        let digits = |x: Decimal| -> Vec<u32> {
            x.mantissa().unsigned_abs().to_string().bytes().rev().map(|c| u32::from(c - b'0')).collect()
        };
        let (x, y) = (digits(a), digits(b));
        // Little-endian digits of |a × b|, `scale` of them after the point.
        let mut product = vec![0u32; x.len() + y.len() + 1];
        for (i, dx) in x.iter().enumerate() {
            for (j, dy) in y.iter().enumerate() {
                product[i + j] += dx * dy;
            }
        }
        for i in 0..product.len() - 1 {
            product[i + 1] += product[i] / 10;
            product[i] %= 10;
        }
        let scale = (a.scale() + b.scale()) as usize;
        // Leading zeros up to the units digit, so every position below is there to read.
        product.resize(product.len().max(scale + 3), 0);
        // Keep the digits from the cents up; round up when the first dropped digit is ≥ 5.
        let dropped = scale.saturating_sub(2);
        let mut carry = u32::from(dropped > 0 && product[dropped - 1] >= 5);
        let pad = std::iter::repeat_n(0, 2usize.saturating_sub(scale));
        let mut kept: Vec<u32> = pad.chain(product[dropped..].iter().copied()).collect();
        kept.push(0);
        for digit in &mut kept {
            *digit += carry;
            carry = *digit / 10;
            *digit %= 10;
        }
        let text: String = kept.iter().rev().map(|d| char::from_digit(*d, 10).expect("a digit")).collect();
        let (whole, fraction) = text.split_at(text.len() - 2);
        let whole = whole.trim_start_matches('0');
        let sign = if kept.iter().any(|d| *d != 0) && a.is_sign_negative() != b.is_sign_negative() { "-" } else { "" };
        format!("{sign}{}.{fraction}", if whole.is_empty() { "0" } else { whole })
    }

    /// Whether a cents text (`"-123.45"`) fits a `Decimal` with 2 decimals.
    fn fits_decimal(cents: &str) -> bool {
        let digits: String = cents.chars().filter(char::is_ascii_digit).collect();
        let digits = digits.trim_start_matches('0');
        digits.len() < 29 || (digits.len() == 29 && digits <= "79228162514264337593543950335")
    }

    fn decimal(mantissa: u128, scale: u32, negative: bool) -> Decimal {
        let signed = i128::try_from(mantissa).expect("96 bits");
        Decimal::from_i128_with_scale(if negative { -signed } else { signed }, scale)
    }

    proptest! {
        #[test]
        fn products_round_to_the_cent_a_digit_by_digit_multiplication_finds(
            (a_mantissa, a_scale) in (0u128..=DECIMAL_MANTISSA_MAX, 0u32..=28),
            (b_mantissa, b_scale) in (0u128..=u128::from(u64::MAX), 0u32..=28),
            negative in any::<bool>(),
        ) {
            let (a, b) = (decimal(a_mantissa, a_scale, negative), decimal(b_mantissa, b_scale, false));
            let value = Fraction::from(Exact::from(a).checked_mul(Exact::from(b)).expect("192 bits fit"));
            let expected = schoolbook_cents(a, b);
            match value.round_dp(2) {
                Some(rounded) => prop_assert_eq!(format!("{rounded:.2}"), expected),
                None => prop_assert!(!fits_decimal(&expected), "None only past Decimal's range: {}", expected),
            }
            // The value cut toward zero rounds to the same cent while it keeps a digit below it.
            if let (Some((cut, is_exact)), Some(rounded)) = (value.truncated(), value.round_dp(2)) {
                if is_exact || cut.abs() < Decimal::from_i128_with_scale(10i128.pow(25), 0) {
                    let again = cut.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
                    prop_assert_eq!(again, rounded);
                }
            }
        }
    }
}
