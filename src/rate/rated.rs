//! What rating one charge produces: the exact amount and the tier arithmetic behind it, so
//! invoices, the portal and "explain this line" can show their work (STYLE rule 38).
//!
//! Plain values only; the arithmetic lives in the charge-model files.

use rust_decimal::Decimal;

use crate::domain::{Exact, Fraction, Meter};

/// Why usage could not be priced.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum RateError {
    /// A product or sum left `Decimal`'s range; names the line (a meter, `base_fee`,
    /// `minimum_spend` or `subtotal`).
    #[error("amount overflowed while rating {0}")]
    Overflow(&'static str),
    /// Proration is a fraction of a billing period.
    #[error("proration must be between 0 and 1, got {0}")]
    InvalidProration(Decimal),
}

/// One step of a charge's arithmetic: `units` priced at `unit_price` (per the charge's
/// `price_per` units), plus the tier's `flat_fee`.
///
/// `from`/`to` are the tier's bounds in net units, `(from, to]`, `to = None` being open-ended.
/// For the `package` model the single line counts whole packages: `units` is the number of
/// packages and `unit_price` the package price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierLine {
    /// Lower bound of the tier (exclusive), in net units.
    pub from: Decimal,
    /// Upper bound of the tier (inclusive); `None` for the open-ended tier.
    pub to: Option<Decimal>,
    /// Units priced in this line (packages for `package`).
    pub units: Decimal,
    /// Price per `price_per` units (per package for `package`).
    pub unit_price: Decimal,
    /// The tier's flat fee, included in `amount`.
    pub flat_fee: Decimal,
    /// Units per package on a `package` line, whose `units` count packages; `None` otherwise.
    pub package_size: Option<Decimal>,
    /// `units × unit_price ÷ price_per + flat_fee`, not rounded: exact, or cut toward zero
    /// after `Decimal`'s 28 digits (the line's money is decided from the exact value).
    pub amount: Decimal,
}

impl TierLine {
    /// Prices `units` inside one tier, multiplying before dividing so nothing is lost to an
    /// early division. `None` on overflow.
    pub(crate) fn priced(
        from: Decimal,
        to: Option<Decimal>,
        units: Decimal,
        unit_price: Decimal,
        flat_fee: Decimal,
        price_per: Decimal,
    ) -> Option<TierLine> {
        let mut line = TierLine { from, to, units, unit_price, flat_fee, package_size: None, amount: Decimal::ZERO };
        line.amount = line.numerator(price_per)?.over(Exact::from(price_per))?.truncated()?.0;
        Some(line)
    }

    /// `units × unit_price + flat_fee × price_per`, exactly: the line's amount times `price_per`.
    fn numerator(&self, price_per: Decimal) -> Option<Exact> {
        let usage = Exact::from(self.units).checked_mul(Exact::from(self.unit_price))?;
        usage.checked_add(Exact::from(self.flat_fee).checked_mul(Exact::from(price_per))?)
    }
}

/// One meter's usage priced by one charge of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatedCharge {
    /// The meter priced.
    pub meter: Meter,
    /// Usage in the period (or segment), before the allowance.
    pub quantity: Decimal,
    /// The charge's free allowance per period.
    pub included: Decimal,
    /// `max(0, quantity − included)`: what every model prices.
    pub net_quantity: Decimal,
    /// Unit prices are per this many units (1 for `package`).
    pub price_per: Decimal,
    /// Sum of the lines' amounts, not rounded: exact, or cut toward zero after 28 digits.
    pub amount: Decimal,
    /// Only tiers that priced something; empty when `net_quantity` is 0.
    pub lines: Vec<TierLine>,
}

impl RatedCharge {
    /// The exact amount, every digit kept: what the invoice line is rounded from. `None` on
    /// overflow (never for a charge [`rate_charge`](super::rate_charge) returned).
    pub(crate) fn exact(&self) -> Option<Fraction> {
        exact_amount(&self.lines, self.price_per)
    }
}

/// The exact amount of tier lines priced per `price_per` units: Σ numerators ÷ `price_per`,
/// divided once, never rounded. `None` on overflow.
pub(crate) fn exact_amount(lines: &[TierLine], price_per: Decimal) -> Option<Fraction> {
    let sum =
        lines.iter().try_fold(Exact::from(Decimal::ZERO), |sum, line| sum.checked_add(line.numerator(price_per)?))?;
    sum.over(Exact::from(price_per))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_line_multiplies_before_it_divides() {
        // 3 units at 1 per 3 units: dividing first would give 0.333…×3 = 0.999…, not 1.
        let divided_first = (Decimal::ONE / Decimal::from(3)) * Decimal::from(3);
        assert_ne!(divided_first, Decimal::ONE);
        let line =
            TierLine::priced(Decimal::ZERO, None, Decimal::from(3), Decimal::ONE, Decimal::ZERO, Decimal::from(3));
        assert_eq!(line.map(|l| l.amount), Some(Decimal::ONE));
    }

    #[test]
    fn a_tier_line_past_28_digits_is_cut_not_rounded_up() {
        // 123456789012345 × 0.0000405000142259898507839869 = 5000001711.2949999…9924…: Decimal's
        // own product says 5000001711.2950000000000000000, a different cent.
        let price = Decimal::from_str_exact("0.0000405000142259898507839869").unwrap();
        let units = Decimal::from(123_456_789_012_345i64);
        let line = TierLine::priced(Decimal::ZERO, None, units, price, Decimal::ZERO, Decimal::ONE).unwrap();
        assert_eq!(line.amount.to_string(), "5000001711.2949999999999999999");
        let exact = exact_amount(&[line], Decimal::ONE).and_then(|f| f.round_dp(2));
        assert_eq!(exact, Some(Decimal::new(500_000_171_129, 2)));
    }

    #[test]
    fn a_tier_line_reports_overflow_as_none() {
        let line = TierLine::priced(Decimal::ZERO, None, Decimal::MAX, Decimal::TWO, Decimal::ZERO, Decimal::ONE);
        assert_eq!(line, None);
    }
}
