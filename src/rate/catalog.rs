//! Plan versions: every change of a plan is a new immutable version (the database is
//! authoritative), and a period is priced by the version in force when it started.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::PricingPlan;

/// One immutable version of a plan.
#[derive(Debug, Clone)]
pub struct PlanVersion {
    /// The parsed plan, exactly as stored.
    pub plan: Arc<PricingPlan>,
    /// 1, 2, … per plan id.
    pub version: i32,
    /// When this version was recorded; it prices periods starting at or after this instant.
    pub created_at: DateTime<Utc>,
}

/// All versions of all plans, oldest first per plan.
#[derive(Debug, Clone, Default)]
pub struct PlanCatalog {
    plans: BTreeMap<String, Vec<PlanVersion>>,
}

impl PlanCatalog {
    /// Builds the catalog from versions in any order.
    pub fn new(versions: impl IntoIterator<Item = PlanVersion>) -> Self {
        let mut plans: BTreeMap<String, Vec<PlanVersion>> = BTreeMap::new();
        for v in versions {
            plans.entry(v.plan.id().to_owned()).or_default().push(v);
        }
        for versions in plans.values_mut() {
            versions.sort_by_key(|v| v.version);
        }
        Self { plans }
    }

    /// Plan ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.plans.keys().map(String::as_str)
    }

    /// Every version of a plan, oldest first (empty for an unknown plan).
    pub fn versions(&self, plan_id: &str) -> &[PlanVersion] {
        self.plans.get(plan_id).map_or(&[], Vec::as_slice)
    }

    /// The newest version of a plan.
    pub fn latest(&self, plan_id: &str) -> Option<&PlanVersion> {
        self.versions(plan_id).last()
    }

    /// A specific version.
    pub fn version(&self, plan_id: &str, version: i32) -> Option<&PlanVersion> {
        self.versions(plan_id).iter().find(|v| v.version == version)
    }

    /// The version that prices a period (or segment) starting at `start`: the newest one
    /// recorded by then, so a change reaches subscribers at their next period start; for a
    /// plan first recorded after `start`, its first version.
    pub fn for_period_starting(&self, plan_id: &str, start: DateTime<Utc>) -> Option<&PlanVersion> {
        let versions = self.versions(plan_id);
        versions.iter().rev().find(|v| v.created_at <= start).or_else(|| versions.first())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;

    fn version(n: i32, fee: &str, created: &str) -> PlanVersion {
        let toml = format!("id = \"p\"\nname = \"P\"\ncurrency = \"USD\"\nbase_fee = \"{fee}\"\n");
        PlanVersion {
            plan: Arc::new(PricingPlan::from_toml("p.toml", &toml).unwrap()),
            version: n,
            created_at: DateTime::parse_from_rfc3339(created).unwrap().to_utc(),
        }
    }

    #[test]
    fn a_new_version_prices_periods_that_start_after_it() {
        let catalog =
            PlanCatalog::new([version(2, "20", "2026-11-15T00:00:00Z"), version(1, "10", "2026-01-01T00:00:00Z")]);
        assert_eq!(catalog.for_period_starting("p", at("2026-11-01T00:00:00Z")).unwrap().version, 1);
        assert_eq!(catalog.for_period_starting("p", at("2026-12-01T00:00:00Z")).unwrap().version, 2);
        assert_eq!(
            catalog.for_period_starting("p", at("2025-12-01T00:00:00Z")).unwrap().version,
            1,
            "older periods use the first"
        );
        assert_eq!(catalog.latest("p").unwrap().version, 2);
        assert!(catalog.for_period_starting("nope", at("2026-12-01T00:00:00Z")).is_none());
    }
}
