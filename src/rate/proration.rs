//! Proration: the fraction of a billing period a segment's fixed fees cover (DESIGN §6), kept
//! as an exact ratio of seconds so that a prorated fee is rounded once, from its exact value.
//!
//! Pure; the segment's seconds are counted by `invoice::period`.

use std::fmt;

use rust_decimal::Decimal;

use super::RateError;
use crate::domain::{Exact, Fraction};

/// `part ÷ whole` of a period, `0 ≤ part ≤ whole`, `whole > 0`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Proration {
    part: Decimal,
    whole: Decimal,
}

impl Proration {
    /// A whole period.
    pub const FULL: Proration = Proration { part: Decimal::ONE, whole: Decimal::ONE };

    /// `part` seconds of a `whole`-second period.
    ///
    /// # Errors
    /// [`RateError::InvalidProration`] unless `0 ≤ part ≤ whole` and `whole > 0`.
    pub fn of_seconds(part: i64, whole: i64) -> Result<Proration, RateError> {
        Proration::new(Decimal::from(part), Decimal::from(whole))
    }

    /// A decimal factor such as `0.25`, exactly (`25 ÷ 100`).
    ///
    /// # Errors
    /// [`RateError::InvalidProration`] unless `0 ≤ factor ≤ 1`.
    pub fn of_factor(factor: Decimal) -> Result<Proration, RateError> {
        let whole = Decimal::from_i128_with_scale(10i128.pow(factor.scale()), 0);
        Proration::new(Decimal::from_i128_with_scale(factor.mantissa(), 0), whole)
            .map_err(|_| RateError::InvalidProration(factor))
    }

    fn new(part: Decimal, whole: Decimal) -> Result<Proration, RateError> {
        if whole <= Decimal::ZERO || part < Decimal::ZERO || part > whole {
            let factor = if whole.is_zero() { part } else { part / whole };
            return Err(RateError::InvalidProration(factor));
        }
        Ok(Proration { part, whole })
    }

    /// The factor as a decimal, for display (rounded after 28 digits: 1 ÷ 3 → 0.333…3).
    pub fn factor(&self) -> Decimal {
        (self.part / self.whole).normalize()
    }

    /// `amount × part ÷ whole − less`, exactly; `None` on overflow.
    pub(crate) fn prorate_less(&self, amount: Decimal, less: Decimal) -> Option<Fraction> {
        let scaled = Exact::from(amount).checked_mul(Exact::from(self.part))?;
        let less = Exact::from(less).checked_mul(Exact::from(self.whole))?;
        scaled.checked_sub(less)?.over(Exact::from(self.whole))
    }
}

impl fmt::Debug for Proration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ÷ {}", self.part, self.whole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::testing::d;

    #[test]
    fn a_prorated_fee_is_exact_until_it_is_rounded() {
        // 31.00 for 30 of 31 days is exactly 30.00; 31 × 0.967741935483870967741935483871 is not.
        let thirty_of_31 = Proration::of_seconds(30 * 86_400, 31 * 86_400).expect("valid");
        assert_eq!(
            thirty_of_31.prorate_less(d("31.00"), Decimal::ZERO).and_then(|f| f.truncated()),
            Some((d("30"), true))
        );
        // 0.03 for a sixth of a period is exactly half a cent: rounds up, whichever way 1/6 is cut.
        let sixth = Proration::of_seconds(1, 6).expect("valid");
        assert_eq!(sixth.prorate_less(d("0.03"), Decimal::ZERO).and_then(|f| f.round_dp(2)), Some(d("0.01")));
        assert_eq!(sixth.prorate_less(d("0.03"), d("0.01")).and_then(|f| f.round_dp(3)), Some(d("-0.005")));
    }

    #[test]
    fn factors_and_their_display() {
        assert_eq!(Proration::of_factor(d("0.25")).map(|p| p.factor()), Ok(d("0.25")));
        assert_eq!(Proration::FULL.factor(), Decimal::ONE);
        assert_eq!(Proration::of_seconds(1, 3).map(|p| p.factor()), Ok(d("0.3333333333333333333333333333")));
        for bad in ["-0.1", "1.01"] {
            assert_eq!(Proration::of_factor(d(bad)), Err(RateError::InvalidProration(d(bad))), "{bad}");
        }
        assert!(Proration::of_seconds(1, 0).is_err(), "an empty period");
    }
}
