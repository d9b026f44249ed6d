//! The usage a page of tenants' evaluation needs, read in one statement for the whole page
//! (`Store::rollups_per_unit_of`): each period it names, summed per unit of its subscription
//! segments — the read `usage/current` makes for one tenant. Before, each tenant with usage
//! cost a transaction of its own (four round trips, ≈ 1.5 ms), so a changed pass over 10 000
//! tenants that all sent usage took 15 s of the evaluator's 10 s interval.
//!
//! Which periods: the evaluator names them (`evaluator.rs`: the uncovered ones, for unbilled
//! usage, and those with a threshold not yet alerted), only for tenants that have usage
//! (`PageFacts::has_usage`): a tenant with none is drafted from no rollups, as before.

use chrono::{DateTime, Utc};

use crate::aggregate::Rollup;
use crate::domain::{BillingPeriod, SubscriptionChange, TenantId};
use crate::invoice::period_units;
use crate::store::{DbError, PerTenant, Store, Unit};

/// Per tenant read, its rollups summed per unit of the periods it was read for.
pub(super) struct PageUsage {
    rollups: PerTenant<Rollup>,
}

impl PageUsage {
    /// Reads, for each tenant, the `periods` (with its subscription `changes`) named.
    pub(super) async fn read<'a>(
        store: &Store,
        wanted: impl IntoIterator<Item = (&'a TenantId, &'a [SubscriptionChange], Vec<BillingPeriod>)>,
    ) -> Result<Self, DbError> {
        let units: Vec<(TenantId, Vec<Unit>)> = wanted
            .into_iter()
            .filter(|(_, _, periods)| !periods.is_empty())
            .map(|(tenant, changes, periods)| {
                (tenant.clone(), periods.iter().flat_map(|period| period_units(period, changes)).collect())
            })
            .collect();
        Ok(Self { rollups: store.rollups_per_unit_of(&units).await? })
    }

    /// The tenant's sums in `period`: none if it was not read for it or has no usage there.
    pub(super) fn in_period(&self, tenant: &TenantId, period: &BillingPeriod) -> Vec<Rollup> {
        let inside = |at: DateTime<Utc>| at >= period.start() && at < period.end();
        self.rollups
            .get(tenant)
            .map(|rows| rows.iter().filter(|r| inside(r.key.bucket_start)).cloned().collect())
            .unwrap_or_default()
    }
}
