//! What the rate tests share: decimals from text, the worked-example tier table, one way to
//! check a table of (net units, expected amount, why) cases, and the standard plan's text.

use std::str::FromStr;

use rust_decimal::Decimal;

use super::{Tier, TierLine};

pub(super) fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

pub(super) fn tier(up_to: Option<&str>, unit_price: &str, flat_fee: &str) -> Tier {
    Tier { up_to: up_to.map(d), unit_price: d(unit_price), flat_fee: d(flat_fee) }
}

/// (0, 100] at 1.00 + 5 flat; (100, 1000] at 0.50; (1000, ∞) at 0.10 + 2 flat.
pub(super) fn tiers() -> Vec<Tier> {
    vec![tier(Some("100"), "1.00", "5"), tier(Some("1000"), "0.50", "0"), tier(None, "0.10", "2")]
}

/// The design example (`pricing/standard.toml`), a valid plan with two graduated charges:
/// the parser's tests break one thing at a time, the canonical form's tests respell it.
pub(super) const STANDARD_PLAN: &str = r#"
id = "standard"
name = "Standard"
currency = "USD"
base_fee = "0.00"
minimum_spend = "0.00"

[[charge]]
meter = "invocations"
model = "graduated"
price_per = 1000000
included = 1000000
tiers = [ { up_to = "unlimited", unit_price = "0.20" } ]

[[charge]]
meter = "memory_gb_seconds"
model = "graduated"
included = 400000
tiers = [
  { up_to = 6000000000,  unit_price = "0.0000166667" },
  { up_to = 15000000000, unit_price = "0.000015" },
  { up_to = "unlimited", unit_price = "0.0000133334" },
]
"#;

/// Σ of the lines' amounts.
pub(super) fn amount(lines: &[TierLine]) -> Decimal {
    lines.iter().map(|l| l.amount).sum()
}

/// Rates each case's net units and checks the summed amount, naming the case on failure.
pub(super) fn assert_amounts(cases: &[(&str, &str, &str)], rate: impl Fn(Decimal) -> Option<Vec<TierLine>>) {
    for (net, expected, why) in cases {
        let lines = rate(d(net)).expect("in range");
        assert_eq!(amount(&lines), d(expected), "net {net}: {why}");
    }
}
