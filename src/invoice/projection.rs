//! Projection to period end (pure): the segment in progress is extrapolated linearly from
//! what it used so far; finished segments stay as they are. The result is re-rated by the
//! same draft function as the invoice.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::draft::SegmentInput;
use crate::domain::{Meter, Quantities, QuantityError};

/// Scales the usage of the segment containing `as_of` by `segment length ÷ elapsed`, both
/// counted from when its plan began.
///
/// # Errors
/// [`QuantityError::Overflow`] when a projected quantity leaves `Decimal`'s range.
pub fn project<'a>(inputs: &[SegmentInput<'a>], as_of: DateTime<Utc>) -> Result<Vec<SegmentInput<'a>>, QuantityError> {
    inputs
        .iter()
        .map(|input| {
            let segment = &input.segment;
            // From when the plan began (a tenant's creation, not the start of its first period,
            // whose earlier buckets it also bills): the rate the usage has been running at.
            let from = segment.fees_from.max(segment.start);
            let elapsed = (as_of.min(segment.end) - from).num_seconds();
            let length = (segment.end - from).num_seconds();
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
            segment: Segment::new(at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z"), "p"),
            plan: &plan,
            quantities: Quantities { invocations: Decimal::from(100), ..Default::default() },
        };
        let projected = project(std::slice::from_ref(&input), at("2026-11-11T00:00:00Z")).unwrap();
        assert_eq!(projected[0].quantities.invocations, Decimal::from(300));
        // A tenant created on the 16th on this plan: its first segment bills from the 1st, but
        // its usage has run for 4 of its 15 days.
        let created = Segment { fees_from: at("2026-11-16T00:00:00Z"), ..input.segment.clone() };
        let first = SegmentInput { segment: created, ..input.clone() };
        let projected = project(&[first], at("2026-11-20T00:00:00Z")).unwrap();
        assert_eq!(projected[0].quantities.invocations, Decimal::from(375));
        let huge = SegmentInput { quantities: Quantities { invocations: Decimal::MAX, ..Default::default() }, ..input };
        let one_second_in = project(&[huge], at("2026-11-01T00:00:01Z"));
        assert_eq!(
            one_second_in.unwrap_err(),
            QuantityError::Overflow(Meter::Invocations),
            "a named error, not a panic"
        );
    }
}
