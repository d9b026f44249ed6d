//! What rating one charge produces: the exact amount and the tier arithmetic behind it, so
//! invoices, the portal and "explain this line" can show their work (STYLE rule 38).
//!
//! Plain values only; the arithmetic lives in the charge-model files.

use rust_decimal::Decimal;

use crate::domain::Meter;

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
    /// `units × unit_price ÷ price_per + flat_fee`, exact (not rounded).
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
        let amount = units.checked_mul(unit_price)?.checked_div(price_per)?.checked_add(flat_fee)?;
        Some(TierLine { from, to, units, unit_price, flat_fee, amount: amount.normalize() })
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
    /// Exact sum of the lines' amounts, not rounded.
    pub amount: Decimal,
    /// Only tiers that priced something; empty when `net_quantity` is 0.
    pub lines: Vec<TierLine>,
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
    fn a_tier_line_reports_overflow_as_none() {
        let line = TierLine::priced(Decimal::ZERO, None, Decimal::MAX, Decimal::TWO, Decimal::ZERO, Decimal::ONE);
        assert_eq!(line, None);
    }
}
