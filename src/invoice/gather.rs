//! Pairs what a draft needs for one tenant and period: the segments of its subscription,
//! the plan version pricing each, and the usage inside each (from rollups the caller read).

use anyhow::Context;

use super::draft::SegmentInput;
use super::period::Segment;
use crate::aggregate::{sum_rollups, Rollup};
use crate::domain::BillingPeriod;
use crate::rate::PlanCatalog;

/// Prices nothing yet: pairs each segment with the plan version pricing it (the one in force at
/// the period start) and the usage of `rollups` inside it. Pure; for callers that already hold
/// the period's rollups.
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
            .for_period_starting(&segment.plan_id, period.start())
            .with_context(|| format!("plan {} is not in the catalog", segment.plan_id))?;
        let quantities = sum_rollups(rollups, segment.start, segment.end)?.quantities;
        inputs.push(SegmentInput { segment: segment.clone(), plan, quantities });
    }
    Ok(inputs)
}
