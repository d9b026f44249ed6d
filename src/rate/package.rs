//! The `package` charge model: net units are sold in whole packages,
//! `ceil(n ÷ package_size) × package_price` (no `price_per`).
//!
//! Input: the net quantity, package size and price. Output: one line counting packages.
//! No rounding here.

use rust_decimal::Decimal;

use super::TierLine;

/// Prices `net` units as whole packages of `package_size` at `package_price` each.
///
/// Worked example, packages of 1 000 at 5.00: 2 500 units → ceil(2.5) = 3 packages → 15.00;
/// 1 000 units → 1 package → 5.00; 0 units → no package, amount 0. The ceiling is computed
/// with an exact remainder, never a rounded quotient. `None` on overflow.
pub(crate) fn rate(package_size: Decimal, package_price: Decimal, net: Decimal) -> Option<Vec<TierLine>> {
    if net <= Decimal::ZERO {
        return Some(Vec::new());
    }
    let remainder = net.checked_rem(package_size)?;
    let whole = net.checked_sub(remainder)?.checked_div(package_size)?;
    let packages = if remainder.is_zero() { whole } else { whole.checked_add(Decimal::ONE)? };
    let mut line =
        TierLine::priced(Decimal::ZERO, None, packages.normalize(), package_price, Decimal::ZERO, Decimal::ONE)?;
    // The invoice says what a package is ("× 5.00 per package of 1,000 invocations").
    line.package_size = Some(package_size);
    Some(vec![line])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::testing::{amount, d};

    #[test]
    fn package_charges_whole_packages_at_every_boundary() {
        let cases = [
            ("0", "0", "0", "no usage buys no package"),
            ("1", "1", "5", "one unit buys a whole package"),
            ("1000", "1", "5", "a full package"),
            ("1001", "2", "10", "package size + 1 starts a second package"),
            ("2500", "3", "15", "2.5 packages round up to 3"),
            ("0.001", "1", "5", "a fraction of a unit still buys a package"),
        ];
        for (net, packages, expected, why) in cases {
            let lines = rate(d("1000"), d("5.00"), d(net)).expect("in range");
            let bought: Decimal = lines.iter().map(|l| l.units).sum();
            assert_eq!(amount(&lines), d(expected), "net {net}: {why}");
            assert_eq!(bought, d(packages), "packages for net {net}: {why}");
            assert!(lines.iter().all(|l| l.package_size == Some(d("1000"))), "each line names its package size");
        }
    }

    #[test]
    fn fractional_package_sizes_use_an_exact_ceiling() {
        let cases =
            [("1.2", "3", "1.2 ÷ 0.5 = 2.4 → 3"), ("1.5", "3", "exactly 3 packages"), ("0.3", "1", "under one")];
        for (net, packages, why) in cases {
            let lines = rate(d("0.5"), d("1"), d(net)).expect("in range");
            assert_eq!(lines[0].units, d(packages), "net {net}: {why}");
        }
        let thirds = rate(d("3"), d("1"), d("9000000000000000000000000001")).expect("in range");
        assert_eq!(thirds[0].units, d("3000000000000000000000000001"), "no rounded quotient hides the remainder");
    }

    #[test]
    fn package_overflow_is_none() {
        assert_eq!(rate(Decimal::ONE, Decimal::TWO, Decimal::MAX), None);
    }
}
