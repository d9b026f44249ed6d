//! Pairs what a draft needs for one tenant and period: the segments of its subscription,
//! the plan version pricing each, and the usage inside each (from rollups the caller read).

use anyhow::Context;

use super::draft::SegmentInput;
use super::period::Segment;
use crate::aggregate::{sum_rollups, Rollup};
use crate::domain::BillingPeriod;
use crate::rate::PlanCatalog;

/// Prices nothing yet: pairs each segment with the plan version pricing it and the usage of
/// `rollups` inside it. Pure; for callers that already hold the period's rollups.
///
/// The version is the one in force when the segment's fees start: the period start for a
/// subscription running since before it (a changed plan reaches existing subscribers at their
/// next period), the subscription's own instant for one that began inside the period — a
/// tenant onboarded or moved to the plan today pays today's prices, the ones a quote gave.
///
/// # Errors
/// A plan missing from the catalog, or a sum overflow.
pub fn segment_inputs<'c>(
    catalog: &'c PlanCatalog,
    parts: &[Segment],
    period: &BillingPeriod,
    rollups: &[Rollup],
) -> anyhow::Result<Vec<SegmentInput<'c>>> {
    let mut inputs = Vec::with_capacity(parts.len());
    for segment in parts {
        let plan = catalog
            .for_period_starting(&segment.plan_id, segment.fees_from.max(period.start()))
            .with_context(|| format!("plan {} is not in the catalog", segment.plan_id))?;
        let quantities = sum_rollups(rollups, segment.start, segment.end)?.quantities;
        inputs.push(SegmentInput { segment: segment.clone(), plan, quantities });
    }
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::testing::at;
    use crate::invoice::period_containing;
    use crate::rate::{PlanVersion, PricingPlan};

    fn version(n: i32, base_fee: &str, created: &str) -> PlanVersion {
        let toml = format!("id = \"p\"\nname = \"P\"\ncurrency = \"USD\"\nbase_fee = \"{base_fee}\"\n");
        PlanVersion {
            plan: Arc::new(PricingPlan::from_toml("p.toml", &toml).unwrap()),
            version: n,
            created_at: at(created),
        }
    }

    #[test]
    fn a_subscription_begun_inside_the_period_is_priced_by_the_version_of_its_start() {
        // v2 was recorded on November 10.
        let catalog =
            PlanCatalog::new([version(1, "10", "2026-01-01T00:00:00Z"), version(2, "12", "2026-11-10T00:00:00Z")]);
        let november = period_containing(chrono_tz::Tz::UTC, at("2026-11-15T00:00:00Z"));
        let cases = [
            ("2026-11-01T00:00:00Z", 1, "subscribed since before the period: the version it started with"),
            ("2026-11-05T00:00:00Z", 1, "subscribed before v2 was recorded"),
            ("2026-11-20T00:00:00Z", 2, "onboarded after v2 was recorded: the price it was quoted"),
        ];
        for (fees_from, expected, why) in cases {
            let segment = Segment { fees_from: at(fees_from), ..Segment::new(november.start(), november.end(), "p") };
            let inputs = segment_inputs(&catalog, &[segment], &november, &[]).unwrap();
            assert_eq!(inputs[0].plan.version, expected, "{why}");
        }
    }
}
