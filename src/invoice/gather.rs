//! Gathers what a draft needs for one tenant and period: the segments of its subscription,
//! the plan version pricing each, and the usage inside each (from rollups).

use anyhow::Context;

use super::draft::SegmentInput;
use super::period::{segments, BillingPeriod};
use crate::aggregate::sum_rollups;
use crate::domain::{SubscriptionChange, TenantId};
use crate::rate::PlanCatalog;
use crate::store::Store;

/// The priced segments of `period` for `tenant` (whose subscription `changes` the caller has
/// read); empty when it had no plan in the period.
///
/// # Errors
/// A database failure, a plan missing from the catalog, or a sum overflow.
pub async fn gather_segments<'c>(
    store: &dyn Store,
    catalog: &'c PlanCatalog,
    tenant: &TenantId,
    changes: &[SubscriptionChange],
    period: &BillingPeriod,
) -> anyhow::Result<Vec<SegmentInput<'c>>> {
    let parts = segments(period, changes);
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let rollups = store.rollups(tenant, period.start(), period.end()).await.context("Failed to read rollups")?;
    let mut inputs = Vec::with_capacity(parts.len());
    for segment in parts {
        let plan = catalog
            .for_period_starting(&segment.plan_id, period.start())
            .with_context(|| format!("plan {} is not in the catalog", segment.plan_id))?;
        let quantities = sum_rollups(&rollups, segment.start, segment.end)?.quantities;
        inputs.push(SegmentInput { segment, plan, quantities });
    }
    Ok(inputs)
}
