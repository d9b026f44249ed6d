//! Tiers of the `graduated` and `volume` models, and the one walk over their ranges that both
//! models take. No rounding, no IO.

use rust_decimal::Decimal;

/// One tier of a `graduated` or `volume` charge: `(previous up_to, up_to]` in net units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// Upper bound in net units; `None` is `"unlimited"` (only the last tier).
    pub up_to: Option<Decimal>,
    /// Price per `price_per` units.
    pub unit_price: Decimal,
    /// Charged once when the tier prices at least one unit (graduated) or is selected (volume).
    pub flat_fee: Decimal,
}

/// Each tier with the lower bound of its range: tier *k* covers `(up_to[k−1], up_to[k]]` net
/// units, the first starting at 0. The walk ends with the first open-ended tier.
///
/// Tiers `(0, 100]`, `(100, 1000]`, open → `(0, t₀)`, `(100, t₁)`, `(1000, t₂)`.
pub(super) fn ranges(tiers: &[Tier]) -> impl Iterator<Item = (Decimal, &Tier)> {
    let mut from = Some(Decimal::ZERO);
    tiers.iter().map_while(move |tier| {
        let start = from?;
        from = tier.up_to.map(|up_to| start.max(up_to));
        Some((start, tier))
    })
}
