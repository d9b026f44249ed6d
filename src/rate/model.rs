//! The charge models and the one place that dispatches between them.
//!
//! Adding a model means a new file, a new [`ChargeModel`] variant and its TOML name; the
//! exhaustive matches here (no `_ =>`) make the compiler find everything else.

use rust_decimal::Decimal;

use super::rated::exact_amount;
use super::{graduated, package, per_unit, volume, Charge, RateError, RatedCharge, Tier, TierLine};

/// How a charge turns net units into money (DESIGN §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeModel {
    /// `n × unit_price ÷ price_per`.
    PerUnit {
        /// Price per `price_per` units.
        unit_price: Decimal,
    },
    /// Each tier prices the units inside it.
    Graduated {
        /// Sorted, contiguous, the last open-ended.
        tiers: Vec<Tier>,
    },
    /// All units at the price of the tier `n` falls in.
    Volume {
        /// Sorted, contiguous, the last open-ended.
        tiers: Vec<Tier>,
    },
    /// `ceil(n ÷ package_size) × package_price`.
    Package {
        /// Units per package, above 0.
        package_size: Decimal,
        /// Price of one (started) package.
        package_price: Decimal,
    },
}

impl ChargeModel {
    /// The model's name in plan files: `per_unit`, `graduated`, `volume` or `package`.
    pub fn name(&self) -> &'static str {
        match self {
            ChargeModel::PerUnit { .. } => "per_unit",
            ChargeModel::Graduated { .. } => "graduated",
            ChargeModel::Volume { .. } => "volume",
            ChargeModel::Package { .. } => "package",
        }
    }

    /// The tiers of a tiered model; empty for the others.
    pub fn tiers(&self) -> &[Tier] {
        match self {
            ChargeModel::Graduated { tiers } | ChargeModel::Volume { tiers } => tiers,
            ChargeModel::PerUnit { .. } | ChargeModel::Package { .. } => &[],
        }
    }

    /// Prices `net` units; `None` on overflow.
    fn price(&self, price_per: Decimal, net: Decimal) -> Option<Vec<TierLine>> {
        match self {
            ChargeModel::PerUnit { unit_price } => per_unit::rate(*unit_price, price_per, net),
            ChargeModel::Graduated { tiers } => graduated::rate(tiers, price_per, net),
            ChargeModel::Volume { tiers } => volume::rate(tiers, price_per, net),
            ChargeModel::Package { package_size, package_price } => package::rate(*package_size, *package_price, net),
        }
    }
}

