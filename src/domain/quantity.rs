//! Metered quantities: exact decimals, never floats.

use rust_decimal::Decimal;

use super::Meter;

/// Why a quantity sum could not be formed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuantityError {
    #[error("{0} overflowed while summing")]
    Overflow(Meter),
}

/// The most significant digits a quantity may have on input: what `Decimal` holds exactly
/// with room left (its 96-bit mantissa tops out at 29 digits, not all of them).
pub const MAX_QUANTITY_DIGITS: usize = 28;

/// Why a quantity text was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuantityTextError {
    #[error("must be a non-negative decimal: digits with an optional fraction, no sign or exponent")]
    NotADecimal,
    #[error(
        "has {0} significant digits; quantities are priced exactly and may have at most 28 \
         (every digit after the point counts, leading zeros before it do not)"
    )]
    TooManyDigits(usize),
}

/// Parses a non-negative quantity exactly: `digits[.digits]`, at most
/// [`MAX_QUANTITY_DIGITS`] significant digits counting every digit after the point (so
/// `"0.0000000000000000000000000001"` is the smallest step). The api-spec pattern for
/// quantities says the same thing.
///
/// # Errors
/// [`QuantityTextError`] saying which rule the text broke.
pub fn parse_quantity_text(text: &str) -> Result<Decimal, QuantityTextError> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || (text.contains('.') && fraction.is_empty()) {
        return Err(QuantityTextError::NotADecimal);
    }
    let significant = whole.trim_start_matches('0').len() + fraction.len();
    if significant > MAX_QUANTITY_DIGITS {
        return Err(QuantityTextError::TooManyDigits(significant));
    }
    Decimal::from_str_exact(text).map_err(|_| QuantityTextError::TooManyDigits(significant))
}

/// One value per meter. Absent on input means zero.
///
/// `cpu_cycles` and `invocations` are whole numbers by construction (the ingest edge refuses
/// fractions); they are still `Decimal` so that sums of many 2^63-sized records stay exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quantities {
    pub cpu_cycles: Decimal,
    pub memory_gb_seconds: Decimal,
    pub invocations: Decimal,
}

impl Quantities {
    /// The quantity of one meter.
    pub fn get(&self, meter: Meter) -> Decimal {
        match meter {
            Meter::CpuCycles => self.cpu_cycles,
            Meter::MemoryGbSeconds => self.memory_gb_seconds,
            Meter::Invocations => self.invocations,
        }
    }

    /// Sets the quantity of one meter.
    pub fn set(&mut self, meter: Meter, value: Decimal) {
        match meter {
            Meter::CpuCycles => self.cpu_cycles = value,
            Meter::MemoryGbSeconds => self.memory_gb_seconds = value,
            Meter::Invocations => self.invocations = value,
        }
    }

    /// Adds `other` meter by meter.
    ///
    /// # Errors
    /// [`QuantityError::Overflow`] naming the meter whose sum left `Decimal`'s range.
    pub fn checked_add(&self, other: &Quantities) -> Result<Quantities, QuantityError> {
        Ok(self.checked_add_unnormalized(other)?.normalized())
    }

    /// [`checked_add`](Self::checked_add) leaving each sum at the larger scale of its terms:
    /// for summing many in a row, then [`normalized`](Self::normalized) once. The value is the
    /// same; normalizing (a loop of 96-bit divisions) after every term was a visible share of
    /// folding a group of records.
    ///
    /// # Errors
    /// As [`checked_add`](Self::checked_add).
    pub fn checked_add_unnormalized(&self, other: &Quantities) -> Result<Quantities, QuantityError> {
        let mut sum = Quantities::default();
        for meter in Meter::ALL {
            let value = self.get(meter).checked_add(other.get(meter)).ok_or(QuantityError::Overflow(meter))?;
            sum.set(meter, value);
        }
        Ok(sum)
    }

    /// Each meter written without trailing zeros (`0.250` → `0.25`).
    #[must_use]
    pub fn normalized(mut self) -> Quantities {
        for meter in Meter::ALL {
            self.set(meter, self.get(meter).normalize());
        }
        self
    }

    /// True when every meter is zero.
    pub fn is_zero(&self) -> bool {
        Meter::ALL.iter().all(|m| self.get(*m).is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn adding_tenths_is_exact() {
        let tenth = Quantities { memory_gb_seconds: Decimal::from_str("0.1").unwrap(), ..Default::default() };
        let mut sum = Quantities::default();
        for _ in 0..10 {
            sum = sum.checked_add(&tenth).unwrap();
        }
        assert_eq!(sum.memory_gb_seconds, Decimal::ONE);
    }

    #[test]
    fn quantity_texts_have_at_most_28_significant_digits() {
        let ones = |n: usize| "1".repeat(n);
        let cases = [
            (ones(28), None, "28 digits"),
            (ones(29), Some(29), "29 digits"),
            (format!("{}.{}", ones(14), ones(14)), None, "28 digits across the point"),
            (format!("{}.{}", ones(14), ones(15)), Some(29), "29 across the point"),
            (format!("0000{}", ones(28)), None, "leading zeros do not count"),
            (format!("0.{}1", "0".repeat(27)), None, "10^-28: every fraction digit counts"),
            (format!("0.{}1", "0".repeat(28)), Some(29), "10^-29"),
            ("760015049399880.000599997".to_owned(), None, "issue 11's quantity"),
        ];
        for (text, too_many, why) in cases {
            let expected = match too_many {
                None => Ok(Decimal::from_str(&text).unwrap()),
                Some(digits) => Err(QuantityTextError::TooManyDigits(digits)),
            };
            assert_eq!(parse_quantity_text(&text), expected, "{why}: {text}");
        }
        for text in ["", ".5", "5.", "-1", "+1", "1e3", "1_000", " 1", "0x10", "1.2.3"] {
            assert_eq!(parse_quantity_text(text), Err(QuantityTextError::NotADecimal), "{text:?}");
        }
    }

    #[test]
    fn overflow_is_an_error_naming_the_meter() {
        let huge = Quantities { invocations: Decimal::MAX, ..Default::default() };
        assert_eq!(huge.checked_add(&huge), Err(QuantityError::Overflow(Meter::Invocations)));
    }
}
