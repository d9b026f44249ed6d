//! The `volume` charge model: all net units at the price of the one tier the net quantity
//! falls in; that tier's `flat_fee` is charged once.
//!
//! Input: the net quantity and the plan's validated tiers. Output: one line (none for 0
//! units). No rounding here.

use rust_decimal::Decimal;

use super::tier::ranges;
use super::{Tier, TierLine};

/// Prices all `net` units at the tier whose range `(up_to[k−1], up_to[k]]` holds `net`.
///
/// Worked example, tiers `(0, 100]` at 1.00 + flat 5, `(100, 1000]` at 0.50, open at 0.10:
/// 150 units fall in tier 2 → 150 × 0.50 = 75. With `net = 0` no tier is selected and the
/// amount is 0. `None` on overflow.
pub(crate) fn rate(tiers: &[Tier], price_per: Decimal, net: Decimal) -> Option<Vec<TierLine>> {
    if net <= Decimal::ZERO {
        return Some(Vec::new());
    }
    let Some((from, tier)) = ranges(tiers).find(|(_, tier)| tier.up_to.is_none_or(|up_to| net <= up_to)) else {
        // Unreachable for a validated plan, whose last tier is open-ended.
        return Some(Vec::new());
    };
    Some(vec![TierLine::priced(from, tier.up_to, net, tier.unit_price, tier.flat_fee, price_per)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::testing::{assert_amounts, d, tier, tiers};

    #[test]
    fn volume_prices_all_units_at_the_selected_tier_at_every_boundary() {
        let cases = &[
            ("0", "0", "no usage selects no tier and costs nothing"),
            ("1", "6", "tier 1: 1 × 1.00 + flat 5"),
            ("100", "105", "the boundary belongs to tier 1"),
            ("101", "50.5", "boundary + 1 moves every unit to tier 2"),
            ("1000", "500", "tier 2's upper boundary"),
            ("1001", "102.1", "the open tier: 1001 × 0.10 + flat 2"),
            ("5000", "502", "deep in the open tier"),
            ("100.5", "50.25", "a fractional quantity past a boundary"),
        ];
        assert_amounts(cases, |net| rate(&tiers(), Decimal::ONE, net));
    }

    #[test]
    fn the_volume_line_names_the_selected_tier() {
        let lines = rate(&tiers(), Decimal::ONE, d("101")).expect("in range");
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].from, lines[0].to, lines[0].units), (d("100"), Some(d("1000")), d("101")));
    }

    #[test]
    fn volume_applies_price_per_after_multiplying() {
        let per_million = vec![tier(Some("1000000"), "0.20", "0"), tier(None, "0.15", "0")];
        let lines = rate(&per_million, d("1000000"), d("3000000")).expect("in range");
        assert_eq!(lines[0].amount, d("0.45"));
    }

    #[test]
    fn volume_overflow_is_none() {
        assert_eq!(rate(&[tier(None, "2", "0")], Decimal::ONE, Decimal::MAX), None);
    }
}