/// Prices one meter's `quantity` with one charge: subtracts the allowance
/// (`n = max(0, quantity − included)`), prices `n` with the charge's model and sums the lines
/// exactly (past 28 digits `amount` is cut toward zero; the invoice line rounds the exact value).
/// Nothing is rounded here.
///
/// Worked example (AWS Lambda requests): 3 000 000 invocations, 1 000 000 included, `0.20`
/// per 1 000 000 → n = 2 000 000 → 2 000 000 × 0.20 ÷ 1 000 000 = 0.40.
///
/// ```
/// use rust_decimal::Decimal;
/// use tally::rate::{rate_charge, PricingPlan};
/// let plan = PricingPlan::from_toml("doc.toml", r#"
///     id = "doc"
///     name = "Doc"
///     currency = "USD"
///     [[charge]]
///     meter = "invocations"
///     model = "per_unit"
///     price_per = 1000000
///     included = 1000000
///     unit_price = "0.20"
/// "#).unwrap();
/// let rated = rate_charge(&plan.charges()[0], Decimal::from(3_000_000)).unwrap();
/// assert_eq!(rated.net_quantity, Decimal::from(2_000_000));
/// assert_eq!(rated.amount, Decimal::new(40, 2));
/// ```
///
/// # Errors
/// [`RateError::Overflow`] naming the meter when the arithmetic leaves `Decimal`'s range.
pub fn rate_charge(charge: &Charge, quantity: Decimal) -> Result<RatedCharge, RateError> {
    let overflow = || RateError::Overflow(charge.meter().as_str());
    let net = quantity.checked_sub(charge.included()).ok_or_else(overflow)?.max(Decimal::ZERO);
    let lines = charge.model().price(charge.price_per(), net).ok_or_else(overflow)?;
    let (amount, _) = exact_amount(&lines, charge.price_per()).and_then(|a| a.truncated()).ok_or_else(overflow)?;
    Ok(RatedCharge {
        meter: charge.meter(),
        quantity,
        included: charge.included(),
        net_quantity: net,
        price_per: charge.price_per(),
        amount,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Meter;
    use crate::rate::testing::d;

    fn charge(model: ChargeModel) -> Charge {
        Charge::new(Meter::Invocations, model, Decimal::ONE, d("100"))
    }

    #[test]
    fn the_allowance_is_subtracted_before_every_model() {
        let tiers = vec![Tier { up_to: None, unit_price: d("2"), flat_fee: d("3") }];
        let models = [
            (ChargeModel::PerUnit { unit_price: d("2") }, "2"),
            (ChargeModel::Graduated { tiers: tiers.clone() }, "5"),
            (ChargeModel::Volume { tiers }, "5"),
            (ChargeModel::Package { package_size: d("10"), package_price: d("7") }, "7"),
        ];
        for (model, one_net_unit) in models {
            let name = model.name();
            let charge = charge(model);
            for (quantity, expected, why) in
                [("0", "0", "nothing used"), ("100", "0", "all included"), ("101", one_net_unit, "1 net unit")]
            {
                let rated = rate_charge(&charge, d(quantity)).expect("in range");
                assert_eq!(rated.amount, d(expected), "{name} at quantity {quantity}: {why}");
                assert_eq!(rated.amount, rated.lines.iter().map(|l| l.amount).sum::<Decimal>(), "{name}: Σ lines");
            }
        }
    }

    #[test]
    fn every_model_rounds_its_line_from_every_digit_of_quantity_times_price() {
        // 123456789012345 × 0.0000405000142259898507839869 = 5000001711.2949999…99924…: 44
        // digits, which Decimal would round to …1711.295 (→ .30) before the cent is decided.
        let price = d("0.0000405000142259898507839869");
        let tiers = vec![Tier { up_to: None, unit_price: price, flat_fee: Decimal::ZERO }];
        let models = [
            ChargeModel::PerUnit { unit_price: price },
            ChargeModel::Graduated { tiers: tiers.clone() },
            ChargeModel::Volume { tiers },
            ChargeModel::Package { package_size: Decimal::ONE, package_price: price },
        ];
        for model in models {
            let name = model.name();
            let charge = Charge::new(Meter::CpuCycles, model, Decimal::ONE, Decimal::ZERO);
            let rated = rate_charge(&charge, d("123456789012345")).expect("in range");
            assert_eq!(rated.exact().and_then(|e| e.round_dp(2)), Some(d("5000001711.29")), "{name}");
            assert_eq!(rated.amount, d("5000001711.2949999999999999999"), "{name}: cut toward zero");
        }
    }

    #[test]
    fn a_quantity_below_the_allowance_nets_to_zero() {
        let rated = rate_charge(&charge(ChargeModel::PerUnit { unit_price: d("1") }), d("-5")).expect("in range");
        assert_eq!((rated.net_quantity, rated.amount), (Decimal::ZERO, Decimal::ZERO));
    }

    #[test]
    fn overflow_is_a_named_error_not_a_panic() {
        let rated = rate_charge(&charge(ChargeModel::PerUnit { unit_price: d("10") }), Decimal::MAX);
        assert_eq!(rated, Err(RateError::Overflow("invocations")));
        assert_eq!(RateError::Overflow("invocations").to_string(), "amount overflowed while rating invocations");
    }
}
