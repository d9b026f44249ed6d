//! The `graduated` charge model: each tier prices only the net units inside it, like tax
//! brackets; a tier's `flat_fee` is charged once when at least one net unit falls in it.
//!
//! Input: the net quantity and the plan's validated tiers. Output: one line per tier that
//! priced something. No rounding here.

use rust_decimal::Decimal;

use super::tier::ranges;
use super::{Tier, TierLine};

/// Prices `net` units tier by tier: tier *k* covers `(up_to[k−1], up_to[k]]` net units.
///
/// Worked example, tiers `(0, 100]` at 1.00 + flat 5, `(100, 1000]` at 0.50, open at 0.10:
/// 150 units → 100 × 1.00 + 5 = 105, then 50 × 0.50 = 25 → 130. With `net = 0` no tier is
/// reached and the amount is 0. `None` on overflow.
pub(crate) fn rate(tiers: &[Tier], price_per: Decimal, net: Decimal) -> Option<Vec<TierLine>> {
    let mut lines = Vec::new();
    for (from, tier) in ranges(tiers).take_while(|(from, _)| net > *from) {
        let top = tier.up_to.map_or(net, |up_to| net.min(up_to));
        let units = top.checked_sub(from)?;
        if units > Decimal::ZERO {
            lines.push(TierLine::priced(from, tier.up_to, units, tier.unit_price, tier.flat_fee, price_per)?);
        }
    }
    Some(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::testing::{amount, assert_amounts, d, tier, tiers};
    use proptest::prelude::*;

    /// The amount for `net` units of the worked-example tiers.
    fn graduated(net: Decimal) -> Decimal {
        amount(&rate(&tiers(), Decimal::ONE, net).expect("in range"))
    }

    #[test]
    fn graduated_prices_each_tier_at_its_own_price_at_every_boundary() {
        let cases = &[
            ("0", "0", "no usage costs nothing, not even a flat fee"),
            ("1", "6", "one unit in tier 1: 1 + flat 5"),
            ("100", "105", "tier 1 full: 100 + 5"),
            ("101", "105.5", "boundary + 1: first unit of tier 2"),
            ("1000", "555", "tier 2 full: 105 + 900 × 0.50"),
            ("1001", "557.1", "first unit of the open tier: 555 + 0.10 + flat 2"),
            ("5000", "957", "deep in the open tier: 555 + 4000 × 0.10 + 2"),
            ("100.5", "105.25", "a fractional unit past a boundary"),
        ];
        assert_amounts(cases, |net| rate(&tiers(), Decimal::ONE, net));
    }

    #[test]
    fn graduated_lines_show_each_tier_that_priced_units() {
        let lines = rate(&tiers(), Decimal::ONE, d("1001")).expect("in range");
        let shape: Vec<_> = lines.iter().map(|l| (l.from, l.to, l.units)).collect();
        assert_eq!(
            shape,
            vec![(d("0"), Some(d("100")), d("100")), (d("100"), Some(d("1000")), d("900")), (d("1000"), None, d("1"))]
        );
    }

    #[test]
    fn graduated_divides_by_price_per_after_multiplying() {
        // 0.0000166667 per 1 unit vs 16.6667 per 1 000 000 units: the same money.
        let per_million = vec![tier(None, "16.6667", "0")];
        let lines = rate(&per_million, d("1000000"), d("140000")).expect("in range");
        assert_eq!(lines[0].amount, d("2.333338"));
    }

    #[test]
    fn graduated_overflow_is_none() {
        assert_eq!(rate(&[tier(None, "2", "0")], Decimal::ONE, Decimal::MAX), None);
    }

    proptest! {
        #[test]
        fn graduated_amount_never_decreases_and_is_never_negative(
            a in 0u64..10_000_000,
            b in 0u64..10_000_000,
            cents in 0u32..100,
        ) {
            let (low, high) = (Decimal::from(a.min(b)), Decimal::from(a.max(b)));
            let fraction = Decimal::new(i64::from(cents), 2);
            let low_amount = graduated(low + fraction);
            prop_assert!(low_amount >= Decimal::ZERO);
            prop_assert!(graduated(high + fraction) >= low_amount);
        }
    }
}
