//! The `per_unit` charge model: every net unit at one price, `n × unit_price ÷ price_per`.
//!
//! Input: the net quantity (after the allowance) and the charge's prices. Output: the tier
//! lines. No rounding here; the quote rounds each invoice line once.

use rust_decimal::Decimal;

use super::TierLine;

/// Prices `net` units at `unit_price` per `price_per` units, as one open line.
///
/// Worked example: 2 000 000 invocations at "0.20" per 1 000 000 →
/// 2 000 000 × 0.20 ÷ 1 000 000 = 0.40. With `net = 0` there is no line (amount 0).
/// `None` on overflow.
pub(crate) fn rate(unit_price: Decimal, price_per: Decimal, net: Decimal) -> Option<Vec<TierLine>> {
    if net <= Decimal::ZERO {
        return Some(Vec::new());
    }
    Some(vec![TierLine::priced(Decimal::ZERO, None, net, unit_price, Decimal::ZERO, price_per)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::testing::{amount, assert_amounts, d};
    use proptest::prelude::*;

    #[test]
    fn per_unit_prices_every_net_unit_at_one_price() {
        // 0.20 per million.
        let cases = &[
            ("0", "0", "no usage costs nothing"),
            ("1", "0.0000002", "one unit is a millionth of the price"),
            ("1000000", "0.20", "exactly price_per units cost unit_price"),
            ("1000001", "0.2000002", "price_per + 1"),
            ("3000000000", "600", "a large quantity stays exact"),
        ];
        assert_amounts(cases, |net| rate(d("0.20"), d("1000000"), net));
    }

    #[test]
    fn per_unit_with_no_usage_has_no_lines() {
        assert_eq!(rate(d("0.20"), Decimal::ONE, Decimal::ZERO), Some(vec![]));
    }

    #[test]
    fn a_tiny_unit_price_over_a_trillion_units_stays_exact() {
        let lines = rate(d("0.0000166667"), Decimal::ONE, d("1000000000000")).expect("in range");
        assert_eq!(amount(&lines), d("16666700"));
    }

    #[test]
    fn per_unit_overflow_is_none() {
        assert_eq!(rate(Decimal::TWO, Decimal::ONE, Decimal::MAX), None);
    }

    proptest! {
        #[test]
        fn a_tiny_unit_price_stays_exact_up_to_a_trillion_units(units in 0u64..=1_000_000_000_000) {
            // Reference in integer arithmetic: units × 166 667 ten-billionths.
            let exact = Decimal::from_i128_with_scale(i128::from(units) * 166_667, 10);
            let lines = rate(d("0.0000166667"), Decimal::ONE, Decimal::from(units)).expect("in range");
            prop_assert_eq!(amount(&lines), exact);
        }
    }
}
