//! Projection to period end (pure): the segment in progress is extrapolated linearly from
//! what it used so far; finished segments stay as they are. The result is re-rated by the
//! same draft function as the invoice.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::draft::SegmentInput;
use crate::domain::{Meter, Quantities, QuantityError};

/// Scales the usage of the segment containing `as_of` by `segment length ÷ elapsed`.
///
/// # Errors
/// [`QuantityError::Overflow`] when a projected quantity leaves `Decimal`'s range.
pub fn project<'a>(inputs: &[SegmentInput<'a>], as_of: DateTime<Utc>) -> Result<Vec<SegmentInput<'a>>, QuantityError> {
    inputs
        .iter()
        .map(|input| {
            let segment = &input.segment;
            let elapsed = (as_of.min(segment.end) - segment.start).num_seconds();
            let length = (segment.end - segment.start).num_seconds();
            let mut projected = input.clone();
            if elapsed > 0 && elapsed < length {
                projected.quantities = scale(&input.quantities, Decimal::from(length), Decimal::from(elapsed))?;
            }
            Ok(projected)
        })
        .collect()
}

fn scale(quantities: &Quantities, numerator: Decimal, denominator: Decimal) -> Result<Quantities, QuantityError> {
    let mut scaled = Quantities::default();
    for meter in Meter::ALL {
        let value = quantities.get(meter);
        // Multiply first for exactness; fall back to dividing first if that would overflow.
        let projected = value
            .checked_mul(numerator)
            .map(|v| v / denominator)
            .or_else(|| (value / denominator).checked_mul(numerator))
            .ok_or(QuantityError::Overflow(meter))?;
        scaled.set(meter, projected.normalize());
    }
    Ok(scaled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use crate::invoice::period::Segment;
    use crate::rate::{PlanVersion, PricingPlan};
    use std::sync::Arc;

    #[test]
    fn a_third_of_the_way_through_usage_triples() {
        let plan = PlanVersion {
            plan: Arc::new(PricingPlan::from_toml("p.toml", "id = \"p\"\nname = \"P\"\ncurrency = \"USD\"\n").unwrap()),
            version: 1,
            created_at: at("2026-01-01T00:00:00Z"),
        };
        let input = SegmentInput {
            segment: Segment {
                start: at("2026-11-01T00:00:00Z"),
                end: at("2026-12-01T00:00:00Z"),
                plan_id: "p".into(),
            },
            plan: &plan,
            quantities: Quantities { invocations: Decimal::from(100), ..Default::default() },
        };
        let projected = project(std::slice::from_ref(&input), at("2026-11-11T00:00:00Z")).unwrap();
        assert_eq!(projected[0].quantities.invocations, Decimal::from(300));
        let huge = SegmentInput { quantities: Quantities { invocations: Decimal::MAX, ..Default::default() }, ..input };
        let one_second_in = project(&[huge], at("2026-11-01T00:00:01Z"));
        assert_eq!(
            one_second_in.unwrap_err(),
            QuantityError::Overflow(Meter::Invocations),
            "a named error, not a panic"
        );
    }
}
